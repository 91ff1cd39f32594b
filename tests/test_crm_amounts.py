"""The decimal mark of a CRM export's amounts: decided once per column from all its cells, like
the order of slash dates per file (sim.crm_values.decide_decimal_mark)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest
from crm_helpers import STAGES, scenario_file  # tests/ is on sys.path

from sim.cli import main
from sim.crm import ReadOptions, read_history, read_pipeline
from sim.crm_values import amount_evidence, parse_amount
from sim.errors import UserError

AS_OF = dt.date(2024, 4, 15)
#: The probe's file: one column, two number formats (read as 1.5, 2000, 1500 and 12.5 before).
MIXED = ["1.500", "2.000,00", "1,500", "12.500"]


def export(tmp_path: Path, amounts: list[str], name: str = "deals.csv") -> Path:
    """A plain pipeline export, ``;``-separated, one deal in qualify per amount."""
    path = tmp_path / name
    rows = "".join(f"D{i};qualify;{a};2024-01-10\n" for i, a in enumerate(amounts, 1))
    path.write_text("deal_id;stage;amount;created\n" + rows, encoding="utf-8")
    return path


def amounts(path: Path, **options) -> tuple[list[float], list[str]]:
    deals = read_pipeline(path, stages=STAGES, as_of=AS_OF, options=ReadOptions(**options))
    return [d.amount for d in deals], deals.notes


def refused(path: Path, **options) -> str:
    with pytest.raises(UserError) as info:
        amounts(path, **options)
    return str(info.value)


def test_one_column_in_two_number_formats_is_refused(tmp_path):
    text = refused(export(tmp_path, MIXED))
    assert "deals.csv, column 'amount': the amounts mix two number formats" in text
    assert "'1,500' (row 3, line 4)" in text  # a comma groups the digits here...
    assert "'1.500' (row 1, line 2), '12.500' (row 4, line 5)" in text  # ... a dot there
    assert "'2.000,00' (row 2, line 3): a decimal comma" in text
    assert "--decimal-mark , or --decimal-mark ." in text


def test_a_decimal_comma_and_a_decimal_dot_in_one_column_are_refused(tmp_path):
    text = refused(export(tmp_path, ["2,5", "1200", "12.50", "3,75"]))
    assert (
        "'2,5' (row 1, line 2), '3,75' (row 4, line 5) can be read only with a decimal comma"
        in text
    )
    assert "but '12.50' (row 3, line 4) only with a decimal dot" in text


def test_european_amounts_are_read_with_a_decimal_comma(tmp_path):
    # 1.250.000 was "not an amount" (a lone dot was always decimal); 1.500 was 1.5.
    found, notes = amounts(export(tmp_path, ["1.250.000", "2.000,00", "1.500", "€ 7,5"]))
    assert found == [1_250_000, 2000, 1500, 7.5]
    assert not any("decimal mark" in n for n in notes)


def test_us_amounts_are_read_with_a_decimal_dot(tmp_path):
    found, notes = amounts(export(tmp_path, ["1,250,000.50", "12.50", "1,500", "$900"]))
    assert found == [1_250_000.5, 12.5, 1500, 900]
    assert not any("decimal mark" in n for n in notes)


def test_examples_and_counts_are_of_amounts_not_of_rows(tmp_path):
    """A deal's amount on each of its rows (as histories repeat it) is one example, and one
    amount in the count: the messages showed one deal three times and counted its rows."""
    text = refused(export(tmp_path, ["1.500", "1.500", "1.500", "2.000,00", "1,500", "12.500"]))
    assert "in '1.500' (row 1, line 2), '12.500' (row 6, line 7) a dot" in text
    _, notes = amounts(export(tmp_path, ["1,500", "1,500", "1,500", "2,250"], "again.csv"))
    assert "column 'amount': 2 amounts such as '1,500' (row 1)" in " ".join(notes)


def test_amounts_that_can_be_read_both_ways_are_read_as_before_and_said(tmp_path):
    path = export(tmp_path, ["1,500", "2,250", "800"])
    found, notes = amounts(path)
    assert found == [1500, 2250, 800]
    note = next(n for n in notes if "decimal mark" in n)
    assert "column 'amount': 2 amounts such as '1,500' (row 1)" in note
    assert "the comma as a thousands separator ('1,500' = 1500)" in note
    assert "--decimal-mark ," in note
    assert amounts(path, decimal_mark=",")[0] == [1.5, 2.25, 800]
    found, notes = amounts(export(tmp_path, ["1.500", "800"], "dots.csv"))
    assert found == [1.5, 800]
    assert any("the dot as the decimal mark ('1.500' = 1.5)" in n for n in notes)


def test_the_decimal_mark_asked_is_checked_against_the_cells(tmp_path):
    assert amounts(export(tmp_path, MIXED), decimal_mark=",")[0] == [1500, 2000, 1.5, 12500]
    text = refused(export(tmp_path, ["1,500", "12.50"]), decimal_mark=",")
    assert (
        "'12.50' (row 2, line 3) cannot be read with a decimal comma as --decimal-mark , says"
        in text
    )
    with pytest.raises(UserError, match="--decimal-mark ;: expected , or ."):
        amounts(export(tmp_path, ["1"]), decimal_mark=";")


def test_history_amounts_follow_the_same_rule(tmp_path):
    path = tmp_path / "history.csv"
    rows = [("D1", "1.250.000"), ("D2", "2.000,00"), ("D3", "1.500")]
    path.write_text(
        "deal_id;stage;entered_at;amount\n"
        + "".join(f"{d};qualify;2024-01-10;{a}\n{d};won;2024-02-10;{a}\n" for d, a in rows),
        encoding="utf-8",
    )
    assert read_history(path).amounts == {"D1": 1_250_000, "D2": 2000, "D3": 1500}
    path.write_text(path.read_text().replace("2.000,00", "1,500"), encoding="utf-8")
    with pytest.raises(UserError, match=r"history.csv, column 'amount': the amounts mix"):
        read_history(path)
    h = read_history(path, options=ReadOptions(decimal_mark=","))
    assert h.amounts == {"D1": 1_250_000, "D2": 1.5, "D3": 1500}


def test_the_cli_refuses_the_probe_and_says_how_it_read_ambiguous_amounts(tmp_path, capsys):
    scenario = str(scenario_file(tmp_path, "EUR"))
    args = ["run", scenario, "-n", "2", "-j", "1", "--no-plots", "--as-of", "2024-04-15"]
    out = tmp_path / "out"
    assert main([*args, "-o", str(out), "--pipeline", str(export(tmp_path, MIXED))]) == 2
    err = capsys.readouterr().err
    assert "column 'amount': the amounts mix two number formats" in err and "Traceback" not in err
    assert not out.exists()
    ambiguous = str(export(tmp_path, ["1,500", "2,500"], "ambiguous.csv"))
    assert main([*args, "-o", str(out), "--pipeline", ambiguous]) == 0
    assert "ambiguous.csv: column 'amount': 2 amounts such as '1,500'" in capsys.readouterr().err
    code = main([*args, "-o", str(out), "--force", "--pipeline", ambiguous, "--decimal-mark", ","])
    assert code == 0
    assert "decimal mark" not in capsys.readouterr().err
    assert main(["run", "equipment", "--decimal-mark", ","]) == 2
    assert "--decimal-mark needs --pipeline FILE" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "evidence"),
    [
        ("1.250.000", ","),
        ("1,250,000", "."),
        ("1.234,50", ","),
        ("$1,234.50", "."),
        ("2,5", ","),
        ("12.50", "."),
        ("0,500", ","),  # thousands are never grouped after a 0
        ("1,500", "1,500"),
        ("-12.500 EUR", "1.500"),
        ("1 234", None),
        ("1234", None),
        ("12k", None),
    ],
)
def test_what_a_cell_says_of_its_decimal_mark(text, evidence):
    assert amount_evidence(text) == evidence


def test_amounts_read_with_a_decimal_mark():
    assert parse_amount("1.250.000", ",") == 1_250_000
    assert parse_amount("1,500", ",") == 1.5
    assert parse_amount("1,500", ".") == 1500
    assert parse_amount("1,2,3", ".") is None
    assert parse_amount("1,234.50", ",") is None
    assert math.isnan(parse_amount(" ", ","))
