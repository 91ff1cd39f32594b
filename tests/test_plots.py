"""The figures: every PNG is written from a summary alone, and ``dealsim plot DIR`` redraws them."""

from __future__ import annotations

import copy
import datetime as dt
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from figure_helpers import (
    all_text,
    close_all,
    keep_figures,
    keeping,
    png_size,
)  # tests/ is on sys.path
from matplotlib.patches import Rectangle

from sim import plots
from sim.api import simulate
from sim.cli import main
from sim.scenario import scenario_from_dict

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = [
    "bookings_fan.png",
    "cumulative_bookings.png",
    "pipeline_by_stage.png",
    "cycle_times.png",
    "stage_flows.png",
    "stall_causes.png",
]


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    data = path.read_bytes()
    assert len(data) > 1000, f"{path.name} is suspiciously small"
    assert data.startswith(PNG_SIGNATURE), f"{path.name} is not a PNG"


@pytest.fixture(scope="module")
def stall_summary() -> dict:
    """A bundled scenario with stall mechanisms, dormancy and backward moves, with a target."""
    return simulate("equipment", replications=3, jobs=1, write=False, target=1e6).summary


@pytest.fixture(scope="module")
def stages_only_summary(data_dir: Path) -> dict:
    """Two stages and nothing else: no stall causes, no dormant deals, no target."""
    data = tomllib.loads((data_dir / "cli" / "tiny.toml").read_text(encoding="utf-8"))
    scenario = scenario_from_dict(data, "tiny.toml")
    return simulate(scenario, replications=3, jobs=1, write=False).summary


@pytest.fixture(scope="module")
def drawn(stall_summary: dict, tmp_path_factory) -> Iterator[dict[str, tuple[Path, object]]]:
    """Every figure of the base case: {file name: (PNG written, its matplotlib Figure)}."""
    yield from _draw_keeping(stall_summary, tmp_path_factory.mktemp("base"))


WHAT_IF_LABEL = "budget.funded_share=0.2; day-0 pipeline from open-deals.csv as of 2027-03-31"


@pytest.fixture(scope="module")
def drawn_what_if(
    stall_summary: dict, tmp_path_factory
) -> Iterator[dict[str, tuple[Path, object]]]:
    """Every figure of the same summary labelled as a what-if (as simulate labels one)."""
    summary = copy.deepcopy(stall_summary)
    sets = {"budget.funded_share": 0.2}
    summary["what_if"] = {"label": WHAT_IF_LABEL, "sets": sets, "pipeline": None}
    yield from _draw_keeping(summary, tmp_path_factory.mktemp("what-if"))


def _draw_keeping(summary: dict, folder: Path) -> Iterator[dict[str, tuple[Path, object]]]:
    with keeping() as kept:
        written = plots.draw_all(summary, folder)
    yield {path.name: (path, fig) for path, fig in zip(written, kept, strict=True)}
    close_all(kept)


def test_draw_all_writes_six_pngs(stall_summary: dict, drawn: dict) -> None:
    """Six PNGs, each a 16:9 slide 1920 pixels wide whatever the number of stages or arcs."""
    assert "target" in stall_summary
    teams = [f"team_{name}.png" for name in stall_summary["teams"]]  # one per team
    assert list(drawn) == [*FIGURES, *teams] and teams
    for path, _ in drawn.values():
        assert_png(path)
        assert png_size(path) == (1920, 1080), path.name


def test_summary_is_enough(stall_summary: dict, tmp_path: Path) -> None:
    """The figures need nothing but what summary.json holds (a JSON round trip)."""
    summary = json.loads(json.dumps(stall_summary))
    for path in plots.draw_all(summary, tmp_path):
        assert_png(path)


@pytest.mark.parametrize("name", FIGURES)
def test_each_figure_without_target(name: str, stall_summary: dict, tmp_path: Path) -> None:
    summary = copy.deepcopy(stall_summary)
    del summary["target"]
    draw = plots.FIGURES[name]
    assert_png(draw(summary, tmp_path / name))


@pytest.mark.parametrize("name", FIGURES)
def test_each_figure_on_a_stages_only_scenario(
    name: str, stages_only_summary: dict, tmp_path: Path
) -> None:
    summary = stages_only_summary
    assert not any(v["mean"] for v in summary["stall_days"].values())
    assert "target" not in summary
    assert_png(plots.FIGURES[name](summary, tmp_path / name))


def test_target_labels_are_thinned_on_long_horizons() -> None:
    by_period = [
        {"period": f"{year}-{month:02d}", "probability": 0.5}
        for year in range(2027, 2047)
        for month in (3, 6, 9, 12)
    ]
    labels = plots._target_labels(by_period, dt.date(2047, 1, 1))
    assert 2 <= len(labels) <= 13
    assert labels[-1][0] == dt.date(2046, 12, 31)
    assert len(plots._target_labels(by_period[:8], dt.date(2029, 1, 1))) == 8


