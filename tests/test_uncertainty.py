"""Parameter uncertainty per replication, inflow that changes, the empirical duration."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from click.testing import CliRunner

from sim.api import simulate
from sim.calendar import DAYS_PER_MONTH
from sim.cli import cli
from sim.draws import remaining_duration
from sim.empirical import parse_duration
from sim.errors import ScenarioError
from sim.model import compile_scenario
from sim.report import stall_table_wanted
from sim.scenario import load_scenario, scenario_from_dict
from sim.uncertainty import drawn_parameters, replication_model

Z = 4.0
BASE = {
    "name": "u",
    "start_date": dt.date(2027, 1, 1),
    "horizon_days": 365,
    "seed": 2,
    "deals": {"initial": {"a": 200}, "amount": {"dist": "fixed", "value": 1}},
    "stages": [
        {
            "name": "a",
            "duration": {"dist": "exponential", "mean": 30},
            "exits": {"won": 0.4, "lost": 0.6},
        }
    ],
}


def _scenario(**extra):
    return scenario_from_dict({**BASE, **extra})


UNCERTAIN = {
    "arrivals_per_month": {"dist": "gamma", "mean": 20, "cv": 0.3},
    "arrivals_walk_sd": 0.1,
    "stages": {
        "a": {
            "exits_weight": 50,
            "duration_scale": {"dist": "lognormal", "median": 1, "p90": 1.3},
        }
    },
}


def test_hand_written_uncertainty_gives_the_rate_its_mean():
    s = _scenario(uncertainty=UNCERTAIN)
    gamma = parse_duration(UNCERTAIN["arrivals_per_month"])
    assert s.deals.arrivals_per_month == pytest.approx(gamma.quantile(0.5))  # the median
    assert drawn_parameters(s) == [
        "arrivals_per_month",
        "arrivals_walk_sd",
        "stages.a.duration_scale",
        "stages.a.exits_weight",
    ]
    off = _scenario(uncertainty={**UNCERTAIN, "enabled": False})
    assert drawn_parameters(off) == []


def test_unknown_stage_and_bad_month_are_errors():
    with pytest.raises(ScenarioError) as err:
        _scenario(
            uncertainty={"stages": {"nope": {"exits_weight": 3}}},
            inflow={"by_month": {"2027-13": 4}},
        )
    text = str(err.value)
    assert "uncertainty.stages.nope: unknown stage 'nope'" in text
    assert "inflow.by_month.2027-13: not a calendar month" in text


def test_a_month_outside_the_horizon_is_refused_by_the_cli(tmp_path, capsys):
    """A by_month before start_date or past the last day simulated changed nothing, silently:
    it is refused, exit 2, one message per month naming it and the horizon's months."""
    from sim.cli import main
    from sim.toml_writer import toml_dumps

    data = {
        **BASE,
        "horizon_days": 1461,  # 2027-01-01 .. 2030-12-31
        "inflow": {"by_month": {"2026-12": 5, "2027-01": 5, "2030-12": 5, "2031-05": 5}},
    }
    path = tmp_path / "months.toml"
    path.write_text(toml_dumps(data), encoding="utf-8")
    out = tmp_path / "out"
    for argv in (["validate", str(path)], ["run", str(path), "-n", "2", "-j", "1", "-o", str(out)]):
        assert main(argv) == 2
        text = capsys.readouterr()
        text = text.out + text.err
        assert "Traceback" not in text
        horizon = "outside the scenario's horizon (2027-01 to 2030-12: start_date 2027-01-01"
        assert f"inflow.by_month.2031-05: {horizon}" in text
        assert f"inflow.by_month.2026-12: {horizon}" in text
        assert "by_month.2027-01" not in text and "by_month.2030-12" not in text
    assert not out.exists()


@pytest.mark.parametrize(
    ("start", "horizon", "month", "inside"),
    [
        (dt.date(2027, 1, 15), 17, "2027-01", True),  # a first month begun mid-month
        (dt.date(2027, 1, 15), 17, "2027-02", False),  # the last day simulated is 2027-01-31
        (dt.date(2027, 1, 15), 17.25, "2027-02", True),  # a quarter of 2027-02-01 is simulated
        (dt.date(2027, 1, 15), 17, "2026-12", False),
    ],
)
def test_a_month_the_horizon_touches_at_all_is_accepted(start, horizon, month, inside):
    data = {**BASE, "start_date": start, "horizon_days": horizon}
    data["inflow"] = {"by_month": {month: 90}}
    if not inside:
        with pytest.raises(ScenarioError, match=f"inflow.by_month.{month}: outside"):
            scenario_from_dict(data)
        return
    model = compile_scenario(scenario_from_dict(data))
    days = [
        i for i in range(math.ceil(horizon)) if f"{start + dt.timedelta(days=i):%Y-%m}" == month
    ]
    assert days and np.allclose(model.arrival_rate_by_day[days], 90 / DAYS_PER_MONTH)


