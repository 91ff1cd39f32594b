"""A run's cost is estimated before it starts, and a run over the budget is refused (issue 17)."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from sim import run_cost
from sim.api import simulate
from sim.cli import cli
from sim.errors import UserError
from sim.model import compile_scenario
from sim.scenario import bundled_scenarios, load_scenario, scenario_from_dict
from sim.stage_chain import expected_visits


@pytest.fixture(autouse=True)
def not_forced():
    """``--force`` lasts for the context it was given in: each test starts without it."""
    run_cost.force_large_runs(False)
    yield
    run_cost.force_large_runs(False)


def one_stage(loop: float, arrivals: float = 10.0, initial: int = 5, **extra) -> dict:
    return {
        "name": "loop",
        "start_date": "2027-01-01",
        "horizon_days": 365.25,
        "deals": {
            "initial": {"work": initial},
            "arrivals_per_month": arrivals,
            "amount": {"dist": "fixed", "value": 1},
        },
        "stages": [
            {
                "name": "work",
                "duration": {"dist": "exponential", "mean": 10},
                "exits": {"work": loop, "won": 1 - loop},
            }
        ],
        **extra,
    }


def test_expected_visits_of_a_loop_and_a_chain():
    assert expected_visits({"a": {"a": 0.75, "won": 0.25}}, {"a": 1.0}) == {"a": 4.0}
    chain = {"a": {"b": 0.5, "lost": 0.5}, "b": {"a": 0.5, "won": 0.5}}
    visits = expected_visits(chain, {"a": 1.0})
    assert visits["a"] == pytest.approx(4 / 3) and visits["b"] == pytest.approx(2 / 3)


def test_the_estimate_in_closed_form():
    scenario = scenario_from_dict(one_stage(loop=0.75))
    cost = run_cost.estimate(compile_scenario(scenario), replications=10)
    assert cost.deals == pytest.approx(5 + 10 * 12)  # initial + a year of arrivals
    assert cost.visits_per_deal == pytest.approx(4.0)
    assert cost.work == pytest.approx(10 * 125 * 4.0)
    assert cost.problems() == []


def test_role_and_shock_events_count():
    role = {
        "role": "boss",
        "tenure_mean_days": 20,
        "stages": ["work"],
        "on_change": {"to": "work", "probability": 1.0},
    }
    data = one_stage(loop=0.0, decision_group=[role])
    cost = run_cost.estimate(compile_scenario(scenario_from_dict(data)), replications=1)
    # 10 days in the stage over a 20-day tenure: half a change, each a visit more.
    assert cost.events_per_deal == pytest.approx(0.5 * 2)


@pytest.mark.parametrize("name", [name for name, _, _ in bundled_scenarios()])
def test_bundled_scenarios_are_well_within_the_budget(name):
    scenario = load_scenario(name)
    cost = run_cost.estimate(compile_scenario(scenario), scenario.replications)
    assert cost.work < run_cost.MAX_RUN_WORK / 50
    assert cost.problems() == []


def test_a_fast_loop_is_refused_with_what_to_change():
    scenario = scenario_from_dict(one_stage(loop=0.999999))
    with pytest.raises(UserError) as err:
        simulate(scenario, replications=2, write=False)
    message = str(err.value)
    assert "too large to start" in message and "250 million stage visits" in message
    assert "--force" in message and "fewer loops back" in message


def test_too_many_deals_are_refused():
    scenario = scenario_from_dict(one_stage(loop=0.0, arrivals=500_000))
    with pytest.raises(UserError, match="6 million deals per replication"):
        simulate(scenario, replications=2, write=False)


def test_allow_large_lets_the_run_go_ahead(monkeypatch):
    monkeypatch.setattr(run_cost, "MAX_RUN_WORK", 10.0)
    scenario = scenario_from_dict(one_stage(loop=0.5))
    with pytest.raises(UserError, match="stage visits and events"):
        simulate(scenario, replications=2, write=False)
    result = simulate(scenario, replications=2, write=False, allow_large=True)
    assert result.summary


def test_the_cli_refuses_with_exit_2_and_runs_with_force(monkeypatch, tmp_path):
    monkeypatch.setattr(run_cost, "MAX_RUN_WORK", 10.0)
    runner = CliRunner()
    out = tmp_path / "out"
    refused = runner.invoke(cli, ["run", "textbook", "-n", "2", "-o", str(out), "--no-plots"])
    assert refused.exit_code == 2
    assert "too large to start" in refused.output and not out.exists()
    forced = runner.invoke(
        cli, ["run", "textbook", "-n", "2", "-o", str(out), "--no-plots", "--force"]
    )
    assert forced.exit_code == 0, forced.output
    assert (out / "summary.json").is_file()
    again = runner.invoke(cli, ["run", "textbook", "-n", "2", "-o", str(tmp_path / "b")])
    assert again.exit_code == 2  # --force of one command does not carry over to the next


def test_force_help_says_both_meanings():
    result = CliRunner().invoke(cli, ["run", "--help"])
    assert "estimated cost is over" in " ".join(result.output.split())


def test_a_long_run_says_how_long_before_it_starts(capsys):
    """A run estimated over ANNOUNCE_AFTER_SECONDS says so on stderr (a note: not --quiet).
    The estimate grows in proportion to the replications and with the deals, and a second job
    shortens it, though not by half (the rates themselves are measured by
    bench/run_cost_rates.py, not here: a unit test times nothing)."""
    from sim import status

    model = compile_scenario(scenario_from_dict(one_stage(0.0, arrivals=1e4, initial=0)))
    cost = run_cost.estimate(model, 140)  # 16.8M visits: 3 minutes on SimPy, 2 jobs
    one_job = cost.seconds("simpy", 1)
    assert run_cost.estimate(model, 280).seconds("simpy", 1) == pytest.approx(2 * one_job)
    assert one_job / 2 < cost.seconds("simpy", 2) < one_job
    busier = compile_scenario(scenario_from_dict(one_stage(0.0, arrivals=2e4, initial=0)))
    assert run_cost.estimate(busier, 140).seconds("simpy", 1) > 1.5 * one_job
    assert cost.seconds("simpy", 1) > cost.seconds("vectorized", 1)
    with_teams = dataclasses.replace(cost, teams=True)  # a queue for our people costs more
    assert with_teams.seconds("simpy", 2) > cost.seconds("simpy", 2)
    assert cost.seconds("simpy", 280) == cost.seconds("simpy", 140)  # a replication a core
    previous = status.level()
    try:
        status.set_level(status.NORMAL)
        run_cost.announce_duration(cost, "simpy", 2)
        said = capsys.readouterr().err
        assert "this run will take about 3 minutes" in said and "simpy engine with 2 jobs" in said
        assert "for 140 replications" in said and "visits" not in said  # not all it counts
        small = run_cost.estimate(model, 1)
        run_cost.announce_duration(small, "vectorized", 1)
        assert capsys.readouterr().err == ""  # a short run says nothing
        status.set_level(status.QUIET)
        run_cost.announce_duration(cost, "simpy", 2)
        assert capsys.readouterr().err == ""
    finally:
        status.set_level(previous)


def test_many_replications_of_few_deals_are_announced():
    """A replication and a deal cost time whatever their visits (the estimate counted visits
    alone: 40,000 replications of the CLI's tiny scenario grown to some 75 deals ran 17 s
    unannounced, estimated at 3.8 s); deals.csv rows cost more."""
    data = one_stage(0.0, arrivals=2.5, initial=45)  # 75 deals of one visit a replication
    model = compile_scenario(scenario_from_dict(data))
    announced = run_cost.ANNOUNCE_AFTER_SECONDS
    assert run_cost.estimate(model, 40_000).seconds("vectorized", 2) > announced
    with_rows = run_cost.estimate(model, 40_000, rows=True)
    assert with_rows.seconds("vectorized", 2) > run_cost.estimate(model, 40_000).seconds(
        "vectorized", 2
    )
    assert with_rows.work == run_cost.estimate(model, 40_000).work  # the budget counts visits
    portfolio = run_cost.estimate(compile_scenario(load_scenario("portfolio")), 100)
    assert portfolio.mechanisms == 4  # budget, decision group, shocks, timing: each costs time
    plain = dataclasses.replace(portfolio, mechanisms=0)
    assert portfolio.seconds("vectorized", 2) > plain.seconds("vectorized", 2)


def _replications_for(work: float, name: str = "chain") -> int:
    """Replications of a bundled scenario whose run comes to about ``work`` visits and events."""
    model = compile_scenario(load_scenario(name))
    return int(work / run_cost.estimate(model, 1).work) + 1


@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_the_runs_of_one_command_are_weighed_together(tmp_path, command):
    """Each of the runs is under the budget; all of them together are not (they were let
    through one by one, for hours)."""
    n = _replications_for(0.6 * run_cost.MAX_RUN_WORK)
    if command == "compare":
        args = ["compare", "chain", "chain"]
    else:
        args = ["sweep", "chain", "--set", "deals.initial.d=2000,2001"]
    result = CliRunner().invoke(cli, [*args, "-n", str(n), "-o", str(tmp_path / "x")])
    assert result.exit_code == 2, result.output
    assert "2 runs on the same seed: too large to start" in result.output
    assert "fewer replications (-n) or fewer scenarios or values" in result.output
    assert f"{n:,} replications each," in result.output and "2 runs of" not in result.output
    assert not (tmp_path / "x").exists()


def test_a_sensitivity_analysis_weighs_its_points_together(tmp_path):
    n = _replications_for(0.01 * run_cost.MAX_RUN_WORK)  # 256 x 3 points of 1% each
    args = ["sensitivity", "chain", "--vary", "stages.d.duration.mean=40..80"]
    args += ["--method", "sobol", "--samples", "256", "-n", str(n), "-o", str(tmp_path / "x")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "768 points: too large to start" in result.output
    assert "768 runs" not in result.output  # the count said once
    assert "fewer points (--samples, --vary)" in result.output
    big = CliRunner().invoke(cli, [*args[:6], "--samples", str(2**16), "-n", "2"])
    assert big.exit_code == 2 and "--samples: 65536 is more than 32768" in big.output


def test_a_comparison_says_once_how_long_all_its_runs_take(monkeypatch, capsys):
    from sim import status
    from sim.comparison import compare

    slow = run_cost.Rates(*[1.0] * 6)  # every run seems long
    monkeypatch.setitem(run_cost.SECONDS_PER, "vectorized", slow)
    previous = status.level()
    try:
        status.set_level(status.NORMAL)
        compare("chain", "chain", replications=2, jobs=1)
    finally:
        status.set_level(previous)
    said = capsys.readouterr().err
    assert said.count("this will take about") == 1
    assert "(2 runs on the same seed, 2 replications each, with 1 job: an estimate;" in said
    assert "this run will take" not in said  # each run's own note, not said again


def test_a_story_of_a_book_over_the_budget_is_refused_unless_forced():
    args = ["trace", "chain", "--set", "deals.initial.d=2000000", "--deal", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert (
        "too large to start" in result.output and "2 million deals per replication" in result.output
    )
    seed = CliRunner().invoke(cli, ["trace", "chain", "--deal", "1", "--seed", str(2**64)])
    assert seed.exit_code == 2 and "--seed: 18446744073709551616 is outside 0.." in seed.output


def test_a_huge_sobol_design_is_refused_before_its_points_are_built(monkeypatch, tmp_path):
    """The design's cost comes from its corners and the arithmetic (points x replications x
    work per replication): a design of 49,152 points was built and validated point by point
    (~50 s) before it was refused."""
    from sim import sensitivity_analysis

    calls = {"point": 0, "compile": 0}

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(sensitivity_analysis, "point", counted("point", sensitivity_analysis.point))
    monkeypatch.setattr(
        sensitivity_analysis,
        "compile_scenario",
        counted("compile", sensitivity_analysis.compile_scenario),
    )
    args = ["sensitivity", "equipment", "--method", "sobol", "--samples", "16384"]
    args += ["--vary", "budget.funded_share=0.2..0.5", "-n", "10", "-o", str(tmp_path / "x")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "49152 points: too large to start" in result.output
    assert calls["point"] <= 4 and calls["compile"] <= 4, calls
    assert not (tmp_path / "x").exists()


def test_a_sobol_design_says_how_long_it_takes_on_the_executors_workers(monkeypatch, capsys):
    """With an executor (a Dask cluster's, here a pool of 7 threads), the design's duration is
    told for its workers, as the points' runs are counted (it was told for the local cores)."""
    from concurrent.futures import ThreadPoolExecutor

    from sim import status
    from sim.sensitivity_analysis import sensitivity

    slow = run_cost.Rates(*[1.0] * 6)  # every run seems long
    monkeypatch.setitem(run_cost.SECONDS_PER, "vectorized", slow)
    previous = status.level()
    try:
        status.set_level(status.NORMAL)
        with ThreadPoolExecutor(max_workers=7) as pool:
            vary = ["stages.d.duration.mean=40..80"]
            sensitivity("chain", vary, method="sobol", samples=4, replications=2, executor=pool)
    finally:
        status.set_level(previous)
    said = capsys.readouterr().err
    assert said.count("this will take about") == 1, said
    assert "(12 points, 2 replications each, with 7 jobs: an estimate;" in said


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["compare", "chain"], "arm 'chain (deals.initial.d=2000000)'"),
        (["sweep", "chain"], "sweep point deals.initial.d=2000000"),
        (["sensitivity", "chain"], "the point where deals.initial.d=2000000"),  # a tornado's
    ],
)
def test_a_run_over_the_budget_among_others_is_named(tmp_path, args, named):
    """A comparison's arm, a sweep's point, a tornado's point: the refusal says which one."""
    if args[0] == "compare":
        args = [*args, "--set", "deals.initial.d=2000000"]
    elif args[0] == "sweep":
        args = [*args, "--set", "deals.initial.d=2000,2000000"]
    else:
        args = [*args, "--vary", "deals.initial.d=2000..2000000"]
    result = CliRunner().invoke(cli, [*args, "-n", "2", "-o", str(tmp_path / "x")])
    assert result.exit_code == 2, result.output
    assert f"{named}: this run is too large to start" in result.output
    assert "2 million deals per replication" in result.output


def test_a_sweep_through_the_api_names_its_point_over_the_budget():
    from sim.sweeps import sweep

    with pytest.raises(UserError, match=r"^sweep point deals.initial.d=2000000: this run is too"):
        sweep("chain", "deals.initial.d", [2000, 2_000_000], replications=2)


def test_a_sobol_design_names_its_corner_over_the_budget(tmp_path):
    args = ["sensitivity", "chain", "--method", "sobol", "--samples", "4", "-n", "2"]
    args += ["--vary", "deals.initial.d=2000..2000000", "--vary", "stages.d.duration.mean=40..80"]
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "x")])
    assert result.exit_code == 2, result.output
    corner = "the design's corner where deals.initial.d=2000000, stages.d.duration.mean=40"
    assert f"{corner}: this run is too large to start" in result.output
