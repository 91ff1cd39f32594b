"""``dealsim sensitivity`` and ``sim.sensitivity`` (issue 14): tornado on common random numbers
with paired intervals, Sobol indices through SALib with bootstrap intervals, files, CLI, errors.

The statistical checks use scenarios whose answer is known in closed form:

* one stage of ``n`` day-0 deals, each won with probability ``p`` (else lost), a horizon long
  enough for every deal to close, and gamma amounts of mean ``m``: bookings per replication are
  ``m x sum over won deals of g(u_i)`` where ``g`` is the unit-mean gamma quantile of the deal's
  own uniform. So bookings are exactly linear in ``m`` (expected swing ``(high - low) x n x p``)
  and their expectation does not depend on the amount's ``cv`` (a null effect whose paired
  differences are not zero replication by replication);
* with a fixed amount ``v`` and ``N`` day-0 deals that are all won, bookings are ``v x N``: a
  product of two independent uniform parameters, whose Sobol indices are known.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math

import numpy as np
import pytest
from whatif_helpers import invoke  # tests/ on sys.path

import sim
from sim.errors import ScenarioError, UserError
from sim.factors import Factor, parse_vary
from sim.scenario import scenario_from_dict, toml_dumps
from sim.sobol import (
    samples_for,
    sobol_indices,
    sobol_problem,
    sobol_rows,
    sobol_sample,
    sobol_warnings,
)

N_DEALS, P_WON, MEAN_AMOUNT = 200, 0.4, 1000.0


def one_stage(n: int = N_DEALS, amount: dict | None = None, seed: int = 11) -> dict:
    """``n`` deals at day 0 in one stage, won with P_WON, all closed long before the horizon."""
    return {
        "name": "oracle",
        "start_date": dt.date(2027, 1, 1),
        "horizon_days": 3650,
        "currency": "EUR",
        "replications": 30,
        "seed": seed,
        "deals": {
            "initial": {"decide": n},
            "arrivals_per_month": 0.0,
            "amount": amount or {"dist": "gamma", "mean": MEAN_AMOUNT, "cv": 0.3},
        },
        "stages": [
            {
                "name": "decide",
                "duration": {"dist": "exponential", "mean": 10},
                "exits": {"won": P_WON, "lost": 1 - P_WON},
            }
        ],
    }


#: The interval level of the statistical checks: a 95% interval misses the truth one time in
#: twenty by design, and this file checks a dozen; at 99.9% (about 3.7 standard errors) a miss
#: means a bug. The wrong expectations below are many standard errors away, so they still fail.
CHECK_LEVEL = 0.999


@pytest.fixture(scope="module")
def tornado() -> sim.Sensitivity:
    return sim.sensitivity(
        scenario_from_dict(one_stage()),
        ["deals.amount.mean=500..1500", "deals.amount.cv=0.1..0.6"],
        replications=30,
        jobs=1,
        level=CHECK_LEVEL,
    )


def _row(result, key: str) -> dict:
    return next(r for r in result.rows if r["key"] == key)


def _inside(value: float, pair: dict) -> bool:
    return pair["ci_low"] <= value <= pair["ci_high"]


# ---------------------------------------------------------------------------------------------
# Tornado
# ---------------------------------------------------------------------------------------------


def test_tornado_linear_effect_swings_by_the_expected_amount(tornado):
    row = _row(tornado, "deals.amount.mean")
    expected = (1500 - 500) * N_DEALS * P_WON  # every won deal's amount scales with the mean
    swing = row["swing"]
    assert _inside(expected, swing), (expected, swing)
    # the interval is a real one (won counts vary between replications), and a wrong
    # expectation (won share 0.45 instead of 0.4) fails the same check
    assert swing["ci_high"] - swing["ci_low"] > 0
    assert not _inside((1500 - 500) * N_DEALS * 0.45, swing)
    # each end against the base: -500 and +500 per unit of amount, the same replications
    assert _inside(-500 * N_DEALS * P_WON, row["at_low"])
    assert _inside(+500 * N_DEALS * P_WON, row["at_high"])
    # linear and on common random numbers: the high-side change is exactly minus the low one
    assert row["at_high"]["delta"] == pytest.approx(-row["at_low"]["delta"], rel=1e-9)


def test_tornado_null_effect_interval_covers_zero(tornado):
    row = _row(tornado, "deals.amount.cv")
    swing = row["swing"]
    assert _inside(0.0, swing), swing
    # not a degenerate [0, 0]: the amounts do change replication by replication ...
    assert swing["se"] > 0
    # ... and an effect of 5% of bookings would have been seen
    assert not _inside(0.05 * MEAN_AMOUNT * N_DEALS * P_WON, swing)


def test_tornado_is_sorted_by_swing_and_its_base_is_the_plain_run(tornado):
    assert [r["key"] for r in tornado.rows] == ["deals.amount.mean", "deals.amount.cv"]
    run = sim.simulate(scenario_from_dict(one_stage()), replications=30, jobs=1, write=False)
    np.testing.assert_array_equal(tornado.values[0], run.per_replication["bookings"])
    assert tornado.base["mean"] == pytest.approx(run.per_replication["bookings"].mean())


def test_tornado_other_metrics_and_local_processes_give_the_same_numbers():
    small = scenario_from_dict(one_stage(n=60))
    vary = {"deals.amount.mean": (500, 1500), "stages.decide.duration.mean": (5, 400)}
    one = sim.sensitivity(small, vary, metric="cycle_p50", replications=6, jobs=1)
    two = sim.sensitivity(small, vary, metric="cycle_p50", replications=6, jobs=2)
    assert one.to_dict() == two.to_dict()
    # the amount does not move cycle times at all; a longer stage does (median ~ 0.69 mean)
    amount, duration = _row(one, "deals.amount.mean"), _row(one, "stages.decide.duration.mean")
    assert amount["swing"]["delta"] == 0 and amount["swing"]["se"] == 0
    assert duration["swing"]["delta"] > 100
    assert one.rows[0]["key"] == "stages.decide.duration.mean"


# ---------------------------------------------------------------------------------------------
# Sobol
# ---------------------------------------------------------------------------------------------


def test_sobol_recovers_the_ishigami_indices_within_the_bootstrap_intervals():
    """SALib's own test function, through our sampling, analysis and rows."""
    from SALib.test_functions import Ishigami

    factors = [Factor(f"x{i}", -math.pi, math.pi, 0.0) for i in (1, 2, 3)]
    x = sobol_sample(factors, 4096, seed=3)
    y = Ishigami.evaluate(x)
    rows = {
        r["key"]: r
        for r in sobol_rows(factors, sobol_indices(sobol_problem(factors), y, CHECK_LEVEL, seed=3))
    }
    # analytic values for a = 7, b = 0.1 (Saltelli et al. 2008; SALib's docs)
    s1 = {"x1": 0.3139, "x2": 0.4424, "x3": 0.0}
    st = {"x1": 0.5576, "x2": 0.4424, "x3": 0.2437}
    for key in s1:
        for name, truth in (("S1", s1[key]), ("ST", st[key])):
            index = rows[key][name]
            assert index["ci_low"] <= truth <= index["ci_high"], (key, name, index, truth)
            assert index["half_width"] < 0.1  # tight enough that the check means something
    # a wrong expectation (x1 and x2 swapped) fails the same check
    assert not rows["x1"]["S1"]["ci_low"] <= s1["x2"] <= rows["x1"]["S1"]["ci_high"]
    assert not sobol_warnings(list(rows.values()), 4096, y)


