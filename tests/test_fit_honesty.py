"""dealsim fit writes what it knows: a scenario that validates whatever the as-of, the amounts'
currency, and what its day-0 deals leave out (their ages)."""

from __future__ import annotations

import csv
import datetime as dt
import math
import shlex
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sim.cli import cli
from sim.crm import HistoryRow, read_history
from sim.fit import fit_history, fit_report, scenario_toml, tail_exposure
from sim.scenario import load_scenario, scenario_from_dict
from sim.scenario_bounds import MAX_DAYS

MAVEN = Path(__file__).parent / "data" / "maven-crm" / "sales_pipeline_extract.csv"
PLAIN = Path(__file__).parent / "data" / "crm" / "history_plain.csv"


# --- a fitted scenario validates, whatever the as-of --------------------------------------------


def test_a_late_as_of_caps_the_empirical_tail_within_a_century():
    """As of late 2022 (the latest --as-of a history ending in 2017 may have) the extract's 64
    open deals have been watched for five years past day 135, the last close: their time at
    risk (119,271 days; 238,055 as of 2027, before such an as-of was refused) made a tail whose
    mean broke the scenario's bounds, and fit refused its own output. The tail is capped and
    the note says so."""
    fit = fit_history(read_history(MAVEN), dt.date(2022, 12, 1))
    (engaging,) = fit.stages
    spec = engaging.spec
    assert engaging.chosen == "empirical"
    exposure = tail_exposure(engaging.durations, engaging.observed)
    # What the extract implies, read here with csv alone: each deal still open (an engage date,
    # no close date) watched from its engage date to the end of the as-of day, past the longest
    # closed visit (close - engage, the last day the curve knows): 64 deals, 119,271 days.
    with MAVEN.open(encoding="utf-8", newline="") as f:
        deals = list(csv.DictReader(f))
    day = dt.date.fromisoformat
    longest = max(day(d["close_date"]) - day(d["engage_date"]) for d in deals if d["close_date"])
    end = dt.date(2022, 12, 2)  # the end of 2022-12-01
    open_since = [day(d["engage_date"]) for d in deals if d["engage_date"] and not d["close_date"]]
    assert spec["days"][-1] == longest.days and len(open_since) == 64
    assert exposure == sum((end - since - longest).days for since in open_since)
    # The cap binds: a tail visit ends on average within MAX_DAYS of entering the stage.
    assert spec["tail_mean"] == math.floor(MAX_DAYS - longest.days) < exposure
    scenario = scenario_from_dict(fit.scenario)
    assert scenario.stages[0].duration.mean() <= MAX_DAYS
    words = f"the empirical tail's mean would be {exposure:,.0f} days"
    assert words in fit_report(fit) and f"capped at {spec['tail_mean']:,.0f} days" in fit_report(
        fit
    )
    assert f"# Note: stage engaging: {words}" in scenario_toml(fit)


@pytest.mark.parametrize(
    ("durations", "why"),
    [
        ("auto", "the family the AIC chose strays from it more than the sample's noise explains"),
        ("empirical", "--durations empirical asks for it"),  # no AIC choice made: blamed it
    ],
)
def test_the_tail_cap_note_says_why_the_curve_was_written(durations, why):
    fit = fit_history(read_history(MAVEN), dt.date(2022, 12, 1), durations=durations)
    (note,) = [n for n in fit.notes if "the empirical tail's mean would be" in n]
    assert f"the curve was written because {why}.)" in note


def test_a_tail_within_a_century_is_the_time_at_risk():
    fit = fit_history(read_history(MAVEN), dt.date(2017, 12, 31))
    (engaging,) = fit.stages
    exposure = tail_exposure(engaging.durations, engaging.observed)
    assert engaging.spec["tail_mean"] == pytest.approx(exposure, rel=1e-5)
    assert "capped" not in fit_report(fit)


def _row(deal: str, state: str, day: int) -> HistoryRow:
    return HistoryRow(deal, state, dt.datetime(2024, 1, 1) + dt.timedelta(days=day))


