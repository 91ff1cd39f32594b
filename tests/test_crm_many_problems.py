"""A CRM export with many bad rows: one message lists them all (the first 20, and how many more),
so that 40 bad dates are mended in one pass instead of 40 runs. Through the CLI: exit 2, no
traceback, nothing written."""

from __future__ import annotations

import re
from pathlib import Path

from sim.cli import main

SCENARIO = """
name = "many-problems"
currency = "USD"
start_date = 2024-01-01
horizon_days = 200
replications = 2

[deals]
initial = { qualify = 5 }
arrivals_per_month = 0
amount = { dist = "fixed", value = 1000 }

[[stages]]
name = "qualify"
duration = { dist = "exponential", mean = 30 }
exits = { propose = 0.7, lost = 0.3 }

[[stages]]
name = "propose"
duration = { dist = "exponential", mean = 30 }
exits = { decide = 0.8, lost = 0.2 }

[[stages]]
name = "decide"
duration = { dist = "exponential", mean = 20 }
exits = { won = 0.7, lost = 0.3 }
"""

PIPELINE_HEADER = "deal_id,stage,amount,created,stage_entered,status"
# Data row n is line n + 1. Rows 2 to 7 are bad; row 7 twice (its amount and its created date).
BAD_PIPELINE = """\
D1,qualify,1000,2024-01-10,2024-01-10,open
D2,qualify,1000,2024-13-01,2024-01-10,open
D3,propose,twelve,2024-01-05,2024-01-20,open
D4,propose,1000,2024-01-05,2024-01-01,open
D5,decide,1000,2024-01-05,2024-05-01,open
D6,decide,1000,2024-01-05,2024-02-01,maybe
D7,qualify,1e300,1800-01-01,2024-02-01,open
D8,qualify,1000,2024-01-05,,open
"""
PIPELINE_PROBLEMS = [
    ("row 2 (line 3), column 'created'", "'2024-13-01' is not a date"),
    ("row 3 (line 4), column 'amount'", "'twelve' is not an amount"),
    (
        "row 4 (line 5), column 'stage_entered'",
        "the deal entered its stage on 2024-01-01, before it was created (2024-01-05)",
    ),
    ("row 5 (line 6), column 'stage_entered'", "2024-05-01 is after --as-of 2024-03-15"),
    ("row 6 (line 7), column 'status'", "status 'maybe' is not one of open, won, lost, deleted"),
    ("row 7 (line 8), column 'amount'", "'1e300' is over 1,000,000,000,000"),
    ("row 7 (line 8), column 'created'", "'1800-01-01' is outside 1900-01-01 .. 2199-12-31"),
]

HISTORY_HEADER = "deal_id,stage,entered_at,amount"
BAD_HISTORY = """\
D1,qualify,2024-01-10,100
D1,won,2024-02-30,100
D2,qualify,2024-01-10,lots
D2,lost,,100
D3,,2024-01-10,100
D3,won,1800-01-01,100
D4,qualify,2024-01-10,100
"""
HISTORY_PROBLEMS = [
    ("row 2 (line 3), column 'entered_at'", "'2024-02-30' is not a date"),
    ("row 3 (line 4), column 'amount'", "'lots' is not an amount"),
    ("row 4 (line 5), column 'entered_at'", "empty entered_at"),
    ("row 5 (line 6), column 'stage'", "empty stage"),
    ("row 6 (line 7), column 'entered_at'", "'1800-01-01' is outside 1900-01-01 .. 2199-12-31"),
]


def write(path: Path, header: str, body: str) -> Path:
    path.write_text(f"{header}\n{body}", encoding="utf-8")
    return path


