"""totals.png draws what the table compares: the bands, the actuals and both baselines."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from backtest_history import plan_scenario, write_history  # tests/ on sys.path

from sim.backtest import BacktestOptions, run_backtest
from sim.backtest_plots import totals_figure
from sim.crm import read_history


@pytest.fixture(scope="module")
def backtest(tmp_path_factory):
    history = read_history(write_history(tmp_path_factory.mktemp("plots") / "history.csv"))
    cutoffs = [dt.date(2020, 6, 30), dt.date(2020, 9, 30)]
    options = BacktestOptions(until=dt.date(2020, 12, 31), replications=5, scenario=plan_scenario())
    return run_backtest(history, cutoffs, options)


def test_totals_figure_draws_the_run_rate_baseline_in_its_legend(backtest):
    fig = totals_figure(backtest)
    try:
        for ax, metric in zip(fig.axes, ("won_count", "won_value"), strict=True):
            expected = [r.scores[metric]["total"]["baseline_run_rate"] for r in backtest.results]
            (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("run rate")]
            np.testing.assert_allclose(line.get_ydata(), expected)
            assert line.get_linestyle() == "--"  # told apart from the weighted triangles
            weighted = [ln for ln in ax.get_lines() if ln.get_label().startswith("weighted")]
            assert weighted and weighted[0].get_linestyle() != "--"
            legend = [t.get_text() for t in ax.get_legend().get_texts()]
            assert line.get_label() in legend
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
