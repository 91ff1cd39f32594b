"""A summary.json damaged below its top-level keys is one message naming the key path, exit 2.

``plot``, ``report`` and ``explain`` read the nested values of summary.json (sim.summary_check
checks them in ``read_summary``): a percentile edited into text, a missing month or a list where
an object was made them crash with a traceback (exit 1) or draw a wrong figure without a word.
The exports read only the start date (and the scenario's name), and say so when they cannot.
And nothing dealsim itself writes is refused: every bundled scenario's summary reads.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from sim.cli import main
from sim.results import read_summary
from sim.scenario import bundled_scenarios

#: (what is damaged, the key path the message must name, the damage applied to a summary).
#: Each broke a reader before, with a traceback or a silently wrong figure.
DAMAGES = {
    "percentile as text": ("bookings.p10", lambda s: _set(s, "bookings", "p10", "abc")),
    "month's percentile null": (
        "periods[3].bookings.p50",
        lambda s: _set(s, "periods", 3, "bookings", "p50", None),
    ),
    "month's bookings as text": (
        "periods[1].bookings",
        lambda s: _set(s, "periods", 1, "bookings", "lots"),
    ),
    "month deleted": ("periods[2].period", lambda s: s["periods"].pop(2)),
    "share as text": ("outcomes.won.share", lambda s: _set(s, "outcomes", "won", "share", "25%")),
    "median missing": ("cycle_days.won.p50", lambda s: s["cycle_days"]["won"].pop("p50")),
    "histogram width NaN": (
        "cycle_days.lost.histogram.bin_days",
        lambda s: _set(s, "cycle_days", "lost", "histogram", "bin_days", math.nan),
    ),
    "list for an object": (
        "cost_of_sale.per_won_deal",
        lambda s: _set(s, "cost_of_sale", "per_won_deal", []),
    ),
    "team month as text": (
        "teams.presales.periods[2].utilisation",
        lambda s: _set(s, "teams", "presales", "periods", 2, "utilisation", "full"),
    ),
    "half a band null": (
        "teams.presales.periods[4].wait_p90",
        lambda s: _set(s, "teams", "presales", "periods", 4, "wait_p90", None),
    ),
    "bool for a number": (
        "target.by_period[0].probability",
        lambda s: _set(s, "target", "by_period", 0, "probability", True),
    ),
    "deals per replication null": ("deals.mean", lambda s: _set(s, "deals", "mean", None)),
    "cause as a list": (
        "stall_days.seller_wait",
        lambda s: _set(s, "stall_days", "seller_wait", []),
    ),
    "flow NaN": ("flows.qualify.demo", lambda s: _set(s, "flows", "qualify", "demo", math.nan)),
    "negative replications": ("replications", lambda s: _set(s, "replications", -3)),
    "huge horizon": ("horizon_days", lambda s: _set(s, "horizon_days", 1e308)),
    "what-if as text": ("what_if", lambda s: _set(s, "what_if", "oops")),
    # Each number of the kind dealsim writes, but a band turned inside out (a hand's edit).
    "percentiles out of order": (
        "bookings.p10: expected at most p50 (percentiles in order)",
        lambda s: _set(s, "bookings", "p10", 2 * s["bookings"]["p90"] + 1),
    ),
    "a month's won band out of order": (
        "periods[3].won.p50: expected at most p90",
        lambda s: _set(s, "periods", 3, "won", "p50", s["periods"][3]["won"]["p90"] + 5),
    ),
}

#: Each reading command, given the folder and somewhere for its output outside the folder.
COMMANDS = {
    "plot": lambda folder, out: ["plot", str(folder)],
    "report": lambda folder, out: ["report", str(folder), "-o", str(out / "report.html")],
    "explain": lambda folder, out: ["explain", str(folder), "--no-counterfactuals"],
    "explain-json": lambda folder, out: ["explain", str(folder), "--no-counterfactuals", "--json"],
}


def _set(summary: dict, *keys_and_value) -> None:
    *keys, last, value = keys_and_value
    node = summary
    for key in keys:
        node = node[key]
    node[last] = value


@pytest.fixture(scope="module")
def team_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run with teams, a target and events: every optional section of a summary is there."""
    out = tmp_path_factory.mktemp("team-run") / "out"
    argv = ["run", "capacity", "-n", "3", "-j", "1", "-o", str(out), "--no-plots", "--events"]
    assert main([*argv, "--target", "1000000"]) == 0
    return out


def damaged_copy(run: Path, where: Path, damage) -> Path:
    """A copy of the run folder whose summary.json has the damage; written as Python's json
    writes it (NaN as the NaN that json.loads reads back)."""
    folder = where / "damaged"
    shutil.copytree(run, folder)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    damage(summary)
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return folder


