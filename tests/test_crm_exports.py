"""CRM exports as users download them: one sample file per vendor style, encoding, date order
and currency (tests/data/crm/exports, built from the vendors' documented export columns).

Each loads with the right open deals, or fails with one named error, exit 2 and no output."""

from __future__ import annotations

import codecs
import datetime as dt
from pathlib import Path

import pytest
from crm_helpers import EXPORTS, STAGE_MAP, STAGES, scenario_file  # tests/ is on sys.path

from sim.cli import main
from sim.crm import ReadOptions, read_history, read_pipeline
from sim.crm_values import parse_as_of
from sim.errors import UserError
from sim.scenario import load_scenario
from sim.text_encoding import decode_export

AS_OF = dt.date(2024, 4, 15)
CREATED = [dt.date(2024, 1, 10), dt.date(2024, 2, 1), dt.date(2023, 11, 15)]
ENTERED = [dt.date(2024, 1, 10), dt.date(2024, 3, 1), dt.date(2024, 4, 2)]
AMOUNTS = [12000, 25500.5, 40000]


def pipeline(name: str, currency: str = "USD", mapping=None, **options):
    return read_pipeline(
        EXPORTS / name,
        stages=STAGES,
        as_of=AS_OF,
        stage_map=STAGE_MAP,
        mapping=mapping,
        options=ReadOptions(currency=currency, **options),
    )


def message(name: str, currency: str = "USD", **options) -> str:
    with pytest.raises(UserError) as info:
        pipeline(name, currency, **options)
    text = str(info.value)
    assert name in text
    return text


# --- each vendor style ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "currency", "style", "skipped", "entered"),
    [
        # Stage dates given: Salesforce multi-currency report (USD only here), HubSpot's
        # "Date entered current stage", Pipedrive's "Last stage change".
        ("hubspot_deals_current_stage.csv", "EUR", "HubSpot", 1, ENTERED),
        ("pipedrive_deals.csv", "EUR", "Pipedrive", 3, ENTERED),
        ("salesforce_opportunities_stage_duration.csv", "USD", "Salesforce", 1, ENTERED),
        # Default reports without any stage date: in the stage since created.
        ("salesforce_opportunities_default.csv", "USD", "Salesforce", 2, CREATED),
        ("hubspot_deals_default.csv", "USD", "HubSpot", 2, CREATED),
    ],
)
def test_each_vendor_export_loads_its_open_deals(name, currency, style, skipped, entered):
    deals = pipeline(name, currency)
    assert deals.format == style
    assert deals.skipped_closed == skipped
    assert [d.stage for d in deals] == STAGES
    assert [d.amount for d in deals] == AMOUNTS
    assert [d.created for d in deals] == CREATED
    assert [d.stage_entered for d in deals] == entered
    assert deals.currency == currency


def test_pipedrive_won_lost_and_deleted_deals_are_skipped_by_status():
    deals = pipeline("pipedrive_deals.csv", "EUR")
    # Deals 14 (won) and 15 (lost) keep their last open stage in "Deal - Stage": only the
    # status says they are closed; 16 was deleted.
    assert [d.deal_id for d in deals] == ["11", "12", "13"]
    assert any("1 won, 1 lost, 1 deleted deals skipped" in n for n in deals.notes)


def test_salesforce_default_report_without_id_or_stage_dates_says_what_it_assumed():
    deals = pipeline("salesforce_opportunities_default.csv")
    assert [d.deal_id for d in deals] == ["row 1", "row 2", "row 3"]
    notes = " ".join(deals.notes)
    assert "no deal id column" in notes
    assert "3 deals have no date of entering their stage: assumed in it since they were" in notes


def test_salesforce_age_and_stage_duration_give_the_dates():
    deals = pipeline("salesforce_opportunities_stage_duration.csv")
    notes = " ".join(deals.notes)
    assert "created --as-of minus 'Age' days" in notes
    assert "--as-of minus 'Stage Duration' days" in notes


def test_one_column_can_feed_several_fields(tmp_path):
    path = tmp_path / "engagements.csv"
    path.write_text("opp,phase,value,engage_date\nX1,qualify,10,2024-01-02\n", encoding="utf-8")
    (deal,) = read_pipeline(
        path,
        stages=STAGES,
        as_of=AS_OF,
        mapping={"opp": "deal_id", "phase": "stage", "value": "amount",
                 "engage_date": "created,stage_entered"},
    )  # fmt: skip
    assert deal.created == deal.stage_entered == dt.date(2024, 1, 2)


