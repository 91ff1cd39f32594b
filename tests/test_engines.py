"""The two engines: the same records for the same scenario and seed; one state per deal;
determinism; the choice between them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sim.engine import choose_engine, simulate_replication
from sim.errors import UserError
from sim.model import compile_scenario
from sim.scenario import scenario_from_dict


def stage_only_scenario() -> dict:
    """Stages, back moves, dormant and arrivals, no stall mechanism."""
    return {
        "name": "stages-only",
        "start_date": "2027-01-01",
        "horizon_days": 400,
        "deals": {
            "initial": {"need": 60, "offer": 30},
            "arrivals_per_month": 20,
            "amount": {"dist": "uniform", "low": 10, "high": 20},
        },
        "stages": [
            {
                "name": "need",
                "duration": {"dist": "lognormal", "median": 30, "p90": 90},
                "exits": {"offer": 0.6, "dormant": 0.3, "lost": 0.1},
            },
            {
                "name": "offer",
                "duration": {"dist": "gamma", "mean": 40, "cv": 0.8},
                "exits": {"need": 0.2, "won": 0.5, "lost": 0.2, "no_decision": 0.1},
            },
        ],
        "dormant": {"reactivate_mean_days": 60, "give_up_after_days": 90},
    }


FIELDS = ("created", "first_state", "amount", "state", "closed", "stall", "touched", "ended_by")
EXACT = (
    *("first_state", "state", "touched", "ended_by", "open_by_state", "flows"),
    *("created", "amount"),
)
# Days: equal to the last bit but where an interruption comes from another SimPy process's clock
# (the decision groups', the market's), which may read a day an ulp or so away.
DAYS = ("closed", "stall")


def assert_engines_agree(model, seed: int, replication: int) -> None:
    vectorized = simulate_replication(model, seed, replication, engine="vectorized")
    simpy = simulate_replication(model, seed, replication, engine="simpy")
    for field in EXACT:
        np.testing.assert_array_equal(getattr(vectorized, field), getattr(simpy, field), field)
    for field in DAYS:
        np.testing.assert_allclose(
            getattr(vectorized, field), getattr(simpy, field), rtol=0, atol=1e-9, err_msg=field
        )
    assert vectorized.n_events == 0 and simpy.n_events > 0


@pytest.mark.parametrize(
    "name",
    ["equipment", "erp", "b2g-fire-safety", "recession", "portfolio", "textbook", "transactional"],
)
def test_both_engines_give_the_same_records_on_the_bundled_scenarios(name):
    """Without their [[team]] sections where they have one (deals queueing for our people meet,
    which only the SimPy engine runs)."""
    from sim.scenario import load_scenario

    scenario = load_scenario(name)
    model = compile_scenario(scenario.model_copy(update={"team": []}))
    for replication in range(2):
        assert_engines_agree(model, 2, replication)


@pytest.mark.parametrize("replication", [0, 1, 2])
def test_both_engines_give_bit_identical_records_without_interruptions(replication):
    model = compile_scenario(scenario_from_dict(stage_only_scenario()))
    vectorized = simulate_replication(model, 5, replication, engine="vectorized")
    simpy = simulate_replication(model, 5, replication, engine="simpy")
    for name in (*FIELDS, "open_by_state", "flows"):
        np.testing.assert_array_equal(getattr(vectorized, name), getattr(simpy, name), name)
    assert vectorized.stall[:, 2].sum() > 0  # dormant time was really there to compare


def test_auto_picks_the_vectorized_engine_unless_an_event_log_is_wanted():
    model = compile_scenario(scenario_from_dict(stage_only_scenario()))
    assert choose_engine(model, "auto") == "vectorized"
    assert choose_engine(model, "auto", record_events=True) == "simpy"
    assert choose_engine(model, "simpy") == "simpy"
    with pytest.raises(UserError, match="event log"):
        choose_engine(model, "vectorized", record_events=True)
    with pytest.raises(UserError, match="expected one of"):
        choose_engine(model, "fast")


def test_simpy_engine_counts_the_events_it_processed():
    """One fixed-duration stage: per deal its start and its one timeout (a closed deal sleeps
    for good rather than end: nothing waits for its end event), and the run's stop at the
    horizon."""
    data = stage_only_scenario()
    data["deals"] = {"initial": {"need": 7}, "amount": {"dist": "fixed", "value": 1}}
    data["stages"] = [
        {"name": "need", "duration": {"dist": "fixed", "value": 5}, "exits": {"won": 1}}
    ]
    del data["dormant"]
    rec = simulate_replication(compile_scenario(scenario_from_dict(data)), 1, 0, engine="simpy")
    assert rec.n_events == 7 * 2 + 1


def test_every_deal_ends_in_exactly_one_state_and_closes_in_time():
    model = compile_scenario(scenario_from_dict(stage_only_scenario()))
    rec = simulate_replication(model, 3, 0)
    assert np.all((rec.state >= 0) & (rec.state < model.n_states))
    closed = rec.state >= model.won
    assert np.all(np.isnan(rec.closed[~closed]))
    assert np.all(rec.closed[closed] >= rec.created[closed])
    assert np.all(rec.closed[closed] < model.horizon)
    # Open deals at the horizon are exactly those counted open in the last period.
    assert rec.open_by_state[-1].sum() == np.count_nonzero(~closed)


def test_same_seed_same_records_other_seed_other_records():
    model = compile_scenario(scenario_from_dict(stage_only_scenario()))
    a, b = simulate_replication(model, 9, 4), simulate_replication(model, 9, 4)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = simulate_replication(model, 10, 4)
    assert not np.array_equal(a.closed, c.closed, equal_nan=True)


def test_records_kept_across_planning_blocks_stay_those_of_each_replication_alone():
    """The blocks of a run draw into the same memory (sim.planner.PageMemory): the records of
    earlier blocks, still held by the caller, must not share any of it."""
    from sim.engine import simulate_replications
    from sim.vectorized import replications_per_plan

    model = compile_scenario(scenario_from_dict(stage_only_scenario()))
    per_plan = replications_per_plan(model)
    count = 3 * per_plan + 2  # four blocks
    held = list(simulate_replications(model, 5, range(count), engine="vectorized"))
    for r in (0, per_plan - 1, per_plan, count - 1):
        alone = simulate_replication(model, 5, r, engine="vectorized")
        for name in FIELDS:
            np.testing.assert_array_equal(getattr(held[r], name), getattr(alone, name), name)


@pytest.mark.parametrize("per_plan", [1, 2, 3])
def test_blocks_of_any_size_give_each_replication_its_own_records(per_plan, monkeypatch):
    """The portfolio book (every stall mechanism, pages past the first, budget draws) planned a
    few replications at a time, block after block in the same page memory."""
    from sim import vectorized
    from sim.engine import simulate_replications
    from sim.scenario import load_scenario

    model = compile_scenario(load_scenario(Path(__file__).parents[1] / "scenarios/portfolio.toml"))
    alone = [simulate_replication(model, 2, r, engine="vectorized") for r in range(5)]
    monkeypatch.setattr(vectorized, "MAX_REPLICATIONS_PER_PLAN", per_plan)
    held = list(simulate_replications(model, 2, range(5), engine="vectorized"))
    for a, b in zip(held, alone, strict=True):
        for name in FIELDS:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), name)


BUNDLED = sorted(p.stem for p in (Path(__file__).parents[1] / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("name", BUNDLED)
def test_dealsim_run_says_which_engine_ran_and_both_give_the_same_summary(name, tmp_path):
    """Every bundled scenario on both engines; one with teams, without them (--set team=[]),
    and asked for the vectorized engine with them, a clear refusal."""
    from click.testing import CliRunner

    from sim.cli import cli
    from sim.scenario import load_scenario

    teams = ["--set", "team=[]"] if load_scenario(name).team else []
    if teams:
        refused = CliRunner().invoke(cli, ["run", name, "-n", "2", "--engine", "vectorized"])
        assert refused.exit_code == 2 and "own people" in refused.output
        auto = CliRunner().invoke(cli, ["run", name, "-n", "2", "-j", "1", "--no-plots",
                                        "-o", str(tmp_path / "auto")])  # fmt: skip
        assert auto.exit_code == 0 and "Engine: simpy" in auto.output
    folders = {}
    for engine in ("simpy", "vectorized"):
        folders[engine] = tmp_path / engine
        args = ["run", name, "-n", "3", "-j", "1", "--no-plots", "--engine", engine, *teams]
        result = CliRunner().invoke(cli, [*args, "-o", str(folders[engine])])
        assert result.exit_code == 0, result.output
        assert f"Engine: {engine}" in result.output
        manifest = json.loads((folders[engine] / "manifest.json").read_text())
        assert manifest["engine"] == engine
    summaries = [(folder / "summary.json").read_bytes() for folder in folders.values()]
    assert summaries[0] == summaries[1]


def test_deals_none_leaves_deals_csv_out_and_the_summary_as_it_is(tmp_path):
    from click.testing import CliRunner

    from sim.cli import cli

    folders = {}
    for deals in ("csv", "none"):
        folders[deals] = tmp_path / deals
        args = ["run", "textbook", "-n", "3", "-j", "2", "--no-plots", "--deals", deals]
        result = CliRunner().invoke(cli, [*args, "-o", str(folders[deals])])
        assert result.exit_code == 0, result.output
    assert (folders["csv"] / "deals.csv").is_file()
    assert not (folders["none"] / "deals.csv").exists()
    summaries = [(folder / "summary.json").read_bytes() for folder in folders.values()]
    assert summaries[0] == summaries[1]
    manifest = json.loads((folders["none"] / "manifest.json").read_text())
    assert manifest["deals_csv"] is False
