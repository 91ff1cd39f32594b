"""Our own people ([[team]]): queueing theory, capacity, priorities, resets in the queue.

Statistical tests compare the SimPy engine's queues with closed form (Erlang C for M/M/c, the
Pollaczek-Khinchine mean wait for M/D/1), with tolerances from the standard error across
replications, and show that a wrong oracle fails the same check.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sim.cli import cli
from sim.draws import draw_replication
from sim.engine import simulate_replication
from sim.model import SELLER_WAIT, compile_scenario
from sim.scenario import load_scenario, scenario_from_dict
from sim.simpy_engine import SimpyReplication

WARM_UP = 60.0  # days: the queue starts empty; steady state is measured after this
HOURS_PER_DAY = 40 / 7  # a person's hours run over calendar days at 40 hours a week


def queue_scenario(
    arrivals_per_day: float,
    people: int | str,
    effort: dict,
    horizon: float = 420,
    stage_days: float = 0.01,
    client_waits: bool = True,
) -> dict:
    """One stage fed by Poisson arrivals, needing one team's work: a queue in front of it."""
    return {
        "name": "queue",
        "start_date": "2027-01-01",
        "horizon_days": horizon,
        "deals": {
            "initial": {},
            "arrivals_per_month": arrivals_per_day * 365.25 / 12,
            "amount": {"dist": "uniform", "low": 1, "high": 100},
        },
        "stages": [
            {
                "name": "demo",
                "duration": {"dist": "fixed", "value": stage_days},
                "exits": {"won": 1},
            }
        ],
        "team": [
            {
                "name": "presales",
                "headcount": people,
                "hours_per_week": 40,
                "cost_per_hour": 90,
                "work": [{"stage": "demo", "effort_hours": effort, "client_waits": client_waits}],
            }
        ],
    }


