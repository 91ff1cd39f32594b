"""Which cut-offs a backtest accepts, and the window each forecast is scored on.

On a small generated history (tests/backtest_history.py, its last row on 2020-12-31): cut-offs
outside it are refused with the file and its dates named; a window past its end is scored to
its end only, and the output says on how many months.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from backtest_history import LAST, plan_scenario, write_history  # tests/ on sys.path
from click.testing import CliRunner

from sim.backtest import BacktestOptions, run_backtest
from sim.backtest_window import check_cutoffs, months_in
from sim.cli import cli
from sim.crm import read_history
from sim.errors import UserError


@pytest.fixture(scope="module")
def history_file(tmp_path_factory):
    return write_history(tmp_path_factory.mktemp("window") / "history.csv")


@pytest.fixture(scope="module")
def history(history_file):
    h = read_history(history_file)
    assert max(r.entered_at for r in h.rows).date() == LAST
    return h


def _refused(history, cutoffs, until, **kw) -> str:
    with pytest.raises(UserError) as err:
        check_cutoffs(history, cutoffs, until, **kw)
    return str(err.value)


def test_cutoffs_at_or_after_the_last_date_are_refused_all_named(history):
    message = _refused(
        history, [dt.date(2020, 6, 30), LAST, dt.date(2021, 1, 31)], dt.date(2021, 6, 1)
    )
    assert "cut-offs 2020-12-31, 2021-01-31 with --until 2021-06-01 leave no history" in message
    assert history.source in message and "it runs 2020-01-01 .. 2020-12-31" in message
    assert "2020-06-30" not in message  # the good cut-off is not blamed


def test_a_cutoff_before_the_history_or_its_first_close_has_nothing_to_fit(history):
    message = _refused(history, [dt.date(2019, 12, 31)], dt.date(2020, 6, 30))
    assert "cut-off 2019-12-31 leaves nothing to fit" in message and history.source in message
    first_close = min(r.entered_at for r in history.rows if r.state in ("won", "lost")).date()
    message = _refused(history, [first_close - dt.timedelta(days=1)], dt.date(2020, 6, 30))
    assert f"the first close is on {first_close}" in message and "--scenario" in message
    # a planner's scenario is not fitted: the same cut-off is fine with one
    check_cutoffs(
        history, [first_close - dt.timedelta(days=1)], dt.date(2020, 6, 30), fitting=False
    )


def test_notes_say_how_many_months_a_short_window_scores(history):
    cut = dt.date(2020, 9, 30)
    (note,) = check_cutoffs(history, [cut], dt.date(2021, 3, 31))
    assert "scored to 2020-12-31 only: 2020-09-30 on 3 of 6 months" in note
    (note,) = check_cutoffs(history, [cut, dt.date(2020, 11, 30)], LAST, months_ahead=3)
    assert "--months-ahead 3 reaches past --until 2020-12-31" in note
    assert "2020-11-30 on 1 of 3 months" in note and "2020-09-30" not in note
    assert check_cutoffs(history, [cut], LAST) == []  # the whole window: no note
    assert months_in(dt.date(2020, 9, 15), dt.date(2020, 12, 31)) == 4  # a partial month counts


def test_a_window_past_the_history_is_scored_to_its_last_date(history):
    """Before, the months after the last row were scored as months of zero wins."""
    bt = run_backtest(
        history,
        [dt.date(2020, 9, 30)],
        BacktestOptions(until=dt.date(2021, 3, 31), replications=5, scenario=plan_scenario()),
    )
    (r,) = bt.results
    assert r.until == LAST
    assert r.months == ["2020-10", "2020-11", "2020-12"]
    assert [m["period"] for m in r.scores["won_count"]["months"]] == r.months
    assert any("on 3 of 6 months" in n for n in bt.notes)


def test_cli_says_how_many_months_were_scored(tmp_path, history_file):
    out = tmp_path / "bt"
    args = ["backtest", str(history_file), "--as-of", "2020-06-30,2020-09-30", "--until"]
    result = CliRunner().invoke(cli, [*args, "2021-03-31", "-n", "5", "-j", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # the table wraps its notes
    assert "2020-06-30 on 6 of 9 months, 2020-09-30 on 3 of 6 months" in text
    data = json.loads((out / "backtest.json").read_text())
    assert [c["until"] for c in data["cutoffs"]] == ["2020-12-31", "2020-12-31"]
    assert any("on 3 of 6 months" in n for n in data["notes"])


def test_cli_a_cutoff_with_nothing_to_score_exits_2(tmp_path, history_file):
    args = ["--as-of", "2020-12-31", "--until", "2021-06-01", "-o", str(tmp_path / "x")]
    result = CliRunner().invoke(cli, ["backtest", str(history_file), *args])
    assert result.exit_code == 2, result.output
    assert "no history to score against" in result.output and "2020-12-31" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("months", ["0", "1201", "100000"])
def test_cli_months_ahead_past_a_century_exits_2(tmp_path, history_file, months):
    args = ["--as-of", "2020-06-30", "--until", "2021-06-01", "--months-ahead", months]
    args += ["-o", str(tmp_path / "x")]
    result = CliRunner().invoke(cli, ["backtest", str(history_file), *args])
    assert result.exit_code == 2, result.output
    assert f"--months-ahead {months}: outside 1..1200" in result.output
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("as_of", "said"),
    [("2020-06-30,", "an empty date"), ("2020-06-30,2020-06-30", "2020-06-30 given twice")],
)
def test_cli_a_list_of_cutoffs_with_a_gap_or_a_repeat_exits_2(tmp_path, history_file, as_of, said):
    args = ["--as-of", as_of, "--until", "2021-06-01", "-o", str(tmp_path / "x")]
    result = CliRunner().invoke(cli, ["backtest", str(history_file), *args])
    assert result.exit_code == 2, result.output
    assert said in result.output and not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--as-of", "2020-06-30", "--until", "2021-13-01"], "--until 2021-13-01: not a date"),
        (
            [
                "--every",
                "month",
                "--from",
                "2020-02-30",
                "--to",
                "2020-09-30",
                "--until",
                "2021-01-31",
            ],
            "--from 2020-02-30: not a date",
        ),
        (
            [
                "--every",
                "month",
                "--from",
                "2020-02-01",
                "--to",
                "31.13.2020",
                "--until",
                "2021-01-31",
            ],
            "--to 31.13.2020: not a date",
        ),
    ],
)
def test_cli_a_bad_date_is_named_by_its_option(tmp_path, history_file, args, said):
    """A bad --until, --from or --to was reported as '--as-of ...: not a date'."""
    result = CliRunner().invoke(
        cli, ["backtest", str(history_file), *args, "-o", str(tmp_path / "x")]
    )
    assert result.exit_code == 2, result.output
    assert said in result.stderr and "--as-of" not in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "x").exists()


def test_as_of_days_with_every_month_are_cut_offs_besides_its_month_ends():
    from sim.cli_backtest import cutoffs_from

    days = cutoffs_from(
        ("2021-04-15,2021-05-31",), "month", dt.date(2021, 4, 1), dt.date(2021, 6, 30)
    )
    # The month ends of April to June, the 15th of April besides; May 31st once.
    assert days == [
        dt.date(2021, 4, 15),
        dt.date(2021, 4, 30),
        dt.date(2021, 5, 31),
        dt.date(2021, 6, 30),
    ]


def test_a_scenario_in_another_currency_than_the_history_is_refused(tmp_path):
    """--scenario equipment (EUR) over a history in USD scored USD wins as EUR."""
    history = tmp_path / "h.csv"
    history.write_text(
        "deal_id,stage,entered_at,amount\nD1,work,2021-01-05,$1000\nD1,won,2021-02-05,$1000\n"
        "D2,work,2021-03-05,$2000\n",
        encoding="utf-8",
    )
    out = tmp_path / "bt"
    args = ["backtest", str(history), "--as-of", "2021-03-01", "--until", "2021-04-30",
            "--scenario", "equipment", "-n", "2", "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "--scenario equipment counts money in EUR" in result.stderr and "in USD" in result.stderr
    assert not out.exists()


def test_backtest_says_what_the_reader_assumed_of_the_history(tmp_path):
    """fit printed the history's notes (here: amounts read with an assumed decimal mark);
    backtest, fitting the same file, kept them to itself."""
    history = tmp_path / "h.csv"
    history.write_text(
        'deal_id,stage,entered_at,amount\nD1,work,2021-01-05,"1,500"\nD1,won,2021-02-05,"1,500"\n'
        'D2,work,2021-01-15,"2,000"\nD2,lost,2021-02-25,"2,000"\nD3,work,2021-03-05,"2,000"\n',
        encoding="utf-8",
    )
    args = ["backtest", str(history), "--as-of", "2021-02-28", "--until", "2021-03-05",
            "-n", "2", "--no-plots", "-o", str(tmp_path / "bt")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "could be read with either decimal mark" in text
    # Nor did it say that its won value, with no currency in the file, is shown without one.
    assert "amounts name no currency: the won value is shown without one" in text
    named = CliRunner().invoke(cli, [*args[:-1], str(tmp_path / "bt2"), "--currency", "EUR"])
    assert named.exit_code == 0, named.output
    assert "name no currency" not in named.output


#: Slash dates with every day <= 12 and amounts like 1,500: the file tells neither their order
#: nor the decimal mark, and names no currency. D3 is won (1,250) after the cut-off.
UNTOLD = (
    'deal_id,stage,entered_at,amount\nD1,work,05/01/2021,"1,500"\nD1,won,05/02/2021,"1,500"\n'
    'D2,work,06/01/2021,"2,000"\nD2,lost,10/02/2021,"2,000"\nD3,work,01/02/2021,"1,250"\n'
    'D3,won,05/03/2021,"1,250"\nD4,work,03/03/2021,"2,000"\n'
)


def test_backtest_reads_a_history_as_fit_does(tmp_path):
    """The reader's messages advise --decimal-mark, --date-format, --currency...: backtest had
    none of them. The dates of the options are read in the --date-format too."""
    history = tmp_path / "h.csv"
    history.write_text(UNTOLD, encoding="utf-8")
    out = tmp_path / "bt"
    args = ["backtest", str(history), "--as-of", "28/02/2021", "--until", "05/03/2021",
            "--date-format", "DD/MM/YYYY", "--decimal-mark", ",", "--currency", "usd",
            "-n", "2", "-j", "1", "--no-plots", "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "backtest.json").read_text())
    assert data["currency"] == "USD"
    (cutoff,) = data["cutoffs"]
    assert (cutoff["cutoff"], cutoff["until"]) == ("2021-02-28", "2021-03-05")
    assert cutoff["scores"]["won_value"]["total"]["actual"] == 1.25  # D3's 1,250 as 1.25
    assert not any("decimal mark" in n for n in data["notes"])  # nothing assumed


@pytest.mark.parametrize(
    ("option", "said"),
    [
        (["--encoding", "no-such-codec"], "--encoding no-such-codec: unknown encoding"),
        (["--decimal-mark", ";"], "--decimal-mark ;: expected , or ."),
        (["--currency", "dollars"], "--currency dollars: expected a three-letter code"),
        (["--fx", "USD"], "--fx USD: expected CODE=RATE"),
    ],
)
def test_backtest_refuses_a_bad_reading_option(tmp_path, history_file, option, said):
    args = ["backtest", str(history_file), "--as-of", "2020-06-30", "--until", "2020-12-31",
            *option, "-o", str(tmp_path / "x")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert said in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "x").exists()


def test_the_api_backtest_reads_a_history_as_told(tmp_path):
    """sim.api.backtest could not say the file's decimal mark (nor date order, currency...)."""
    from sim import api
    from sim.crm import ReadOptions

    history = tmp_path / "h.csv"
    history.write_text(UNTOLD, encoding="utf-8")
    told = ReadOptions(date_format="DD/MM/YYYY", decimal_mark=",", currency="USD")
    bt = api.backtest(
        history, [dt.date(2021, 2, 28)], dt.date(2021, 3, 5), read_options=told, replications=2
    )
    assert bt.currency == "USD"
    (result,) = bt.results
    assert result.scores["won_value"]["total"]["actual"] == 1.25