def run_pipeline(tmp_path: Path, csv_path: Path, capsys, scenario: str = SCENARIO) -> str:
    """``dealsim run --pipeline`` that must fail: its message, once checked that nothing was
    written and no traceback shown."""
    scenario_path = tmp_path / "scenario.toml"
    scenario_path.write_text(scenario)
    out = tmp_path / "out"
    code = main([
        "run", str(scenario_path), "-n", "2", "-j", "1", "-o", str(out), "--no-plots",
        "--pipeline", str(csv_path), "--as-of", "2024-03-15",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert not out.exists()
    return err


def fit_history(tmp_path: Path, csv_path: Path, capsys) -> str:
    """``dealsim fit`` that must fail: its message, once checked that nothing was written."""
    out_dir = tmp_path / f"out_{csv_path.stem}"
    out_dir.mkdir()
    code = main([
        "fit", str(csv_path), "--as-of", "2024-04-15", "-o", str(out_dir / "fitted.toml"),
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert list(out_dir.iterdir()) == []  # no TOML, no PNG, no temporary file
    return err


def assert_listed_in_order(message: str, source: Path, problems: list[tuple[str, str]]) -> None:
    """Each problem on a line of its own, naming file, row and column, in row order."""
    lines = message.splitlines()
    found = []
    for where, what in problems:
        hits = [i for i, line in enumerate(lines) if f"{source}: {where}: {what}" in line]
        assert len(hits) == 1, (where, what, message)
        found.append(hits[0])
    assert found == sorted(found), message


def test_a_pipeline_with_several_bad_rows_lists_them_all(tmp_path, capsys):
    path = write(tmp_path / "pipeline.csv", PIPELINE_HEADER, BAD_PIPELINE)
    err = run_pipeline(tmp_path, path, capsys)
    assert f"{path}: 7 problems:" in err
    assert_listed_in_order(err, path, PIPELINE_PROBLEMS)
    assert "row 1 " not in err and "row 8 " not in err  # the good rows are not named
    # The date formats are said once, not on every line of a bad date.
    assert err.count("YYYY-MM-DD (or an ISO date-time)") == 1


def test_a_history_with_several_bad_rows_lists_them_all(tmp_path, capsys):
    path = write(tmp_path / "history.csv", HISTORY_HEADER, BAD_HISTORY)
    err = fit_history(tmp_path, path, capsys)
    assert f"{path}: 5 problems:" in err
    assert_listed_in_order(err, path, HISTORY_PROBLEMS)


def test_more_than_20_bad_rows_give_the_first_20_and_how_many_more(tmp_path, capsys):
    body = "".join(f"D{n},qualify,1000,soon{n},,open\n" for n in range(1, 26))
    path = write(tmp_path / "pipeline.csv", PIPELINE_HEADER, body)
    err = run_pipeline(tmp_path, path, capsys)
    assert f"{path}: 25 problems:" in err
    shown = [int(n) for n in re.findall(r"row (\d+) \(line \d+\), column 'created'", err)]
    assert shown == list(range(1, 21))
    assert "  ... and 5 more" in err
    assert "soon21" not in err


def test_more_than_20_bad_history_rows_give_the_first_20_and_how_many_more(tmp_path, capsys):
    body = "".join(f"D{n},qualify,when{n},100\n" for n in range(1, 31))
    path = write(tmp_path / "history.csv", HISTORY_HEADER, body)
    err = fit_history(tmp_path, path, capsys)
    assert f"{path}: 30 problems:" in err
    shown = [int(n) for n in re.findall(r"row (\d+) \(line \d+\), column 'entered_at'", err)]
    assert shown == list(range(1, 21))
    assert "  ... and 10 more" in err


def test_a_single_bad_value_still_names_file_row_and_column(tmp_path, capsys):
    body = "D1,qualify,1000,2024-01-10,2024-01-10,open\nD2,qualify,1000,2024-13-01,,open\n"
    path = write(tmp_path / "pipeline.csv", PIPELINE_HEADER, body)
    err = run_pipeline(tmp_path, path, capsys)
    # One line, as before: no count, the date formats in place.
    assert (
        f"Error: {path}: row 2 (line 3), column 'created': '2024-13-01' is not a date "
        "(formats understood: YYYY-MM-DD" in err
    )
    assert "problems" not in err


def test_unknown_stages_duplicate_ids_and_bad_rows_are_one_message(tmp_path, capsys):
    body = (
        "D1,qualify,1000,2024-01-10,2024-01-10,open\n"
        "D2,Discovery,1000,2024-01-10,2024-01-10,open\n"
        "D1,propose,1000,2024-01-10,2024-01-20,open\n"
        "D3,decide,twelve,2024-01-10,2024-01-20,open\n"
    )
    path = write(tmp_path / "pipeline.csv", PIPELINE_HEADER, body)
    err = run_pipeline(tmp_path, path, capsys)
    assert f"{path}: 3 problems:" in err
    assert f"{path}, column 'stage': unknown stage(s): 'Discovery' on row 2" in err
    assert f"{path}, column 'deal_id': duplicate deal id(s): 'D1' on rows 1, 3" in err
    assert f"{path}: row 4 (line 5), column 'amount': 'twelve' is not an amount" in err


def test_maven_rows_and_deals_back_in_time_are_listed_together(tmp_path, capsys):
    maven = write(
        tmp_path / "maven.csv",
        "opportunity_id,deal_stage,engage_date,close_date,close_value",
        "A1,Won,2017-01-05,2017-02-01,100\n"
        "A2,Won,2017-01-05,,100\n"  # an outcome with no close date
        "A1,Lost,2017-01-05,2017-03-01,100\n"  # the deal again
        "A3,Engaging,2017-01-05,2017-02-01,\n"  # open with a close date
        "A4,Won,someday,2017-02-01,lots\n",  # two problems
    )
    err = fit_history(tmp_path, maven, capsys)
    assert_listed_in_order(
        err,
        maven,
        [
            ("row 2 (line 3), column 'close_date'", "the deal is 'Won' but has no close date"),
            ("row 3 (line 4), column 'opportunity_id'", "duplicate deal id 'A1' (also on row 1"),
            ("row 4 (line 5), column 'close_date'", "the deal is 'Engaging' (open)"),
            ("row 5 (line 6), column 'engage_date'", "'someday' is not a date"),
            ("row 5 (line 6), column 'close_value'", "'lots' is not an amount"),
        ],
    )
    # Once the rows read, every deal that goes back in time is named, not the first only.
    history = write(
        tmp_path / "history.csv",
        HISTORY_HEADER,
        "D1,qualify,2024-01-10,100\nD1,won,2024-02-01,100\nD1,propose,2024-03-01,100\n"
        "D2,qualify,2024-01-10,100\nD2,lost,2024-02-01,100\nD2,won,2024-03-01,100\n",
    )
    err = fit_history(tmp_path, history, capsys)
    assert f"{history}: 2 problems:" in err
    assert "deal 'D1' goes back in time: row 2 closes it as won" in err
    assert "deal 'D2' goes back in time: row 5 closes it as lost" in err


def test_the_collector_keeps_20_messages_whatever_the_count():
    from sim.crm import RowProblem, RowProblems

    problems = RowProblems("big.csv")
    for n in range(1, 100_001):
        problems.add(RowProblem(f"big.csv: row {n} (line {n + 1}), column 'created'", "bad"))
    assert problems.count == 100_000
    assert len(problems.listed) == 20


def test_a_duplicate_id_whose_first_row_has_an_unknown_stage_is_still_a_duplicate(tmp_path, capsys):
    """The first B4 has a stage no scenario knows; that row used to be dropped before its id
    was counted, so the duplicate went unsaid."""
    body = (
        "B1,qualify,1000,2024-01-10,2024-01-10,open\n"
        "B4,nowhere,1000,2024-01-10,2024-01-10,open\n"
        "B4,propose,1000,2024-01-10,2024-01-20,open\n"
        "B5,decide,1000,2024-01-10,2024-01-20,maybe\n"
        "B5,decide,1000,2024-01-10,2024-01-20,open\n"
    )
    path = write(tmp_path / "pipeline.csv", PIPELINE_HEADER, body)
    err = run_pipeline(tmp_path, path, capsys)
    assert f"{path}: 3 problems:" in err
    assert f"{path}, column 'stage': unknown stage(s): 'nowhere' on row 2" in err
    assert f"{path}, column 'deal_id': duplicate deal id(s): 'B4' on rows 2, 3; 'B5'" in err
    assert "status 'maybe' is not one of" in err


def test_closed_rows_sharing_an_id_are_no_duplicate_of_an_open_deal(tmp_path, capsys):
    """Rows closed by their status are skipped, not read as deals: two of them with one id
    (a won deal exported twice) stop nothing; an open deal is still counted."""
    from sim.cli import main

    body = (
        "B1,qualify,1000,2024-01-10,2024-01-10,open\n"
        "A2,decide,1000,2024-01-10,2024-01-20,won\n"
        "A2,decide,1000,2024-01-10,2024-01-20,won\n"
    )
    path = write(tmp_path / "pipeline.csv", PIPELINE_HEADER, body)
    scenario_path = tmp_path / "scenario.toml"
    scenario_path.write_text(SCENARIO)
    code = main([
        "run", str(scenario_path), "-n", "2", "-j", "1", "-o", str(tmp_path / "out"),
        "--no-plots", "--pipeline", str(path), "--as-of", "2024-03-15",
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