def _exports_with_months(tmp_path):
    """The sample exports' scenario (2024-01-01, 200 days: to 2024-07-18) with a February and
    a June given outright: both within its own horizon."""
    from crm_helpers import scenario_file  # tests/ is on sys.path

    path = scenario_file(tmp_path)
    months = '\n[inflow]\nby_month = { "2024-02" = 30, "2024-06" = 30 }\n'
    path.write_text(path.read_text(encoding="utf-8") + months, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("moved", "left"),
    [
        (["--until", "2024-05-31"], {"2024-02": 30.0}),  # June is past the new end
        (["--pipeline", "pipedrive", "--as-of", "2024-04-15"], {"2024-06": 30.0}),  # Feb before
    ],
)
def test_a_run_moved_off_a_given_month_runs_and_its_scenario_reads_again(tmp_path, moved, left):
    """--until and --pipeline --as-of move the horizon off a month the file gives: the run goes
    on (the month changed nothing there), and its results' scenario.toml, which explain and
    report read again, validates: the month is left out of it."""
    from crm_helpers import EXPORTS

    from sim.cli import main

    moved = [str(EXPORTS / "pipedrive_deals.csv") if a == "pipedrive" else a for a in moved]
    path, out = _exports_with_months(tmp_path), tmp_path / "out"
    argv = ["run", str(path), "-n", "2", "-j", "1", "--no-plots", "-q", "-o", str(out)]
    assert main([*argv, *moved]) == 0
    assert load_scenario(out / "scenario.toml").inflow.by_month == left


def test_weighted_on_a_pipeline_after_a_given_month(tmp_path, capsys):
    """weighted validates its day-0 scenario again after the move to the export's day."""
    from crm_helpers import EXPORTS

    from sim.cli import main

    pipeline = ["--pipeline", str(EXPORTS / "pipedrive_deals.csv"), "--as-of", "2024-04-15"]
    argv = ["weighted", str(_exports_with_months(tmp_path)), "-n", "2", "-j", "1", *pipeline]
    assert main(argv) == 0, capsys.readouterr().err


def test_a_wrong_horizon_does_not_make_every_month_outside_it():
    """With horizon_days itself wrong the checks across the file run on a stand-in horizon (a
    day): its months must not be blamed on by_month."""
    data = {**BASE, "horizon_days": -5, "inflow": {"by_month": {"2027-06": 5, "2027-13": 1}}}
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(data)
    text = str(err.value)
    assert "horizon_days: Input should be greater than 0" in text
    assert "inflow.by_month.2027-13: not a calendar month" in text
    assert "outside the scenario's horizon" not in text


def test_each_replication_draws_its_own_parameters_with_the_right_spread():
    model = compile_scenario(_scenario(uncertainty=UNCERTAIN))
    n = 400
    won, rate, scale = [], [], []
    for r in range(n):
        m = replication_model(model, 7, r)
        won.append(m.exit_cumulative[0][model.won])  # cumulative up to won = P(won)
        rate.append(m.arrival_rate_by_day[0] * DAYS_PER_MONTH)  # the first month's level
        scale.append(m.durations[0].factor)
    won, rate, scale = map(np.array, (won, rate, scale))
    # Dirichlet(50 x p): mean p, variance p(1-p)/51
    se = math.sqrt(0.4 * 0.6 / 51)
    assert abs(won.mean() - 0.4) < Z * se / math.sqrt(n)
    assert abs(won.std() - se) < Z * se / math.sqrt(2 * n)
    assert abs(won.std() - 2 * se) > Z * se / math.sqrt(2 * n)  # a wrong spread fails
    # gamma(mean 20, cv 0.3) level
    assert abs(rate.mean() - 20) < Z * 6 / math.sqrt(n)
    assert abs(rate.std() / rate.mean() - 0.3) < 0.05
    # lognormal(median 1, p90 1.3) scale
    assert abs(np.median(scale) - 1) < 0.05
    assert abs(np.quantile(scale, 0.9) - 1.3) < 0.08
    # the same replication and seed: the same draws; another replication: others
    a, b = replication_model(model, 7, 3), replication_model(model, 7, 3)
    assert a.durations[0].factor == b.durations[0].factor
    assert replication_model(model, 7, 4).durations[0].factor != a.durations[0].factor


