"""CRM exports: header detection of each style, values, and every bad-file case."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sim.cli_data import register
from sim.crm import (
    PipelineDeal,
    parse_amount,
    parse_datetime,
    read_history,
    read_pipeline,
    stage_map_from,
)
from sim.errors import UserError

CRM = Path(__file__).parent / "data" / "crm"
STAGES = ["qualify", "propose", "decide"]
SCENARIO = {
    "stages": [{"name": s} for s in STAGES],
    "crm": {
        "stage_map": {
            "Qualification": "qualify",
            "Proposal/Price Quote": "propose",
            "Negotiation/Review": "decide",
            "Appointment Scheduled": "qualify",
            "Contract Sent": "propose",
            "Decision Maker Bought-In": "decide",
            "Qualified": "qualify",
            "Proposal Made": "propose",
            "Negotiations Started": "decide",
        }
    },
}
STAGE_MAP = stage_map_from(SCENARIO)
AS_OF = dt.date(2024, 4, 15)


def pipeline(name: str, **kw) -> list[PipelineDeal]:
    return read_pipeline(CRM / name, stages=STAGES, as_of=AS_OF, stage_map=STAGE_MAP, **kw)


@pytest.mark.parametrize(
    ("name", "style", "ids"),
    [
        ("pipeline_plain.csv", "plain", ["D1", "D2", "D3"]),
        (
            "pipeline_salesforce_report.csv",
            "Salesforce",
            ["0065g00000AbCdE", "0065g00000AbCdF", "0065g00000AbCdG"],
        ),
        (
            "pipeline_salesforce_dataloader.csv",
            "Salesforce",
            ["0065g00000AbCdE", "0065g00000AbCdF", "0065g00000AbCdG"],
        ),
        ("pipeline_hubspot.csv", "HubSpot", ["9001", "9002", "9003"]),
        ("pipeline_pipedrive.csv", "Pipedrive", ["11", "12", "13"]),
    ],
)
def test_pipeline_styles_read_the_same_deals(name, style, ids):
    deals = pipeline(name)
    assert deals.format == style
    assert deals.skipped_closed == 1  # the won deal
    assert [d.deal_id for d in deals] == ids
    assert [d.stage for d in deals] == STAGES
    assert [d.amount for d in deals] == [12000, 25500.5, 40000]
    assert [d.created for d in deals] == [
        dt.date(2024, 1, 10),
        dt.date(2024, 2, 1),
        dt.date(2023, 11, 15),
    ]
    entered = [d.stage_entered for d in deals]
    assert entered[:2] == [dt.date(2024, 1, 10), dt.date(2024, 3, 1)]
    # The Salesforce report leaves the date blank for a deal that never changed stage.
    blank = name == "pipeline_salesforce_report.csv"
    assert entered[2] == (dt.date(2023, 11, 15) if blank else dt.date(2024, 4, 2))


def test_mapping_names_other_columns(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text(
        "Opp,Phase,Value,Opened,Moved\nX1,qualify,10,2024-01-02,2024-01-03\n", encoding="utf-8"
    )
    with pytest.raises(UserError, match=r"missing required column"):
        read_pipeline(path, stages=STAGES, as_of=AS_OF)
    mapping = {
        "Opp": "deal_id",
        "Phase": "stage",
        "Value": "amount",
        "Opened": "created",
        "Moved": "stage_entered",
    }
    (deal,) = read_pipeline(path, stages=STAGES, as_of=AS_OF, mapping=mapping)
    assert deal == PipelineDeal("X1", "qualify", 10.0, dt.date(2024, 1, 2), dt.date(2024, 1, 3))
    with pytest.raises(UserError, match=r"no column 'Nope'"):
        read_pipeline(path, stages=STAGES, as_of=AS_OF, mapping={"Nope": "deal_id"})
    with pytest.raises(UserError, match=r"unknown field 'colour'"):
        read_pipeline(path, stages=STAGES, as_of=AS_OF, mapping={"Opp": "colour"})


def test_stage_map_targets_are_checked():
    bad = {"stages": [{"name": "qualify"}], "crm": {"stage_map": {"Pilot": "pilot"}}}
    with pytest.raises(UserError, match=r"crm.stage_map.Pilot: unknown target 'pilot'"):
        stage_map_from(bad, "s.toml")
    assert stage_map_from({"stages": []}) == {}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2024-03-05", dt.datetime(2024, 3, 5)),
        ("2024-03-05T10:00:00.000Z", dt.datetime(2024, 3, 5, 10)),
        ("2024-03-05T10:00:00+02:00", dt.datetime(2024, 3, 5, 8)),
        ("3/5/2024", dt.datetime(2024, 3, 5)),
        ("3/5/2024 1:30 PM", dt.datetime(2024, 3, 5, 13, 30)),
        ("05.03.2024", dt.datetime(2024, 3, 5)),
        ("2024-02-30", None),
        ("yesterday", None),
    ],
)
def test_dates(text, value):
    assert parse_datetime(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("$1,234.50", 1234.5),
        ("1 234,50 EUR", 1234.5),
        ("1.234,50", 1234.5),
        ("1234", 1234.0),
        ("12k", None),
    ],
)
def test_amounts(text, value):
    assert parse_amount(text) == value
    assert math.isnan(parse_amount(""))


def test_history_plain_sorts_rows_and_keeps_slip_backs():
    h = read_history(CRM / "history_plain.csv")
    assert h.format == "plain"
    paths = {d: [r.state for r in rows] for d, rows in h.by_deal().items()}
    assert paths == {
        "D1": ["qualify", "propose", "won"],
        "D2": ["qualify", "propose", "qualify", "lost"],
        "D3": ["qualify", "propose"],  # rows out of order in the file: sorted by time
    }
    assert h.amounts == {"D1": 12000, "D2": 5000, "D3": 8000}
    assert not h.date_only


def test_history_salesforce_merges_edits_within_a_stage():
    h = read_history(CRM / "history_salesforce.csv")
    assert h.format == "Salesforce OpportunityHistory"
    paths = {d: [r.state for r in rows] for d, rows in h.by_deal().items()}
    assert paths == {
        "006X1": ["qualification", "proposal_price_quote", "won"],
        "006X2": ["qualification", "lost"],
        "006X3": ["qualification"],
    }
    assert h.by_deal()["006X1"][0].entered_at == dt.datetime(2024, 1, 10, 9, 30)
    assert any("merged" in n for n in h.notes)


def test_history_maven_one_row_per_deal():
    h = read_history(CRM / "history_maven.csv")
    assert h.format == "Maven CRM"
    paths = {
        d: [(r.state, r.entered_at.date().isoformat()) for r in rows]
        for d, rows in h.by_deal().items()
    }
    assert paths == {
        "1C1I7A6R": [("engaging", "2016-10-20"), ("won", "2017-03-01")],
        "Z063OYW0": [("engaging", "2016-10-25"), ("lost", "2017-03-11")],
        "EC4QE1BX": [("engaging", "2017-10-25")],
    }
    assert any("1 deals without an engage date" in n for n in h.notes)


def test_history_hubspot_from_date_entered_columns():
    h = read_history(CRM / "pipeline_hubspot.csv")
    assert h.format == "HubSpot"
    assert [r.state for r in h.by_deal()["9004"]] == [
        "appointment_scheduled",
        "contract_sent",
        "decision_maker_bought_in",
        "won",
    ]


# --- bad files -------------------------------------------------------------------------------


@pytest.fixture
def runner_group():
    @click.group()
    def group():
        """Test group."""

    register(group)
    return group


BAD_HISTORY = [
    (
        "bad_history_missing_columns.csv",
        ["missing required column", "deal_id", "columns found: deal, stage, when"],
    ),
    (
        "bad_history_date.csv",
        ["row 2 (line 3)", "column 'entered_at'", "'2024-13-45' is not a date"],
    ),
    (  # a typo for 2018: it would have moved the history's start, and the fit, by centuries
        "bad_history_century.csv",
        ["row 2 (line 3)", "column 'entered_at'", "'1800-01-10' is outside 1900-01-01 .. 2199"],
    ),
    ("bad_history_amount.csv", ["row 1", "column 'amount'", "'12k EUR maybe' is not an amount"]),
    (
        "bad_history_back_in_time.csv",
        ["deal 'D1' goes back in time", "row 2 closes it as won", "row 3 enters 'propose'"],
    ),
    (
        "bad_history_unknown_outcome.csv",
        ["unknown outcome spelling", "'Closed Dead' on rows 2, 4", "column 'stage'"],
    ),
    (
        "bad_history_maven_duplicate.csv",
        ["row 2", "column 'opportunity_id'", "duplicate deal id '1C1I7A6R'", "row 1"],
    ),
    # a history running past --as-of is no longer an error (issue 13): see test_fit.py
    ("empty.csv", ["empty"]),
    ("binary.xlsx", ["not a CSV text file"]),
    ("no_such_file.csv", ["no such file"]),
]


@pytest.mark.parametrize(("name", "expected"), BAD_HISTORY)
def test_bad_history_exit_2_no_output(runner_group, tmp_path, name, expected):
    out = tmp_path / "fitted.toml"
    result = CliRunner().invoke(
        runner_group, ["fit", str(CRM / name), "--as-of", "2024-04-15", "-o", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = result.output
    assert name in message
    for part in expected:
        assert part in message, (part, message)
    assert list(tmp_path.iterdir()) == []  # no TOML, no PNG, no temporary file


BAD_PIPELINE = [
    (
        "bad_pipeline_unknown_stage.csv",
        [
            "column 'stage'",
            "'Discovery' on rows 2, 3",
            "'Pilot' on row 4",
            "Scenario stages: qualify, propose, decide",
            "Qualification",
        ],
    ),
    ("bad_pipeline_duplicate.csv", ["duplicate deal id", "'D1' on rows 1, 2"]),
    (
        "bad_pipeline_entered_before_created.csv",
        ["row 1 (line 2)", "column 'stage_entered'", "before it was created"],
    ),
    ("bad_pipeline_amount.csv", ["row 1", "column 'amount'", "'twelve' is not an amount"]),
    (  # it ran, and printed 300-digit bookings with no standard error
        "bad_pipeline_huge_amount.csv",
        ["row 1", "column 'amount'", "'1e300' is over 1,000,000,000,000"],
    ),
    ("pipeline_plain.csv", ["row 3", "column 'stage_entered'", "after --as-of 2024-03-15"]),
    ("empty.csv", ["empty"]),
    ("binary.xlsx", ["not a CSV text file"]),
    ("history_plain.csv", ["missing required column", "created", "columns found"]),
]


@pytest.mark.parametrize(("name", "expected"), BAD_PIPELINE)
def test_bad_pipeline_one_clear_error(name, expected):
    as_of = dt.date(2024, 3, 15) if name == "pipeline_plain.csv" else AS_OF
    with pytest.raises(UserError) as info:
        read_pipeline(CRM / name, stages=STAGES, as_of=as_of, stage_map=STAGE_MAP)
    message = str(info.value)
    assert name in message
    for part in expected:
        assert part in message, (part, message)


def test_rows_that_do_not_line_up_with_the_header_are_errors(tmp_path):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text(
        "deal_id,stage,amount,created,stage_entered\n"
        "A1,Qualification,100,2024-01-01,2024-01-02\n"
        "A2,Qualification,100,2024-01-01\n"
    )
    with pytest.raises(UserError, match=r"ragged.csv: row 2 \(line 3\) has 4 fields"):
        read_pipeline(ragged, stages=STAGES, as_of=AS_OF, stage_map=STAGE_MAP)


def test_a_column_twice_in_the_header_is_an_error(tmp_path):
    twice = tmp_path / "twice.csv"
    twice.write_text(
        "deal_id,stage,amount,created,stage_entered,stage\n"
        "A1,Qualification,100,2024-01-01,2024-01-02,Closed Won\n"
    )
    with pytest.raises(UserError, match="column 'stage' appears twice"):
        read_pipeline(twice, stages=STAGES, as_of=AS_OF, stage_map=STAGE_MAP)


def test_a_deal_without_an_amount_is_said_to_take_the_scenarios(tmp_path):
    """A blank amount is valued at the scenario's amount distribution: an assumption the
    user did not write, so a note says which deals it covers."""
    path = tmp_path / "pipeline.csv"
    path.write_text(
        "deal_id,stage,amount,created,stage_entered\n"
        "D1,qualify,,2024-01-10,2024-01-10\n"
        "D2,qualify,500,2024-01-10,2024-01-10\n"
    )
    deals = read_pipeline(path, stages=STAGES, as_of=AS_OF)
    assert math.isnan(deals[0].amount) and deals[1].amount == 500
    said = [note for note in deals.notes if "no amount" in note]
    assert said == ["1 deal(s) with no amount ('D1'): valued at the scenario's amount distribution"]


def test_a_bad_age_beside_a_created_date_is_a_problem_of_its_row(tmp_path):
    """'-5' and 'abc' in age_days were ignored without a word whenever a created date stood by."""
    path = tmp_path / "ages.csv"
    path.write_text(
        "deal_id,stage,amount,created,age_days\nX1,qualify,10,2024-01-02,-5\n"
        "X2,qualify,10,2024-01-02,abc\nX3,qualify,10,2024-01-02,12\n",
        encoding="utf-8",
    )
    with pytest.raises(UserError) as caught:
        read_pipeline(path, stages=STAGES, as_of=AS_OF)
    said = str(caught.value)
    assert "row 1 (line 2), column 'age_days': '-5' is not a number of days" in said
    assert "row 2 (line 3), column 'age_days': 'abc'" in said and "row 3" not in said
