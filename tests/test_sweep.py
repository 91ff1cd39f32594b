"""``dealsim sweep`` and ``sim.sweep`` (issue 4, points 4-5): one run per value on common random
numbers; sweep.json, sweep.csv, sweep.png; monotone sanity; --json; user errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from whatif_helpers import invoke, small_scenario_data, write_small_file  # tests/ on sys.path

import sim
from sim.comparison import METRICS
from sim.errors import UserError
from sim.scenario import scenario_from_dict
from sim.sweeps import Sweep, parse_sweep_options

REQUIRED = ("bookings", "won_share", "lost_share", "no_decision_share", "cycle_days_won")


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    return write_small_file(tmp_path)


def test_more_money_less_budget_wait_and_more_bookings():
    small = scenario_from_dict(small_scenario_data())
    result = sim.sweep(small, "budget.funded_share", [0.1, 0.5, 0.9], replications=20, jobs=1)
    assert isinstance(result, Sweep)
    wait = [p["stall_days"]["budget_wait"] for p in result.points]
    assert wait[0] > wait[1] > wait[2], wait
    won = [p["metrics"]["won_share"]["mean"] for p in result.points]
    assert won[0] < won[1] < won[2], won
    # on common random numbers the paired delta to the first value is clearly positive
    assert result.points[2]["metrics"]["won_share"]["delta_ci_low"] > 0


def test_more_arrivals_more_deals_and_bookings():
    small = scenario_from_dict(small_scenario_data())
    result = sim.sweep(small, "deals.arrivals_per_month=2,4,8", replications=10, jobs=1)
    assert result.parameter == "deals.arrivals_per_month"
    assert result.values == [2, 4, 8]
    for metric in ("n_deals", "bookings"):
        means = [p["metrics"][metric]["mean"] for p in result.points]
        assert means[0] < means[1] < means[2], (metric, means)


def test_sweep_json_shape():
    small = scenario_from_dict(small_scenario_data())
    result = sim.sweep(small, "shocks.rate_per_year", [0.5, 2.0], replications=5, jobs=1)
    data = result.to_dict()
    assert data["parameter"] == "shocks.rate_per_year"
    assert data["seed"] == 3 and data["replications"] == 5
    assert [p["value"] for p in data["points"]] == [0.5, 2.0]
    for point in data["points"]:
        assert set(REQUIRED) <= set(point["metrics"])
        for stats in point["metrics"].values():
            assert {"mean", "ci_low", "ci_high", "delta", "delta_ci_low", "delta_ci_high"} <= set(
                stats
            )
            if stats["n"] >= 2:
                assert stats["ci_low"] <= stats["mean"] <= stats["ci_high"]
    for stats in data["points"][0]["metrics"].values():  # the first point is the reference
        assert stats["delta"] == 0.0 or stats["n"] == 0


def test_parse_sweep_options_picks_the_listed_one():
    key, values, labels, others = parse_sweep_options(
        ["horizon_days=200", "budget.funded_share=0.1,0.2", "deals.initial={need=1, decide=2}"]
    )
    assert key == "budget.funded_share" and values == [0.1, 0.2] and labels == ["0.1", "0.2"]
    assert others == {"horizon_days": 200, "deals.initial": {"need": 1, "decide": 2}}
    with pytest.raises(UserError, match="several values"):
        parse_sweep_options(["horizon_days=200"])
    with pytest.raises(UserError, match="only one"):
        parse_sweep_options(["a=1,2", "b=3,4"])


def test_cli_sweep_writes_json_csv_plot(small_file, tmp_path):
    out = tmp_path / "sw"
    result = invoke("sweep", small_file, "--set", "budget.funded_share=0.2,0.6",
                    "--set", "horizon_days=300", "-n", 8, "-j", 1, "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {
        "sweep.json",
        "sweep.csv",
        "sweep.png",
        "manifest.json",
    }
    data = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    assert data["parameter"] == "budget.funded_share"
    assert data["sets"] == {"horizon_days": 300}
    assert [p["value"] for p in data["points"]] == [0.2, 0.6]
    with (out / "sweep.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["value"] for r in rows] == ["0.2", "0.6"]
    for metric in METRICS:
        assert f"{metric}_mean" in rows[0] and f"{metric}_delta_ci_high" in rows[0]
    assert float(rows[0]["bookings_mean"]) == data["points"][0]["metrics"]["bookings"]["mean"]
    assert "budget.funded_share" in result.stdout and str(out) in result.stdout
    assert (out / "sweep.png").stat().st_size > 10_000


def test_cli_sweep_json_and_words(small_file, tmp_path):
    out = tmp_path / "sw"
    result = invoke("sweep", small_file, "--set", "shocks.to=dormant,lost", "-n", 4, "-j", 1,
                    "-o", out, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed.pop("results_folder") == str(out)  # the folder it wrote
    assert printed == json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    assert [p["value"] for p in printed["points"]] == ["dormant", "lost"]


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (["budget.funded_share=0.2"], "several values"),
        (["budget.funded_share=0.2,1.5"], "budget.funded_share"),
        (["budget.funded_share=0.2,0.3", "budget.funded_share=0.4"], "both swept and set"),
        (["x=1,,2"], "empty value"),
        (["stages.nope.duration.median=1,2"], "'nope'"),
        # Runs of different periods would be paired as if only the change told them apart.
        (["horizon_days=200,365"], "horizon_days=200: 200 days from"),
        (["start_date=2027-01-01,2027-06-01"], "simulate different periods"),
        (["currency=EUR,USD"], "different currencies"),
        (["budget.funded_share=0.2,0.3,0.20"], "takes the value 0.2 twice (0.2 and 0.20)"),
        # A label: every point the same scenario, differences of exactly zero.
        (["name=a,b"], "name is a label, not an assumption"),
        (["description=a,b"], "description is a label, not an assumption"),
    ],
)
def test_cli_sweep_bad_input_is_exit_2_without_a_folder(small_file, tmp_path, sets, needle):
    out = tmp_path / "sw"
    args = [a for s in sets for a in ("--set", s)]
    result = invoke("sweep", small_file, *args, "-n", 3, "-j", 1, "-o", out)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_a_key_swept_twice_is_named_as_given_twice():
    with pytest.raises(UserError, match="--set budget.funded_share given twice with several"):
        parse_sweep_options(["budget.funded_share=0.2,0.4", "budget.funded_share=0.3,0.5"])
