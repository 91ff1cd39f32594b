"""Labels a reader relies on: the horizon's last day, the what-if banner of every report,
numbers that share one scale, counts with the right noun."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from report_helpers import Page  # tests/ on sys.path
from whatif_helpers import invoke, small_scenario_data, write_small_file

from sim.calendar import last_day
from sim.html import render_folder
from sim.report import run_summary, target_when
from sim.scenario import toml_dumps

D = dt.date


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """The small scenario (365 days from 2027-01-01) as a file."""
    return write_small_file(tmp_path_factory.mktemp("small"))


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


# --- the horizon's last day ------------------------------------------------------------------


def test_last_day_is_the_last_day_simulated():
    # days run over [0, horizon): 730 days from 2027-01-01 stop before 2028-12-31 (day 730)
    assert last_day(D(2027, 1, 1), 730) == D(2028, 12, 30)
    assert last_day(D(2027, 1, 1), 731) == D(2028, 12, 31)
    assert last_day(D(2027, 1, 1), 729.5) == D(2028, 12, 30)  # day 729 is touched
    assert last_day(D(2027, 1, 1), 0.5) == D(2027, 1, 1)


def test_until_and_the_labels_name_the_same_day(small, tmp_path):
    """``--until D`` runs to the end of D, and every label of that run says 'to D'."""
    folder = tmp_path / "run"
    result = invoke(
        "run", small, "-n", 2, "-j", 1, "--no-plots", "--until", "2027-12-31",
        "--target", "1000", "-o", folder,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = _summary(folder)
    assert summary["horizon_days"] == 365
    page = Page(render_folder(folder)).visible
    assert "365 days, to 2027-12-31" in page
    assert "2028-01-01" not in page
    # the last month is whole: the target's last row is its end
    assert target_when("2027-12", summary) == "the end of 2027-12"
    assert "by the end of 2027-12:" in run_summary(summary, None)


def test_a_cut_last_month_is_named_by_its_last_day():
    """730 days from 2027-01-01 miss 2028-12-31: 'by the end of 2028-12' would overstate."""
    summary = {"start_date": "2027-01-01", "horizon_days": 730}
    assert target_when("2028-12", summary) == "2028-12-30 (the horizon's end)"
    assert target_when("2028-09", summary) == "the end of 2028-09"


def test_figures_end_the_last_month_on_the_last_day_simulated():
    from sim.plots import _month_end_dates

    summary = {
        "start_date": "2027-01-01",
        "horizon_days": 730,
        "periods": [{"period": "2027-01"}, {"period": "2028-12"}],
    }
    assert _month_end_dates(summary) == [D(2027, 1, 31), D(2028, 12, 30)]


def test_scenario_words_name_the_last_day():
    from sim.html.scenario_words import facts
    from sim.overrides import resolve_scenario

    scenario, _ = resolve_scenario("equipment", {})
    assert scenario.horizon_days == 730 and scenario.start_date == D(2027, 1, 1)
    assert dict(facts(scenario))["Horizon"] == "730 days, to 2028-12-30"


# --- what-if reports -------------------------------------------------------------------------


def _says_what_if(folder: Path, label: str = "budget.funded_share=0.9") -> Page:
    page = Page(render_folder(folder))
    assert page.keyed["what_if.label"]["text"].strip() == f"WHAT-IF, not the base case: {label}"
    assert f"(what-if: {label})" in page.visible  # the title (and the page's h1)
    return page


def test_run_report_of_a_what_if_says_so(small, tmp_path):
    folder = tmp_path / "run"
    result = invoke(
        "run", small, "-n", 2, "-j", 1, "--no-plots", "--set", "budget.funded_share=0.9",
        "-o", folder,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = _says_what_if(folder)
    assert "What-if (not the base case)" in page.visible  # provenance


def test_base_case_report_has_no_banner(small, tmp_path):
    folder = tmp_path / "run"
    assert invoke("run", small, "-n", 2, "-j", 1, "--no-plots", "-o", folder).exit_code == 0
    page = Page(render_folder(folder))
    assert "what_if.label" not in page.keyed
    assert "WHAT-IF" not in page.visible and "what-if:" not in page.visible


def test_compare_and_sweep_reports_of_a_what_if_say_so(small, tmp_path):
    other = small.parent / "other.toml"
    other.write_text(small.read_text(encoding="utf-8").replace("seed = 3", "seed = 4"), "utf-8")
    compare = tmp_path / "compare"
    result = invoke(
        "compare", small, other, "-n", 2, "-j", 1, "--no-plots",
        "--set", "budget.funded_share=0.9", "-o", compare,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    _says_what_if(compare)
    sweep = tmp_path / "sweep"
    result = invoke(
        "sweep", small, "--set", "shocks.rate_per_year=0.5,2", "-n", 2, "-j", 1, "--no-plots",
        "--set", "budget.funded_share=0.9", "-o", sweep,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    _says_what_if(sweep)


# --- numbers that share one scale ------------------------------------------------------------


def _team(hours: float, won: float, lost: float, cost: float) -> dict:
    return {
        "headcount": [{"from_day": 0.0, "people": 1}],
        "utilisation": 0.5,
        "waited_share": 0.5,
        "served_per_replication": 10.0,
        "wait_days": {"mean": 3.0, "p50": 1.0, "p90": 9.0},
        "hours": {"mean": hours},
        "cost": {"mean": cost},
        "hours_on_won_deals": won,
        "hours_on_lost_deals": lost,
    }


def _money_summary() -> dict:
    return {
        "start_date": "2027-01-01",
        "horizon_days": 730,
        "currency": "EUR",
        "bookings": {"p10": 11.0e6, "p50": 13.9e6, "p90": 17.1e6, "mean": 14.0e6, "se": 9.1e5},
        "teams": {
            "presales": _team(8290, 1707, 1519, 704e3),
            "legal": _team(1070, 836, 127, 128e3),
        },
        "cost_of_sale": {
            "total": {"mean": 833e3, "p10": 762e3, "p90": 888e3},
            "per_won_deal": {"mean": 22.0e3, "se": 1.3e3},
            "per_won_deal_own_hours": {"mean": 6.47e3, "se": 180.0},
        },
    }


def test_terminal_and_report_write_the_bookings_alike():
    from sim.html.run import headline

    summary = _money_summary()
    said = headline(summary)
    assert [card["text"] for card in said["cards"]] == ["11.0M EUR", "13.9M EUR", "17.1M EUR"]
    assert said["mean"] == "14.0M EUR ± 910k EUR"  # not '14M EUR' beside '17.1M EUR'


def test_the_fan_chart_line_has_one_scale():
    from sim.plots import total_line

    line = total_line(_money_summary()["bookings"], "EUR")
    assert line == (
        "Total over the horizon: mean 14.0M EUR, 8 in 10 runs between 11.0M EUR and 17.1M EUR"
    )


@pytest.fixture
def no_team_figures(monkeypatch):
    """Team rows without drawing each team's figure (not what these tests look at)."""
    monkeypatch.setattr("sim.html.run.team_figure", lambda summary, name: None)


