"""The API's rule for a keyword and a ``sets`` key of the same thing (``seed=7`` with
``sets={"seed": 5}``): the CLI's (tests/test_overrides_options.py). With two values they are
refused before anything runs, both named; with one value the run goes ahead, labelled with it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from whatif_helpers import write_small_file  # tests/ is on sys.path

import sim
from sim.errors import UserError

FAST = {"jobs": 1}


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    return write_small_file(tmp_path)


@pytest.mark.parametrize(
    ("keywords", "sets", "needles"),
    [
        ({"seed": 7}, {"seed": 5}, ["seed=7", "sets seed=5"]),
        ({"replications": 3}, {"replications": 5}, ["replications=3", "sets replications=5"]),
        ({"until": dt.date(2027, 6, 1)}, {"horizon_days": 100}, ["until=2027-06-01", "horizon"]),
        (
            {"parameter_uncertainty": False},
            {"uncertainty.enabled": True},
            ["parameter_uncertainty=False", "sets uncertainty.enabled=true"],
        ),
    ],
)
def test_simulate_refuses_a_keyword_and_a_set_that_disagree(small_file, keywords, sets, needles):
    with pytest.raises(UserError) as refused:
        sim.simulate(small_file, sets=sets, write=False, **FAST, **keywords)
    for needle in needles:
        assert needle in str(refused.value)


def test_simulate_runs_and_labels_a_keyword_and_a_set_that_agree(small_file):
    result = sim.simulate(small_file, sets={"seed": 7}, seed=7, replications=2, write=False)
    assert result.summary["seed"] == result.manifest["seed"] == 7
    # The base case on another seed, not a what-if (no "WHAT-IF, not the base case" banner).
    assert "what_if" not in result.summary


def test_compare_and_sweep_refuse_a_keyword_and_a_set_that_disagree(small_file):
    with pytest.raises(UserError, match=r"seed=7 and sets seed=5 disagree"):
        sim.compare(small_file, small_file, sets={"seed": 5}, seed=7, replications=2, **FAST)
    with pytest.raises(UserError, match=r"replications=2 and sets replications=3 disagree"):
        sim.sweep(
            small_file, "budget.funded_share", [0.2, 0.3], sets=["replications=3"],
            replications=2, **FAST,
        )  # fmt: skip
    with pytest.raises(UserError, match=r"seed=7 and sets seed=5 disagree"):
        sim.sensitivity(
            small_file, ["budget.funded_share=0.2..0.5"], sets={"seed": 5}, seed=7,
            replications=2, **FAST,
        )  # fmt: skip


def test_compare_runs_a_set_seed_that_every_scenario_shares(small_file):
    result = sim.compare(small_file, small_file, sets={"seed": 5}, seed=5, replications=2, **FAST)
    assert result.seed == 5 and result.what_if is None


def test_a_seed_or_replications_of_one_side_only_is_refused(small_file):
    """Every run of a comparison or a sweep shares one seed and replication count: a --set of
    one side's (or a sweep of it) would be labelled but never run (both sides ran on one seed,
    a paired difference of exactly zero)."""
    with pytest.raises(UserError, match=r"compare: --set seed=9 changes one side only.*--seed"):
        sim.compare(small_file, sets={"seed": 9}, replications=2, **FAST)
    with pytest.raises(UserError, match=r"sweep: seed cannot be swept.*--seed"):
        sim.sweep(small_file, "seed", [5, 6], replications=2, **FAST)
    with pytest.raises(UserError, match=r"sweep: replications cannot be swept.*--replications"):
        sim.sweep(small_file, "replications=3,4", **FAST)
    with pytest.raises(UserError, match=r"sensitivity: --vary seed cannot vary.*--seed"):
        sim.sensitivity(small_file, ["seed=1..5"], replications=2, **FAST)


@pytest.mark.parametrize(
    ("keyword", "value"),
    [("replications", 3.0), ("replications", "3"), ("replications", True), ("seed", 1.5),
     ("jobs", 2.0)],
)  # fmt: skip
def test_a_count_that_is_no_whole_number_is_refused_by_name(small_file, keyword, value):
    """3.0 or "3" became a TypeError deep inside; True read as 1 and named a CLI flag."""
    arguments = {"replications": 3, "write": False, **FAST, keyword: value}
    with pytest.raises(UserError, match=f"^{keyword}: .* is not a whole number"):
        sim.simulate(small_file, **arguments)
    if keyword == "replications":  # compare and sweep weigh their runs first: the same words
        with pytest.raises(UserError, match="^replications: .* is not a whole number"):
            sim.sweep(small_file, "deals.arrivals_per_month", [4, 5], replications=value)