def steady_waits(data: dict, replications: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Per replication: the mean wait and the share that waited, of requests served after the
    warm-up (each replication one independent estimate)."""
    model = compile_scenario(scenario_from_dict(data))
    means, waited = [], []
    for r in range(replications):
        waits = simulate_replication(model, seed, r).teams[0].waits
        after = waits[waits[:, 0] >= WARM_UP, 1]
        means.append(after.mean())
        waited.append((after > 0).mean())
    return np.asarray(means), np.asarray(waited)


def erlang_c(c: int, offered: float) -> float:
    """P(an arrival waits) in M/M/c with offered load ``offered`` = lambda / mu."""
    top = offered**c / math.factorial(c) / (1 - offered / c)
    return top / (sum(offered**k / math.factorial(k) for k in range(c)) + top)


def within(values: np.ndarray, expected: float, k: float = 4.0) -> bool:
    se = values.std(ddof=1) / math.sqrt(len(values))
    return abs(values.mean() - expected) < k * se


def test_mmc_waits_follow_erlang_c():
    """3 people, exponential effort of one day, 2.1 arrivals a day: rho = 0.7."""
    lam, mu, c = 2.1, 1.0, 3
    data = queue_scenario(lam, c, {"dist": "exponential", "mean": HOURS_PER_DAY})
    means, waited = steady_waits(data, replications=12)
    p_wait = erlang_c(c, lam / mu)
    mean_wait = p_wait / (c * mu - lam)
    assert within(waited, p_wait), (waited.mean(), p_wait)
    assert within(means, mean_wait), (means.mean(), mean_wait)
    # A wrong oracle fails the same check: two people's Erlang C, or no queue at all (M/M/inf).
    assert not within(means, erlang_c(c + 1, lam / mu) / ((c + 1) * mu - lam))
    assert not within(waited, 0.0)


def test_mmc_utilisation_is_lambda_over_c_mu(tmp_path):
    lam, c = 2.1, 3
    data = queue_scenario(lam, c, {"dist": "exponential", "mean": HOURS_PER_DAY}, horizon=300)
    model = compile_scenario(scenario_from_dict(data))
    busy = []
    for r in range(10):
        intervals = simulate_replication(model, 5, r).teams[0].busy
        lo = np.maximum(intervals[:, 0], WARM_UP)
        busy.append(np.maximum(intervals[:, 1] - lo, 0).sum() / (c * (300 - WARM_UP)))
    busy = np.asarray(busy)
    assert within(busy, lam / c)
    assert not within(busy, lam / (c + 1))


def test_md1_mean_wait_is_pollaczek_khinchine():
    """One person, a fixed day of effort, 0.7 arrivals a day: Wq = lambda S^2 / (2 (1 - rho))."""
    lam, service = 0.7, 1.0
    data = queue_scenario(lam, 1, {"dist": "fixed", "value": HOURS_PER_DAY}, horizon=700)
    means, _ = steady_waits(data, replications=12)
    rho = lam * service
    expected = lam * service**2 / (2 * (1 - rho))
    assert within(means, expected), (means.mean(), expected)
    exponential_oracle = rho / (1 / service - lam)  # M/M/1's wait: twice as long
    assert not within(means, exponential_oracle)


def no_team(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "team"}


def test_unlimited_people_working_alongside_leave_the_records_of_no_team():
    """Unlimited people, work alongside the client's own (longer) time: no deal ever waits
    for us, so the records are exactly those of the scenario without the team, bit for bit,
    against either engine."""
    data = queue_scenario(1.5, "unlimited", {"dist": "fixed", "value": 8}, client_waits=False)
    data["stages"][0]["duration"] = {"dist": "uniform", "low": 10, "high": 20}
    data["stages"][0]["exits"] = {"won": 0.5, "lost": 0.5}
    with_team = simulate_replication(compile_scenario(scenario_from_dict(data)), 4, 1)
    plain = compile_scenario(scenario_from_dict(no_team(data)))
    for engine in ("simpy", "vectorized"):
        without = simulate_replication(plain, 4, 1, engine=engine)
        for field in ("state", "closed", "stall", "created", "amount", "flows", "open_by_state"):
            np.testing.assert_array_equal(getattr(with_team, field), getattr(without, field))
    assert with_team.teams[0].hours.sum() == pytest.approx(8 * with_team.n_deals, rel=0.05)


def test_unlimited_people_the_client_waits_for_add_exactly_the_effort():
    data = queue_scenario(1.0, "unlimited", {"dist": "fixed", "value": 20}, stage_days=5)
    rec = simulate_replication(compile_scenario(scenario_from_dict(data)), 2, 0)
    closed = ~np.isnan(rec.closed)
    np.testing.assert_allclose(
        rec.closed[closed] - rec.created[closed], 20 / HOURS_PER_DAY + 5, rtol=1e-12
    )
    assert rec.stall[:, SELLER_WAIT].max() == 0


def one_person_with_a_backlog(priority: str) -> dict:
    """Six deals at day 0 in two stages, one person, a fixed day of work each."""
    data = queue_scenario(0.0, 1, {"dist": "fixed", "value": HOURS_PER_DAY}, horizon=60)
    data["stages"] = [
        {"name": "early", "duration": {"dist": "fixed", "value": 100}, "exits": {"demo": 1}},
        {"name": "demo", "duration": {"dist": "fixed", "value": 1}, "exits": {"won": 1}},
    ]
    data["deals"]["initial"] = {"demo": 6}
    data["team"][0]["priority"] = priority
    data["team"][0]["work"] = [
        {"stage": "early", "effort_hours": {"dist": "fixed", "value": HOURS_PER_DAY}},
        {"stage": "demo", "effort_hours": {"dist": "fixed", "value": HOURS_PER_DAY}},
    ]
    return data


def start_order(data: dict) -> tuple[list[int], np.ndarray]:
    rec = simulate_replication(compile_scenario(scenario_from_dict(data)), 1, 0, record_events=True)
    starts = [(day, deal) for deal, day, event, *_ in rec.events if event == "seller_start"]
    return [deal for _, deal in sorted(starts)], rec.amount


def test_fifo_serves_in_arrival_order():
    order, _ = start_order(one_person_with_a_backlog("fifo"))
    assert order == [0, 1, 2, 3, 4, 5]


def test_largest_amount_first_after_the_one_already_at_work():
    order, amount = start_order(one_person_with_a_backlog("amount"))
    assert order[0] == 0  # it found the person free at day 0
    assert list(amount[order[1:]]) == sorted(amount[order[1:]], reverse=True)
    assert order != sorted(order)  # the amounts were not already in deal order


def test_latest_stage_first():
    data = one_person_with_a_backlog("stage")
    data["deals"]["initial"] = {"early": 3, "demo": 3}  # deals 0-2 early, 3-5 at the demo
    order, _ = start_order(data)
    assert order[:1] == [0] and order[1:3] == [3, 4] and order[3:] == [5, 1, 2]
    fifo = one_person_with_a_backlog("fifo")
    fifo["deals"]["initial"] = {"early": 3, "demo": 3}
    assert start_order(fifo)[0] == [0, 1, 2, 3, 4, 5]


def test_a_deal_reset_while_queued_leaves_the_queue():
    """Short tenures reset queued deals to lost: none of them is ever served afterwards, and
    at the horizon the queue holds only deals still waiting at the stage."""
    data = queue_scenario(3.0, 1, {"dist": "fixed", "value": HOURS_PER_DAY}, horizon=120)
    data["decision_group"] = [
        {
            "role": "buyer",
            "tenure_mean_days": 15,
            "stages": ["demo"],
            "on_change": {"to": "lost", "probability": 1.0},
        }
    ]
    model = compile_scenario(scenario_from_dict(data))
    rep = SimpyReplication(model, draw_replication(model, 2, 0), record_events=True)
    rec = rep.run()
    left = {deal for deal, _, event, *_ in rec.events if event == "seller_left"}
    assert len(left) > 20  # many deals were reset in the queue
    lost = set(np.flatnonzero(rec.state == model.won + 1).tolist())
    assert left <= lost
    started_after = {
        deal
        for deal, day, event, *_ in rec.events
        if event == "seller_start" and deal in left and day > rec.closed[deal]
    }
    assert not started_after
    queued = [request for request in rep.desks[0].people.queue]
    assert len(queued) == np.count_nonzero(rec.state == 0) - len(rep.desks[0].people.users)
    # Lost deals were charged seller_wait only until they left.
    assert np.all(
        rec.stall[list(left), SELLER_WAIT]
        <= rec.closed[list(left)] - rec.created[list(left)] + 1e-9
    )


def busiest(intervals: np.ndarray, lo: float, hi: float) -> int:
    """Most people at work at once within [lo, hi)."""
    marks = sorted(
        [(max(a, lo), 1) for a, b in intervals if b > lo and a < hi]
        + [(min(b, hi), -1) for a, b in intervals if b > lo and a < hi]
    )
    now = top = 0
    for _, step in marks:
        now += step
        top = max(top, now)
    return top


def test_capacity_changes_take_effect_on_their_date():
    """1 person, 3 from 2027-03-02 (day 60), 1 again from 2027-05-01 (day 120): a long queue
    throughout, so the people at work at once follow the headcount."""
    data = queue_scenario(4.0, 1, {"dist": "exponential", "mean": HOURS_PER_DAY}, horizon=200)
    data["team"][0]["changes"] = [
        {"date": "2027-03-02", "headcount": 3},
        {"date": "2027-05-01", "headcount": 1},
    ]
    rec = simulate_replication(compile_scenario(scenario_from_dict(data)), 1, 0)
    busy = rec.teams[0].busy
    assert busiest(busy, 0, 60) == 1
    assert busiest(busy, 60, 61) == 3  # the hires start at once: the queue is long
    assert busiest(busy, 61, 120) == 3
    # The leavers finish the deal in hand, then only one person works.
    last_started_by_three = busy[(busy[:, 0] < 120), 1].max()
    assert busiest(busy, last_started_by_three, 200) == 1


def test_same_summary_whatever_the_number_of_jobs(tmp_path, write_team_scenario):
    path = write_team_scenario(tmp_path)
    out = {}
    for jobs in (1, 2):
        out[jobs] = tmp_path / f"j{jobs}"
        args = ["run", str(path), "-n", "6", "-j", str(jobs), "--no-plots", "-o", str(out[jobs])]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "Engine: simpy" in result.output
    assert (out[1] / "summary.json").read_bytes() == (out[2] / "summary.json").read_bytes()
    summary = json.loads((out[1] / "summary.json").read_text())
    team = summary["teams"]["presales"]
    assert 0 < team["utilisation"] <= 1
    assert summary["stall_days"]["seller_wait"]["mean"] > 0
    assert summary["cost_of_sale"]["per_won_deal"]["mean"] > 0


@pytest.fixture
def write_team_scenario():
    def write(folder: Path, **changes) -> Path:
        data = queue_scenario(1.2, 2, {"dist": "pert", "low": 8, "mode": 12, "high": 24})
        data["stages"][0]["duration"] = {"dist": "lognormal", "median": 10, "p90": 30}
        data["stages"][0]["exits"] = {"won": 0.6, "lost": 0.4}
        data["horizon_days"] = 200
        data.update(changes)
        from sim.toml_writer import toml_dumps

        path = folder / "team.toml"
        path.write_text(toml_dumps(data), encoding="utf-8")
        return path

    return write


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"work": [{"stage": "nowhere", "effort_hours": {"dist": "fixed", "value": 1}}]},
         "team.presales.work.nowhere.stage: unknown stage 'nowhere'"),
        ({"headcount": 0}, "team.presales.headcount: 0 people and no hire"),
        ({"changes": [{"date": "2027-03-01", "headcount": 1},
                      {"date": "2027-02-01", "headcount": 2}]}, "dates must increase"),
        ({"changes": [{"date": "2027-03-01", "headcount": 1},
                      {"date": "2027-03-01", "headcount": 2}]}, "two changes on 2027-03-01"),
        ({"changes": [{"date": "2026-12-01", "headcount": 3}]}, "is not after start_date"),
        ({"priority": "loudest"}, "priority"),
        ({"headcount": "lots"}, "headcount"),
        # One value, two members of int | "unlimited": one problem, not two that disagree.
        ({"headcount": -1}, "(1 problem):\n  team.presales.headcount: Input should be greater "
                            "than or equal to 0 or 'unlimited' (got -1)"),
    ],
)  # fmt: skip
def test_bad_team_sections_are_named_errors(tmp_path, write_team_scenario, change, message):
    path = write_team_scenario(tmp_path)
    text = path.read_text()
    data = __import__("tomllib").loads(text)
    data["team"][0].update(change)
    from sim.toml_writer import toml_dumps

    path.write_text(toml_dumps(data))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert str(path) in result.output and message in result.output
    assert "Traceback" not in result.output


def test_hiring_what_ifs_on_common_random_numbers(tmp_path, write_team_scenario):
    """--set on the headcount; compare two hiring plans: the same deals and draws, only the
    queueing differs; one more person shortens the waits."""
    from sim.api import simulate
    from sim.comparison import compare

    path = write_team_scenario(tmp_path)
    two = simulate(path, replications=4, jobs=1, write=False)
    three = simulate(path, replications=4, jobs=1, write=False, sets={"team.presales.headcount": 3})
    assert three.summary["deals"] == two.summary["deals"]  # the same deals arrive
    waits = [r.summary["teams"]["presales"]["wait_days"]["mean"] for r in (two, three)]
    assert waits[1] < waits[0]
    cmp = compare(path, sets={"team.presales.headcount": 3}, replications=4, jobs=1)
    assert cmp.metrics["bookings"]["delta"] >= 0


def test_team_records_do_not_depend_on_where_python_puts_objects(monkeypatch):
    """The services still open at the horizon are cut in the order they began, not in the
    order of their objects' hashes (their addresses, different from one run to the next),
    because that order is the order their days are summed in: the reviewer's run-to-run
    difference in the last bits of queue days."""
    import sim.teams

    model = compile_scenario(load_scenario("capacity"))
    plain = simulate_replication(model, 1, 0, engine="simpy").teams
    # Each object's hash stays its own, but they no longer follow the objects' addresses.
    monkeypatch.setattr(sim.teams._Service, "__hash__", lambda self: hash((id(self), 7)))
    moved = simulate_replication(model, 1, 0, engine="simpy").teams
    cut = sum(int((team.queued[:, 1] == model.horizon).sum()) for team in plain)
    assert cut >= 2  # several services were open at the horizon: their order was at stake
    for a, b in zip(plain, moved, strict=True):
        for field in ("busy", "queued", "waits", "hours"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), field


def test_the_median_wait_is_zero_when_most_deals_do_not_wait():
    """M/M/4 at rho = 0.525: a fifth of the requests wait (Erlang C), so the median wait is no
    wait at all; the P90 is where C exp(-(c mu - lambda) t) falls to 0.1. The zeros were
    interpolated into the first quarter-day bin: "waited 48%, wait P50 0.2 d", and months with
    a mean wait of 0 and a P50 of 0.125."""
    from sim.api import simulate

    lam, mu, c = 2.1, 1.0, 4
    data = queue_scenario(lam, c, {"dist": "exponential", "mean": HOURS_PER_DAY})
    summary = simulate(scenario_from_dict(data), replications=4, seed=5, write=False).summary
    team = summary["teams"]["presales"]
    p_wait = erlang_c(c, lam / mu)
    assert p_wait < 0.25 and team["waited_share"] < 0.35
    assert team["wait_days"]["p50"] == 0.0
    p90 = math.log(p_wait / 0.1) / (c * mu - lam)  # 0.36 days
    wrong = math.log(erlang_c(c - 1, lam / mu) / 0.1) / ((c - 1) * mu - lam)  # 1.77: three
    # The tolerance from the spread of the same replications' own P90s (each an independent
    # estimate; the pooled one is no worse), plus the bins' quarter day.
    from sim.team_results import WAIT_RESOLUTION

    model = compile_scenario(scenario_from_dict(data))
    own = [np.quantile(simulate_replication(model, 5, r).teams[0].waits[:, 1], 0.9)
           for r in range(4)]  # fmt: skip
    tolerance = 4 * np.std(own, ddof=1) / math.sqrt(len(own)) + WAIT_RESOLUTION
    found = team["wait_days"]["p90"]
    assert abs(found - p90) < tolerance < abs(found - wrong), (found, p90, tolerance)
    for period in team["periods"]:
        if period["wait_mean"] == 0:
            assert period["wait_p50"] in (0.0, None) and period["wait_p90"] in (0.0, None)
