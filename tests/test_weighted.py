"""``dealsim weighted``: the CRM's weighted pipeline, the scenario's chain, and the simulation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from sim.errors import UserError
from sim.model import InitialPipeline
from sim.scenario import load_scenario, scenario_from_dict
from sim.weighted import (
    _versus,
    chain_win_probabilities,
    parse_crm_probabilities,
    shift_back,
    weighted_text,
    weighted_vs_simulation,
)


def test_chain_probabilities_match_the_closed_form():
    # scenarios/chain.toml: from d 0.24, from e 0.40, from n 0.68 (B = (I - Q)^-1 R by hand)
    probs = chain_win_probabilities(load_scenario("chain"))
    np.testing.assert_allclose(probs, [0.24, 0.40, 0.68], atol=1e-12)
    assert not np.allclose(probs, [0.24, 0.40, 0.60])  # a wrong oracle fails


def test_chain_probabilities_include_dormant_returns():
    data = {
        "name": "d",
        "start_date": "2027-01-01",
        "horizon_days": 365,
        "deals": {"initial": {"a": 1}, "amount": {"dist": "fixed", "value": 1}},
        "stages": [
            {
                "name": "a",
                "duration": {"dist": "fixed", "value": 10},
                "exits": {"b": 0.5, "dormant": 0.5},
            },
            {
                "name": "b",
                "duration": {"dist": "fixed", "value": 10},
                "exits": {"won": 0.5, "lost": 0.5},
            },
        ],
        "dormant": {"reactivate_mean_days": 100, "give_up_after_days": 100},
    }
    probs = chain_win_probabilities(scenario_from_dict(data))
    back = 1 - math.exp(-1)  # reactivated before giving up
    from_a = 0.25 / (1 - 0.5 * back)
    np.testing.assert_allclose(probs, [from_a, 0.5], atol=1e-12)


def test_crm_defaults_spread_over_the_stages():
    np.testing.assert_allclose(parse_crm_probabilities(None, 5), [0.1, 0.25, 0.5, 0.7, 0.9])
    np.testing.assert_allclose(parse_crm_probabilities(None, 4), [0.1, 0.25, 0.7, 0.9])
    np.testing.assert_allclose(parse_crm_probabilities(None, 3), [0.1, 0.5, 0.9])
    six = parse_crm_probabilities(None, 6)
    assert six[0] == 0.1 and six[-1] == 0.9 and np.all(np.diff(six) > 0)
    np.testing.assert_allclose(parse_crm_probabilities("5, 20%,60", 3), [0.05, 0.2, 0.6])
    with pytest.raises(UserError, match="3 stages"):
        parse_crm_probabilities("10,20", 3)
    with pytest.raises(UserError, match="percentages"):
        parse_crm_probabilities("10,x,30", 3)
    with pytest.raises(UserError, match="percentages"):  # one % sign, not a doubled one
        parse_crm_probabilities("10%%,20,30", 3)
    with pytest.raises(UserError, match="0..100"):
        parse_crm_probabilities("10,20,130", 3)


def test_shift_back_keeps_every_deal():
    # 4 stages (codes 0..3) and dormant (4): 16/12/8/4 deals by stage, 2 dormant
    states = [0] * 16 + [1] * 12 + [2] * 8 + [3] * 4 + [4] * 2
    deals = InitialPipeline(
        np.array(states), np.arange(42.0), -np.arange(42.0), np.full(42, 5.0), ids=("x",) * 42
    )
    shifted = shift_back(deals, 4)
    assert np.bincount(shifted.states).tolist() == [28, 8, 4, 0, 2]
    assert np.all(np.diff(shifted.states[:40]) >= 0)  # in order, as counts by stage would be
    np.testing.assert_array_equal(shifted.age_in_stage, deals.age_in_stage)  # each keeps its age
    np.testing.assert_array_equal(shifted.amounts, deals.amounts)


def test_chain_scenario_simulation_agrees_with_the_weighted_chain():
    """20-year horizon, no mechanisms: simulated bookings = the chain's weighted pipeline."""
    found = weighted_vs_simulation("chain", replications=3, seed=1)
    rec = found["recorded"]
    assert rec["deals"] == 2000
    assert rec["chain_weighted"] == pytest.approx(480.0)
    assert rec["crm_weighted"] == pytest.approx(2000 * 0.10)  # d is the first of 3 stages
    sd = math.sqrt(2000 * 0.24 * 0.76) / math.sqrt(3)
    for key in ("simulated", "simulated_stages_only"):
        assert abs(rec[key]["bookings"]["mean"] - 480.0) < 4 * sd
    # every deal is already in the first stage: no misjudged-stage case to simulate or show
    assert found["one_stage_earlier"] is None
    text = weighted_text(found)
    assert "one stage earlier" not in text
    assert "every deal is already in the first stage." in " ".join(text.split())
    # dormant deals do not move back either: the sentence must not say they are in the first
    on_hold = {**found, "dormant": {**found["dormant"], "deals": 3}}
    said = " ".join(weighted_text(on_hold).split())
    assert "every deal is already in the first stage or on hold (dormant)." in said


