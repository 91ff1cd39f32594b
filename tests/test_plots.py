"""The figures: every PNG is written from a summary alone, and ``dealsim plot DIR`` redraws them."""

from __future__ import annotations

import copy
import datetime as dt
import json
import tomllib
from pathlib import Path

import pytest

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


def test_draw_all_writes_six_pngs(stall_summary: dict, tmp_path: Path) -> None:
    assert "target" in stall_summary
    written = plots.draw_all(stall_summary, tmp_path)
    teams = [f"team_{name}.png" for name in stall_summary["teams"]]  # one per team
    assert [p.name for p in written] == [*FIGURES, *teams] and teams
    for path in written:
        assert path.parent == tmp_path
        assert_png(path)


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
