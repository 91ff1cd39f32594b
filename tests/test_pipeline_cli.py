"""`--pipeline FILE --as-of DATE`: today's open deals from a CRM export as the day-0 pipeline."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from sim.cli import main

CRM = Path(__file__).parent / "data" / "crm"

SCENARIO = """
name = "crm-run"
currency = "USD"  # the Salesforce report writes $ amounts
start_date = 2024-01-01
horizon_days = 365
replications = 3

[deals]
initial = { qualify = 50 }
arrivals_per_month = 0
amount = { dist = "fixed", value = 1000 }

[[stages]]
name = "qualify"
duration = { dist = "exponential", mean = 30 }
exits = { propose = 0.7, lost = 0.3 }

[[stages]]
name = "propose"
duration = { dist = "exponential", mean = 30 }
exits = { negotiate = 0.8, lost = 0.2 }

[[stages]]
name = "negotiate"
duration = { dist = "exponential", mean = 20 }
exits = { won = 0.7, lost = 0.3 }

[crm.stage_map]
"Qualification" = "qualify"
"Proposal/Price Quote" = "propose"
"Negotiation/Review" = "negotiate"
"Closed Won" = "won"
"Closed Lost" = "lost"
"""


def write_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "crm-run.toml"
    path.write_text(SCENARIO)
    return path


def test_run_starts_from_the_crm_deals(tmp_path, capsys):
    out = tmp_path / "out"
    code = main([
        "run", str(write_scenario(tmp_path)), "-n", "3", "-j", "1", "-o", str(out), "--no-plots",
        "--pipeline", str(CRM / "pipeline_salesforce_report.csv"), "--as-of", "2024-03-15",
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["start_date"] == "2024-03-15"  # day 0 is the export day
    assert summary["deals"]["mean"] == 3  # the three open deals, not the scenario's 50
    with open(out / "deals.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["first_stage"] for r in rows} == {"qualify", "propose", "negotiate"}
    assert all(float(r["created_day"]) < 0 for r in rows)  # created before the export day
    assert {float(r["amount"]) for r in rows} == {12000.0, 25500.5, 40000.0}
    assert "start_date = 2024-03-15" in (out / "scenario.toml").read_text()


def test_a_bad_pipeline_file_is_exit_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    code = main([
        "run", str(write_scenario(tmp_path)), "-n", "2", "-j", "1", "-o", str(out),
        "--pipeline", str(CRM / "bad_pipeline_amount.csv"), "--as-of", "2024-03-15",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "bad_pipeline_amount.csv" in err and "Traceback" not in err
    assert not out.exists()


def test_as_of_without_a_pipeline_is_an_error(tmp_path, capsys):
    code = main(["run", str(write_scenario(tmp_path)), "--as-of", "2024-03-15", "-n", "2"])
    assert code == 2
    assert "--pipeline" in capsys.readouterr().err


def test_compare_uses_the_same_crm_pipeline_for_both(tmp_path, capsys, monkeypatch):
    import sim.pipeline

    reads = []
    read_pipeline = sim.pipeline.read_pipeline
    monkeypatch.setattr(
        sim.pipeline, "read_pipeline", lambda *a, **k: reads.append(a) or read_pipeline(*a, **k)
    )
    out = tmp_path / "cmp"
    code = main([
        "compare", str(write_scenario(tmp_path)), "--set", "stages.qualify.duration.mean=60",
        "-n", "4", "-j", "1", "-o", str(out), "--no-plots", "--json",
        "--pipeline", str(CRM / "pipeline_salesforce_report.csv"), "--as-of", "2024-03-15",
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["metrics"]["n_deals"]["a"] == comparison["metrics"]["n_deals"]["b"] == 3
    assert len(reads) == 2  # once an arm: the cost check and the run share what was read


def test_the_run_keeps_its_crm_deals_and_explain_reruns_from_them(tmp_path, capsys):
    out = tmp_path / "out"
    code = main([
        "run", str(write_scenario(tmp_path)), "-n", "4", "-j", "1", "-o", str(out), "--no-plots",
        "--pipeline", str(CRM / "pipeline_salesforce_report.csv"), "--as-of", "2024-03-15",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0
    assert "3 open deals" in err and "1 closed deals skipped" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["pipeline"]["open_deals"] == 3
    assert (out / "pipeline.csv").read_text().count("\n") == 4  # header and three deals
    from sim.explain import explain_folder

    summary, found = explain_folder(out, jobs=1)
    assert "note" not in found  # the re-run reproduces the run: same deals, same numbers
    assert math.isclose(found["baseline_bookings"], summary["bookings"]["mean"], rel_tol=1e-5)


def test_an_export_with_no_open_deal_is_an_error(tmp_path, capsys):
    closed_only = tmp_path / "closed.csv"
    closed_only.write_text(
        "deal_id,stage,amount,created,stage_entered\nD1,won,100,2024-01-01,2024-02-01\n"
    )
    code = main([
        "run", str(write_scenario(tmp_path)), "-n", "2", "-j", "1", "-o", str(tmp_path / "o"),
        "--pipeline", str(closed_only), "--as-of", "2024-03-15",
    ])  # fmt: skip
    assert code == 2
    assert "no open deal" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_crm_stage_can_map_to_dormant(tmp_path, capsys):
    on_hold = tmp_path / "hold.csv"
    on_hold.write_text(
        "deal_id,stage,amount,created,stage_entered\n"
        "H1,On Hold,100,2024-01-01,2024-02-01\n"
        "Q1,Qualification,200,2024-02-01,2024-02-01\n"
    )
    text = SCENARIO.replace('"Closed Won" = "won"', '"Closed Won" = "won"\n"On Hold" = "dormant"')
    without = tmp_path / "no-dormant.toml"
    without.write_text(text)
    args = ["-n", "2", "-j", "1", "--no-plots", "--pipeline", str(on_hold), "--as-of", "2024-03-15"]
    assert main(["run", str(without), "-o", str(tmp_path / "a"), *args]) == 2
    assert "no [dormant] section" in capsys.readouterr().err
    with_dormant = tmp_path / "crm-run.toml"
    with_dormant.write_text(
        text + "\n[dormant]\nreactivate_mean_days = 90\ngive_up_after_days = 365\n"
    )
    assert main(["run", str(with_dormant), "-o", str(tmp_path / "b"), *args]) == 0
    with open(tmp_path / "b" / "deals.csv", newline="") as f:
        first = {row["first_stage"] for row in csv.DictReader(f)}
    assert first == {"dormant", "qualify"}
    from sim.explain import explain_folder

    _, found = explain_folder(tmp_path / "b", jobs=1)  # re-reads pipeline.csv, dormant included
    assert "note" not in found


def test_quiet_leaves_the_day_0_pipeline_line_out(tmp_path, capsys):
    """-q leaves nothing on stderr but warnings and errors: run printed its pipeline line."""
    argv = [
        "run", str(write_scenario(tmp_path)), "-n", "2", "-j", "1", "--no-plots",
        "--pipeline", str(CRM / "pipeline_salesforce_report.csv"), "--as-of", "2024-03-15",
    ]  # fmt: skip
    assert main([*argv, "-o", str(tmp_path / "loud")]) == 0
    assert "Day-0 pipeline: 3 open deals" in capsys.readouterr().err
    assert main([*argv, "-q", "-o", str(tmp_path / "quiet")]) == 0
    assert "Day-0 pipeline" not in capsys.readouterr().err


def test_without_as_of_one_note_says_the_export_is_read_as_of_the_start_date(tmp_path, capsys):
    """run and weighted (and compare, once for its two arms): day 0 defaults to the scenario's
    start_date, which a note says; with --as-of it is not said."""
    scenario = tmp_path / "on-the-export-day.toml"  # the day the export was taken
    scenario.write_text(SCENARIO.replace("start_date = 2024-01-01", "start_date = 2024-03-15"))
    scenario = str(scenario)
    export = ["--pipeline", str(CRM / "pipeline_salesforce_report.csv")]
    said = "read as of the scenario's start_date, 2024-03-15 (no --as-of given)"
    runs = {
        "run": ["run", scenario, "-n", "2", "-j", "1", "--no-plots", "-o", str(tmp_path / "r")],
        "weighted": ["weighted", scenario, "-n", "2", "-j", "1"],
        "compare": [
            "compare", scenario, "--set", "stages.qualify.duration.mean=60", "-n", "2",
            "-j", "1", "--no-plots", "-o", str(tmp_path / "c"),
        ],
    }  # fmt: skip
    for name, argv in runs.items():
        assert main([*argv, *export]) == 0, name
        err = capsys.readouterr().err
        assert err.count(said) == 1, (name, err)
    argv = [*runs["run"][:-1], str(tmp_path / "dated"), *export, "--as-of", "2024-03-15"]
    assert main(argv) == 0
    assert "no --as-of given" not in capsys.readouterr().err