def test_equipment_report_numbers():
    found = weighted_vs_simulation("equipment", replications=8, seed=1, crm="10,30,60,90")
    rec, early = found["recorded"], found["one_stage_earlier"]
    amount = found["mean_amount"]
    assert amount == pytest.approx(400_000)
    assert rec["crm_weighted"] == pytest.approx((16 * 0.1 + 12 * 0.3 + 8 * 0.6 + 4 * 0.9) * amount)
    assert early["crm_weighted"] < rec["crm_weighted"]
    # time and stalls only take away from the chain's eventual wins
    only = rec["simulated_stages_only"]["bookings"]["mean"]
    full = rec["simulated"]["bookings"]["mean"]
    assert full < only < rec["chain_weighted"]
    assert early["simulated"]["bookings"]["mean"] < full
    text = weighted_text(found)
    assert "CRM weighted (10/30/60/90%)" in text
    assert "Misjudged stage" in text
    assert "one stage earlier" in text


def test_cli_weighted():
    from sim.cli import cli

    result = CliRunner().invoke(cli, ["weighted", "equipment", "-n", "3", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["stages"][0]["crm_probability"] == 0.1
    bad = CliRunner().invoke(cli, ["weighted", "equipment", "--crm-probabilities", "10,20"])
    assert bad.exit_code == 2
    assert "4 stages" in bad.stderr


def test_versus_is_in_percent_of_the_second_figure():
    assert _versus(2.2, 2.8) == "21% below"  # (2.2 - 2.8) / 2.8, not / 2.2 (27%)
    assert _versus(2.8, 2.2) == "27% above"
    assert _versus(3.4, 1.0) == "3.4 times"  # not "240% above"
    assert _versus(1.004, 1.0) == "the same as"
    assert _versus(201.0, 200.0) == "the same as"  # 0.5%: it printed "0% above"
    assert _versus(1.0, 0.0) == "not comparable with"


def test_one_stage_scenario_says_nothing_of_an_earlier_stage():
    data = {
        "name": "one",
        "start_date": "2027-01-01",
        "horizon_days": 365,
        "deals": {"initial": {"talk": 30}, "amount": {"dist": "fixed", "value": 1000}},
        "stages": [
            {
                "name": "talk",
                "duration": {"dist": "exponential", "mean": 60},
                "exits": {"won": 0.4, "lost": 0.6},
            }
        ],
    }
    found = weighted_vs_simulation(scenario_from_dict(data), replications=2, seed=1)
    assert found["one_stage_earlier"] is None
    assert found["stages"][0]["deals_one_stage_earlier"] is None
    text = weighted_text(found)
    assert "earlier" not in text and "Misjudged" not in text
    assert "CRM weighted (10%)" in text and "as recorded" in text


def test_crm_probabilities_are_percentages_and_fractions_are_refused():
    # a value under 1 beside larger ones is a percentage under 1%
    np.testing.assert_allclose(parse_crm_probabilities("0.1,25,70,90", 4), [0.001, 0.25, 0.7, 0.9])
    # all at most 1 reads like fractions: refused, unless % signs say they are percentages
    with pytest.raises(UserError, match=r"--crm-probabilities: 0.1,0.25,0.7,0.9 .*10,25,70,90"):
        parse_crm_probabilities("0.1,0.25,0.7,0.9", 4)
    with pytest.raises(UserError, match="at most 1"):
        parse_crm_probabilities("1", 1)
    np.testing.assert_allclose(parse_crm_probabilities("0.1%,0.5%", 2), [0.001, 0.005])
    np.testing.assert_allclose(parse_crm_probabilities("0,0", 2), [0.0, 0.0])  # not ambiguous


def test_crm_percentages_under_1_show_as_given():
    found = weighted_vs_simulation("equipment", replications=2, seed=1, crm="0.1,25,70,90")
    text = weighted_text(found)
    assert "CRM weighted (0.1/25/70/90%)" in text
    need = next(line for line in text.splitlines() if "Need recognition" in line)
    assert " 0.1% " in need  # it showed 0%
    assert "the stage probabilities given" in text


def test_default_crm_probabilities_say_how_they_were_spread():
    # 4 stages: 10/25/70/90 on purpose (first and last kept); the note says so
    found = weighted_vs_simulation("equipment", replications=2, seed=1)
    assert [s["crm_probability"] for s in found["stages"]] == [0.1, 0.25, 0.7, 0.9]
    note = " ".join(weighted_text(found).split())
    assert "10/25/50/70/90% spread over 4 stages" in note
    assert "the first stage keeps 10%, the last 90%" in note


def test_cli_fractions_are_one_message_exit_2():
    from sim.cli import cli

    result = CliRunner().invoke(
        cli, ["weighted", "equipment", "--crm-probabilities", "0.1,0.25,0.7,0.9"]
    )
    assert result.exit_code == 2
    assert "--crm-probabilities" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def _two_stage(**extra) -> dict:
    return {
        "name": "small",
        "start_date": "2027-01-01",
        "horizon_days": 365,
        "deals": {"initial": {"a": 10, "b": 10}, "amount": {"dist": "fixed", "value": 1000}},
        "stages": [
            {
                "name": "a",
                "duration": {"dist": "exponential", "mean": 60},
                "exits": {"b": 0.7, "lost": 0.3},
            },
            {
                "name": "b",
                "duration": {"dist": "exponential", "mean": 60},
                "exits": {"won": 0.6, "lost": 0.4},
            },
        ],
        **extra,
    }


def test_no_stall_mechanism_does_not_repeat_the_figure_as_stalls():
    """With no budget, group, shocks or timing the two simulations are one: the sentence said
    'time alone takes it to X, and the stalls and resets to X'."""
    found = weighted_vs_simulation(scenario_from_dict(_two_stage()), replications=2, seed=1)
    assert found["stall_mechanisms"] == []
    text = " ".join(weighted_text(found).split())
    assert "the stalls and resets to" not in text
    assert "no budget, decision group, shocks or timing" in text


def test_a_stall_mechanism_keeps_the_stalls_clause():
    shocks = {
        "rate_per_year": 3.0,
        "severity": {"dist": "fixed", "value": 1.0},
        "from_stage": "b",
        "reset_probability": 0.9,
        "to": "a",
    }
    found = weighted_vs_simulation(
        scenario_from_dict(_two_stage(shocks=shocks)), replications=4, seed=1
    )
    assert found["stall_mechanisms"] == ["shocks"]
    text = " ".join(weighted_text(found).split())
    assert "no budget, decision group" not in text
    assert "the stalls and resets" in text


def test_stalls_that_change_nothing_visible_are_not_a_second_equal_figure():
    from sim.weighted import _stalls_clause

    found = {"currency": "EUR", "stall_mechanisms": ["budget"]}
    assert "leave it there" in _stalls_clause(found, 8_510_000.0, 8_510_400.0)
    assert "to 7.2M EUR" in _stalls_clause(found, 8_510_000.0, 7_200_000.0)


def test_simulated_figures_carry_their_standard_error_and_noise_is_no_cause():
    """At -n 2 the stage-dynamics figure is within two standard errors of the chain's: it is
    the noise of 2 replications, not 'time alone takes it to X' (the sentence once said so of
    a figure above the chain's eventual wins)."""
    found = weighted_vs_simulation("equipment", replications=2, seed=1)
    only = found["recorded"]["simulated_stages_only"]["bookings"]
    assert abs(only["mean"] - found["recorded"]["chain_weighted"]) <= 2 * only["se"]
    text = " ".join(weighted_text(found).split())
    assert "+-" in text.split("Simulated within the horizon, stage dynamics only")[1][:40]
    assert "time alone" not in text
    assert "within the noise of 2 replications" in text


def test_time_clause_tells_a_cause_only_beyond_two_standard_errors():
    from sim.weighted import _time_clause

    found = {"currency": "EUR", "replications": 2}
    noisy = _time_clause(found, 2527.0, {"mean": 5160.0, "se": 2000.0})
    assert "within the noise of 2 replications" in noisy and "time alone" not in noisy
    clear = _time_clause({**found, "replications": 20}, 2527.0, {"mean": 2000.0, "se": 50.0})
    assert clear.startswith("time alone") and "+- 50 EUR" in clear


def test_time_clause_claims_no_noise_without_a_standard_error():
    """A mean with no standard error (none written, or nan) cannot be called noise: the
    difference is told as it is, with no +-."""
    from sim.weighted import _time_clause

    found = {"currency": "EUR", "replications": 20}
    for only in ({"mean": 2528.0}, {"mean": 2528.0, "se": float("nan")}):
        text = _time_clause(found, 2527.0, only)
        assert text.startswith("time alone") and "noise" not in text and "+-" not in text
