"""Hostile and extreme input (issue 17): every number within its documented bound, parsing that
cannot be driven into recursion or huge allocations, error lists capped, validation linear in
the stages."""

from __future__ import annotations

import datetime as dt
import time
import tomllib

import pytest

from sim import scenario_bounds as bounds
from sim.crm import read_pipeline
from sim.errors import ScenarioError, UserError
from sim.scenario import apply_overrides, bundled_scenarios, load_scenario, scenario_from_dict
from sim.stage_chain import stages_that_never_end, unreachable_stages, zero_time_cycles


def equipment() -> dict:
    path = next(p for name, _, p in bundled_scenarios() if name == "equipment")
    return tomllib.loads(path.read_text())


def problems(change: dict) -> str:
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(apply_overrides(equipment(), change), "equipment.toml")
    return str(err.value)


# Each of these ran into a traceback, a hang or an out-of-memory in `dealsim run` (issue 17).
HOSTILE = [
    (
        {"stages.need.duration": {"dist": "gamma", "mean": 30, "cv": 1e-200}},
        "stages.need.duration.cv",
    ),
    ({"horizon_days": 1e308}, "horizon_days"),
    ({"start_date": "0001-01-01"}, "start_date"),
    ({"start_date": "9999-12-01"}, "start_date"),
    ({"stages.need.duration": {"dist": "triangular", "low": 0, "mode": 0, "high": 1e308}}, "high"),
    ({"timing.max_wait_days": 1e308}, "timing.max_wait_days"),
    ({"decision_group.0.tenure_mean_days": 1e-9}, "tenure_mean_days"),
    ({"shocks.rate_per_year": 1e6}, "shocks.rate_per_year"),
    ({"deals.arrivals_per_month": 1e9}, "deals.arrivals_per_month"),
    ({"deals.initial.need": 10**9}, "deals.initial.need"),
    ({"stages.need.duration": {"dist": "exponential", "mean": 1e-9}}, "stages.need.duration"),
    ({"stages.need.duration": {"dist": "weibull", "shape": 0.05, "scale": 1000}}, "mean of"),
    ({"stages.need.duration": {"dist": "lognormal", "median": 100, "p90": 1e9}}, "p90"),
    (
        {"deals.amount": {"dist": "lognormal", "median": 1e10, "p90": 1e12}},
        "deals.amount: lognormal",
    ),
    ({"dormant.reactivate_mean_days": 1e-12}, "dormant.reactivate_mean_days"),
    ({"budget.release_lag_days": 1e300}, "budget.release_lag_days"),
    ({"seed": 2**70}, "seed"),
    ({"description": "x" * (bounds.MAX_DESCRIPTION_LENGTH + 1)}, "description"),
]


@pytest.mark.parametrize(("change", "field"), HOSTILE, ids=[repr(c)[:60] for c, _ in HOSTILE])
def test_a_number_out_of_bounds_is_named_by_validate(change, field):
    assert field in problems(change)


def test_a_zero_time_loop_is_rejected():
    message = problems(
        {
            "stages.need.duration": {"dist": "fixed", "value": 0},
            "stages.need.exits": {"need": 0.999999, "lost": 0.000001},
        }
    )
    assert "need can loop without time passing" in message


def test_a_zero_duration_stage_without_a_loop_is_fine():
    data = apply_overrides(equipment(), {"stages.need.duration": {"dist": "fixed", "value": 0}})
    scenario_from_dict(data)


def test_zero_time_cycles_finds_the_cycle_and_not_its_neighbours():
    exits = {
        "a": {"b": 1.0},
        "b": {"c": 0.5, "d": 0.5},
        "c": {"b": 1.0},
        "d": {"won": 1.0},
    }
    assert zero_time_cycles(exits, ["a", "b", "c", "d"]) == ["b", "c"]
    assert zero_time_cycles(exits, ["a", "b", "d"]) == []  # c takes time: no zero-time loop


def test_stages_that_never_end_on_a_chain_and_a_trap():
    exits = {"a": {"b": 1.0}, "b": {"a": 0.5, "won": 0.5}, "c": {"d": 1.0}, "d": {"c": 1.0}}
    assert stages_that_never_end(exits) == ["c", "d"]


# ------------------------------------------------------------------------------------------
# Parsing
# ------------------------------------------------------------------------------------------


def scenario_text() -> str:
    path = next(p for name, _, p in bundled_scenarios() if name == "textbook")
    return path.read_text()


@pytest.mark.parametrize("depth", [40, 5000])
def test_deep_nesting_is_a_clean_error(tmp_path, depth):
    path = tmp_path / "deep.toml"
    nested = "[" * depth + "]" * depth
    path.write_text(scenario_text().replace("[deals]", f"x = {nested}\n[deals]", 1))
    with pytest.raises(ScenarioError, match="nested too deeply"):
        load_scenario(path)


