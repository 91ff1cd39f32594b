"""A what-if is labelled as one: a run, comparison or sweep with ``--set`` or ``--pipeline``
says so in the terminal header, its default folder name, every figure and its results files
(``what_if`` in summary.json, comparison.json and sweep.json), and a base run says nothing.
A trace told with ``--set`` says so on the terminal and on its picture."""

from __future__ import annotations

import datetime as dt
import json
import string
from pathlib import Path

import pytest
from figure_helpers import all_text, keep_figures  # tests/ is on sys.path
from test_pipeline_cli import CRM
from test_pipeline_cli import write_scenario as write_crm_scenario
from whatif_helpers import write_small_file

from sim import plots
from sim.cli import main
from sim.results import read_summary
from sim.whatif import folder_part, short_label, what_if

HEADER = "WHAT-IF, not the base case: "


def test_the_label_names_every_change() -> None:
    assert what_if({}) is None and what_if(None, None) is None
    info = what_if(
        {"budget.funded_share": 0.2, "budget.fiscal_year_start": "04-01"},
        Path("exports/open deals.csv"),
        dt.date(2027, 3, 31),
    )
    assert info["label"] == (
        "budget.funded_share=0.2, budget.fiscal_year_start=04-01; "
        "day-0 pipeline from open deals.csv as of 2027-03-31"
    )
    assert info["sets"] == {"budget.funded_share": 0.2, "budget.fiscal_year_start": "04-01"}
    assert info["pipeline"] == {"file": "exports/open deals.csv", "as_of": "2027-03-31"}
    json.dumps(info)  # results files hold it as it is
    part = folder_part(info)  # cut at a word boundary, and it says so
    assert part == "whatif-budget.funded_share-0.2-budget.fiscal_year_start-04-01-pipeline-etc"
    short = folder_part(what_if({}, Path("exports/open deals.csv"), None))
    assert short == "whatif-pipeline-open-deals"
    assert set(part + short) <= set(string.ascii_letters + string.digits + "._-")
    dated = what_if({"start_date": dt.date(2028, 1, 1), "stages.need.duration": {"value": 30}})
    assert dated["sets"] == {"start_date": "2028-01-01", "stages.need.duration": {"value": 30}}
    assert folder_part(dated) == "whatif-start_date-2028-01-01-stages.need.duration-value-30"
    assert folder_part(None) is None
    assert short_label({"label": "x" * 100}, 20) == "x" * 17 + "..."


def test_run_with_set_is_labelled_everywhere(
    tiny_scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, request
) -> None:
    monkeypatch.chdir(tmp_path)
    kept = keep_figures(request)
    args = ["run", str(tiny_scenario), "-n", "2", "-j", "1", "--set", "deals.arrivals_per_month=2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == HEADER + "deals.arrivals_per_month=2"
    (folder,) = (tmp_path / "results").iterdir()
    assert folder.name.startswith("tiny-whatif-deals.arrivals_per_month-2-")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["what_if"] == {
        "label": "deals.arrivals_per_month=2",
        "sets": {"deals.arrivals_per_month": 2},
        "pipeline": None,
    }
    assert len(kept) == len(plots.FIGURES)
    for fig in kept:
        assert HEADER + "deals.arrivals_per_month=2" in all_text(fig)
        assert fig.axes[0].get_title(loc="left").endswith("- tiny (what-if)")
    # `dealsim plot` redraws from summary.json alone, and the label is in it
    plots.stall_causes(read_summary(folder), tmp_path / "again.png")
    assert HEADER + "deals.arrivals_per_month=2" in all_text(kept[-1])


def test_base_run_is_not_labelled(
    tiny_scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(tiny_scenario), "-n", "2", "-j", "1", "--no-plots"]) == 0
    assert "WHAT-IF" not in capsys.readouterr().out
    (folder,) = (tmp_path / "results").iterdir()
    assert "whatif" not in folder.name
    assert "what_if" not in json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def test_run_from_a_crm_pipeline_is_labelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    scenario = write_crm_scenario(tmp_path)
    monkeypatch.chdir(tmp_path)
    export = CRM / "pipeline_salesforce_report.csv"
    args = ["run", str(scenario), "-n", "2", "-j", "1", "--no-plots"]
    assert main([*args, "--pipeline", str(export), "--as-of", "2024-03-15"]) == 0
    label = "day-0 pipeline from pipeline_salesforce_report.csv as of 2024-03-15"
    assert capsys.readouterr().out.splitlines()[0] == HEADER + label
    (folder,) = (tmp_path / "results").iterdir()
    assert folder.name.startswith("crm-run-whatif-pipeline-pipeline_salesforce_report-")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["what_if"]["label"] == label
    assert summary["what_if"]["pipeline"] == {"file": str(export), "as_of": "2024-03-15"}


