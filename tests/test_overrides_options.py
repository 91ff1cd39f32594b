"""An option and a ``--set`` of the same key (``--seed 7 --set seed=5``): one rule on every
command. With two values they are refused (exit 2, both named, nothing run); with one value
the run goes ahead, and every label shows the value that really ran."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from whatif_helpers import write_small_file  # tests/ is on sys.path

from sim.cli import cli


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    return write_small_file(tmp_path)


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize(
    ("command", "args", "needles"),
    [
        ("run", ["--seed", 7, "--set", "seed=5"], ["--seed 7", "--set seed=5"]),
        ("run", ["-n", 3, "--set", "replications=5"], ["-n/--replications 3", "replications=5"]),
        ("run", ["--until", "2027-06-01", "--set", "horizon_days=100"], ["--until", "horizon"]),
        (
            "run",
            ["--no-parameter-uncertainty", "--set", "uncertainty.enabled=true"],
            ["--no-parameter-uncertainty", "--set uncertainty.enabled=true"],
        ),
        ("compare", ["--seed", 7, "--set", "seed=5"], ["--seed 7", "--set seed=5"]),
        ("weighted", ["-n", 3, "--set", "replications=4"], ["-n/--replications 3"]),
        ("trace", ["--seed", 7, "--set", "seed=5"], ["--seed 7", "--set seed=5"]),
        (
            "sensitivity",
            ["--vary", "budget.funded_share=0.2..0.5", "--seed", 7, "--set", "seed=5"],
            ["--seed 7", "--set seed=5"],
        ),
    ],
)
def test_an_option_and_a_set_that_disagree_are_refused(
    small_file, tmp_path, command, args, needles
):
    out = tmp_path / "out"
    where = ["-o", out] if command in ("run", "compare", "sweep", "sensitivity") else []
    result = invoke(command, small_file, *where, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output + result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    assert not out.exists()


def test_an_option_and_a_set_that_agree_run_and_label_the_seed_that_ran(small_file, tmp_path):
    out = tmp_path / "out"
    result = invoke(
        "run", small_file, "-n", 2, "-j", 1, "--no-plots", "--deals", "none", "-o", out,
        "--seed", 7, "--set", "seed=7",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert summary["seed"] == manifest["seed"] == 7
    assert "seed 7" in result.stdout and "what_if" not in summary  # the base case, reseeded
    assert "WHAT-IF" not in result.output


def test_an_option_alone_or_a_set_alone_is_no_conflict(small_file, tmp_path):
    result = invoke(
        "run", small_file, "-n", 2, "-j", 1, "--no-plots", "--deals", "none",
        "-o", tmp_path / "out", "--set", "seed=5", "--no-parameter-uncertainty",
        "--set", "uncertainty.enabled=false",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "seed 5" in result.stdout


def test_a_swept_seed_or_replications_gets_sweeps_own_message(capsys):
    """-n 3 --set replications=3,4 read the list as one value: "disagree, give both the same
    value"; the truth is that replications cannot be swept."""
    from sim.cli import main

    for argv in (["-n", "3", "--set", "replications=3,4"], ["--seed", "5", "--set", "seed=1,2"]):
        assert main(["sweep", "chain", *argv, "-q"]) == 2
        err = capsys.readouterr().err
        assert "cannot be swept" in err and "disagree" not in err, err