def test_common_random_numbers_follow_parameter_names():
    """Another parameter added to the section does not move the draws of the others."""
    one = compile_scenario(_scenario(uncertainty={"stages": {"a": {"exits_weight": 50}}}))
    more = {
        "stages": {"a": {"exits_weight": 50}},
        "amount_scale": UNCERTAIN["stages"]["a"]["duration_scale"],
    }
    two = compile_scenario(_scenario(uncertainty=more))
    for r in range(5):
        assert np.array_equal(
            replication_model(one, 1, r).exit_cumulative,
            replication_model(two, 1, r).exit_cumulative,
        )


def test_uncertainty_widens_the_forecast_and_is_the_same_on_any_jobs():
    s = _scenario(uncertainty=UNCERTAIN)
    on = simulate(s, replications=60, jobs=1, write=False)
    two = simulate(s, replications=60, jobs=2, write=False)
    off = simulate(s, replications=60, jobs=1, write=False, parameter_uncertainty=False)
    assert on.summary == two.summary
    assert on.summary["parameter_uncertainty"]["used"] is True
    assert off.summary["parameter_uncertainty"] == {"used": False, "drawn": []}
    spread_on = np.std(on.per_replication["won_share"])
    spread_off = np.std(off.per_replication["won_share"])
    assert spread_on > 2 * spread_off
    totals = on.summary["totals"]["won_count"]
    assert totals["p10"] <= totals["p50"] <= totals["p90"]


def test_walk_keeps_the_median_rate():
    s = _scenario(
        deals={**BASE["deals"], "arrivals_per_month": 20}, uncertainty={"arrivals_walk_sd": 0.3}
    )
    model = compile_scenario(s)
    paths = np.array([replication_model(model, 3, r).arrival_rate_by_day for r in range(600)])
    end = paths[:, -1] * DAYS_PER_MONTH  # eleven steps from the first month
    assert paths[:, 0].std() < 1e-12  # the first month at the level
    assert abs(np.log(end).std() - 0.3 * math.sqrt(11)) < 0.1
    level = model.arrivals_per_day * DAYS_PER_MONTH
    assert abs(np.median(end) / level - 1) < 0.12  # as likely above the level as below
    # a walk that kept the mean instead would put the median at exp(-11 x 0.09 / 2) = 0.61
    assert abs(np.median(end) / level - math.exp(-11 * 0.09 / 2)) > 0.12


# --- inflow that changes ---------------------------------------------------------------------


def test_rate_by_calendar_month_and_trend():
    s = _scenario(
        deals={**BASE["deals"], "initial": {}, "arrivals_per_month": 30},
        inflow={"by_month": {"2027-03": 120}, "trend_per_year": math.log(2)},
    )
    model = compile_scenario(s)
    result = simulate(s, replications=80, jobs=1, write=False)
    created = [p["period"] for p in result.summary["periods"]]
    assert created[2] == "2027-03"
    by_day = model.arrival_rate_by_day
    march = [i for i in range(len(by_day)) if (s.start_date + dt.timedelta(days=i)).month == 3]
    assert np.allclose(by_day[march], 120 / DAYS_PER_MONTH)
    # the trend doubles the rate in a year: December is about 30 x 2^(11.5/12)
    assert by_day[349] * DAYS_PER_MONTH == pytest.approx(30 * 2 ** (349 / 365.25))
    expected = float(by_day[: int(s.horizon_days)].sum())
    deals = result.per_replication["n_deals"]
    assert abs(deals.mean() - expected) < Z * math.sqrt(expected / len(deals))
    assert abs(deals.mean() - 30 * 12) > Z * math.sqrt(expected / len(deals))  # not flat


# --- empirical durations ---------------------------------------------------------------------

EMPIRICAL = {"dist": "empirical", "days": [0, 10, 20, 30], "survival": [1, 0.5, 0.5, 0.2]}


def test_empirical_is_the_curve_it_was_given():
    d = parse_duration({**EMPIRICAL, "tail_mean": 100})
    assert float(d.cdf(10)) == pytest.approx(0.5)
    assert float(d.cdf(25)) == pytest.approx(0.65)
    assert 1 - float(d.cdf(130)) == pytest.approx(0.2 * math.exp(-1))
    u = np.linspace(0, 0.999, 50)
    assert np.allclose(d.cdf(d.ppf(u)), u, atol=1e-12)
    sample = d.sample(np.random.default_rng(1), 200_000)
    assert abs(sample.mean() - d.mean()) < Z * sample.std() / math.sqrt(len(sample))
    assert not np.any((sample > 10) & (sample < 20))  # the flat stretch: nobody leaves there
    # an aged visit keeps the curve: 25 days old, the rest is what the curve says after 25
    left = remaining_duration(d, np.random.default_rng(2).random(100_000), np.full(100_000, 25.0))
    s25 = 1 - float(d.cdf(25))
    assert np.mean(left > 5) == pytest.approx((1 - float(d.cdf(30))) / s25, abs=0.01)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"days": [0, 10], "survival": [1, 0.5, 0.2]}, "same length"),
        ({"days": [0, 10, 10], "survival": [1, 0.5, 0.2]}, "increase strictly"),
        ({"days": [0, 10, 20], "survival": [1, 0.5, 0.6]}, "must not increase"),
        ({"days": [0, 10], "survival": [1, 0.3]}, "tail_mean"),
    ],
)
def test_empirical_mistakes_name_the_field(bad, message):
    data = {**BASE, "stages": [{**BASE["stages"][0], "duration": {"dist": "empirical", **bad}}]}
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(data)
    assert "stages.a.duration" in str(err.value) and message in str(err.value)


