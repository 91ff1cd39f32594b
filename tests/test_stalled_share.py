"""A stage's stalled share (a fitted cure share): a deal imported old is likelier stalled.

Of a stage's visits a share pi never ends on its own; in the scenario they are part of the exit
to dormant. A deal already ``age`` days into the stage is one of them with the chance
pi / (pi + (1 - pi) S(age)), S the stage duration's survival; the other exits are those of the
visits that end. Fresh visits are untouched. (That both engines agree on an aged book with
stalled stages is tests/test_pipeline_engine.py's.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.draws import aged_exits
from sim.engine import simulate_replication
from sim.errors import ScenarioError
from sim.model import InitialPipeline, compile_scenario
from sim.scenario import scenario_from_dict

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


@pytest.mark.parametrize(
    ("share", "dormant", "message"),
    [
        (0.4, 0.3, "stages.work.stalled_share: 0.4 of the visits stall, more than exits.dormant"),
        (5e-7, 0.0, "stages.work.stalled_share: 5e-07 of the visits stall, but the stage has no"),
        (1.0, 1.0, "stages.work.stalled_share: must be below 1"),
    ],
)
def test_a_stalled_share_beyond_the_dormant_exit_is_refused(share, dormant, message):
    data = one_stage(stalled_share=share, dormant=dormant)
    if dormant == 1.0:
        data["stages"][0]["exits"] = {"dormant": 1.0}
    if dormant == 0.0:
        data["stages"][0]["exits"] = {"won": 0.5, "lost": 0.5}  # no exit to dormant at all
    with pytest.raises(ScenarioError, match=message.replace(".", r"\.")):
        scenario_from_dict(data, source="s.toml")


def test_a_wrong_dormant_exit_is_reported_alone():
    data = one_stage()
    data["stages"][0]["exits"]["dormant"] = "0.3"  # a string: the exit itself is the problem
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(data, source="s.toml")
    assert "stages.work.exits.dormant" in str(caught.value)
    assert "stalled_share" not in str(caught.value)


def test_a_stage_without_stalled_visits_is_written_and_hashed_as_before():
    from sim.scenario import dump_scenario_toml, scenario_hash

    plain = scenario_from_dict(one_stage(stalled_share=0.0))
    assert "stalled_share" not in plain.model_dump()["stages"][0]
    assert "stalled_share" not in dump_scenario_toml(plain)
    stalled = scenario_from_dict(one_stage())
    assert stalled.model_dump()["stages"][0]["stalled_share"] == PI
    assert scenario_hash(plain) != scenario_hash(stalled)


def grid(n: int = 200000) -> np.ndarray:
    return (np.arange(n) + 0.5) / n


def test_the_chance_follows_each_replications_drawn_exits():
    """Under [uncertainty] a replication draws its own exits: pi stays the same part of its
    exit to dormant (a fixed pi would not follow a drawn dormant exit)."""
    from sim.uncertainty import replication_model

    data = one_stage()
    data["uncertainty"] = {"stages": {"work": {"exits_weight": 20}}}
    model = compile_scenario(scenario_from_dict(data), pipeline(10, 90.0))
    checked = 0
    for replication in range(6):
        rep = replication_model(model, 1, replication)
        probs = np.diff(rep.exit_cumulative[0], prepend=0.0)
        dormant = probs[rep.dormant]
        pi = PI / DORMANT * dormant
        chance = pi / (pi + (1 - pi) * 0.1)
        expected = chance + (1 - chance) * (dormant - pi) / (1 - pi)
        u = grid()
        share = np.mean(aged_exits(rep, 0, u, np.full(len(u), 90.0)) == rep.dormant)
        assert share == pytest.approx(expected, abs=1e-4)
        fixed_pi = PI / (PI + (1 - PI) * 0.1)
        if abs(dormant - DORMANT) > 0.05:  # a fixed pi would then give another share
            wrong = fixed_pi + (1 - fixed_pi) * max(dormant - PI, 0) / (1 - PI)
            assert abs(share - wrong) > 1e-3
            checked += 1
    assert checked >= 2


def test_all_of_the_dormant_exit_stalled_and_a_stage_no_deal_outlasts():
    model = compile_scenario(scenario_from_dict(one_stage(stalled_share=DORMANT)))
    u = grid()
    exits = aged_exits(model, 0, u, np.full(len(u), 90.0))
    chance = DORMANT / (DORMANT + (1 - DORMANT) * 0.1)
    assert np.mean(exits == model.dormant) == pytest.approx(chance, abs=1e-4)  # none but these
    data = one_stage()
    data["stages"][0]["duration"] = {"dist": "uniform", "low": 10, "high": 50}
    bounded = compile_scenario(scenario_from_dict(data), pipeline(200, 60.0))  # S(60) = 0
    for engine in ("vectorized", "simpy"):
        assert shares(bounded, engine)["no_decision"] == 1.0  # only stalled deals sit that long


def test_fresh_deals_beside_old_ones_draw_as_without_a_stalled_share():
    n = 400
    mixed = InitialPipeline(
        states=np.zeros(n, dtype=np.int64),
        age_in_stage=np.where(np.arange(n) % 2 == 0, 0.0, 90.0),
        created=np.full(n, -90.0),
        amounts=np.full(n, 1.0),
    )
    fresh = mixed.age_in_stage == 0
    with_share = compile_scenario(scenario_from_dict(one_stage()), mixed)
    without = compile_scenario(scenario_from_dict(one_stage(stalled_share=0.0)), mixed)
    for engine in ("vectorized", "simpy"):
        a = simulate_replication(with_share, 6, 0, engine=engine)
        b = simulate_replication(without, 6, 0, engine=engine)
        np.testing.assert_array_equal(a.state[fresh], b.state[fresh])
        np.testing.assert_array_equal(a.closed[fresh], b.closed[fresh])
        assert (a.state[~fresh] != b.state[~fresh]).any()  # the old ones do change