# --- currencies ------------------------------------------------------------------------------


def test_mixed_currencies_are_refused_naming_currencies_and_rows():
    text = message("salesforce_opportunities_multicurrency.csv")
    assert "EUR on row 2; GBP on row 3" in text
    assert "scenario's currency is USD" in text and "--fx EUR=RATE,GBP=RATE" in text


def test_mixed_currencies_are_converted_with_rates():
    deals = pipeline("salesforce_opportunities_multicurrency.csv", fx={"EUR": 1.08, "GBP": 1.27})
    assert [d.amount for d in deals] == pytest.approx([12000, 25500.5 * 1.08, 40000 * 1.27])
    assert any("converted to USD: 1 in EUR x 1.08, 1 in GBP x 1.27" in n for n in deals.notes)


def test_a_file_in_another_currency_than_the_scenario_is_refused():
    text = message("pipedrive_deals.csv", currency="USD")
    assert "amounts in EUR on rows 1, 2, 3" in text and "--fx EUR=RATE" in text
    assert len(pipeline("pipedrive_deals.csv", "USD", fx={"EUR": 1.1})) == 3


# --- dates -----------------------------------------------------------------------------------


def test_a_day_first_file_is_read_day_first():
    deals = pipeline("day_first.csv")
    assert [d.created for d in deals] == CREATED and [d.stage_entered for d in deals] == ENTERED


def test_an_all_ambiguous_file_asks_for_the_date_format():
    text = message("all_ambiguous.csv")
    assert "column 'created'" in text and "--date-format DD/MM/YYYY" in text
    assert "Formats understood" in text and "DD.MM.YYYY" in text
    deals = pipeline("all_ambiguous.csv", date_format="MM/DD/YYYY")
    assert [d.created for d in deals] == [*CREATED[:2], dt.date(2023, 11, 12)]
    with pytest.raises(UserError, match=r"15/11/2023.*cannot be MM/DD/YYYY as --date-format says"):
        pipeline("day_first.csv", date_format="MM/DD/YYYY")


def test_a_file_mixing_both_orders_is_refused(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text(
        "deal_id,stage,amount,created,stage_entered\n"
        "D1,qualify,1,13/01/2024,13/01/2024\nD2,qualify,1,01/13/2024,01/13/2024\n"
    )
    with pytest.raises(UserError, match=r"disagree: '13/01/2024' \(row 1.*'01/13/2024' \(row 2"):
        read_pipeline(path, stages=STAGES, as_of=AS_OF)


def test_as_of_accepts_the_same_formats_as_the_files():
    assert parse_as_of("2024-04-15") == AS_OF
    assert parse_as_of("15.04.2024") == AS_OF
    assert parse_as_of("4/15/2024") == AS_OF
    assert parse_as_of("15/4/2024") == AS_OF
    assert parse_as_of("2024-04-15T10:00:00Z") == AS_OF
    assert parse_as_of("04/05/2024", "DD/MM/YYYY") == dt.date(2024, 5, 4)
    with pytest.raises(UserError, match="--date-format"):
        parse_as_of("04/05/2024")
    with pytest.raises(UserError, match="not a date"):
        parse_as_of("yesterday")


# --- encodings -------------------------------------------------------------------------------

AMO_MAP = {"ID": "deal_id", "Этап сделки": "stage", "Бюджет": "amount", "Дата создания": "created"}


def test_cp1251_from_a_russian_excel_is_detected():
    deals = pipeline("amocrm_cp1251.csv", "RUB", mapping=AMO_MAP)
    assert [d.stage for d in deals] == STAGES and [d.amount for d in deals] == AMOUNTS
    assert deals.skipped_closed == 2  # amoCRM's "Успешно реализовано" / "Закрыто и не ..."
    assert any("read as cp1251" in n for n in deals.notes)


def test_cp1252_from_a_german_excel_is_detected():
    deals = pipeline("pipeline_cp1252.csv", "EUR")
    assert [d.stage for d in deals] == STAGES and [d.amount for d in deals] == AMOUNTS
    assert any("read as cp1252" in n for n in deals.notes)


def test_utf16_with_a_bom_is_read():
    deals = pipeline("pipeline_utf16.txt")
    assert [d.stage for d in deals] == STAGES and [d.stage_entered for d in deals] == ENTERED


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", b""),
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("cp1251", b""),
    ],
)
def test_the_same_cyrillic_text_decodes_from_each_encoding(encoding, bom):
    text = "deal_id,stage\nD1,Квалификация\nD2,Предложение договора\n"
    assert decode_export(bom + text.encode(encoding), "f.csv").text.lstrip("\ufeff") == text


