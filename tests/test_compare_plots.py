"""The comparison and sweep figures draw the paired intervals their tables print.

On common random numbers a difference is measured replication by replication; its interval is
much narrower than the two runs' own spreads. A figure that drew the difference of two bands,
or each point's own confidence interval, would tell a planner a change is uncertain when the
numbers say it is not. Read from the figures' Axes, not their pixels.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from figure_helpers import all_text, band, band_edges, keep_figures, line, png_size
from matplotlib.ticker import PercentFormatter
from whatif_helpers import small_scenario_data

import sim
from sim.compare_plots import difference_series, end_label, sweep_panel
from sim.comparison import COMPARE_PLOT, paired_metric
from sim.scenario import scenario_from_dict
from sim.sweeps import SWEEP_PLOT


@pytest.fixture(scope="module")
def small():
    return scenario_from_dict(small_scenario_data())


@pytest.fixture(scope="module")
def comparison(small):
    return sim.compare(small, sets={"budget.funded_share": 0.8}, replications=30, jobs=1)


@pytest.fixture(scope="module")
def swept(small):
    return sim.sweep(small, "budget.funded_share", [0.1, 0.5, 0.9], replications=20, jobs=1)


def written_figure(result, png: Path, request: pytest.FixtureRequest):
    """Write a comparison's or sweep's folder (png's parent) and return its figure, checked to
    be a 1920 x 1080 slide."""
    kept = keep_figures(request)
    result.write(png.parent, force=True)
    assert png_size(png) == (1920, 1080)
    (fig,) = kept
    return fig


def test_each_month_is_a_paired_difference(comparison) -> None:
    """comparison.json's cumulative_bookings: per month end, the paired B - A of cumulative
    bookings; at the horizon, the bookings line of the table."""
    a, b = (arm.result for arm in comparison.arms)
    rows = comparison.comparisons[0]["cumulative_bookings"]
    assert [r["period"] for r in rows] == [p["period"] for p in a.summary["periods"]]
    per_a, per_b = (
        a.per_replication["cumulative_bookings"],
        b.per_replication["cumulative_bookings"],
    )
    for j in (0, len(rows) // 2, len(rows) - 1):
        assert rows[j] == {"period": rows[j]["period"], **paired_metric(per_a[:, j], per_b[:, j])}
    total = comparison.metrics["bookings"]
    for key in ("delta", "ci_low", "ci_high"):
        assert rows[-1][key] == pytest.approx(total[key], rel=1e-9)
    assert "cumulative_bookings" in comparison.to_dict()["comparisons"][0]


def test_the_difference_panel_draws_the_paired_interval(
    comparison, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    fig = written_figure(comparison, tmp_path / COMPARE_PLOT, request)
    diff = fig.axes[2]
    a, b = comparison.labels
    rows = comparison.comparisons[0]["cumulative_bookings"]
    data = difference_series(comparison.arms[0].result.summary, rows)
    low, high = band_edges(band(diff, f"{b}: 95% interval (paired)"), data["dates"])
    assert low == pytest.approx(data["ci_low"]) and high == pytest.approx(data["ci_high"])
    assert list(line(diff, f"{b}: mean").get_ydata()) == pytest.approx(data["delta"])
    assert data["ci_low"][1:] == pytest.approx([r["ci_low"] for r in rows])
    # the paired band is narrower than the two runs' own intervals combined: a figure built
    # from the summaries' spreads would fail this check
    total = comparison.metrics["bookings"]
    se_a = comparison.arms[0].result.summary["bookings"]["se"]
    se_b = comparison.arms[1].result.summary["bookings"]["se"]
    assert high[-1] - low[-1] < 0.7 * 2 * 1.96 * math.hypot(se_a, se_b)
    assert high[-1] - low[-1] == pytest.approx(total["ci_high"] - total["ci_low"])
    text = all_text(fig)
    assert "mean of the paired differences" in text and "median" not in text.lower()


def _decimals_and_suffix(text: str) -> set[tuple[int, str]]:
    """('+9.6M [+8.33M, +10.9M]') -> {(1, 'M'), (2, 'M')}: how each number of a label is written."""
    found = re.findall(r"[+-]?\d+(?:\.(\d+))?([kMB]?)", text)
    return {(len(decimals), suffix) for decimals, suffix in found}


@pytest.mark.parametrize(
    ("delta", "low", "high"),
    [(9_595_760.0, 8_331_330.0, 10_860_200.0), (-950e3, -1.02e6, -880e3), (12.0, 8.5, 15.5)],
)
def test_the_end_label_writes_its_three_numbers_alike(delta, low, high) -> None:
    """erp vs equipment ended '+9.6M [+8.33M, +10.9M]': each number had its own decimals."""
    assert len(_decimals_and_suffix(end_label(delta, low, high))) == 1


def test_the_figure_labels_the_horizon_as_the_table(
    comparison, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    fig = written_figure(comparison, tmp_path / COMPARE_PLOT, request)
    total = comparison.metrics["bookings"]
    (label,) = [t.get_text() for t in fig.axes[2].texts if "[" in t.get_text()]
    assert label == end_label(total["delta"], total["ci_low"], total["ci_high"])
    assert len(_decimals_and_suffix(label)) == 1, label


def test_sweep_panels_draw_the_paired_change_and_its_interval(
    swept, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    fig = written_figure(swept, tmp_path / SWEEP_PLOT, request)
    axes = fig.axes
    xs = [0.1, 0.5, 0.9]
    for ax, metric, scale in ((axes[0], "bookings", 1.0), (axes[1], "won_share", 100.0)):
        stats = [p["metrics"][metric] for p in swept.points]
        low, high = band_edges(band(ax, "95% interval of the change (paired)"), xs)
        assert low == pytest.approx([scale * s["delta_ci_low"] for s in stats])
        assert high == pytest.approx([scale * s["delta_ci_high"] for s in stats])
        assert low[0] == high[0] == 0  # the reference value: no change, no width
        own = [scale * (s["ci_high"] - s["ci_low"]) for s in stats]
        assert (high - low)[2] < own[2]  # not each point's own interval of its mean
        drawn = line(ax, "Mean change").get_ydata()
        assert list(drawn) == pytest.approx([scale * s["delta"] for s in stats])
        assert sweep_panel(swept.points, metric)["delta"] == pytest.approx(
            [s["delta"] for s in stats]
        )
    assert axes[1].get_ylabel() == "change from 10%"
    for ax in axes[:6]:
        assert isinstance(ax.xaxis.get_major_formatter(), PercentFormatter)  # a share: in %
    assert axes[3].get_xlabel() == "Funded share (money already allocated)"
    assert "--set budget.funded_share=0.1,0.5,0.9" in all_text(fig)


def test_sweep_of_a_non_share_keeps_its_numbers(
    small, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    swept = sim.sweep(small, "shocks.rate_per_year", [0.5, 2], replications=4, jobs=1)
    ax = written_figure(swept, tmp_path / SWEEP_PLOT, request).axes[3]
    assert ax.get_xlabel() == "Market shocks per year"
    assert not isinstance(ax.xaxis.get_major_formatter(), PercentFormatter)
    assert np.isfinite(sweep_panel(swept.points, "bookings")["ci_low"]).all()


def _drawn(fig):
    """The figure drawn again at its own dpi (saving drew it at the PNG's), and its renderer."""
    fig.canvas.draw()
    return fig.canvas.get_renderer()


@pytest.fixture(scope="module")
def falling():
    """equipment with almost no budget money: bookings fall below the base case from day 0."""
    return sim.compare("equipment", sets={"budget.funded_share": 0.05}, replications=4, jobs=1)


@pytest.fixture(scope="module")
def rising():
    return sim.compare("equipment", sets={"budget.funded_share": 0.9}, replications=4, jobs=1)


@pytest.mark.parametrize("which", ["falling", "rising", "comparison"])
def test_the_difference_legend_sits_where_no_line_is(
    which, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A fall in bookings runs along the top of the panel: the legend, fixed in the upper
    left, sat on the 0 line and the mean."""
    result = request.getfixturevalue(which)
    fig = written_figure(result, tmp_path / COMPARE_PLOT, request)
    renderer = _drawn(fig)
    diff = fig.axes[2]
    legend = diff.get_legend().get_window_extent(renderer)
    zero = diff.transData.transform((0, 0))[1]
    assert not legend.y0 <= zero <= legend.y1
    drawn = [a.get_transform().transform_path(a.get_path()) for a in diff.get_lines()]
    drawn += [c.get_transform().transform_path(p) for c in diff.collections for p in c.get_paths()]
    assert not any(path.intersects_bbox(legend, filled=False) for path in drawn)
    assert not any(t.get_window_extent(renderer).overlaps(legend) for t in diff.texts)


def test_the_panels_titles_and_labels_do_not_overlap(
    rising, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The cumulative panel's title ran into the right panel's "Difference (EUR)" label."""
    fig = written_figure(rising, tmp_path / COMPARE_PLOT, request)
    renderer = _drawn(fig)
    texts = {}
    for ax in fig.axes[:3]:
        texts[ax.get_title(loc="left")] = ax._left_title  # no public handle on a left title
        texts[ax.get_ylabel()] = ax.yaxis.label
    texts.update({t.get_text(): t for t in fig.axes[2].texts if "Line:" in t.get_text()})
    assert any("Difference (" in name for name in texts) and len(texts) == 7
    boxes = {name: t.get_window_extent(renderer) for name, t in texts.items()}
    names = list(boxes)
    clashes = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]
               if boxes[a].overlaps(boxes[b])]  # fmt: skip
    assert clashes == []
