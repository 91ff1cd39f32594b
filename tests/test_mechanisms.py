"""The four stall mechanisms against their definitions.

Statistical checks use a tolerance of Z standard errors around the exact value and, next to each,
a check that a plausible wrong value lies outside that tolerance (so the test could fail). Fixed
stage durations keep the deterministic checks exact. Each scenario is sized to run in well under a
second: many deals in one replication for per-deal probabilities, many tiny replications for
per-replication quantities.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sim.api import simulate
from sim.engine import simulate_replication
from sim.model import (
    BUDGET_REWORK,
    BUDGET_WAIT,
    CAUSES,
    DORMANT_CAUSE,
    GROUP_REWORK,
    SHOCK_REWORK,
    TIMING_WAIT,
    compile_scenario,
)
from sim.scenario import scenario_from_dict

Z = 4.0
YEAR = 365.25


def fixed(days: float) -> dict:
    return {"dist": "fixed", "value": days}


def scenario(stages: list[tuple[str, float, dict]], initial: dict, horizon: float, **extra) -> dict:
    """A scenario dict with fixed-duration stages given as (name, days, exits)."""
    return {
        "name": "mechanism",
        "start_date": "2027-01-01",
        "horizon_days": horizon,
        "deals": {
            "initial": initial,
            "arrivals_per_month": extra.pop("arrivals_per_month", 0),
            "amount": fixed(1),
        },
        "stages": [
            {"name": name, "duration": fixed(days), "exits": exits} for name, days, exits in stages
        ],
        **extra,
    }


def run(data: dict, seed: int = 1, replication: int = 0, events: bool = False):
    model = compile_scenario(scenario_from_dict(data))
    return model, simulate_replication(model, seed, replication, record_events=events)


def assert_close(observed: float, expected: float, se: float, wrong: float) -> None:
    """observed within Z*se of expected, and a wrong expectation outside that band."""
    assert abs(observed - expected) <= Z * se, (observed, expected, se)
    assert abs(observed - wrong) > Z * se, (observed, wrong, se)


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


# --- decision group: Poisson replacements ----------------------------------------------------

L, TAU, N_DEALS = 60.0, 120.0, 20000


def role_scenario(probability: float, n: int = N_DEALS, to: str = "lost", **deals) -> dict:
    return scenario(
        [("work", L, {"won": 1.0})],
        deals.pop("initial", {"work": n}),
        deals.pop("horizon", L + 10),
        decision_group=[
            {
                "role": "cfo",
                "tenure_mean_days": TAU,
                "stages": ["work"],
                "on_change": {"to": to, "probability": probability},
            }
        ],
        **deals,
    )


def test_a_replacement_during_a_fixed_stage_moves_the_deal_with_poisson_probability():
    model, rec = run(role_scenario(1.0))
    lost = rec.state == model.code("lost")
    expected = 1 - math.exp(-L / TAU)
    # Wrong: the first-order rate L/tau, as if at most one replacement could matter.
    assert_close(lost.mean(), expected, binomial_se(expected, N_DEALS), wrong=L / TAU)
    # Moved deals close at a replacement, strictly inside the stage; the others at its end.
    assert np.all((rec.closed[lost] > 0) & (rec.closed[lost] < L))
    assert np.all(rec.closed[~lost] == L)
    assert np.all(rec.ended_by[lost] == GROUP_REWORK)
    assert np.all(rec.touched[lost] & (1 << GROUP_REWORK))


def test_replacements_that_do_not_move_the_deal_thin_the_process():
    p = 0.4
    model, rec = run(role_scenario(p))
    lost = rec.state == model.code("lost")
    expected = 1 - math.exp(-p * L / TAU)
    # Wrong: only the first replacement is decisive (a deal that shrugs it off is safe after).
    wrong = p * (1 - math.exp(-L / TAU))
    assert_close(lost.mean(), expected, binomial_se(expected, N_DEALS), wrong)
    # A replacement that does not move the deal leaves it the time it had left: it ends on day L.
    assert np.all(rec.closed[~lost] == L)
    assert np.all(rec.state[~lost] == model.won)


def test_arrivals_have_their_own_persons_replaced_from_their_creation():
    data = role_scenario(1.0, initial={}, horizon=300, arrivals_per_month=2500)
    model, rec = run(data)
    early = rec.created < 300 - L - 1  # their stage ended within the horizon
    n = int(early.sum())
    assert n > 10000
    lost = (rec.state == model.code("lost"))[early]
    expected = 1 - math.exp(-L / TAU)
    # Wrong: replacements counted from day 0 rather than from the deal's creation.
    wrong = float(np.mean(1 - np.exp(-(rec.created[early] + L) / TAU)))
    assert_close(lost.mean(), expected, binomial_se(expected, n), wrong)


def test_a_role_matters_only_in_its_stages():
    data = scenario(
        [("first", L, {"second": 1.0}), ("second", L, {"won": 1.0})],
        {"first": 10000},
        2 * L + 10,
        decision_group=[
            {
                "role": "tech",
                "tenure_mean_days": TAU,
                "stages": ["second"],
                "on_change": {"to": "lost", "probability": 1.0},
            }
        ],
    )
    model, rec = run(data)
    lost = rec.state == model.code("lost")
    expected = 1 - math.exp(-L / TAU)
    # Wrong: exposed in both stages.
    assert_close(lost.mean(), expected, binomial_se(expected, 10000), 1 - math.exp(-2 * L / TAU))
    assert np.all((rec.closed[lost] > L) & (rec.closed[lost] < 2 * L))


def test_a_replacement_sending_back_to_the_stage_restarts_its_work():
    """on_change.to the same stage: the deal starts its work again from the replacement."""
    model, rec = run(role_scenario(1.0, n=2000, to="work", horizon=2000), events=True)
    won = rec.state == model.won
    assert won.all()
    last_restart = {}
    for deal, day, event, _, _, cause in rec.events:
        if event == "move" and cause == "group_change:cfo":
            last_restart[deal] = day
    assert len(last_restart) > 500
    for deal, day in last_restart.items():
        assert rec.closed[deal] == pytest.approx(day + L, abs=1e-9)
        assert rec.stall[deal, GROUP_REWORK] > 0


# --- shocks ----------------------------------------------------------------------------------


def shock_scenario(n: int, shocks: dict | None, horizon: float = 250) -> dict:
    extra = {"shocks": shocks} if shocks else {}
    return scenario([("late", 200, {"won": 0.6, "lost": 0.4})], {"late": n}, horizon, **extra)


def per_replication_won_share(data: dict, replications: int) -> np.ndarray:
    result = simulate(
        scenario_from_dict(data), replications=replications, seed=3, jobs=1, write=False
    )
    return np.asarray(result.per_replication["won_share"], dtype=float)


def test_shocks_correlate_deals_so_won_shares_vary_far_more_than_binomial():
    n, reps = 200, 60
    shocks = {
        "rate_per_year": 2.0,
        "severity": fixed(1.0),
        "from_stage": "late",
        "reset_probability": 0.5,
        "to": "lost",
    }
    low = stats.chi2.ppf(1e-4, reps - 1) / (reps - 1)
    high = stats.chi2.ppf(1 - 1e-4, reps - 1) / (reps - 1)

    # Without shocks, deals are independent: the sample variance is binomial (chi-square bounds).
    calm = per_replication_won_share(shock_scenario(n, None), reps)
    ratio_calm = calm.var(ddof=1) / (0.6 * 0.4 / n)
    assert low < ratio_calm < high, ratio_calm

    # With shocks, each hits all deals at once: won share ~ 0.6 * 0.5^N, N ~ Poisson(1.1),
    # variance ~30x binomial. The binomial oracle must fail, by a wide margin.
    shocked = per_replication_won_share(shock_scenario(n, shocks), reps)
    p = shocked.mean()
    ratio = shocked.var(ddof=1) / (p * (1 - p) / n)
    assert ratio > max(5.0, high), ratio


def test_shock_count_per_replication_is_poisson_with_rate_times_horizon():
    reps, rate, horizon = 300, 20.0, 2 * YEAR
    data = shock_scenario(
        1,
        {
            "rate_per_year": rate,
            "severity": {"dist": "uniform", "low": 0.2, "high": 0.7},
            "from_stage": "late",
            "reset_probability": 0.5,
            "to": "lost",
        },
        horizon=horizon,
    )
    model = compile_scenario(scenario_from_dict(data))
    counts = []
    for r in range(reps):
        rec = simulate_replication(model, 11, r)
        assert np.all(np.diff(rec.shock_days) > 0)
        assert np.all((rec.shock_days >= 0) & (rec.shock_days < horizon))
        assert np.all((rec.shock_severity >= 0.2) & (rec.shock_severity <= 0.7))
        counts.append(len(rec.shock_days))
    counts = np.asarray(counts, dtype=float)
    lam = rate * horizon / YEAR  # 40
    # Wrong: a 10% error in the rate (e.g. rate per 330 days instead of 365.25).
    assert_close(counts.mean(), lam, math.sqrt(lam / reps), wrong=1.1 * lam)
    # Poisson dispersion: s^2 / lambda ~ chi-square(R-1).
    dispersion = (reps - 1) * counts.var(ddof=1) / lam
    assert stats.chi2.ppf(1e-4, reps - 1) < dispersion < stats.chi2.ppf(1 - 1e-4, reps - 1)
    # The summary reports the same mean.
    result = simulate(scenario_from_dict(data), replications=reps, seed=11, jobs=1, write=False)
    assert result.summary["shocks_per_replication"] == pytest.approx(counts.mean())


def three_stage_shock(to: str, reset: float = 1.0, severity: dict | None = None, n: int = 30):
    return scenario(
        [("a", 1000, {"b": 1.0}), ("b", 1000, {"c": 1.0}), ("c", 1000, {"won": 1.0})],
        {"a": n, "b": n, "c": n},
        365,
        shocks={
            "rate_per_year": 3.0,
            "severity": severity or fixed(1.0),
            "from_stage": "b",
            "reset_probability": reset,
            "to": to,
        },
    )


def test_a_shock_hits_every_exposed_deal_at_the_same_instant():
    model, rec = run(three_stage_shock("lost"), events=True)
    first = rec.shock_days[0]
    assert first < 365
    a, b, c = (rec.first_state == s for s in range(3))
    # Every deal in from_stage or later is reset at the first shock; earlier ones are not exposed.
    assert np.all(rec.closed[b | c] == first)
    assert np.all(rec.state[b | c] == model.code("lost"))
    assert np.all(rec.ended_by[b | c] == SHOCK_REWORK)
    assert np.all(rec.state[a] == 0) and np.all(np.isnan(rec.closed[a]))
    shock_lines = [e for e in rec.events if e[0] == -1]
    assert [e[1] for e in shock_lines] == rec.shock_days.tolist()
    assert all(e[2] == "shock" for e in shock_lines)


def test_a_shock_sending_back_to_an_earlier_stage():
    model, rec = run(three_stage_shock("a"), events=True)
    first = rec.shock_days[0]
    moves = [e for e in rec.events if e[2] == "move" and e[5] == "shock"]
    assert sorted({e[1] for e in moves}) == [first]  # back in a, deals are no longer exposed
    assert sorted(e[0] for e in moves) == list(range(30, 90))
    assert np.all(rec.state == 0)
    assert np.all(rec.touched[30:] == 1 << SHOCK_REWORK)
    assert np.all(rec.touched[:30] == 0)


def test_each_exposed_deal_resets_with_probability_reset_times_severity():
    n, reset = 5000, 0.8
    data = three_stage_shock(
        "lost", reset=reset, severity={"dist": "uniform", "low": 0.1, "high": 0.9}, n=0
    )
    data["deals"]["initial"] = {"c": n}
    data["shocks"]["rate_per_year"] = 8.0
    model, rec = run(data, seed=4)
    assert len(rec.shock_days) >= 3
    hits = expected = variance = wrong = 0.0
    alive = n
    for day, severity in zip(rec.shock_days, rec.shock_severity, strict=True):
        hit = int(np.sum(rec.closed == day))
        q = reset * severity
        hits += hit
        expected += alive * q
        variance += alive * q * (1 - q)
        wrong += alive * reset  # ignoring the severity
        alive -= hit
    assert abs(hits - expected) <= Z * math.sqrt(variance), (hits, expected)
    assert abs(hits - wrong) > Z * math.sqrt(variance)
    assert int(np.sum(rec.state == model.code("lost"))) == hits


def shock_to_itself() -> dict:
    """Deals reach s0 at random days in [1, 50]; every shock sends every s0 deal back to s0."""
    data = scenario(
        [("a", 25, {"s0": 1.0}), ("s0", 5000, {"won": 1.0})],
        {"a": 300},
        730,
        shocks={
            "rate_per_year": 1.0,
            "severity": fixed(1.0),
            "from_stage": "s0",
            "reset_probability": 1.0,
            "to": "s0",
        },
    )
    data["stages"][0]["duration"] = {"dist": "uniform", "low": 1, "high": 50}
    return data


def test_a_shock_to_the_exposed_stage_resets_each_deal_once():
    """Without events (the bulk planner): one s0 -> s0 move per deal and shock."""
    for seed in range(4):
        model, rec = run(shock_to_itself(), seed=seed)
        assert len(rec.shock_days) > 0
        assert rec.flows[1, 1] == 300 * len(rec.shock_days), seed
        assert np.all(rec.state == 1)


def test_with_events_a_shock_to_the_exposed_stage_resets_each_deal_once():
    for seed in range(4):
        model, rec = run(shock_to_itself(), seed=seed, events=True)
        moves = [e for e in rec.events if e[2] == "move" and e[5] == "shock"]
        assert len(moves) == 300 * len(rec.shock_days), seed
        assert rec.flows[1, 1] == 300 * len(rec.shock_days), seed


def inflow_scenario(drop: float, severity: dict, recovery: float = 30.0) -> dict:
    return scenario(
        [("work", 1000, {"won": 1.0})],
        {},
        730,
        arrivals_per_month=60,
        shocks={
            "rate_per_year": 6.0,
            "severity": severity,
            "from_stage": "work",
            "reset_probability": 0.0,
            "to": "lost",
            "inflow_drop": drop,
            "recovery_days": recovery,
        },
    )


def covered(days: np.ndarray, shocks: np.ndarray, recovery: float) -> np.ndarray:
    inside = np.zeros(len(days), dtype=bool)
    for s in shocks:
        inside |= (days >= s) & (days < s + recovery)
    return inside


def test_a_full_inflow_drop_stops_arrivals_during_recovery():
    rate = 60 / (YEAR / 12)
    outside_days = arrivals_outside = 0.0
    for r in range(6):
        model, rec = run(inflow_scenario(1.0, fixed(1.0)), seed=5, replication=r)
        assert len(rec.shock_days) > 0
        assert not covered(rec.created, rec.shock_days, 30.0).any()
        grid = np.arange(0, 730, 0.01) + 0.005
        outside_days += 730 * (1 - covered(grid, rec.shock_days, 30.0).mean())
        arrivals_outside += len(rec.created)
    # Outside the windows the inflow is untouched (Poisson count, SE sqrt(mean)).
    expected = rate * outside_days
    assert_close(arrivals_outside, expected, math.sqrt(expected), wrong=rate * 6 * 730)


def test_a_partial_inflow_drop_scales_with_severity_and_overlaps_multiply():
    rate, recovery, drop = 60 / (YEAR / 12), 90.0, 0.6
    severity = {"dist": "uniform", "low": 0.3, "high": 1.0}
    grid = np.arange(0, 730, 0.01) + 0.005
    observed = expected = wrong = 0.0
    for r in range(8):
        _, rec = run(inflow_scenario(drop, severity, recovery), seed=6, replication=r)
        factor = np.ones(len(grid))
        additive = np.zeros(len(grid))
        for day, sev in zip(rec.shock_days, rec.shock_severity, strict=True):
            inside = (grid >= day) & (grid < day + recovery)
            factor[inside] *= 1 - drop * sev
            additive[inside] += drop
        observed += len(rec.created)
        expected += rate * 0.01 * factor.sum()
        wrong += rate * 0.01 * np.clip(1 - additive, 0, 1).sum()  # cut not scaled by severity
    assert_close(observed, expected, math.sqrt(expected), wrong)


# --- timing ----------------------------------------------------------------------------------


def timing_scenario(
    drift: float, max_wait: float, volatility: float = 0.0, below: float = 0.97, **kw
) -> dict:
    return scenario(
        [
            ("prep", kw.pop("prep", 30.5), {"concerns": 1.0}),
            ("concerns", kw.pop("work", 20.25), {"won": 1.0}),
        ],
        kw.pop("initial", {"prep": 2, "concerns": 2}),
        kw.pop("horizon", 800),
        timing={
            "stage": "concerns",
            "indicator": {"volatility": volatility, "drift": drift},
            "buy_when_below": below,
            "max_wait_days": max_wait,
        },
    )


def deterministic_wait(t0: float, drift: float, below: float, max_wait: float) -> float:
    """First whole day j > floor(t0) with exp(drift (j - floor t0) / 365.25) <= below, capped."""
    day = math.floor(t0)
    for j in range(day + 1, day + int(max_wait) + 2):
        if math.exp(drift * (j - day) / YEAR) <= below:
            return min(j - t0, max_wait)
    return max_wait


@pytest.mark.parametrize(("prep", "work"), [(30.5, 20.25), (10.0, 7.0), (3.9, 100.75)])
def test_deterministic_indicator_wait_is_exact(prep, work):
    drift = -0.1
    model, rec = run(timing_scenario(drift, 1000, prep=prep, work=work), events=True)
    for deal in range(4):
        t0 = work if rec.first_state[deal] == 1 else prep + work
        wait = deterministic_wait(t0, drift, 0.97, 1000)
        assert rec.stall[deal, TIMING_WAIT] == pytest.approx(wait, abs=1e-9)
        assert rec.closed[deal] == pytest.approx(t0 + wait, abs=1e-9)
        assert rec.closed[deal] == math.floor(rec.closed[deal])  # the wait ends at a day start
        mine = [e for e in rec.events if e[0] == deal and e[2] == "timing_wait"]
        assert len(mine) == 1 and mine[0][1] == pytest.approx(t0)
        # Wrong: continuous time, ln(0.97) * 365.25 / drift days without whole-day steps.
        continuous = math.log(0.97) * YEAR / drift
        assert abs(rec.stall[deal, TIMING_WAIT] - continuous) > 1e-3
    assert rec.stall[:, [c for c in range(len(CAUSES)) if c != TIMING_WAIT]].sum() == 0


def test_max_wait_caps_the_timing_wait():
    # Rising indicator: never below 0.97 of the start: always the maximum wait.
    model, rec = run(timing_scenario(0.1, 45.5))
    np.testing.assert_allclose(rec.stall[:, TIMING_WAIT], 45.5, atol=1e-9)
    np.testing.assert_allclose(rec.closed[rec.first_state == 1], 20.25 + 45.5, atol=1e-9)
    # Falling indicator, t0 = 20.9: the level is reached on day 20 + 112 = 132.
    for max_wait, wait in [(111.2, 111.1), (111.0, 111.0), (112.0, 111.1)]:
        _, rec = run(timing_scenario(-0.1, max_wait, work=20.9, initial={"concerns": 1}))
        assert rec.stall[0, TIMING_WAIT] == pytest.approx(wait, abs=1e-9), max_wait


def test_random_indicator_is_shared_and_waits_end_at_day_starts_or_the_cap():
    data = timing_scenario(0.0, 120.0, volatility=0.3, below=0.8, initial={"concerns": 2000})
    data["stages"][1]["duration"] = {"dist": "uniform", "low": 10, "high": 300}
    model, rec = run(data, seed=9)
    t0 = rec.closed - rec.stall[:, TIMING_WAIT]
    capped = np.isclose(rec.stall[:, TIMING_WAIT], 120.0)
    assert 0 < capped.sum() < len(capped)
    ends = rec.closed[~capped]
    assert np.all(ends == np.floor(ends))
    # Deals ready on the same day see the same indicator: one end day per start day.
    starts = np.floor(t0[~capped])
    for day in np.unique(starts):
        assert len(np.unique(ends[starts == day])) == 1, day
    assert len(np.unique(ends)) > 1


# --- budget ----------------------------------------------------------------------------------


def budget_scenario(funded: float, recheck: float, n: int, horizon: float) -> dict:
    return scenario(
        [("concerns", 10, {"decision": 1.0}), ("decision", 10, {"won": 1.0})],
        {"concerns": n},
        horizon,
        budget={
            "gate": "decision",
            "funded_share": funded,
            "recheck": {"to": "concerns", "probability": recheck},
        },
    )


def test_unfunded_share_of_gate_entries_waits_for_the_release():
    n, f = 5000, 0.3
    model, rec = run(budget_scenario(f, 0.0, n, 400))
    waited = (rec.touched & (1 << BUDGET_WAIT)) != 0
    # Wrong: the funded share itself waiting.
    assert_close(waited.mean(), 1 - f, binomial_se(1 - f, n), wrong=f)
    assert np.all(rec.closed[~waited] == 20)  # funded: straight through the gate
    assert np.all(rec.closed[waited] == 365 + 10)  # unfunded: from the release on 2028-01-01
    np.testing.assert_allclose(rec.stall[waited, BUDGET_WAIT], 365 - 10)


def test_recheck_sends_back_a_fresh_share_of_waiting_deals_at_every_release():
    n, r = 5000, 0.4
    model, rec = run(budget_scenario(0.0, r, n, 800), events=True)
    gate, concerns = model.code("decision"), model.code("concerns")
    for release in (365.0, 731.0):
        released = {e[0] for e in rec.events if e[2] == "budget_released" and e[1] == release}
        back = [e for e in rec.events if e[5] == "budget_recheck" and e[1] == release]
        assert all(e[2] == "move" and (e[3], e[4]) == (gate, concerns) for e in back)
        assert {e[0] for e in back} <= released
        share = len(back) / len(released)
        # Wrong: the complement (the probability of going on into the gate).
        assert_close(share, r, binomial_se(r, len(released)), wrong=1 - r)
        if release == 731.0:
            # Everyone released now was sent back in 365: a reused draw would send all back.
            assert len(released) == pytest.approx(r * n, abs=Z * binomial_se(r, n) * n)
    # Rework: the 10 days in concerns until back at the gate, once per send-back.
    sends = np.bincount(
        [e[0] for e in rec.events if e[5] == "budget_recheck" and e[2] == "move"], minlength=n
    )
    assert set(sends.tolist()) == {0, 1, 2}
    np.testing.assert_allclose(rec.stall[:, BUDGET_REWORK], 10.0 * sends)
    np.testing.assert_array_equal((rec.touched & (1 << BUDGET_REWORK)) != 0, sends > 0)


def test_every_gate_entry_draws_funding_again():
    """Unfunded, waited, sent back by the recheck: its second entry is funded with f again."""
    n, f = 6000, 0.5
    model, rec = run(budget_scenario(f, 1.0, n, 400))
    second = rec.touched & (1 << BUDGET_WAIT) != 0  # all of these came back at 375
    m = int(second.sum())
    funded_again = float(np.mean(rec.closed[second] == 385))
    assert np.all(np.isnan(rec.closed[second]) | (rec.closed[second] == 385))
    # Wrong: the first draw reused (never funded on the second entry).
    assert_close(funded_again, f, binomial_se(f, m), wrong=0.0)


def test_a_deal_waiting_for_budget_stands_at_the_gate_exposed_to_shocks():
    data = scenario(
        [("prep", 100, {"decision": 1.0}), ("decision", 10, {"won": 1.0})],
        {"prep": 20},
        364,
        budget={"gate": "decision", "funded_share": 0.0},
        shocks={
            "rate_per_year": 4.0,
            "severity": fixed(1.0),
            "from_stage": "decision",
            "reset_probability": 1.0,
            "to": "lost",
        },
    )
    for replication in range(20):
        model, rec = run(data, seed=2, replication=replication)
        during = rec.shock_days[rec.shock_days > 100]
        if len(during):
            assert np.all(rec.closed == during[0])
            np.testing.assert_allclose(rec.stall[:, BUDGET_WAIT], during[0] - 100)
            assert np.all(rec.ended_by == SHOCK_REWORK)
            break
    else:  # pragma: no cover - P(no shock in 264 days, 20 times) ~ 1e-25
        pytest.fail("no shock during the budget wait in 20 replications")


def test_a_budget_wait_running_at_the_horizon_is_in_the_event_log():
    data = scenario(
        [("prep", 100, {"decision": 1.0}), ("decision", 10, {"won": 1.0})],
        {"prep": 3},
        300,  # the release (day 365) is after the horizon
        budget={"gate": "decision", "funded_share": 0.0},
    )
    model, rec = run(data, events=True)
    assert np.all(rec.stall[:, BUDGET_WAIT] == 200)  # the wait is counted...
    waits = [e for e in rec.events if e[2] == "budget_wait"]
    assert [(e[0], e[1]) for e in waits] == [(0, 100.0), (1, 100.0), (2, 100.0)]  # ...not logged


def test_a_gate_replacement_does_not_bring_money():
    data = scenario(
        [("prep", 100, {"decision": 1.0}), ("decision", 10, {"won": 1.0})],
        {"prep": 200},
        500,
        budget={"gate": "decision", "funded_share": 0.0},
        decision_group=[
            {
                "role": "cfo",
                "tenure_mean_days": 200,
                "stages": ["decision"],
                "on_change": {"to": "decision", "probability": 1.0},
            }
        ],
    )
    model, rec = run(data)
    won = rec.state == model.won
    # No money before the release on day 365: nothing can finish the gate before 375.
    assert np.all(rec.closed[won] >= 375)


# --- stall attribution -----------------------------------------------------------------------


def all_mechanisms(initial: int = 150) -> dict:
    data = scenario(
        [
            ("need", 40, {"options": 0.7, "dormant": 0.2, "lost": 0.1}),
            ("options", 30, {"concerns": 0.7, "need": 0.2, "dormant": 0.1}),
            ("concerns", 20, {"decision": 0.8, "options": 0.1, "lost": 0.1}),
            ("decision", 15, {"won": 0.7, "lost": 0.2, "no_decision": 0.1}),
        ],
        {"need": initial, "options": initial, "concerns": initial, "decision": initial},
        730,
        arrivals_per_month=20,
        dormant={"reactivate_mean_days": 90, "give_up_after_days": 180},
        budget={
            "gate": "decision",
            "fiscal_year_start": "07-01",
            "funded_share": 0.4,
            "release_lag_days": 15,
            "recheck": {"to": "concerns", "probability": 0.3},
        },
        decision_group=[
            {
                "role": "tech",
                "tenure_mean_days": 200,
                "stages": ["need", "options"],
                "on_change": {"to": "need", "probability": 0.5},
            },
            {
                "role": "cfo",
                "tenure_mean_days": 300,
                "stages": ["concerns", "decision"],
                "on_change": {"to": "lost", "probability": 0.6},
            },
        ],
        shocks={
            "rate_per_year": 2.0,
            "severity": {"dist": "uniform", "low": 0.3, "high": 1.0},
            "from_stage": "concerns",
            "reset_probability": 0.7,
            "to": "options",
            "inflow_drop": 0.5,
            "recovery_days": 60,
        },
        timing={
            "stage": "concerns",
            "indicator": {"volatility": 0.25, "drift": 0.0},
            "buy_when_below": 0.97,
            "max_wait_days": 90,
        },
    )
    data["stages"][0]["duration"] = {"dist": "gamma", "mean": 40, "cv": 0.8}
    data["stages"][3]["duration"] = {"dist": "lognormal", "median": 15, "p90": 40}
    data["team"] = [  # our own people: too few for the options stage's work, so deals queue
        {
            "name": "presales",
            "headcount": 3,
            "work": [{"stage": "options", "effort_hours": {"dist": "exponential", "mean": 30}}],
        }
    ]
    return data


def test_stall_summary_has_time_for_every_cause_and_consistent_shares():
    result = simulate(
        scenario_from_dict(all_mechanisms()), replications=4, seed=2, jobs=1, write=False
    )
    summary = result.summary
    for cause in CAUSES:
        assert summary["stall_days"][cause]["mean"] > 0, cause
        counts = summary["stall_counts"][cause]
        assert 0 < counts["touched_share"] <= 1, cause
        assert 0 <= counts["ended_share"] <= counts["touched_share"], cause
    for cause in ("budget_wait", "timing_wait", "budget_rework"):  # these never end a deal
        assert summary["stall_counts"][cause]["ended_share"] == 0, cause
    for cause in ("dormant", "group_change_rework"):
        assert summary["stall_counts"][cause]["ended_share"] > 0, cause


def test_per_deal_stall_flags_agree_with_stall_days():
    model, rec = run(all_mechanisms(), seed=3)
    assert np.all(rec.stall >= 0)
    for c in (BUDGET_WAIT, TIMING_WAIT, DORMANT_CAUSE):  # a wait of any length touches the deal
        touched = (rec.touched & (1 << c)) != 0
        np.testing.assert_array_equal(touched, rec.stall[:, c] > 0, CAUSES[c])
    ended = rec.ended_by >= 0
    assert np.all(rec.state[ended] >= model.won)
    assert np.all(rec.touched[ended] & (1 << rec.ended_by[ended]))
    assert not np.isin(rec.ended_by, [BUDGET_WAIT, TIMING_WAIT, BUDGET_REWORK]).any()


def life_in_pipeline(rec, horizon: float) -> np.ndarray:
    return np.where(np.isnan(rec.closed), horizon, rec.closed) - rec.created


def test_per_deal_stall_never_exceeds_time_in_pipeline_all_mechanisms():
    for seed in (3, 4):
        model, rec = run(all_mechanisms(), seed=seed)
        excess = rec.stall.sum(axis=1) - life_in_pipeline(rec, model.horizon)
        assert excess.max() <= 1e-6, (seed, excess.max())


def test_repeated_interruptions_count_each_day_once():
    data = scenario(
        [("a", 1000, {"b": 1.0}), ("b", 1000, {"won": 1.0})],
        {"b": 200},
        300,
        decision_group=[
            {
                "role": "tech",
                "tenure_mean_days": 100,
                "stages": ["a", "b"],
                "on_change": {"to": "a", "probability": 1.0},
            }
        ],
    )
    model, rec = run(data)
    # Never back in b before the horizon: at most 300 days of rework each.
    assert rec.stall[:, GROUP_REWORK].max() <= 300 + 1e-9


def test_stall_never_exceeds_time_in_pipeline_without_nested_reworks():
    """The bound holds where no rework runs: every mechanism move goes to an outcome."""
    data = all_mechanisms()
    data["decision_group"] = data["decision_group"][1:]  # cfo: to lost
    data["shocks"]["to"] = "lost"
    data["budget"]["recheck"]["probability"] = 0.0
    for seed in (3, 4):
        model, rec = run(data, seed=seed)
        excess = rec.stall.sum(axis=1) - life_in_pipeline(rec, model.horizon)
        assert excess.max() <= 1e-6, (seed, excess.max())
        assert rec.stall[:, [BUDGET_WAIT, TIMING_WAIT, DORMANT_CAUSE]].sum(axis=0).min() > 0