def product_indices(v: tuple[float, float], n: tuple[float, float]) -> dict[str, tuple]:
    """Sobol indices (S1, ST) of Y = V x N for independent uniform V and N."""
    mean_v, var_v = sum(v) / 2, (v[1] - v[0]) ** 2 / 12
    mean_n, var_n = sum(n) / 2, (n[1] - n[0]) ** 2 / 12
    first_v, first_n, both = var_v * mean_n**2, var_n * mean_v**2, var_v * var_n
    total = first_v + first_n + both
    return {
        "v": (first_v / total, (first_v + both) / total),
        "n": (first_n / total, (first_n + both) / total),
    }


def test_sobol_on_a_scenario_with_known_indices():
    """A fixed amount V and N day-0 deals that are all won: bookings = V x N in every
    replication, a product of two independent uniform parameters (N rounded to whole deals)."""
    data = one_stage(n=40, amount={"dist": "fixed", "value": 1000})
    data["stages"][0]["exits"] = {"won": 1.0}
    result = sim.sensitivity(
        scenario_from_dict(data),
        ["deals.amount.value=500..1500", "deals.initial.decide=30..50"],
        method="sobol",
        samples=256,
        replications=2,
        jobs=1,
        level=CHECK_LEVEL,
    )
    assert len(result.values) == 256 * 4  # N x (parameters + 2) points
    np.testing.assert_allclose(result.values[:, 0], result.x[:, 0] * result.x[:, 1])
    known = product_indices((500, 1500), (30, 50))
    amount, deals = _row(result, "deals.amount.value"), _row(result, "deals.initial.decide")
    assert amount["base"] == 1000 and deals["base"] == 40
    for row, (s1, st) in ((amount, known["v"]), (deals, known["n"])):
        assert row["S1"]["ci_low"] <= s1 <= row["S1"]["ci_high"], (row, s1)
        assert row["ST"]["ci_low"] <= st <= row["ST"]["ci_high"], (row, st)
    # a wrong expectation (both parameters equally important) fails the same check
    assert not amount["S1"]["ci_low"] <= 0.5 <= amount["S1"]["ci_high"]
    assert not deals["ST"]["ci_low"] <= 0.5 <= deals["ST"]["ci_high"]
    assert result.rows[0]["key"] == "deals.amount.value"
    # whole-number keys take whole values at every point
    counts = result.x[:, 1]
    assert np.array_equal(counts, np.round(counts)) and 30 <= counts.min() <= counts.max() <= 50


