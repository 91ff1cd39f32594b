"""One threshold and one sentence for figures over few replications (sim.stats): run, its HTML
report, compare and sweep (their JSON and HTML report too), sensitivity, weighted and backtest
(its test in test_backtest.py) all say the figures are rough below FEW_REPLICATIONS, and say
nothing at or above it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_helpers import Page  # tests/ on sys.path

from sim.cli import cli
from sim.stats import FEW_REPLICATIONS, few_replications_note

CAVEAT = "rough on so few runs"


def _run(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _visible(page: Path) -> str:
    """The report's visible text (its embedded JSON does not count)."""
    return Page(page.read_text(encoding="utf-8")).visible


def test_the_note_is_one_sentence_below_the_threshold():
    assert FEW_REPLICATIONS == 10
    assert few_replications_note(10) is None
    note = few_replications_note(3, " per point")
    assert "only 3 replications per point" in note and CAVEAT in note and "-n 10" in note
    assert "the P10-P90, +- and intervals are" in note  # what run, compare and sweep print
    named = few_replications_note(3, " per point", what="the intervals")
    assert "per point: the intervals are" in named and "P10-P90" not in named


@pytest.mark.parametrize(("n", "said"), [(2, True), (10, False)])
def test_run_terminal_and_report(tmp_path, n, said):
    out = tmp_path / "run"
    text = _run(["run", "textbook", "-n", str(n), "--no-plots", "-o", str(out), "--report"])
    assert (CAVEAT in text) is said
    page = (out / "report.html").read_text(encoding="utf-8")
    assert (CAVEAT in page) is said


@pytest.mark.parametrize(("n", "said"), [(2, True), (10, False)])
def test_compare_terminal_json_and_report(tmp_path, n, said):
    out = tmp_path / "c"
    text = _run(
        [
            "compare", "textbook", "--set", "deals.arrivals_per_month=8",
            "-n", str(n), "--no-plots", "-o", str(out), "--report",
        ]
    )  # fmt: skip
    assert (CAVEAT in text) is said
    warnings = json.loads((out / "comparison.json").read_text(encoding="utf-8"))["warnings"]
    assert (any(CAVEAT in w for w in warnings)) is said
    assert (CAVEAT in _visible(out / "report.html")) is said


@pytest.mark.parametrize(("n", "said"), [(2, True), (10, False)])
def test_sensitivity(tmp_path, n, said):
    text = _run(
        [
            "sensitivity", "textbook", "--vary", "deals.arrivals_per_month=4..8",
            "-n", str(n), "--no-plots", "-o", str(tmp_path / "s"),
        ]
    )  # fmt: skip
    assert (CAVEAT in text) is said
    assert ("only 2 replications per point: the intervals are rough" in text) is said
    assert "P10-P90" not in text  # a tornado prints none, so its caveat names none


def test_sobol_names_only_the_intervals_it_prints(tmp_path):
    text = _run(
        [
            "sensitivity", "textbook", "--method", "sobol", "--samples", "8",
            "--vary", "deals.arrivals_per_month=4..8", "--vary", "stages.0.duration.median=20..40",
            "-n", "2", "--no-plots", "-o", str(tmp_path / "s"),
        ]
    )  # fmt: skip
    assert "only 2 replications per point: the intervals are rough" in text
    assert "P10-P90" not in text


@pytest.mark.parametrize(("n", "said"), [(2, True), (10, False)])
def test_weighted(n, said):
    text = _run(["weighted", "equipment", "-n", str(n)])
    assert (CAVEAT in text) is said


def test_sweep_says_it_in_the_same_words(tmp_path):
    out = tmp_path / "w"
    text = _run(
        [
            "sweep", "textbook", "--set", "deals.arrivals_per_month=4,8", "-n", "2",
            "--no-plots", "-o", str(out), "--report",
        ]
    )  # fmt: skip
    assert "only 2 replications per value" in text and CAVEAT in text
    warnings = json.loads((out / "sweep.json").read_text(encoding="utf-8"))["warnings"]
    assert any(CAVEAT in w for w in warnings)
    page = _visible(out / "report.html")
    assert "only 2 replications per value" in page and CAVEAT in page
