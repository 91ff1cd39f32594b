"""A stage's stalled share (a fitted cure share): a deal imported old is likelier stalled.

Of a stage's visits a share pi never ends on its own; in the scenario they are part of the exit
to dormant. A deal already ``age`` days into the stage is one of them with the chance
pi / (pi + (1 - pi) S(age)), S the stage duration's survival; the other exits are those of the
visits that end. Fresh visits are untouched.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.draws import aged_exits
from sim.engine import simulate_replication
from sim.errors import ScenarioError
from sim.model import InitialPipeline, compile_scenario
from sim.scenario import load_scenario, scenario_from_dict

# The stage's p90 is 90 days: a deal 90 days in has S(90) = 0.1 exactly.
LOGNORMAL = {"dist": "lognormal", "median": 30, "p90": 90}
PI, DORMANT, WON, LOST = 0.2, 0.3, 0.5, 0.2


def one_stage(stalled_share: float = PI, dormant: float = DORMANT) -> dict:
    return {
        "name": "stalled",
        "start_date": "2027-01-01",
        "horizon_days": 3000,
        "deals": {"arrivals_per_month": 0, "amount": {"dist": "fixed", "value": 1}},
        "stages": [
            {
                "name": "work",
                "duration": LOGNORMAL,
                "exits": {"won": WON, "lost": 1 - WON - dormant, "dormant": dormant},
                "stalled_share": stalled_share,
            }
        ],
        # A dormant deal ends as no_decision a day later (a reactivation within the day:
        # one in 36,500), so a deal's outcome tells its first exit.
        "dormant": {"reactivate_mean_days": 36500, "give_up_after_days": 1},
    }


def pipeline(n: int, age: float) -> InitialPipeline:
    return InitialPipeline(
        states=np.zeros(n, dtype=np.int64),
        age_in_stage=np.full(n, age),
        created=np.full(n, -age),
        amounts=np.full(n, 1.0),
    )


def shares(model, engine: str) -> dict[str, float]:
    rec = simulate_replication(model, 5, 0, engine=engine)
    names = {model.won: "won", model.won + 1: "lost", model.won + 2: "no_decision"}
    counts = np.bincount(rec.state, minlength=model.n_states)
    return {name: counts[code] / len(rec.state) for code, name in names.items()}


@pytest.mark.parametrize("engine", ["vectorized", "simpy"])
def test_an_old_deal_has_stalled_as_likely_as_the_mixture_says(engine):
    n, age = 20000, 90.0
    model = compile_scenario(scenario_from_dict(one_stage()), pipeline(n, age))
    got = shares(model, engine)
    chance = PI / (PI + (1 - PI) * 0.1)  # 0.714: most deals still there at the p90 stalled
    ending = 1 - PI  # the visits that end leave by the stage's exits less the stalled share
    expected = {
        "no_decision": chance + (1 - chance) * (DORMANT - PI) / ending,
        "won": (1 - chance) * WON / ending,
        "lost": (1 - chance) * (1 - WON - DORMANT) / ending,
    }
    for outcome, p in expected.items():
        se = math.sqrt(p * (1 - p) / n)
        assert abs(got[outcome] - p) < 4 * se, (outcome, got[outcome], p)
    # The exit drawn as for a fresh visit (the behaviour before) would be caught.
    se = math.sqrt(DORMANT * (1 - DORMANT) / n)
    assert abs(got["no_decision"] - DORMANT) > 4 * se


def test_fresh_visits_are_untouched_bit_for_bit():
    fresh = pipeline(500, 0.0)
    with_share = compile_scenario(scenario_from_dict(one_stage()), fresh)
    without = compile_scenario(scenario_from_dict(one_stage(stalled_share=0.0)), fresh)
    for engine in ("vectorized", "simpy"):
        a = simulate_replication(with_share, 3, 0, engine=engine)
        b = simulate_replication(without, 3, 0, engine=engine)
        np.testing.assert_array_equal(a.state, b.state)
        np.testing.assert_array_equal(a.closed, b.closed)


def test_at_age_zero_the_exits_are_the_stages_own():
    model = compile_scenario(scenario_from_dict(one_stage()))
    u = (np.arange(100000) + 0.5) / 100000
    exits = aged_exits(model, 0, u, np.zeros(len(u)))
    share = np.bincount(exits, minlength=model.n_states) / len(u)
    assert share[model.dormant] == pytest.approx(DORMANT, abs=1e-4)
    assert share[model.won] == pytest.approx(WON, abs=1e-4)


def test_both_engines_give_the_same_records_for_an_aged_book_with_stalled_stages():
    scenario = load_scenario("equipment").model_copy(update={"team": []})
    stages = [
        stage.model_copy(update={"stalled_share": 0.5 * stage.exits.get("dormant", 0.0)})
        for stage in scenario.stages
    ]
    scenario = scenario.model_copy(update={"stages": stages})
    assert any(stage.stalled_share > 0 for stage in scenario.stages)
    n = 300
    rng = np.random.default_rng(1)
    aged = InitialPipeline(
        states=rng.integers(0, len(scenario.stages), n),
        age_in_stage=rng.uniform(0, 300, n),
        created=-rng.uniform(300, 600, n),
        amounts=rng.uniform(1e5, 5e5, n),
    )
    model = compile_scenario(scenario, aged)
    for replication in range(2):
        planned = simulate_replication(model, 4, replication, engine="vectorized")
        general = simulate_replication(model, 4, replication, engine="simpy")
        np.testing.assert_array_equal(planned.state, general.state)
        np.testing.assert_allclose(planned.closed, general.closed, rtol=1e-12)
        np.testing.assert_allclose(planned.stall, general.stall, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize(
    ("share", "dormant", "message"),
    [
        (0.4, 0.3, "stages.work.stalled_share: 0.4 of the visits stall, but only 0.3 leave"),
        (1.0, 1.0, "stages.work.stalled_share: must be below 1"),
    ],
)
def test_a_stalled_share_beyond_the_dormant_exit_is_refused(share, dormant, message):
    data = one_stage(stalled_share=share, dormant=dormant)
    if dormant == 1.0:
        data["stages"][0]["exits"] = {"dormant": 1.0}
    with pytest.raises(ScenarioError, match=message.replace(".", r"\.")):
        scenario_from_dict(data, source="s.toml")