def test_sobol_warns_when_intervals_are_too_wide_and_says_how_many_samples_would_do():
    from SALib.test_functions import Ishigami

    factors = [Factor(f"x{i}", -math.pi, math.pi, 0.0) for i in (1, 2, 3)]
    x = sobol_sample(factors, 16, seed=1)
    y = Ishigami.evaluate(x)
    rows = sobol_rows(factors, sobol_indices(sobol_problem(factors), y, 0.95, seed=1))
    warnings = [w for w in sobol_warnings(rows, 16, y) if "too wide" in w]  # (and noise)
    assert len(warnings) == 1 and "--samples 16" in warnings[0]
    widest = max(max(r["S1"]["half_width"], r["ST"]["half_width"]) for r in rows)
    suggested = samples_for(widest, 16)
    assert suggested & (suggested - 1) == 0  # a power of 2
    assert 16 * (widest / 0.1) ** 2 <= suggested  # enough for +-0.1 at the 1/sqrt(N) rate
    assert f"--samples {suggested}" in warnings[0]


def test_sobol_of_a_metric_nothing_moves():
    scenario = scenario_from_dict(one_stage(n=20))
    result = sim.sensitivity(
        scenario,
        ["deals.amount.mean=500..1500"],
        metric="won_share",
        method="sobol",
        samples=4,
        replications=2,
        jobs=1,
    )
    assert all(r["S1"] is None and r["ST"] is None for r in result.rows)  # no 0/0 indices
    assert "nothing moves it" in result.warnings[0]


# ---------------------------------------------------------------------------------------------
# Options and errors
# ---------------------------------------------------------------------------------------------


def test_parse_vary():
    assert parse_vary("budget.funded_share=0.2..0.5") == ("budget.funded_share", 0.2, 0.5)
    assert parse_vary("timing.indicator.drift=-0.1..0.1") == ("timing.indicator.drift", -0.1, 0.1)
    assert parse_vary('decision_group."general director".tenure_mean_days=700..2000')[1:] == (
        700,
        2000,
    )
    for bad in ("budget.funded_share", "x=0.2", "x=a..b", "x=0.5..0.2", "=1..2", "x=1..1"):
        with pytest.raises(UserError, match="--vary"):
            parse_vary(bad)


@pytest.mark.parametrize(
    "vary, message",
    [
        (["stages.decide.duration=1..2"], "not a number"),
        (["stages.nowhere.duration.mean=1..2"], "no item 'nowhere'"),
        (["budget.funded_share=0.1..0.2"], "has no budget"),
        (["deals.amount.cv=0.1..0.2", "deals.amount.cv=0.2..0.3"], "more than once"),
        (["deals.amount.cv=-1..0.5"], "deals.amount.cv=-1"),
        ([], "at least one --vary"),
    ],
)
def test_bad_ranges_are_user_errors(vary, message):
    with pytest.raises((UserError, ScenarioError), match=message):
        sim.sensitivity(scenario_from_dict(one_stage()), vary, replications=2, jobs=1)


def test_bad_options_are_user_errors():
    scenario = scenario_from_dict(one_stage())
    vary = ["deals.amount.mean=500..1500"]
    for kwargs, message in (
        ({"method": "morris"}, "--method"),
        ({"metric": "profit"}, "--metric"),
        ({"method": "sobol", "samples": 100}, "power of 2"),
        ({"replications": 1}, "--replications"),
        ({"sets": {"deals.amount.mean": 3}}, "both varied and set"),
    ):
        with pytest.raises(UserError, match=message):
            sim.sensitivity(scenario, vary, jobs=1, **kwargs)