def test_cost_of_sale_has_one_scale_on_the_terminal_and_in_the_report(no_team_figures):
    from sim.html.run import team_section
    from sim.report import team_lines

    summary = _money_summary()
    printed = " ".join(" ".join(team_lines(summary)).split())
    assert "22.0k EUR counting every hour, 6.5k EUR counting the won deals' own" in printed
    section = team_section(summary)
    assert (section["per_won_text"], section["own_text"]) == ("22.0k EUR", "6.5k EUR")


def test_hours_by_outcome_have_one_scale_a_column(no_team_figures):
    from sim.html.run import team_rows

    rows = {row["name"]: row for row in team_rows(_money_summary())}
    assert (rows["presales"]["won_hours"], rows["legal"]["won_hours"]) == ("1.71k", "0.84k")
    assert (rows["presales"]["lost_hours"], rows["legal"]["lost_hours"]) == ("1.52k", "0.13k")


def test_backtest_counts_and_p_values_are_written_alike():
    from sim.aggregate import clean_for_json
    from sim.backtest_report import open_text
    from sim.stats import p_text

    assert open_text(1686) == "1,686"
    raw = 0.4049996  # the terminal's value; backtest.json, which the report reads, holds 0.405
    assert p_text(raw) == p_text(clean_for_json(raw)) == "p = 0.41"
    assert p_text(0.4) == "p = 0.40" and p_text(0.00012) == "p < 0.001"