def test_compare_and_sweep_are_labelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, request
) -> None:
    small = write_small_file(tmp_path)
    monkeypatch.chdir(tmp_path)
    kept = keep_figures(request)
    common = ["-n", "4", "-j", "1"]
    assert main(["compare", str(small), "--set", "shocks.rate_per_year=2", *common]) == 0
    assert capsys.readouterr().out.splitlines()[0] == HEADER + "shocks.rate_per_year=2"
    (folder,) = (tmp_path / "results").iterdir()
    assert folder.name.startswith("compare-small-whatif-shocks.rate_per_year-2-")
    data = json.loads((folder / "comparison.json").read_text(encoding="utf-8"))
    assert data["what_if"]["label"] == "shocks.rate_per_year=2"
    assert HEADER + "shocks.rate_per_year=2" in all_text(kept[-1])

    sweep = ["sweep", str(small), "--set", "budget.funded_share=0.2,0.6"]
    assert main([*sweep, "--set", "shocks.rate_per_year=2", *common]) == 0
    assert capsys.readouterr().out.splitlines()[0] == HEADER + "shocks.rate_per_year=2"
    (folder,) = (tmp_path / "results").glob("sweep-*")
    assert folder.name.startswith("sweep-small-budget-funded_share-whatif-shocks.rate_per_year-2-")
    data = json.loads((folder / "sweep.json").read_text(encoding="utf-8"))
    assert data["what_if"]["sets"] == {"shocks.rate_per_year": 2}
    assert HEADER + "shocks.rate_per_year=2" in all_text(kept[-1])

    # a sweep of one parameter alone is no what-if beyond the parameter its name already says
    assert main([*sweep, *common, "-o", "plain", "--no-plots"]) == 0
    assert "WHAT-IF" not in capsys.readouterr().out
    assert "what_if" not in json.loads((tmp_path / "plain" / "sweep.json").read_text())


def test_trace_of_a_changed_scenario_is_labelled(tmp_path: Path, capsys, request) -> None:
    kept = keep_figures(request)
    picture = tmp_path / "deal.png"
    args = ["trace", "equipment", "--deal", "3", "-r", "0", "--picture", str(picture)]
    assert main([*args, "--set", "budget.funded_share=0.2"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == HEADER + "budget.funded_share=0.2"
    assert HEADER + "budget.funded_share=0.2" in all_text(kept[0])  # the footer
    assert kept[0].axes[0].get_title(loc="left").endswith("(what-if)")
    assert main([*args, "--force"]) == 0  # the base case: not a word of it
    assert "WHAT-IF" not in capsys.readouterr().out
    assert "what-if" not in all_text(kept[1]).lower()


def test_a_long_name_in_another_script_still_makes_a_folder(tmp_path, monkeypatch):
    """60 Cyrillic letters (a valid name) spell out as 240 ASCII ones: with the time and a
    what-if the default folder's name passed 255 bytes, and run refused its own name."""
    from sim.cli import main

    monkeypatch.chdir(tmp_path)
    name = "Щ" * 60
    argv = ["run", "equipment", "-n", "2", "-j", "1", "--no-plots", "--set", f'name="{name}"']
    assert main([*argv, "--set", "deals.arrivals_per_month=3"]) == 0
    (folder,) = (tmp_path / "results").iterdir()
    assert len(folder.name) <= 255 and folder.name.startswith("shchshch")
    assert "-etc-whatif-deals.arrivals_per_month-3-" in folder.name  # the what-if whole


def test_how_a_run_is_made_or_named_is_no_what_if():
    from sim.whatif import what_if

    assert what_if({"seed": 7, "replications": 5, "name": "x", "description": "y"}) is None
    assert what_if({"seed": 7, "budget.funded_share": 0.3})["sets"] == {"budget.funded_share": 0.3}
