"""The fitted scenario's [crm.stage_map]: every CRM stage of the history, so that `run
--pipeline` reads an export of the same CRM (the Maven sample's Prospecting deals included)."""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path

import pytest

from sim.cli import main

DATA = Path(__file__).parent / "data"
MAVEN = DATA / "maven-crm" / "sales_pipeline_extract.csv"


def _fit(history: Path, out: Path, *extra: str) -> int:
    return main(["fit", str(history), "-o", str(out), "--no-fidelity", "--no-plots", *extra])


def _run(scenario: Path, pipeline: Path, as_of: str, out: Path) -> int:
    return main([
        "run", str(scenario), "-n", "2", "-j", "1", "--no-plots", "-o", str(out),
        "--pipeline", str(pipeline), "--as-of", as_of,
    ])  # fmt: skip


def test_maven_fit_maps_every_stage_and_runs_on_the_same_export(tmp_path, capsys):
    """The fit skipped Prospecting (no dates) and wrote no stage map: the run on the same file
    then stopped at 'unknown stage(s): Prospecting'."""
    fitted = tmp_path / "maven.toml"
    assert _fit(MAVEN, fitted, "--as-of", "2017-12-31", "--currency", "USD") == 0
    said_all = capsys.readouterr().out.replace("\n  ", " ")  # the report wraps its notes
    with open(MAVEN, newline="") as f:
        crm_stages = {row["deal_stage"] for row in csv.DictReader(f)}
    assert crm_stages == {"Prospecting", "Engaging", "Won", "Lost"}
    stage_map = tomllib.loads(fitted.read_text(encoding="utf-8"))["crm"]["stage_map"]
    assert stage_map == {
        "Engaging": "engaging",
        "Won": "won",
        "Lost": "lost",
        "Prospecting": "engaging",  # the stage a deal with no dates enters when it starts
    }
    said = "[crm.stage_map] sends 'Prospecting' (22 deals with no dates, not fitted)"
    assert said in said_all
    assert f"# Note: {said}" in fitted.read_text(encoding="utf-8")

    run = tmp_path / "run"
    assert _run(fitted, MAVEN, "2017-12-31", run) == 0, capsys.readouterr().err
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["pipeline"]["open_deals"] == 64 + 22  # Engaging and Prospecting


def test_renamed_and_merged_stages_are_in_the_map(tmp_path, capsys):
    """Spellings the fit renamed (--stage-map) or sent to an outcome (--outcome) are no stage
    key nor label of the fitted scenario: without the map, a pipeline naming them failed."""
    history = tmp_path / "history.csv"
    lines = ["deal_id,stage,entered_at"]
    for i in range(12):
        first = "Needs Analysis" if i % 2 else "Discovery Call"
        end = "Closed Dead" if i % 3 else "Closed Won"
        lines += [f"D{i},{first},2024-01-{i + 1:02d}", f"D{i},Proposal,2024-02-{i + 1:02d}"]
        if i < 9:
            lines.append(f"D{i},{end},2024-03-{i + 1:02d}")
    history.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fitted = tmp_path / "fitted.toml"
    args = ["--as-of", "2024-04-30", "--stage-map", "Discovery Call=needs_analysis"]
    assert _fit(history, fitted, *args, "--outcome", "Closed Dead=lost") == 0
    stage_map = tomllib.loads(fitted.read_text(encoding="utf-8"))["crm"]["stage_map"]
    assert stage_map == {
        "Discovery Call": "needs_analysis",
        "Needs Analysis": "needs_analysis",
        "Proposal": "proposal",
        "Closed Won": "won",
        "Closed Dead": "lost",
    }
    pipeline = tmp_path / "pipeline.csv"
    pipeline.write_text(
        "deal_id,stage,amount,created\n"
        "P1,Discovery Call,1000,2024-04-01\n"
        "P2,Needs Analysis,1000,2024-04-02\n"
        "P3,Closed Dead,1000,2024-03-01\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert _run(fitted, pipeline, "2024-04-30", tmp_path / "run") == 0, capsys.readouterr().err
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["pipeline"]["open_deals"] == 2


def test_a_stage_with_no_visit_by_as_of_is_left_out_and_said(tmp_path, capsys):
    """'propose' is entered after as-of only: the fitted scenario has no such stage, so the map
    cannot send it anywhere; the terminal and the TOML say so."""
    fitted = tmp_path / "then.toml"
    history = DATA / "crm" / "bad_history_after_as_of.csv"
    assert _fit(history, fitted, "--as-of", "2024-04-15") == 0
    report = capsys.readouterr().out.replace("\n  ", " ")
    said = "[crm.stage_map] leaves out 'propose': its state 'propose' is not in the fitted scenario"
    assert said in report
    text = fitted.read_text(encoding="utf-8")
    assert f"# Note: {said}" in text
    assert tomllib.loads(text)["crm"]["stage_map"] == {"qualify": "qualify"}


@pytest.mark.parametrize("command", [["fit"], ["backtest", "--until", "2017-12-31"]])
def test_a_stage_map_to_no_stage_key_is_named_as_the_option(command, tmp_path):
    """'Won' failed the fitted scenario's own validation ("stages.Won.name: ... pattern")."""
    from click.testing import CliRunner

    from sim.cli import cli

    args = [command[0], str(MAVEN), "--as-of", "2017-09-30", *command[1:], "--stage-map",
            "Engaging=Won", "-o", str(tmp_path / "out.toml")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "--stage-map Engaging=Won: 'Won' is not a stage key" in result.stderr
    assert "did you mean Engaging=won?" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["fit"], ["backtest", "--until", "2017-12-31"]])
@pytest.mark.parametrize(
    ("pair", "said"),
    [
        # 'open' names the results' still-open deals: it passed, and failed as a fitted stage
        ("Engaging=open", "'open' is reserved (the results' name for deals still open)"),
        # the hint is the stage key the reader would make ('needs analysis' is none)
        ("Engaging=Needs Analysis", "did you mean Engaging=needs_analysis?"),
        ("Engaging=Closed Won", "did you mean Engaging=won?"),
    ],
)
def test_a_stage_map_to_a_reserved_or_no_stage_key_is_refused_with_a_hint(
    command, pair, said, tmp_path
):
    from click.testing import CliRunner

    from sim.cli import cli

    args = [command[0], str(MAVEN), "--as-of", "2017-09-30", *command[1:], "--stage-map", pair,
            "-o", str(tmp_path / "out.toml")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert f"--stage-map {pair}: " in result.stderr and said in result.stderr
    # dormant is a target, but no outcome
    assert "an outcome (won, lost, no_decision) or dormant" in result.stderr
    assert "Traceback" not in result.output and list(tmp_path.iterdir()) == []