def test_a_stage_and_a_dormant_spell_open_beyond_a_century_are_capped():
    """150 deals stuck for 391 days in a stage none ever left, 150 dormant as long, none back:
    their means (time observed over one pseudo-event) were 58,650 days, out of bounds."""
    rows = []
    for i in range(50):
        rows += [_row(f"w{i}", "new", 0), _row(f"w{i}", "won", 10)]
    for i in range(150):
        rows += [_row(f"s{i}", "new", 0), _row(f"s{i}", "stuck", 5)]
        rows += [_row(f"d{i}", "new", 0), _row(f"d{i}", "dormant", 5)]
    fit = fit_history(rows, dt.date(2025, 1, 30))  # its end is day 396: 391 days stuck
    scenario_from_dict(fit.scenario)
    stuck = next(s for s in fit.stages if s.name == "stuck")
    assert stuck.spec == {"dist": "exponential", "mean": MAX_DAYS}
    assert fit.scenario["dormant"]["reactivate_mean_days"] == MAX_DAYS
    report = fit_report(fit)
    assert "stage stuck: the mean duration would be 58,650 days" in report
    assert "dormant: reactivate_mean_days would be 58,650 days" in report


# --- the amounts' currency ----------------------------------------------------------------------


def _fit(*args: str):
    return CliRunner().invoke(cli, ["fit", *args, "--no-fidelity", "--no-plots"])


def test_fit_refuses_amounts_without_a_currency(tmp_path):
    """The Maven sample's amounts are dollars, and no column says so: without --currency the
    scenario had no currency, and a run of it reported the dollars as EUR."""
    out = tmp_path / "maven.toml"
    result = _fit(str(MAVEN), "--as-of", "2017-12-31", "-o", str(out))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert str(MAVEN) in result.output and "--currency CODE" in result.output
    assert list(tmp_path.iterdir()) == []
    result = _fit(str(MAVEN), "--as-of", "2017-12-31", "-o", str(out), "--currency", "usd")
    assert result.exit_code == 0, result.output
    assert load_scenario(out).currency == "USD"


def test_a_history_without_amounts_needs_no_currency(tmp_path):
    history = tmp_path / "h.csv"
    history.write_text("deal_id,stage,entered_at\nA,new,2024-01-01\nA,won,2024-02-01\n")
    result = _fit(str(history), "--as-of", "2024-03-01", "-o", str(tmp_path / "h.toml"))
    assert result.exit_code == 0, result.output


# --- the day-0 deals start fresh: the fit says so, and how to keep their ages ------------------


def test_fit_says_the_day_0_deals_start_fresh_and_gives_the_command(tmp_path):
    """deals.initial holds counts: the extract's 64 open deals (a median 182 days in their
    stage) start at day 0 of it. The report and the TOML say so, with a run --pipeline command
    that works as written."""
    out = tmp_path / "maven.toml"
    result = _fit(str(MAVEN), "--as-of", "2017-12-31", "-o", str(out), "--currency", "USD")
    assert result.exit_code == 0, result.output
    fit = fit_history(read_history(MAVEN), dt.date(2017, 12, 31), currency="USD")
    (engaging,) = fit.stages
    median = float(np.median(engaging.durations[~engaging.observed]))
    assert 150 < median < 200
    words = "the 64 deals open at as-of at day 0 of their stage, as new deals, although they had"
    command = f"dealsim run {out} --pipeline {MAVEN} --as-of 2017-12-31"
    assert f"a median {median:,.0f} days" in " ".join(result.output.split())
    assert words in " ".join(result.output.split())
    assert f"\n    {command}\n" in result.output.replace(" \\\n      ", " ")  # lines of a command
    text = out.read_text(encoding="utf-8")
    assert f"\n#   {command}\n" in text and "# Deals.initial starts the 64 deals" in text
    args = shlex.split(command)[1:] + [
        "-n",
        "2",
        "-j",
        "1",
        "--no-plots",
        "-o",
        str(tmp_path / "r"),
    ]
    ran = CliRunner().invoke(cli, args)
    assert ran.exit_code == 0, ran.output