def test_backtest_takes_the_outcome_the_reader_asks_for(tmp_path):
    """An unknown "Closed ..." spelling is refused with "map others with --outcome": backtest
    had no --outcome."""
    history = tmp_path / "h.csv"
    history.write_text(
        "deal_id,stage,entered_at\nD1,work,2021-01-05\nD1,Closed Dead,2021-02-05\n"
        "D2,work,2021-01-06\nD2,won,2021-02-10\nD3,work,2021-02-01\nD3,won,2021-03-04\n",
        encoding="utf-8",
    )
    args = ["backtest", str(history), "--as-of", "2021-02-28", "--until", "2021-03-05",
            "-n", "2", "-j", "1", "--no-plots"]  # fmt: skip
    refused = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "x")])
    assert refused.exit_code == 2 and "--outcome 'CRM NAME=" in refused.stderr
    out = tmp_path / "bt"
    result = CliRunner().invoke(cli, [*args, "--outcome", "Closed Dead=lost", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "backtest.json").read_text())["cutoffs"][0]["open_deals"] == 1


def test_a_date_with_a_time_is_read_in_the_date_format_order():
    """With a time of day the date was read again month-first: '01/02/2021 12:00' with
    --date-format DD/MM/YYYY was 2 January, and '13/02/2021 12:00' lost its time."""
    from sim.cli_backtest import cutoffs_from
    from sim.cli_data import _as_of

    listed = cutoffs_from(("01/02/2021 12:00",), None, None, None, "DD/MM/YYYY")
    assert listed == [dt.date(2021, 2, 1)]
    assert _as_of("13/02/2021 12:00") == dt.datetime(2021, 2, 13, 12)