def test_a_sobol_point_that_is_not_a_valid_scenario_is_named_before_anything_runs():
    scenario = scenario_from_dict(one_stage(amount={"dist": "uniform", "low": 1000, "high": 2000}))
    with pytest.raises(
        UserError,
        match=r"(?s)not every combination.*at deals.amount.low=\d+(\.\d+)?, deals.amount.high=.*"
        r"low must be less than high.*Narrow the ranges",
    ):
        sim.sensitivity(
            scenario,
            ["deals.amount.low=500..1900", "deals.amount.high=1100..2500"],
            method="sobol",
            samples=8,
            replications=2,
            jobs=1,
        )


# ---------------------------------------------------------------------------------------------
# Command line and files
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def oracle_file(tmp_path):
    path = tmp_path / "oracle.toml"
    path.write_text(toml_dumps(one_stage(n=40)), encoding="utf-8")
    return path


def test_cli_tornado_writes_its_files_and_prints_a_table(oracle_file, tmp_path):
    out = tmp_path / "tornado"
    result = invoke(
        "sensitivity", oracle_file, "--vary", "deals.amount.mean=500..1500",
        "--vary", "deals.amount.cv=0.1..0.6", "-n", 6, "-j", 1, "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Tornado of bookings (EUR) on oracle" in result.output
    assert "deals.amount.mean" in result.output and f"Results in {out}" in result.output
    data = json.loads((out / "sensitivity.json").read_text())
    assert data["method"] == "tornado" and data["replications"] == 6
    assert [f["key"] for f in data["factors"]] == ["deals.amount.mean", "deals.amount.cv"]
    rows = list(csv.DictReader((out / "sensitivity.csv").open()))
    assert rows[0]["key"] == "deals.amount.mean"
    assert float(rows[0]["swing_delta"]) == pytest.approx(data["factors"][0]["swing"]["delta"])
    assert (out / "tornado.png").stat().st_size > 10_000
    assert json.loads((out / "manifest.json").read_text())["points"] == 5


def test_cli_sobol_json(oracle_file, tmp_path):
    out = tmp_path / "sobol"
    result = invoke(
        "sensitivity", oracle_file, "--method", "sobol", "--samples", 8, "-n", 2, "-j", 1,
        "--vary", "deals.amount.mean=500..1500", "--vary", "deals.initial.decide=20..60",
        "--json", "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed.pop("results_folder") == str(out)  # the folder it wrote
    assert printed == json.loads((out / "sensitivity.json").read_text())
    assert printed["method"] == "sobol" and printed["points"] == 8 * 4
    assert {"S1", "ST"} <= set(printed["factors"][0])
    assert "Warning: the intervals are too wide" in result.stderr  # N = 8 is far too few
    points = list(csv.DictReader((out / "sobol_points.csv").open()))
    assert len(points) == 32 and set(points[0]) == {
        "deals.amount.mean",
        "deals.initial.decide",
        "bookings_mean",
    }
    assert (out / "sobol.png").is_file()


def test_cli_errors_exit_2_and_write_nothing(oracle_file, tmp_path):
    out = tmp_path / "never"
    for args in (
        ["--vary", "deals.amount.mean=1500..500"],
        ["--vary", "deals.amount=1..2"],
        ["--vary", "deals.amount.mean=500..1500", "--method", "sobol", "--samples", 10],
        ["--vary", "deals.amount.mean=500..1500", "--metric", "nonsense"],
    ):
        result = invoke("sensitivity", oracle_file, *args, "-n", 2, "-j", 1, "-o", out)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        assert not out.exists()


@pytest.mark.parametrize("metric", ["won_share", "cycle_p50"])
def test_tornado_figure_of_a_share_or_a_duration_is_drawn(metric, tmp_path):
    """The base is written as the terminal writes it (a share in %): no formatter crash."""
    from sim.sensitivity_plots import tornado_figure

    small = scenario_from_dict(one_stage(n=60))
    vary = {"stages.decide.duration.mean": (5, 400)}
    result = sim.sensitivity(small, vary, metric=metric, replications=4, jobs=1)
    path = tornado_figure(result, tmp_path / "tornado.png")
    assert path.stat().st_size > 10_000


def test_samples_without_sobol_is_refused_not_ignored():
    result = invoke(
        "sensitivity", "chain", "--vary", "stages.d.duration.mean=40..80", "--samples", 4
    )
    assert result.exit_code == 2
    assert "--samples goes with --method sobol" in result.output


def test_varying_the_period_simulated_is_refused():
    result = invoke("sensitivity", "chain", "--vary", "horizon_days=365..730", "-n", 4)
    assert result.exit_code == 2
    assert "sets the period simulated" in result.stderr and "Traceback" not in result.output