def snapshot(folder: Path) -> dict[str, int]:
    """Each file of the folder and when it was last written."""
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_nested_value_is_one_message_naming_its_path(
    team_run, tmp_path, capsys, damage, command
):
    key_path, apply = DAMAGES[damage]
    folder = damaged_copy(team_run, tmp_path, apply)
    before = snapshot(folder)
    capsys.readouterr()
    assert main(COMMANDS[command](folder, tmp_path)) == 2
    captured = capsys.readouterr()
    assert "summary.json: damaged summary" in captured.err
    assert key_path in captured.err, captured.err
    assert "Traceback" not in captured.err + captured.out
    assert captured.out == ""  # explain printed no half of its table
    assert snapshot(folder) == before  # plot drew nothing over the figures
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("key", ["replications", "seed", "bookings"])
def test_explain_refuses_a_damaged_summary_before_re_running(team_run, tmp_path, capsys, key):
    """The counterfactual re-runs read the replications, the seed and the mean bookings."""
    folder = damaged_copy(team_run, tmp_path, lambda s: _set(s, key, "abc"))
    assert main(["explain", str(folder), "-n", "2", "-j", "1"]) == 2
    err = capsys.readouterr().err
    assert f"summary.json: damaged summary, not of the kind dealsim writes: {key}:" in err
    assert "re-running" not in err and "Traceback" not in err


def test_the_message_says_what_was_expected_and_found(team_run, tmp_path):
    from sim.errors import UserError

    def damage(summary):
        _set(summary, "bookings", "p10", "abc")
        summary["periods"][0]["won"].pop("p50")
        for period in summary["periods"][1:]:
            period["bookings"]["mean"] = -1

    with pytest.raises(UserError) as caught:
        read_summary(damaged_copy(team_run, tmp_path, damage))
    said = str(caught.value)
    assert "bookings.p10: expected a number from 0 to 1e+100, found text 'abc'" in said
    assert "periods[0].won.p50: missing (expected a number" in said
    assert "periods[1].bookings.mean: expected a number from 0 to 1e+100, found -1" in said
    assert said.endswith("and 10 more")  # the first three of 13: 12 months, 11 of them damaged


@pytest.mark.parametrize("fmt", ["csv", "xes"])
def test_the_exports_say_when_the_summary_is_no_object(team_run, tmp_path, capsys, fmt):
    """export-log read the scenario's name with .get on whatever the file held (exit 1)."""
    folder = damaged_copy(team_run, tmp_path, lambda s: None)
    (folder / "summary.json").write_text("[]", encoding="utf-8")
    for out, argv in ((tmp_path / f"log.{fmt}", ["export-log", str(folder), "--format", fmt]),
                      (tmp_path / "history.csv", ["export-history", str(folder)])):  # fmt: skip
        assert main([*argv, "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert "summary.json: cannot read start_date" in err and "Traceback" not in err
        assert not out.exists()


def test_the_exports_read_only_what_they_need(team_run, tmp_path, capsys):
    """A damaged percentile does not stop an export of events.csv, which never reads it."""
    folder = damaged_copy(team_run, tmp_path, DAMAGES["percentile as text"][1])
    out = tmp_path / "history.csv"
    assert main(["export-history", str(folder), "-o", str(out)]) == 0
    assert out.is_file()


def test_what_a_run_writes_as_null_or_leaves_out_is_no_damage(team_run, tmp_path):
    """The nulls of a run with too few values, an unlimited team and no closed deals of a kind,
    and the sections older or team-less summaries do not have."""

    def as_written_by_others(summary):
        _set(summary, "bookings", "se", None)
        none_closed = {"mean": None, "se": None, "p10": None, "p50": None, "p90": None, "n": 0}
        summary["cycle_days"]["no_decision"].update(none_closed)
        team = summary["teams"]["presales"]
        team["headcount"], team["utilisation"] = "unlimited", None
        _set(summary, "cost_of_sale", "per_won_deal", "mean", None)
        for key in ("totals", "parameter_uncertainty", "shocks_per_replication", "target"):
            summary.pop(key)
        summary["stall_days"].pop("seller_wait")  # a cause newer than the summary
        summary["what_if"] = {"label": "x=1", "sets": {"x": 1}, "pipeline": None}
        summary["written_by_a_newer_dealsim"] = {"anything": [1, "two"]}

    read_summary(damaged_copy(team_run, tmp_path, as_written_by_others))


def _bundled_runs() -> list[tuple[str, list[str]]]:
    runs = [(name, [name]) for name, _, _ in bundled_scenarios()]
    runs.append(("target", ["capacity", "--target", "2000000"]))
    runs.append(("unlimited-team", ["equipment", "--set", "team.presales.headcount=unlimited"]))
    runs.append(("no-won-deal", ["capacity", "--set", "horizon_days=1"]))
    return runs


@pytest.mark.parametrize(
    "args", [args for _, args in _bundled_runs()], ids=[name for name, _ in _bundled_runs()]
)
def test_every_summary_dealsim_writes_reads(tmp_path, capsys, args):
    out = tmp_path / "run"
    argv = ["run", *args, "-n", "2", "-j", "1", "-o", str(out), "--no-plots", "--deals", "none"]
    assert main(argv) == 0, capsys.readouterr().err
    read_summary(out)


def test_a_key_given_twice_is_damage_not_the_last_one_read(team_run, tmp_path):
    """json.loads keeps the last of two equal keys: a hand-edited copy of a month or a
    percentile was read as whichever came second."""
    from sim.errors import UserError

    folder = damaged_copy(team_run, tmp_path, lambda summary: None)
    path = folder / "summary.json"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"p10":', '"p10": 1.0, "p10":', 1), encoding="utf-8")
    with pytest.raises(UserError, match="the key 'p10' is there twice"):
        read_summary(folder)