def test_a_bound_is_written_without_an_exponent(write_scenario):
    path = write_scenario(
        "short.toml",
        {
            'duration = { dist = "exponential", mean = 20 }': (
                'duration = { dist = "exponential", mean = 0.00001 }'
            )
        },
    )
    result = invoke("validate", path)
    assert result.exit_code != 0
    text = " ".join(result.output.split())
    assert "has a mean of 0.00001 days, outside 0.0006944 .. 36,525 days" in text, text


# --- what a number is ------------------------------------------------------------------------


def test_team_waits_sentence_says_the_p90_is_over_every_deal_served():
    """summary.json's wait P90 is over all deals served (those served at once count as 0
    days), not over the share that waited: the sentence must not say 'of them'."""
    from sim.html.run import _team_lead

    text = " ".join(_team_lead(_money_summary()).split())
    assert "50% of the deals it served waited for a free person" in text
    assert "1 in 10 of all the deals it served (those that did not wait included) waited" in text
    assert "1 in 10 of them" not in text


# --- plot on a folder that is not a run -------------------------------------------------------


@pytest.mark.parametrize(
    "marker", ["comparison.json", "sweep.json", "sensitivity.json", "backtest.json"]
)
@pytest.mark.parametrize(
    ("command", "does"), [("plot", "plot redraws the figures of"), ("explain", "explain re-runs")]
)
def test_plot_and_explain_name_a_folder_of_another_kind(tmp_path, marker, command, does):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / marker).write_text("{}", encoding="utf-8")
    result = invoke(command, folder)
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert f"({marker}), not a run: {does} a run folder" in text
    assert f"dealsim report {folder} shows this one" in text
    assert "no summary.json" not in text


# --- a count and its noun --------------------------------------------------------------------


def test_counted_agrees_with_its_count():
    from sim.plural import counted, verb

    assert counted(1, "stage") == "1 stage" and counted(2, "stage") == "2 stages"
    assert counted(1686, "deal") == "1,686 deals"
    assert (verb(1, "needs", "need"), verb(2, "needs", "need")) == ("needs", "need")


def test_validate_says_one_stage(tmp_path):
    data = small_scenario_data()
    data["stages"] = [{**data["stages"][1], "name": "need"}]  # one stage: need -> outcomes
    data["deals"]["initial"] = {"need": 5}
    for key in ("budget", "decision_group", "shocks"):
        data.pop(key)
    path = tmp_path / "one.toml"
    path.write_text(toml_dumps(data), encoding="utf-8")
    result = invoke("validate", path)
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith(", 1 stage"), result.output


def test_team_without_people_names_its_one_stage_in_the_singular(tmp_path):
    data = small_scenario_data()
    hours = {"dist": "fixed", "value": 8}
    data["team"] = [
        {"name": "legal", "headcount": 0, "work": [{"stage": "decide", "effort_hours": hours}]}
    ]
    path = tmp_path / "team.toml"
    path.write_text(toml_dumps(data), encoding="utf-8")
    result = invoke("validate", path)
    text = " ".join(result.output.split())
    assert "but decide needs this team's work" in text, text


def test_tornado_of_one_parameter_says_parameter(small, tmp_path):
    folder = tmp_path / "tornado"
    result = invoke(
        "sensitivity", small, "--vary", "budget.funded_share=0.2..0.8", "-n", 2, "-j", 1,
        "--no-plots", "-o", folder,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = Page(render_folder(folder)).visible
    assert "of 1 parameter move" in text or "of 1 parameter moves" in text, text
    assert "1 parameters" not in text
