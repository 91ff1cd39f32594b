"""A p-value is written as every output writes it (sim.stats.p_text): two significant digits,
and "p < 0.001" for one too small to write, never "p = 0" or "p = 3.1e-09" (the backtest's
verdict, its report and figure, and the inflow fit's report)."""

from __future__ import annotations

import numpy as np

from sim.backtest_report import _verdict
from sim.inflow_fit import InflowFit


def test_a_tiny_p_is_below_a_bound_and_others_keep_two_digits():
    from sim.stats import p_text

    assert p_text(0.0) == "p < 0.001"
    assert p_text(3.1e-9) == "p < 0.001"
    assert p_text(0.00099) == "p < 0.001"
    assert p_text(0.001) == "p = 0.0010"
    assert p_text(0.5) == "p = 0.50"  # the zero kept
    # rounded as the JSON holds it first: the terminal and the report (which reads 0.405) agree
    assert p_text(0.4049996) == p_text(0.405) == "p = 0.41"


def test_the_backtest_verdict_writes_no_p_of_zero():
    total = {
        "in80": 2, "in50": 1, "n": 12, "pit_ks_p": 0.0, "crps": 3.0, "p50_mae": 4.0,
        "p50_bias": -1.0, "baselines": {},
    }  # fmt: skip
    months = {"n": 36, "in80": 10, "coverage80": 0.28, "in50": 4, "coverage50": 0.11}
    text = " ".join(_verdict({"total": total, "months": {**months, "baselines": {}}}, "won_count"))
    assert "PIT uniformity p < 0.001 (Kolmogorov-Smirnov)" in text
    assert "p = 0" not in text


def test_the_inflow_fit_writes_no_p_of_zero():
    fit = InflowFit(
        months=["2024-01", "2024-02"],
        counts=np.array([10, 90]),
        exposure=np.ones(2),
        half_life=6,
        level=50.0,
        level_cv=0.1,
        walk_sd=0.05,
        walk_estimated=True,
        trend_per_month=0.5,
        trend_p=0.0,
        dispersion=60.0,
        dispersion_p=2e-12,
    )
    text = fit.describe()
    assert "a month, p < 0.001)" in text and "Poisson rate would (p < 0.001)" in text
    assert "p = 0" not in text and "e-" not in text
