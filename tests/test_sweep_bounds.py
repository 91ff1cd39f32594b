"""A sweep at a handful of replications (``-n 2``, ``-n 3``) never prints or stores an interval
past what its metric can be (bookings below 0, a share outside 0..100%), and says that so few
replications give rough intervals. The small scenario at 2 replications gives t intervals
(t = 12.7 on one degree of freedom) far below 0, so a plain t interval fails these checks."""

from __future__ import annotations

import json

import pytest
from whatif_helpers import invoke, small_scenario_data, write_small_file  # tests/ on sys.path

import sim
from sim.comparison import METRICS
from sim.scenario import scenario_from_dict
from sim.sweeps import FEW_REPLICATIONS


@pytest.fixture(scope="module")
def tiny_sweep():
    small = scenario_from_dict(small_scenario_data())
    return sim.sweep(small, "budget.funded_share", [0.1, 0.9], replications=2, jobs=1)


def test_intervals_stay_within_what_the_metric_can_be(tiny_sweep):
    cut = 0
    for point in tiny_sweep.points:
        for name, stats in point["metrics"].items():
            low, high = (0.0, 1.0) if METRICS[name][0] == "share" else (0.0, float("inf"))
            assert low <= stats["ci_low"] <= stats["mean"] <= stats["ci_high"] <= high, (
                name,
                stats,
            )
            cut += stats["ci_cut"]
    assert cut > 0  # the t interval did pass a bound here: the cut was exercised


def test_a_cut_interval_is_written_as_it_is_and_few_replications_are_flagged(tiny_sweep):
    text = tiny_sweep.table()
    assert "[0.00k," in text or "[0.0%," in text  # the cut end, not "+-" a width past it
    assert "only 2 replications per value" in text and f"-n {FEW_REPLICATIONS}" in text
    assert tiny_sweep.to_dict()["warnings"] == tiny_sweep.warnings
    assert "too few for reliable intervals" in tiny_sweep.caption()


def test_enough_replications_no_warning_and_an_uncut_interval_stays_symmetric():
    small = scenario_from_dict(small_scenario_data())
    result = sim.sweep(
        small, "budget.funded_share", [0.1, 0.9], replications=FEW_REPLICATIONS, jobs=1
    )
    assert result.warnings == [] and "Warning" not in result.table()
    for point in result.points:
        for stats in point["metrics"].values():
            if not stats["ci_cut"] and stats["n"] >= 2:
                mean = stats["mean"]
                assert stats["ci_high"] - mean == pytest.approx(mean - stats["ci_low"])


def test_cli_sweep_n_2(tmp_path):
    path = write_small_file(tmp_path)
    out = tmp_path / "sweep"
    result = invoke(
        "sweep", path, "--set", "budget.funded_share=0.1,0.9", "-n", 2, "-j", 1, "-o", out,
        "--no-plots",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "only 2 replications per value" in result.output
    data = json.loads((out / "sweep.json").read_text())
    assert all(m["ci_low"] >= 0 for p in data["points"] for m in p["metrics"].values())
