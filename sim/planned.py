"""The fast path of a replication: stretches planned in bulk, lived by one process per deal.

:mod:`sim.planner` decides every deal's stretches with numpy; here each deal's SimPy process
lives its plan (a timeout and a state update per stretch) and the records are assembled from
the plan. The general process of :mod:`sim.deal` gives the same records (tests hold them equal);
it runs instead when an event log is wanted.
"""

from __future__ import annotations

import numpy as np

from sim.engine import Replication, ReplicationRecords, open_by_state
from sim.planner import Plan, StackedTables, plan_block


def run_planned(rep: Replication) -> ReplicationRecords:
    model, env, n_initial = rep.model, rep.env, rep.n_initial
    plan = _plan(rep)
    deal = _deal_process(rep, plan)
    bounds = plan.per_deal(rep.n)
    process = env.process
    for i, (state, (lo, hi)) in enumerate(
        zip(model.initial_states, bounds[:n_initial], strict=True)
    ):
        process(deal(i, state, lo, hi))
    env.process(_arrivals(rep, deal, bounds[n_initial:]))
    env.run(until=model.horizon)

    rep.stall, rep.touched, rep.ended_by = plan.stall, plan.touched, plan.ended_by
    rep.closed = plan.closed.tolist()
    done = plan.end < model.horizon
    moves = plan.state[done] * model.n_states + plan.next_state[done]
    period_ends = model.calendar.period_ends()
    obs = open_by_state(model, plan.state, plan.start, plan.end, period_ends)
    return rep._records(obs, moves)


def _plan(rep: Replication) -> Plan:
    """Every deal's stretches: the day-0 pipeline (deals 0 .. n_initial - 1), then the arrivals."""
    model, market = rep.model, rep.market
    n_initial, n_arrived = rep.n_initial, len(market.arrival_days)
    tables = StackedTables(rep.initial, rep.arrivals)
    rows = np.concatenate([np.arange(n_initial), tables.offset + market.arrival_rows])
    first_states = np.concatenate(
        [np.asarray(model.initial_states, dtype=np.int64), np.zeros(n_arrived, np.int64)]
    )
    created = np.concatenate([np.zeros(n_initial), _arrival_clock(market.arrival_days)])
    # Who enters its first stage at its creation (and so needs money if that is the gate): new
    # deals, and day-0 deals from counts; a CRM deal that has been in its stage for a while
    # is there already.
    entering = np.concatenate([model.initial.age_in_stage == 0, np.ones(n_arrived, dtype=bool)])
    return plan_block(model, tables, rows, first_states, created, market.timing_release, entering)


def _arrival_clock(days: np.ndarray) -> np.ndarray:
    """The clock at each arrival as SimPy shows it (it adds each gap to the previous time)."""
    clock, now = [], 0.0
    for day in days.tolist():
        now = now + (day - now)
        clock.append(now)
    return np.asarray(clock)


def _deal_process(rep: Replication, plan: Plan):
    """The process of a deal, with the replication's plan bound once."""
    timeout, cur = rep.env.timeout, rep.cur
    delays, nexts = plan.delay_list, plan.next_list

    def planned_deal(i: int, state: int, lo: int, hi: int):
        """Deal i lives stretches lo..hi-1 of its plan: a timeout and a state update each."""
        cur[i] = state
        for j in range(lo, hi):
            yield timeout(delays[j])
            cur[i] = nexts[j]

    return planned_deal


def _arrivals(rep: Replication, deal, bounds: list[tuple[int, int]]):
    """Starts each arriving deal's process on its day (``bounds``: its stretches in the plan)."""
    env, timeout = rep.env, rep.env.timeout
    for j, (day, (lo, hi)) in enumerate(zip(rep.market.arrival_days.tolist(), bounds, strict=True)):
        yield timeout(day - env.now)
        env.process(deal(rep.n_initial + j, 0, lo, hi))