def test_money_labels() -> None:
    assert plots.money(14_333_000, "EUR") == "14.3M EUR"
    assert plots.money(999_600, "EUR") == "1M EUR"
    assert plots.money(350_000, "USD") == "350k USD"
    assert plots.money(480, "EUR") == "480 EUR"
    assert plots.money(None, "EUR") == "-"  # a summary's null: no amount, not a TypeError
    assert plots.pretty("no_decision") == "No decision"


def test_plot_command_redraws_a_results_folder(tiny_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["run", str(tiny_scenario), "-o", str(out), "-n", "2", "-j", "1", "--no-plots"]
    assert main(args) == 0
    assert not (out / "bookings_fan.png").exists()
    assert main(["plot", str(out)]) == 0
    for name in FIGURES:
        assert_png(out / name)


def test_run_draws_the_figures(tiny_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["run", str(tiny_scenario), "-o", str(out), "-n", "2", "-j", "1"]) == 0
    for name in FIGURES:
        assert_png(out / name)


def test_plot_command_needs_a_summary(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a results folder", encoding="utf-8")
    assert main(["plot", str(tmp_path)]) == 2
    assert not (tmp_path / "bookings_fan.png").exists()


# ---------------------------------------------------------------------------------------------
# What the figures show (read from their Axes, not their pixels)
# ---------------------------------------------------------------------------------------------


def test_monthly_bookings_are_the_mean_with_the_p10_p90_of_runs(
    stall_summary: dict, drawn: dict
) -> None:
    """A month's bookings are a few big deals: the median drops to 0 in some months while the
    mean does not, so the figure draws the mean (bars) and the P10-P90 (whiskers), no median."""
    periods = stall_summary["periods"]
    mean = [p["bookings"]["mean"] for p in periods]
    median = [p["bookings"]["p50"] for p in periods]
    assert any(m > 0 and p50 == 0 for m, p50 in zip(mean, median, strict=True))  # the reason
    fig = drawn["bookings_fan.png"][1]
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches if isinstance(p, Rectangle)]
    assert heights == pytest.approx(mean)
    assert heights != pytest.approx(median)  # the check tells the two statistics apart
    (whiskers,) = [c for c in ax.collections if c.get_label().startswith("8 in 10 runs")]
    segments = whiskers.get_segments()
    assert [s[0][1] for s in segments] == pytest.approx([p["bookings"]["p10"] for p in periods])
    assert [s[1][1] for s in segments] == pytest.approx([p["bookings"]["p90"] for p in periods])
    drawn_lines = [list(ln.get_ydata()) for ln in ax.get_lines()]
    assert not any(len(y) == len(median) and y == pytest.approx(median) for y in drawn_lines)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0].startswith("Mean") and "P10-P90" in legend[1]
    zero = sum(1 for m, p50 in zip(mean, median, strict=True) if m and not p50)
    assert f"in {zero} of {len(periods)} months at least half the runs book nothing" in all_text(
        fig
    )


def test_every_figure_of_a_what_if_says_so(drawn_what_if: dict, drawn: dict) -> None:
    assert list(drawn_what_if) == list(drawn)  # the six, and one per team
    for name, (path, fig) in drawn_what_if.items():
        text = all_text(fig)
        assert f"WHAT-IF, not the base case: {WHAT_IF_LABEL}" in text, name  # footer: all of it
        assert "What-if, not the base case: budget.funded_share=0.2" in text, name  # under title
        assert fig.axes[0].get_title(loc="left").endswith("- equipment (what-if)"), name
        assert png_size(path) == (1920, 1080), name
    for name, (_, fig) in drawn.items():  # the base case: not a word of it
        assert "what-if" not in all_text(fig).lower(), name


def test_cycle_times_are_in_days_whatever_the_horizon(
    stall_summary: dict, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A long-horizon scenario used to switch to months; two slides then read on two scales."""
    summary = copy.deepcopy(stall_summary)
    for outcome in ("won", "lost", "no_decision"):
        summary["cycle_days"][outcome]["histogram"]["bin_days"] *= 4  # cycles of years
    kept = keep_figures(request)
    plots.cycle_times(summary, tmp_path / "cycle_times.png")
    ax = kept[0].axes[0]
    assert ax.get_xlabel() == "Cycle time, creation to close (days)"
    won = summary["cycle_days"]["won"]
    assert ax.get_xlim()[1] > 730  # in days, not 24-odd months
    median_lines = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert won["p50"] in [ln.get_xdata()[0] for ln in median_lines]
    assert f"median {won['p50']:.0f} days" in all_text(kept[0])


def test_neighbouring_stages_differ_in_colour(stall_summary: dict, drawn: dict) -> None:
    """The stacked pipeline and the trace timeline share one qualitative palette."""
    from matplotlib.colors import to_hex

    from sim.palette import stage_colors

    ax = drawn["pipeline_by_stage.png"][1].axes[0]
    faces = [to_hex(c.get_facecolor()[0]) for c in ax.collections]
    stages = plots._stage_order(stall_summary)
    assert faces[: len(stages)] == stage_colors(len(stages))
    assert all(a != b for a, b in zip(faces, faces[1:], strict=False))