def test_undecidable_code_page_names_the_option():
    # Two words that look Cyrillic, two that look accented Latin: the rule cannot decide.
    data = (
        "id,name\n1,\u0432\u0430\n2,\u0433\u0434\n".encode("cp1251") + b"3,Caf\xe9\n4,M\xfcller\n"
    )
    with pytest.raises(UserError, match=r"cp1251 .* or cp1252 .*--encoding"):
        decode_export(data, "odd.csv")
    assert decode_export(data, "odd.csv", "cp1252").encoding == "cp1252"
    with pytest.raises(UserError, match="--encoding nope: unknown encoding"):
        decode_export(data, "odd.csv", "nope")


def test_a_wrong_encoding_given_names_the_line_and_byte():
    with pytest.raises(UserError, match=r"line 2: byte .* is not utf-8"):
        decode_export("a,b\n1,Müller\n".encode("cp1252"), "f.csv", "utf-8")


def test_a_scenario_with_a_utf8_bom_loads(tmp_path):
    source = Path(__file__).parent / "data" / "cli" / "tiny.toml"
    path = tmp_path / "bom.toml"
    path.write_bytes(codecs.BOM_UTF8 + source.read_bytes())
    assert load_scenario(path) == load_scenario(source)


# --- the command line: exit 2, nothing written -------------------------------------------------


def run(tmp_path: Path, name: str, currency: str, *extra: str) -> tuple[int, Path]:
    out = tmp_path / "out"
    code = main([
        "run", str(scenario_file(tmp_path, currency)), "-n", "2", "-j", "1", "--no-plots",
        "-o", str(out), "--pipeline", str(EXPORTS / name), "--as-of", "15.04.2024", *extra,
    ])  # fmt: skip
    return code, out


@pytest.mark.parametrize(
    ("name", "currency", "extra", "expected"),
    [
        ("salesforce_opportunities_multicurrency.csv", "USD", (), "EUR on row 2; GBP on row 3"),
        ("all_ambiguous.csv", "USD", (), "--date-format"),
        ("pipedrive_deals.csv", "USD", (), "amounts in EUR"),
        ("only_commas.csv", "USD", (), "no header row"),
        ("day_first.csv", "USD", ("--date-format", "MM/DD/YYYY"), "as --date-format says"),
        ("pipeline_cp1252.csv", "EUR", ("--encoding", "nope"), "unknown encoding"),
    ],
)
def test_bad_exports_are_exit_2_with_one_message(tmp_path, capsys, name, currency, extra, expected):
    code, out = run(tmp_path, name, currency, *extra)
    err = capsys.readouterr().err
    assert code == 2, err
    assert expected in err and "Traceback" not in err
    assert not out.exists()


