"""The fast path of a replication: stretches planned in bulk, lived by one process per deal.

:mod:`sim.planner` decides every deal's stretches with numpy; here each deal's SimPy process
lives its plan (a timeout and a state update per stretch) and the records are assembled from
the plan. The general process of :mod:`sim.deal` gives the same records (tests hold them equal);
it runs instead when an event log is wanted.
"""

from __future__ import annotations

import numpy as np

from sim.engine import Replication, ReplicationRecords
from sim.model import Model
from sim.planner import Plan, plan_block


def run_planned(rep: Replication) -> ReplicationRecords:
    model, env, market = rep.model, rep.env, rep.market
    n_initial = rep.n_initial
    release = market.timing_release
    arrival_clock = _arrival_clock(market.arrival_days)
    plans = [
        plan_block(model, rep.initial, np.arange(n_initial),
                   np.asarray(model.initial_states, dtype=np.int64), np.zeros(n_initial), release),
        plan_block(model, rep.arrivals, market.arrival_rows,
                   np.zeros(len(arrival_clock), np.int64), arrival_clock, release),
    ]  # fmt: skip
    deal = _deal_process(rep, plans[0])
    process = env.process
    for i, (state, (lo, hi)) in enumerate(
        zip(model.initial_states, plans[0].per_deal(n_initial), strict=True)
    ):
        process(deal(i, state, lo, hi))
    env.process(_arrivals(rep, _deal_process(rep, plans[1]), plans[1]))
    env.run(until=model.horizon)

    state = np.concatenate([plans[0].state, plans[1].state])
    next_state = np.concatenate([plans[0].next_state, plans[1].next_state])
    start = np.concatenate([plans[0].start, plans[1].start])
    end = np.concatenate([plans[0].end, plans[1].end])
    for name in ("stall", "touched", "ended_by"):
        setattr(rep, name, np.concatenate([getattr(p, name) for p in plans]))
    rep.closed = np.concatenate([p.closed for p in plans]).tolist()
    done = end < model.horizon
    moves = state[done] * model.n_states + next_state[done]
    period_ends = model.calendar.period_ends()
    return rep._records(open_by_state(model, state, start, end, period_ends), moves)


def _arrival_clock(days: np.ndarray) -> np.ndarray:
    """The clock at each arrival as SimPy shows it (it adds each gap to the previous time)."""
    clock, now = [], 0.0
    for day in days.tolist():
        now = now + (day - now)
        clock.append(now)
    return np.asarray(clock)


def _deal_process(rep: Replication, plan: Plan):
    """The process of a deal of one block, with the block's plan bound once."""
    timeout, cur = rep.env.timeout, rep.cur
    delays, nexts = plan.delay_list, plan.next_list

    def planned_deal(i: int, state: int, lo: int, hi: int):
        """Deal i lives stretches lo..hi-1 of its plan: a timeout and a state update each."""
        cur[i] = state
        for j in range(lo, hi):
            yield timeout(delays[j])
            cur[i] = nexts[j]

    return planned_deal


def _arrivals(rep: Replication, deal, plan: Plan):
    env, timeout = rep.env, rep.env.timeout
    bounds = plan.per_deal(len(rep.market.arrival_days))
    for j, day in enumerate(rep.market.arrival_days.tolist()):
        yield timeout(day - env.now)
        lo, hi = bounds[j]
        env.process(deal(rep.n_initial + j, 0, lo, hi))


def open_by_state(model: Model, state, start, end, period_ends: np.ndarray) -> np.ndarray:
    """Open deals by stage/dormant at each period end (a stretch [start, end) covers it).

    Each stretch adds one to its state from the first period end it covers to the last, as
    +1/-1 marks in a (period, state) table summed down the periods.
    """
    width = model.n_stages + 1
    visible = state < width
    first = np.searchsorted(period_ends, start[visible], side="left")
    after = np.searchsorted(period_ends, end[visible], side="left")
    marks = np.zeros((len(period_ends) + 1, width), dtype=np.int64)
    np.add.at(marks, (first, state[visible]), 1)
    np.add.at(marks, (after, state[visible]), -1)
    return np.cumsum(marks, axis=0)[:-1]
