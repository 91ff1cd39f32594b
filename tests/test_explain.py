"""``dealsim explain``: stall causes in words and numbers, and counterfactuals on common random
numbers (the same seed with one mechanism switched off, compared replication by replication).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sim.api import simulate
from sim.errors import UserError
from sim.explain import (
    MECHANISMS,
    counterfactual,
    explain_folder,
    explain_text,
    has_mechanism,
    stall_rows,
    without,
)
from sim.scenario import load_scenario


@pytest.fixture(scope="module")
def cli() -> click.Group:
    """The real `dealsim` group, where these commands are registered."""
    from sim.cli import cli as dealsim

    return dealsim


@pytest.fixture(scope="module")
def equipment_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "equipment"
    simulate("equipment", replications=6, seed=3, jobs=1, output=folder, plots=False)
    return folder


def test_without_removes_exactly_one_mechanism():
    scenario = load_scenario("equipment")
    base = scenario.model_dump(mode="json")
    for mechanism in MECHANISMS:
        assert has_mechanism(scenario, mechanism)
        off = without(scenario, mechanism)
        dumped = off.model_dump(mode="json")
        changed = {k for k in base if base[k] != dumped[k]}
        section = {"capacity": "team"}.get(mechanism, mechanism)  # capacity lives in [[team]]
        assert changed == {section}, mechanism
    assert without(scenario, "decision_group").decision_group == []
    assert all(team.unlimited for team in without(scenario, "capacity").team)
    assert without(scenario, "shocks").shocks is None
    dormant = without(scenario, "dormant").dormant
    # a minute of dormant time, and a give-up no horizon reaches (the bounds of a scenario)
    assert dormant.reactivate_mean_days <= 1 / 1440
    assert dormant.give_up_after_days >= scenario.horizon_days
    with pytest.raises(UserError, match="unknown mechanism"):
        without(scenario, "weather")


def test_removing_shocks_in_a_recession_books_more():
    found = counterfactual(load_scenario("recession"), "shocks", replications=20, seed=1)
    b = found["bookings"]
    assert b["delta"] > 0
    assert b["ci_low"] > 0  # the interval excludes 0: shocks clearly cost bookings
    assert found["won_share"]["delta"] > 0


def test_a_wrong_direction_would_be_caught():
    """Switching off budget waits cannot lower bookings of equipment (a check that can fail)."""
    found = counterfactual(load_scenario("equipment"), "budget", replications=10, seed=2)
    assert found["bookings"]["ci_low"] > 0
    assert found["closed_share"]["delta"] > 0


def test_removing_an_absent_mechanism_changes_nothing_exactly():
    textbook = load_scenario("textbook")
    assert not has_mechanism(textbook, "timing")
    found = counterfactual(textbook, "timing", replications=4, seed=1)
    for key in ("bookings", "won_share", "closed_share"):
        assert found[key]["delta"] == 0.0
        assert found[key]["ci_low"] == found[key]["ci_high"] == 0.0
    assert found["present"] is False


def test_stall_rows_follow_the_summary(equipment_run: Path):
    summary, found = explain_folder(equipment_run, with_counterfactuals=False)
    assert found is None
    rows = stall_rows(summary)
    assert [r["days"] for r in rows] == sorted((r["days"] for r in rows), reverse=True)
    for r in rows:
        assert r["days"] == pytest.approx(summary["stall_days"][r["cause"]]["mean"])
        assert r["touched_share"] == summary["stall_counts"][r["cause"]]["touched_share"]
    text = explain_text(summary)
    assert "Dormant (doing without, for now)" in text
    assert "An average deal loses" in text
    assert "What each mechanism costs" not in text


def test_explain_folder_reruns_on_the_same_seed(equipment_run: Path):
    summary, found = explain_folder(equipment_run, replications=3)
    assert (found["seed"], found["replications"]) == (3, 3)
    assert set(found["mechanisms"]) == set(MECHANISMS)
    assert "note" not in found
    text = explain_text(summary, found)
    assert "Budget cycles" in text and "Market timing" in text
    assert "Switched off one at a time" in text
    assert not any(p.name.startswith("explain") for p in equipment_run.iterdir())
    # the full replication count reproduces the run's bookings (summary.json keeps 6 digits)
    _, full = explain_folder(equipment_run)
    assert full["baseline_bookings"] == pytest.approx(summary["bookings"]["mean"], rel=1e-5)
    with pytest.raises(UserError, match="-n"):
        explain_folder(equipment_run, replications=7)


def test_cli_explain(cli, equipment_run: Path, tmp_path: Path):
    result = CliRunner().invoke(cli, ["explain", str(equipment_run), "-n", "2", "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "Why deals stall: equipment" in result.stdout
    as_json = CliRunner().invoke(cli, ["explain", str(equipment_run), "--json", "-n", "2"])
    assert as_json.exit_code == 0
    data = json.loads(as_json.stdout)
    assert data["counterfactuals"]["mechanisms"]["shocks"]["bookings"]["delta"] is not None
    missing = CliRunner().invoke(cli, ["explain", str(tmp_path / "nothing")])
    assert missing.exit_code == 2
    assert "no such folder" in missing.stderr and str(tmp_path / "nothing") in missing.stderr


def test_a_scenario_changed_after_the_run_is_not_trusted(cli, equipment_run, tmp_path):
    """explain re-ran whatever scenario.toml held (another scenario's counterfactuals printed
    against this run's summary), and report described it as this run's."""
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(equipment_run, folder)
    scenario = folder / "scenario.toml"
    scenario.write_text(
        scenario.read_text(encoding="utf-8").replace("funded_share = ", "funded_share = 0.1 #"),
        encoding="utf-8",
    )  # still a valid scenario, not the run's
    result = CliRunner().invoke(cli, ["explain", str(folder), "-n", "2", "-j", "1"])
    assert result.exit_code == 2 and "changed since the run" in result.stderr, result.output
    report = tmp_path / "r.html"
    assert CliRunner().invoke(cli, ["report", str(folder), "-o", str(report)]).exit_code == 0
    assert "changed since the run" in report.read_text(encoding="utf-8")
    # Nor can a command write over it: fit's -o, an export's -o (even with --force).
    forecast = folder / "forecast.csv"
    for args in (
        ["fit", "history.csv", "--as-of", "2020-01-01", "-o", str(scenario), "--force"],
        ["export-history", str(folder), "-o", str(forecast), "--force"],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2 and "a file of the dealsim results folder" in result.stderr
    shutil.copy(equipment_run / "scenario.toml", scenario)  # the run's own: trusted again
    assert CliRunner().invoke(cli, ["explain", str(folder), "-n", "2", "-j", "1"]).exit_code == 0


def test_a_pipeline_csv_put_into_a_run_folder_is_not_the_run_s(cli, equipment_run, tmp_path):
    """No command creates a run's own file that is missing (an export's -o pipeline.csv), and
    explain re-runs from pipeline.csv only when the manifest says the run started from one."""
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(equipment_run, folder)
    stray = folder / "pipeline.csv"
    result = CliRunner().invoke(cli, ["export-history", str(folder), "-o", str(stray)])
    assert result.exit_code == 2 and "a file of the dealsim results folder" in result.stderr
    assert not stray.exists()
    stray.write_text("not,a,pipeline\n", encoding="utf-8")  # put there by hand
    result = CliRunner().invoke(cli, ["explain", str(folder), "-n", "2", "-j", "1"])
    assert result.exit_code == 0, result.output