def test_the_terminal_says_what_was_skipped_converted_and_assumed(tmp_path, capsys):
    code, out = run(
        tmp_path, "salesforce_opportunities_multicurrency.csv", "USD", "--fx", "EUR=1.08,GBP=1.27"
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert "amounts converted to USD: 1 in EUR x 1.08, 1 in GBP x 1.27" in err
    assert "3 open deals" in err and "1 closed deals skipped" in err
    code, _ = run(tmp_path, "hubspot_deals_default.csv", "USD", "--force")
    err = capsys.readouterr().err
    assert code == 0, err
    assert "3 deals have no date of entering their stage" in err


def test_pipeline_options_need_a_pipeline(capsys):
    assert main(["run", "equipment", "--fx", "USD=0.9", "--date-format", "DD/MM/YYYY"]) == 2
    assert "--date-format and --fx need --pipeline FILE" in capsys.readouterr().err


# --- histories -------------------------------------------------------------------------------


def test_only_commas_is_a_clean_error_for_fit_too(tmp_path, capsys):
    out = tmp_path / "fit.toml"
    code = main(["fit", str(EXPORTS / "only_commas.csv"), "--as-of", "2024-04-15", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "no header row" in err and "Traceback" not in err
    assert not out.exists()


def test_cyrillic_history_keeps_distinct_stages_and_lists_unmapped_outcomes():
    h = read_history(EXPORTS / "history_cyrillic.csv")
    assert h.stage_names == {
        "Квалификация": "kvalifikatsiya",
        "Предложение": "predlozhenie",
        "Выиграна": "won",  # a usual Russian spelling
        "Отказ клиента": "otkaz_klienta",  # not one: a stage nobody leaves...
    }
    assert "'Отказ клиента' (" in h.notes[0] and "--outcome 'Отказ клиента=won'" in h.notes[0]
    mapped = read_history(EXPORTS / "history_cyrillic.csv", stage_map={"Отказ клиента": "lost"})
    assert mapped.stage_names["Отказ клиента"] == "lost"
    assert not any("never leave" in n for n in mapped.notes)
    assert not any("merged" in n for n in mapped.notes)


def test_fit_of_a_cyrillic_history_writes_distinct_labelled_stages(tmp_path, capsys):
    out = tmp_path / "сделки.toml"
    code = main([
        "fit", str(EXPORTS / "history_cyrillic.csv"), "--as-of", "2024-04-15", "-o", str(out),
        "--outcome", "Отказ клиента=lost", "--no-plots",
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    scenario = load_scenario(out)
    assert [(s.name, s.label) for s in scenario.stages] == [
        ("kvalifikatsiya", "Квалификация"),
        ("predlozhenie", "Предложение"),
    ]
    exits = scenario.stages[1].exits
    assert exits["won"] > 0 and exits["lost"] > 0
    assert main(["fit", str(EXPORTS / "history_cyrillic.csv"), "--as-of", "2024-04-15",
                 "-o", str(tmp_path / "x.toml"), "--outcome", "Отказ=maybe"]) == 2  # fmt: skip
    assert "'maybe' is not an outcome" in capsys.readouterr().err


def test_colliding_stage_names_are_an_error_naming_both(tmp_path):
    with pytest.raises(UserError) as info:
        read_history(EXPORTS / "history_colliding_names.csv")
    text = str(info.value)
    assert "'Need Analysis' (row 1) and 'need-analysis' (row 3)" in text
    assert "'need_analysis'" in text and "--stage-map" in text
    merged = read_history(
        EXPORTS / "history_colliding_names.csv", stage_map={"need-analysis": "need_analysis"}
    )
    assert {r.state for r in merged.rows} == {"need_analysis", "proposal", "won"}


def test_fit_keeps_the_history_currency(tmp_path, capsys):
    path = tmp_path / "history.csv"
    path.write_text(
        "deal_id,stage,entered_at,amount,currency\n"
        "D1,qualify,2024-01-10,100,GBP\nD1,won,2024-02-10,100,GBP\n"
        "D2,qualify,2024-01-12,300,GBP\nD2,lost,2024-03-01,300,GBP\n"
        "D3,qualify,2024-01-20,200,USD\n"
    )
    out = tmp_path / "fit.toml"
    args = ["fit", str(path), "--as-of", "2024-04-15", "-o", str(out), "--no-plots"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "GBP on rows 1, 2, 3, 4; USD on row 5" in err and "--currency" in err
    assert main([*args, "--currency", "GBP", "--fx", "USD=0.8"]) == 0
    assert load_scenario(out).currency == "GBP"


@pytest.mark.parametrize("text", ["2250-01-01", "1899-12-31"])
def test_an_as_of_no_scenario_may_start_on_is_refused(text):
    # The forecast from it starts that day: results dealsim itself would call damaged.
    with pytest.raises(UserError, match=rf"--as-of {text}: outside 1900-01-01 \.\. 2199-12-31"):
        parse_as_of(text)


def test_a_quote_never_closed_is_named_where_it_opens(tmp_path):
    lines = ["deal_id,stage,entered_at"] + [f"d{i},qualify,2024-01-0{1 + i % 9}" for i in range(6)]
    lines[3] = '"d2,qualify,2024-01-03'  # the quote opens on line 4 and swallows the rest
    path = tmp_path / "broken.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"lines 4-7\) has 1 fields .* a quote opened on line 4"):
        read_history(path)