def test_a_history_that_is_no_pipeline_export_gets_a_placeholder(tmp_path):
    fit = fit_history(read_history(PLAIN), dt.date(2024, 6, 1))
    assert fit.initial, "the plain history should leave deals open at as-of"
    report = fit_report(fit, tmp_path / "p.toml")
    report = " ".join(report.replace(" \\\n", " ").split())  # sentences and command unwrapped
    assert "run with an export of the deals open on 2024-06-01:" in report
    assert (
        f"dealsim run {tmp_path / 'p.toml'} --pipeline <open-deals.csv> --as-of 2024-06-01"
        in report
    )


def test_a_history_known_only_in_part_at_as_of_is_not_offered_as_its_pipeline(tmp_path):
    """At an as-of before the export's last date, the history file holds later rows: read as a
    pipeline they are refused (and a deal closed later reads closed), so the command pasted
    failed. The fit names an export of that day's open deals instead."""
    fit = fit_history(read_history(MAVEN), dt.date(2017, 6, 30), currency="USD")
    assert fit.ignored_rows > 0
    report = " ".join(fit_report(fit, tmp_path / "m.toml").replace(" \\\n", " ").split())
    assert "--pipeline <open-deals.csv> --as-of 2017-06-30" in report
    assert str(MAVEN) not in report.split("--pipeline", 1)[1][:200]


def test_one_walk_range_in_the_fit_report(tmp_path):
    """The uncertainty line and the wander warning quote the same P10-P90 (they counted the
    walk's steps differently: 12 and 11 over a year)."""
    import re

    fit = fit_history(read_history(MAVEN), dt.date(2017, 6, 30), currency="USD")
    report = " ".join(fit_report(fit, tmp_path / "m.toml").split())
    ranges = set(re.findall(r"x(\d+\.\d\d)-x(\d+\.\d\d) of the level", report))
    assert len(ranges) == 1, ranges


# --- the header says how the durations were chosen ----------------------------------------------


def _header(text: str) -> str:
    """The fitted file's comment lines before its first key, joined into one line."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.removeprefix("#").strip())
    return " ".join(lines)


@pytest.mark.parametrize(
    ("durations", "said", "not_said"),
    [
        ("auto", "family chosen by AIC", "as --durations"),
        (
            "parametric",
            "the family with the lowest AIC (each also with a cure share: visits that never end "
            "on their own, sent to dormant) for every stage, as --durations parametric asked",
            "or the Kaplan-Meier curve itself (empirical) when no family follows it",
        ),
        (
            "empirical",
            "each stage's Kaplan-Meier curve itself (empirical; open visits censored), with an "
            "exponential tail fitted past its last finished visit, as --durations empirical asked",
            "AIC",
        ),
    ],
)
def test_the_fitted_header_says_what_durations_asked(tmp_path, durations, said, not_said):
    """The header said "family chosen by AIC ... or the Kaplan-Meier curve when no family
    follows it" whatever --durations asked: under parametric no curve is ever written, under
    empirical no family is chosen at all."""
    from sim.cli import main

    out = tmp_path / "maven.toml"
    argv = ["fit", str(MAVEN), "--as-of", "2017-12-31", "--currency", "USD", "-o", str(out)]
    assert main([*argv, "--durations", durations, "--no-fidelity", "--no-plots"]) == 0
    header = _header(out.read_text(encoding="utf-8"))
    assert said in header and not_said not in header
    load_scenario(out)


def test_an_empirical_fit_names_the_stage_left_without_a_curve():
    """Under --durations empirical a stage no visit left has no curve to write (an exponential
    lower bound instead): the header says so rather than claim a curve for every stage."""
    rows = []
    for i in range(50):
        rows += [_row(f"w{i}", "new", 0), _row(f"w{i}", "won", 10)]
    for i in range(20):
        rows += [_row(f"s{i}", "new", 0), _row(f"s{i}", "stuck", 5)]
    fit = fit_history(rows, dt.date(2024, 3, 1), durations="empirical")
    assert fit.durations == "empirical"
    assert {f.name: f.chosen for f in fit.stages} == {"new": "empirical", "stuck": "exponential"}
    assert "# A stage no visit was seen to leave has no curve: see its note." in scenario_toml(fit)
