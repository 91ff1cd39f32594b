"""Day-0 deals from a CRM: they resume with the time already spent in their stage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.engine import simulate_replication
from sim.model import InitialPipeline, compile_scenario
from sim.scenario import scenario_from_dict


def one_stage(duration: dict, horizon: float = 5000) -> dict:
    return {
        "name": "one-stage",
        "start_date": "2027-01-01",
        "horizon_days": horizon,
        "deals": {"arrivals_per_month": 0, "amount": {"dist": "fixed", "value": 1}},
        "stages": [{"name": "work", "duration": duration, "exits": {"won": 1.0}}],
    }


def pipeline(n: int, age: float, created: float = -400.0, amount: float = 5.0) -> InitialPipeline:
    return InitialPipeline(
        states=np.zeros(n, dtype=np.int64),
        age_in_stage=np.full(n, age),
        created=np.full(n, created),
        amounts=np.full(n, amount),
    )


def test_a_fixed_stage_has_exactly_its_remaining_time_left():
    model = compile_scenario(scenario_from_dict(one_stage({"dist": "fixed", "value": 100})),
                             pipeline(50, age=30))  # fmt: skip
    rec = simulate_replication(model, 1, 0)
    np.testing.assert_allclose(rec.closed, 70.0)
    np.testing.assert_allclose(rec.closed - rec.created, 470.0)  # cycle counts from creation
    assert np.all(rec.amount == 5.0)  # the deal keeps its CRM amount


def test_an_exponential_stage_forgets_its_age():
    """Memoryless: the time left has the stage's mean whatever the age (SE-based tolerance)."""
    model = compile_scenario(
        scenario_from_dict(one_stage({"dist": "exponential", "mean": 40})), pipeline(20000, 90)
    )
    rec = simulate_replication(model, 2, 0)
    left = rec.closed
    se = 40 / math.sqrt(len(left))
    assert abs(left.mean() - 40) < 4 * se
    assert abs(left.mean() - (40 - 30)) > 4 * se  # treating age as progress would be caught


def test_a_lognormal_stage_resumes_from_its_conditional_distribution():
    dist = {"dist": "lognormal", "median": 60, "p90": 180}
    age = 60.0
    model = compile_scenario(scenario_from_dict(one_stage(dist)), pipeline(20000, age))
    rec = simulate_replication(model, 3, 0)
    total = rec.closed + age  # the stage's whole length for each deal
    # Closed form: the conditional median solves F(x) = F(a) + (1 - F(a)) / 2, F(a) = 1/2 here.
    sigma = math.log(3) / 1.2815515655446004
    expected = 60 * math.exp(sigma * 0.6744897501960817)  # the 75th percentile
    density = math.exp(-0.5 * 0.6744897501960817**2) / (expected * sigma * math.sqrt(2 * math.pi))
    se = math.sqrt(0.25 / len(total)) / (2 * density)  # quantile SE of the conditional median
    assert abs(np.median(total) - expected) < 4 * se
    assert abs(np.median(total) - 60) > 4 * se  # a fresh draw would sit at the median


@pytest.mark.parametrize(
    ("name", "stalled"), [("equipment", 0), ("recession", 0), ("equipment", 0.5)]
)
def test_aged_pipeline_gives_the_same_records_on_both_paths(name, stalled):
    from sim.scenario import load_scenario

    scenario = load_scenario(name).model_copy(update={"team": []})  # both engines run it
    if stalled:  # a share of each stage's exit to dormant stalls: old deals likelier stalled
        stages = [
            stage.model_copy(update={"stalled_share": stalled * stage.exits.get("dormant", 0.0)})
            for stage in scenario.stages
        ]
        assert any(stage.stalled_share for stage in stages)
        scenario = scenario.model_copy(update={"stages": stages})
    n = 300
    rng = np.random.default_rng(0)
    aged = InitialPipeline(
        states=rng.integers(0, len(scenario.stages), n),
        age_in_stage=rng.uniform(0, 200, n),
        created=-rng.uniform(200, 600, n),
        amounts=rng.uniform(1e5, 5e5, n),
    )
    model = compile_scenario(scenario, aged)
    for replication in range(2):
        planned = simulate_replication(model, 4, replication, engine="vectorized")
        general = simulate_replication(model, 4, replication, engine="simpy")
        np.testing.assert_array_equal(planned.state, general.state)
        np.testing.assert_allclose(planned.closed, general.closed, rtol=1e-12)
        np.testing.assert_allclose(planned.stall, general.stall, rtol=1e-12, atol=1e-9)


def gate_scenario() -> dict:
    return {
        "name": "gate",
        "start_date": "2027-01-01",
        "horizon_days": 600,
        "deals": {
            "initial": {"sign": 20},
            "arrivals_per_month": 0,
            "amount": {"dist": "fixed", "value": 1},
        },
        "stages": [
            {"name": "talk", "duration": {"dist": "fixed", "value": 5}, "exits": {"sign": 1.0}},
            {"name": "sign", "duration": {"dist": "fixed", "value": 10}, "exits": {"won": 1.0}},
        ],
        "budget": {"fiscal_year_start": "07-01", "gate": "sign", "funded_share": 0.0},
    }


@pytest.mark.parametrize("engine", ["vectorized", "simpy"])
def test_day0_deals_entering_the_gate_need_money_but_crm_deals_already_there_do_not(
    engine,
):
    scenario = scenario_from_dict(gate_scenario())
    fresh = simulate_replication(compile_scenario(scenario), 1, 0, engine=engine)
    release = (np.datetime64("2027-07-01") - np.datetime64("2027-01-01")).astype(int)
    np.testing.assert_allclose(fresh.closed, release + 10.0)  # waited for July's money
    aged = InitialPipeline(
        states=np.ones(20, dtype=np.int64),
        age_in_stage=np.full(20, 4.0),
        created=np.full(20, -30.0),
        amounts=np.full(20, np.nan),
    )
    crm = simulate_replication(compile_scenario(scenario, aged), 1, 0, engine=engine)
    np.testing.assert_allclose(crm.closed, 6.0)  # its last 6 days of signing, no budget wait


@pytest.mark.parametrize("engine", ["vectorized", "simpy"])
def test_a_deal_imported_dormant_has_used_part_of_its_give_up_clock(engine):
    data = one_stage({"dist": "fixed", "value": 10})
    data["dormant"] = {"reactivate_mean_days": 36525, "give_up_after_days": 100}  # never back
    dormant = compile_scenario(scenario_from_dict(data)).dormant
    crm = InitialPipeline(
        states=np.full(30, dormant, dtype=np.int64),
        age_in_stage=np.full(30, 60.0),
        created=np.full(30, -90.0),
        amounts=np.full(30, 1.0),
    )
    model = compile_scenario(scenario_from_dict(data), crm)
    rec = simulate_replication(model, 1, 0, engine=engine)
    np.testing.assert_array_equal(rec.state, model.won + 2)  # no decision
    np.testing.assert_allclose(rec.closed, 40.0)  # 100 days of give-up clock, 60 already used
