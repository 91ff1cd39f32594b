"""`trace` and `weighted` take --pipeline/--as-of/--map and --set like `run` (shared options)."""

from __future__ import annotations

import json
from pathlib import Path

from crm_helpers import EXPORTS, scenario_file  # tests/ is on sys.path

from sim.cli import main

PIPEDRIVE = ["--pipeline", str(EXPORTS / "pipedrive_deals.csv"), "--as-of", "15.04.2024"]


def scenario(tmp_path: Path) -> str:
    return str(scenario_file(tmp_path, "EUR"))


def test_weighted_weighs_the_crm_pipeline(tmp_path, capsys):
    assert main(["weighted", scenario(tmp_path), "-n", "4", "--json", *PIPEDRIVE]) == 0
    out = capsys.readouterr()
    found = json.loads(out.out)
    # The export's three open deals (one per stage), not the scenario's 40 in qualify.
    assert [s["deals"] for s in found["stages"]] == [1, 1, 1]
    assert found["start_date"] == "2024-04-15"
    assert "3 open deals" in out.err and "3 closed deals skipped" in out.err
    assert "1 won, 1 lost, 1 deleted" in out.err


def test_weighted_takes_set(tmp_path, capsys):
    args = ["weighted", scenario(tmp_path), "-n", "4", "--json"]
    assert main([*args, "--set", "deals.initial.qualify=10"]) == 0
    assert json.loads(capsys.readouterr().out)["stages"][0]["deals"] == 10


def test_trace_tells_a_crm_deal_from_the_export_day(tmp_path, capsys):
    assert main(["trace", scenario(tmp_path), "--deal", "2", *PIPEDRIVE]) == 0
    text = capsys.readouterr().out
    assert "2024-04-15  Already in the pipeline at the start: Decide" in text


def test_trace_takes_set(tmp_path, capsys):
    path = scenario(tmp_path)
    assert main(["trace", path, "--deal", "0", "--set", "start_date=2025-02-03"]) == 0
    assert "2025-02-03  Already in the pipeline" in capsys.readouterr().out


def test_bad_pipeline_options_on_trace_and_weighted_are_exit_2(tmp_path, capsys):
    path = scenario(tmp_path)
    for command in ("trace", "weighted"):
        assert main([command, path, "--as-of", "2024-04-15"]) == 2
        assert "--as-of needs --pipeline FILE" in capsys.readouterr().err
        bad = [command, path, "--pipeline", str(EXPORTS / "all_ambiguous.csv")]
        assert main(bad) == 2
        assert "--date-format" in capsys.readouterr().err


def test_trace_tells_the_crm_deal_that_run_simulates(tmp_path, capsys):
    """trace started each CRM deal afresh at the scenario's amount ("A (317 EUR)" for a deal
    exported at 1000 EUR), so its story was not the one `run --pipeline` simulates."""
    import csv
    import datetime as dt

    path = scenario(tmp_path)
    out = tmp_path / "run"
    argv = [path, "-n", "2", "-j", "1", "--seed", "4", "--no-plots", "-o", str(out), *PIPEDRIVE]
    assert main(["run", *argv]) == 0
    with (out / "deals.csv").open(encoding="utf-8", newline="") as fh:
        deals = [d for d in csv.DictReader(fh) if d["replication"] == "0"]
    capsys.readouterr()
    for deal in deals:
        assert main(["trace", path, "--deal", deal["deal"], "--seed", "4", *PIPEDRIVE]) == 0
        text = " ".join(capsys.readouterr().out.split())  # unwrapped
        amount = float(deal["amount"])
        assert f"CRM deal {deal['crm_id']}," in text
        assert f"{amount / 1000:.3g}k EUR" in text or f"{amount:.3g} EUR" in text
        if deal["closed_day"]:  # closed on the day run says
            day = dt.date(2024, 4, 15) + dt.timedelta(days=int(float(deal["closed_day"])))
            closing = text.split(f"{day.isoformat()} ", 1)[1]  # the line of that day
            assert closing.startswith(("Contract signed: WON", "LOST", "NO DECISION")), text
