"""``--pipeline`` with a ``--set`` that the export overrides: the export's open deals replace
``deals.initial`` and ``--as-of`` becomes the start date, so such a --set would be undone
silently (run, labelled with it, but not followed). Refused on every command that takes both,
exit 2, both named, nothing written; the same day twice is no conflict."""

from __future__ import annotations

import json

import pytest
from test_pipeline_cli import CRM, write_scenario  # tests/ is on sys.path

from sim.cli import main

EXPORT = CRM / "pipeline_salesforce_report.csv"
AS_OF = "2024-03-15"
#: Each command that takes --pipeline and --set, with the options that keep it small.
COMMANDS = {
    "run": ["run", "{s}", "-n", "2", "-j", "1", "--no-plots", "-o", "{out}"],
    "compare": ["compare", "{s}", "{s}", "-n", "2", "-j", "1", "--no-plots", "-o", "{out}"],
    "sweep": ["sweep", "{s}", "--set", "deals.amount.value=1,2", "-n", "2", "-o", "{out}"],
    "trace": ["trace", "{s}", "--deal", "0"],
    "weighted": ["weighted", "{s}", "-n", "2", "-j", "1"],
}


def command(name: str, tmp_path, *more: str) -> list[str]:
    scenario, out = write_scenario(tmp_path), tmp_path / "out"
    base = [a.format(s=scenario, out=out) for a in COMMANDS[name]]
    return [*base, "--pipeline", str(EXPORT), *more]


@pytest.mark.parametrize("name", list(COMMANDS))
@pytest.mark.parametrize(
    ("change", "needles"),
    [
        (
            ["--as-of", AS_OF, "--set", "start_date=2024-02-01"],
            ["--as-of 2024-03-15", "--set start_date=2024-02-01", "disagree"],
        ),
        (
            ["--set", "deals.initial.propose=40"],
            [f"--pipeline {EXPORT}", "--set deals.initial.propose=40", "replace deals.initial"],
        ),
        (["--set", "deals.initial={propose=40}"], ["--set deals.initial=", "replace"]),
    ],
)
def test_a_set_the_export_overrides_is_refused(name, change, needles, tmp_path, capsys):
    assert main(command(name, tmp_path, *change)) == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_a_start_date_on_the_as_of_day_runs_and_says_so(tmp_path, capsys):
    args = command("run", tmp_path, "--as-of", AS_OF, "--set", f"start_date={AS_OF}")
    assert main([*args, "--deals", "none"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["start_date"] == AS_OF
    assert f"start_date={AS_OF}" in summary["what_if"]["label"]
    assert f"as of {AS_OF}" in capsys.readouterr().out