def test_a_huge_scenario_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.toml"
    padding = "# " + "x" * 1000 + "\n"
    path.write_text(scenario_text() + padding * (bounds.MAX_SCENARIO_BYTES // len(padding) + 1))
    with pytest.raises(ScenarioError, match="too large for a scenario file"):
        load_scenario(path)


def test_the_error_list_is_capped():
    data = {**equipment(), **{f"unknown_{i}": 1 for i in range(5000)}}
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(data, "many.toml")
    lines = str(err.value).splitlines()
    assert lines[0] == "many.toml: invalid scenario (5000 problems):"
    assert len(lines) == bounds.MAX_LISTED_PROBLEMS + 2
    assert lines[-1] == f"  ... and {5000 - bounds.MAX_LISTED_PROBLEMS} more"


def test_a_csv_with_a_million_columns_is_a_clean_error(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n" + "1," * 5 + "\n")
    with pytest.raises(UserError, match="1,000,000 columns"):
        read_pipeline(path, stages=["need"], as_of=dt.date(2027, 1, 1))


@pytest.mark.parametrize("text", [",,,\n,,,\n", ",,,\n", ",,\n,,\n,,\n"])
def test_a_csv_of_only_commas_is_a_clean_error(tmp_path, text):
    from sim.crm import read_history

    path = tmp_path / "commas.csv"
    path.write_text(text)
    with pytest.raises(UserError, match="no header row"):
        read_pipeline(path, stages=["need"], as_of=dt.date(2027, 1, 1))
    with pytest.raises(UserError, match="no header row"):
        read_history(path)


# ------------------------------------------------------------------------------------------
# Validation is linear in the stages
# ------------------------------------------------------------------------------------------


def chain_of_stages(n: int) -> dict:
    stages = [
        {
            "name": f"s{k}",
            "duration": {"dist": "exponential", "mean": 1},
            "exits": {f"s{k + 1}" if k + 1 < n else "won": 0.9, "lost": 0.1},
        }
        for k in range(n)
    ]
    return {
        "name": "long",
        "start_date": "2027-01-01",
        "horizon_days": 365,
        "deals": {"initial": {"s0": 1}, "amount": {"dist": "fixed", "value": 1}},
        "stages": stages,
    }


def seconds_to_validate(n: int) -> float:
    data = chain_of_stages(n)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        scenario_from_dict(data)
        best = min(best, time.perf_counter() - started)
    return best


def test_validation_is_linear_in_the_stages():
    small, large = seconds_to_validate(1000), seconds_to_validate(4000)
    # Linear: about 4x. Quadratic would be 16x; the margin absorbs a busy machine.
    assert large < 8 * small + 0.05, (small, large)


def test_an_error_in_a_scenario_of_many_stages_is_short():
    data = chain_of_stages(5000)
    data["stages"][10]["exits"] = {"nowhere": 1.0}
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(data)
    assert len(str(err.value)) < 3000  # the valid targets are not all 5,000 names
    assert "(5004 in all)" in str(err.value)


def test_a_huge_value_or_key_is_not_echoed_back_whole():
    from sim.scenario import scenario_from_dict

    for data in ({"name": "x" * 10**6}, {"name": "ok", "k" * 10**6: 1}):
        with pytest.raises(Exception) as caught:
            scenario_from_dict(data)
        assert len(str(caught.value)) < 2_000 and "characters)" in str(caught.value)
    with pytest.raises(Exception) as caught:  # the name's own length, not its quoted form's
        scenario_from_dict({"name": "é" * 300})
    assert "(300 characters)" in str(caught.value)


def test_unreachable_stages_walk_forwards_from_where_deals_start():
    exits = {"a": {"b": 0.5, "lost": 0.5}, "b": {"won": 1.0}, "c": {"d": 1.0}, "d": {"c": 0.0,
             "won": 1.0}, "e": {"b": 1.0}}  # fmt: skip
    assert unreachable_stages(exits, ["a"]) == ["c", "d", "e"]
    assert unreachable_stages(exits, ["a", "c"]) == ["e"]  # a mechanism sends deals to c
    assert unreachable_stages({"a": {"b": 0.0, "won": 1.0}, "b": {"won": 1.0}}, ["a"]) == ["b"]


UNREACHABLE = """
name = "unreachable"
start_date = 2027-01-01
horizon_days = 365
[deals]
initial = { a = 5 }
arrivals_per_month = 5
amount = { dist = "fixed", value = 1000 }
[[stages]]
name = "a"
duration = { dist = "exponential", mean = 30 }
exits = { b = 0.7, lost = 0.3 }
[[stages]]
name = "b"
duration = { dist = "exponential", mean = 30 }
exits = { won = 0.5, lost = 0.5 }
[[stages]]
name = "c"
duration = { dist = "exponential", mean = 30 }
exits = { won = 1.0 }
"""


def test_validate_and_run_note_a_stage_no_deal_can_reach(tmp_path):
    """Valid, but its numbers change nothing: most likely a typo in an exit. A user's first
    hour: `validate` said OK and `run` said nothing."""
    from click.testing import CliRunner

    from sim.cli import cli

    path = tmp_path / "unreachable.toml"
    path.write_text(UNREACHABLE, encoding="utf-8")
    for args in (["validate", str(path)], ["run", str(path), "-n", "2", "--no-plots",
                                           "-o", str(tmp_path / "out")]):  # fmt: skip
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "Note: stages.c: no deal can reach it" in result.stderr
    quiet = CliRunner().invoke(cli, ["validate", "portfolio"])
    assert quiet.exit_code == 0 and "no deal can reach" not in quiet.stderr
