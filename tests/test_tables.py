"""Terminal tables fit the terminal width (COLUMNS) and write the numbers of a table alike.

Every command that prints a table runs here at 60 and at 200 columns on small sizes: no line
of its output is wider than COLUMNS, no number is cut, and the money of a column (or of a
table, where the command says so) has one suffix and one number of decimals.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.cli import cli
from sim.tables import DEFAULT_WIDTH, render, scale_for, terminal_width, wrap

WIDTHS = (60, 200)
#: An amount as the tables write it: a signed decimal with an optional k/M/B suffix.
MONEY = re.compile(r"(?<![\w.])[+-]?\d+(?:\.(\d+))?([kMB])(?![\w])")


def _precisions(text: str) -> set[tuple[int, str]]:
    """(decimals, suffix) of every amount in ``text``."""
    return {(len(m.group(1) or ""), m.group(2)) for m in MONEY.finditer(text)}


def _invoke(args: list[str], columns: int, folder: Path) -> str:
    """The command's stdout at ``columns``, run in ``folder`` (``-o out`` and the inputs are
    relative there: a long temporary path is not what is being tested)."""
    runner = CliRunner()
    here = os.getcwd()
    os.chdir(folder)
    try:
        result = runner.invoke(cli, args, env={"COLUMNS": str(columns)})
    finally:
        os.chdir(here)
    assert result.exit_code == 0, result.output
    return result.stdout


def _assert_fits(text: str, columns: int) -> None:
    wide = [line for line in text.splitlines() if len(line) > columns]
    assert not wide, f"{len(wide)} lines wider than {columns}:\n" + "\n".join(wide)


# --- the helper --------------------------------------------------------------------------------


ROWS = [
    ["Cause", "days/deal", "+-", "touched", "ended"],
    ["Dormant (doing without, for now)", "59.0", "2.3", "34.2%", "3.6%"],
    ["Waiting for budget (a budget line, no money yet)", "39.6", "2.0", "25.6%", "0.0%"],
    ["All causes", "98.6", "", "", ""],
]


def test_a_table_that_fits_is_unchanged():
    lines = render(ROWS, right={1, 2, 3, 4}, width=200)
    assert len(lines) == len(ROWS)
    assert lines[1] == (
        "  Dormant (doing without, for now)                       59.0  2.3    34.2%   3.6%"
    )


@pytest.mark.parametrize("width", [80, 60, 45, 30, 20])
def test_narrow_tables_fit_and_keep_every_number_whole(width):
    lines = render(ROWS, right={1, 2, 3, 4}, width=width)
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    for number in ("59.0", "2.3", "34.2%", "3.6%", "39.6", "25.6%", "98.6"):
        assert re.search(rf"(?<![\d.]){re.escape(number)}(?![\d.])", text), number
    words = text.split()  # the labels wrapped, no word dropped
    assert all(w in words for w in "Waiting for budget (a budget line, no money yet)".split())


def test_rule_order_wrap_then_stack():
    wrapped = render(ROWS, right={1, 2, 3, 4}, width=60)
    assert wrapped[0].split() == ["Cause", "days/deal", "+-", "touched", "ended"]
    assert any(line.strip() == "for now)" for line in wrapped)  # label on two lines
    stacked = render(ROWS, right={1, 2, 3, 4}, width=30)
    assert "    days/deal: 59.0" in stacked and "    touched: 34.2%" in stacked


def test_terminal_width_honours_columns_and_defaults_without_a_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "72")
    assert terminal_width() == 72
    monkeypatch.delenv("COLUMNS")

    def no_terminal(*_):
        raise OSError("not a terminal")

    monkeypatch.setattr(os, "get_terminal_size", no_terminal)
    assert terminal_width() == DEFAULT_WIDTH
    long = "word " * 100
    assert max(len(line) for line in wrap(long)) <= 96  # prose never wider than 96


def test_one_scale_per_column():
    scale = scale_for([-3.031e6, 2.15e6, -957.6e3], digits=4)
    assert [scale(v, sign=True) for v in (-3.031e6, 2.15e6, -957.6e3)] == [
        "-3.031M",
        "+2.150M",
        "-0.958M",
    ]
    scale = scale_for([14.42e6, 5.658e6])
    assert [scale(v) for v in (14.42e6, 5.658e6)] == ["14.4M", "5.7M"]
    assert scale_for([999_999.0])(999_999.0) == "1.00M"
    assert scale_for([12.0, 3.0])(3.0) == "3"  # counts stay whole
    assert scale_for([8020, 938])(938) == "0.94k"
    assert scale_for([0.0])(0.0, sign=True) == "0"


def test_trillions_have_their_letter():
    """A trillion is 1T, not 1,000B, in a table's column and in a sentence's amount."""
    from sim.report import compact, money

    assert scale_for([1e12])(1e12) == "1.00T"
    assert scale_for([1.95e13, 3e11])(3e11) == "0.3T"  # the column shares the T
    assert scale_for([999.9e9])(999.9e9) == "1.00T"  # rounds up to the next letter
    assert scale_for([2.5e9])(2.5e9) == "2.50B"
    assert compact(1e12) == "1T" and compact(1.95e13) == "19.5T"
    assert compact(-4.2e12, sign=True) == "-4.2T" and compact(2.5e9) == "2.5B"
    assert money(1e12, "EUR") == "1T EUR"


def test_a_column_without_suffix_groups_its_thousands():
    """Open deals and days are written whole, with no k: 2,000 is easier to read than 2000."""
    open_deals = scale_for([2000.0, 1234.0, 88.0], suffix=False)
    assert [open_deals(v) for v in (2000.0, 1234.0, 88.0)] == ["2,000", "1,234", "88"]
    days = scale_for([1461.5, 30.25], digits=5, suffix=False)
    assert days(1461.5) == "1,461.5" and days(-1234.5, sign=True) == "-1,234.5"


# --- every command that prints a table ------------------------------------------------------


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A folder with a small equipment run (for explain) and a stage history (fit, backtest)."""
    folder = tmp_path_factory.mktemp("tables")
    runner = CliRunner()
    for args in (
        ["run", "equipment", "-n", "3", "--no-plots", "-q", "-o", str(folder / "run")],
        ["run", "equipment", "-n", "2", "--events", "--no-plots", "-q", "-o", str(folder / "t")],
        ["export-history", str(folder / "t"), "-o", str(folder / "history.csv"), "-q"],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
    return folder


COMMANDS = {
    "run": ["run", "capacity", "-n", "4", "--no-plots", "--target", "3e6", "-o", "out"],
    "run-vectorized": ["run", "textbook", "-n", "4", "--no-plots", "-o", "out"],
    "sobol": [
        "sensitivity", "equipment", "--method", "sobol", "--samples", "4", "-n", "2", "-j", "1",
        "--vary", "budget.funded_share=0.2..0.5", "--vary", "shocks.rate_per_year=0.5..2",
        "--no-plots", "-o", "out",
    ],
    "compare": ["compare", "equipment", "recession", "-n", "4", "--no-plots", "-o", "out"],
    "sweep": [
        "sweep", "equipment", "--set", "budget.funded_share=0.2,0.5", "-n", "4", "--no-plots",
        "-o", "out",
    ],
    "sensitivity": [
        "sensitivity", "equipment", "--method", "tornado", "-n", "6",
        "--vary", "budget.funded_share=0.2..0.5", "--vary", "shocks.rate_per_year=0.5..2",
        "--no-plots", "-o", "out",
    ],
    "explain": ["explain", "{work}/run", "-n", "2"],
    "weighted": ["weighted", "equipment", "-n", "2"],
    "trace": ["trace", "equipment", "--stalled"],
    "scenarios": ["scenarios"],
    "fit": [
        "fit", "history.csv", "--as-of", "2027-06-30", "-o", "fit.toml", "--no-fidelity",
        "--no-plots", "--currency", "EUR",
    ],
    "backtest": [
        "backtest", "history.csv", "--as-of", "2027-06-30,2027-09-30", "--until",
        "2027-12-31", "-n", "4", "--no-plots", "-o", "out",
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def output(work, tmp_path_factory):
    """``output(command, columns)``: the command's stdout, each run once for the module."""
    done: dict[tuple[str, int], str] = {}

    def get(command: str, columns: int) -> str:
        if (command, columns) not in done:
            folder = tmp_path_factory.mktemp(f"{command}-{columns}")
            shutil.copy(work / "history.csv", folder / "history.csv")
            args = [a.replace("{work}", str(work)) for a in COMMANDS[command]]
            done[command, columns] = _invoke(args, columns, folder)
        return done[command, columns]

    return get


@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_table_fits_the_terminal(command, columns, output):
    text = output(command, columns)
    assert text.strip()
    _assert_fits(text, columns)


def _table_lines(text: str, start: str) -> str:
    """The lines of ``text`` from the one starting with ``start`` to the next blank line."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip().startswith(start))
    end = next((i for i in range(first, len(lines)) if not lines[i].strip()), len(lines))
    return "\n".join(lines[first:end])


@pytest.mark.parametrize("columns", WIDTHS)
def test_the_tornado_writes_its_money_alike(columns, output):
    text = output("sensitivity", columns)
    table = text.split("swing = high - low.", 1)[1].split("Results in", 1)[0]
    assert len(_precisions(table)) == 1, table  # e.g. -3.031M beside +2.150M, not +2.15M


@pytest.mark.parametrize("columns", WIDTHS)
def test_compare_sweep_and_explain_write_a_column_alike(columns, output):
    compare = output("compare", columns)
    assert len(_precisions(_table_lines(compare, "bookings (EUR)"))) == 1, compare
    sweep = output("sweep", columns)
    # the level of bookings (mean +- half-width) in one scale, the paired deltas in one
    levels = re.findall(r"(\d+\.\d+M) \+-(\d+\.\d+M)", sweep)
    assert len(levels) == 2 and len(_precisions(" ".join(v for p in levels for v in p))) == 1
    explain = output("explain", columns)
    costs = explain.split("interval:", 1)[1].split("Baseline", 1)[0]
    assert len(_precisions(costs)) == 1, costs
    # The re-runs' own baseline, not to be read as a second figure of the folder's run.
    assert re.search(r"Baseline of these re-runs \(\d+ replications\): ", " ".join(explain.split()))


def test_run_and_weighted_write_a_column_alike(output):
    run = output("run", 200)
    teams = [line for line in _table_lines(run, "Our teams").splitlines()[1:] if "Cost" not in line]
    hours = [line.split()[-3] for line in teams]  # 4.97k and 0.78k, not 4.97k and 782
    assert len(hours) == 2 and len(_precisions(" ".join(hours))) == 1, teams
    costs = [line.split()[-2] for line in teams]
    assert len(_precisions(" ".join(costs))) == 1, teams
    bookings = _table_lines(run, "P10")
    shown = re.findall(r"P\d0 (\S+) EUR|mean (\S+) EUR", bookings)
    assert len(_precisions(" ".join(a or b for a, b in shown))) == 1, bookings
    forecast = _table_lines(output("weighted", 200), "Forecast of the day-0 pipeline")
    assert len(_precisions(forecast)) == 1, forecast