# --- the run command -------------------------------------------------------------------------


def test_run_until_and_no_stall_table_without_mechanisms(tmp_path):
    path = tmp_path / "plain.toml"
    from sim.scenario import toml_dumps

    path.write_text(toml_dumps(BASE), encoding="utf-8")
    out = tmp_path / "r"
    result = CliRunner().invoke(
        cli,
        ["run", str(path), "-n", "2", "-j", "1", "--no-plots", "-o", str(out), "--until",
         "2027-03-31"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "horizon 90 days" in result.output
    assert "Why deals stall" not in result.output
    assert "Deals won within the horizon" in result.output
    assert stall_table_wanted(load_scenario("equipment"))


def test_walk_keeps_the_median_and_its_mean_grows_as_a_lognormal_does():
    """The walk's factor after k months: median 1, P10-P90 exp(-+1.2816 sd sqrt k), mean
    exp(sd^2 k / 2) - the closed forms the fit report quotes (a mean-keeping walk would put its
    median at exp(-sd^2 k / 2) instead, and fail the median check)."""
    from scipy import special

    from sim.uncertainty import walk_mean_factor, walk_range

    sd, k, n = 0.3, 12, 40_000
    rng = np.random.default_rng(5)
    steps = sd * special.ndtri(rng.random((n, k)))  # what the engine draws, from uniforms
    factor = np.exp(steps.sum(axis=1))
    low, high = walk_range(sd, k)
    spread = sd * math.sqrt(k)  # the log factor is normal(0, spread)
    from scipy import stats

    def quantile_se(p: float) -> float:  # of a sample quantile of log(factor), n draws
        return spread * math.sqrt(p * (1 - p) / n) / stats.norm.pdf(stats.norm.ppf(p))

    for p, expected in ((0.1, low), (0.5, 1.0), (0.9, high)):
        got = math.log(np.quantile(factor, p))
        assert abs(got - math.log(expected)) < Z * quantile_se(p), (p, got, expected)
    mean, se = factor.mean(), factor.std(ddof=1) / math.sqrt(n)
    assert abs(mean - walk_mean_factor(sd, k)) < Z * se
    assert abs(mean - 1.0) > 10 * se  # a wrong "the mean stays at 1" would fail


def test_fit_warns_of_a_wide_wander_and_names_its_cause():
    # Six steady months of 500, then a fall to 150: the walk's variance is that one change.
    from sim.inflow_fit import fit_inflow, wander_note

    rng = np.random.default_rng(4)
    start, arrivals = dt.datetime(2024, 1, 1), []
    for month, count in enumerate([500] * 6 + [150]):
        first = start + dt.timedelta(days=month * DAYS_PER_MONTH)
        arrivals += [first + dt.timedelta(days=d) for d in rng.uniform(0, DAYS_PER_MONTH, count)]
    fit = fit_inflow(arrivals, start, start + dt.timedelta(days=7 * DAYS_PER_MONTH))
    assert fit.walk_sd > 0.2
    note = wander_note(fit, 12)
    assert note is not None and f"wanders {fit.walk_sd:.3f} a month" in note
    assert "read the P50, not the mean" in note
    assert "from 2024-06 to 2024-07" in note
    steady = fit_inflow(arrivals[:3000], start, start + dt.timedelta(days=6 * DAYS_PER_MONTH))
    assert wander_note(steady, 12) is None


def test_a_scaled_duration_maps_shared_uniforms_as_its_own_ppf():
    from sim.distributions import Lognormal, SharedUniforms
    from sim.uncertainty import Scaled

    scaled = Scaled(Lognormal(median=40, p90=100), 1.3)
    u = np.random.default_rng(4).random((20, 8))
    assert np.array_equal(scaled.ppf_shared(SharedUniforms(u)), scaled.ppf(u))
