"""The fast path of a replication: stretches planned in bulk, lived by one process per deal.

:mod:`sim.planner` decides every deal's stretches with numpy; here each deal's SimPy process
lives its plan (a timeout and a state update per stretch) and the records are assembled from
the plan. The general process of :mod:`sim.deal` gives the same records (tests hold them equal);
it runs instead when an event log is wanted.

Several replications can be planned in one pass of the planner (their deals stacked as one
block): each step of the planner costs a few dozen numpy calls whatever the number of deals, so
a block of replications costs far less than planning each alone. Deals never read each other's
numbers, so a deal's plan is the same bit for bit in a block of one replication or of ten.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sim.engine import Replication, ReplicationRecords, open_by_state
from sim.planner import Plan, StackedTables, plan_block


def run_planned(reps: list[Replication]) -> Iterator[ReplicationRecords]:
    """Plan the replications together, then live each one in its own SimPy environment."""
    plan = _plan(reps)
    first = 0
    for rep in reps:
        yield _live(rep, plan.part(first, first + rep.n))
        first += rep.n


def _live(rep: Replication, plan: Plan) -> ReplicationRecords:
    """Run one replication's deal processes on its plan to the horizon; assemble its records."""
    model, env, n_initial = rep.model, rep.env, rep.n_initial
    firsts, stops = plan.per_deal(rep.n)
    deal = _deal_process(rep, plan, firsts[n_initial:], stops[n_initial:])
    process = env.process
    states = [*model.initial_states, *[0] * (rep.n - n_initial)]  # arrivals start in stage 0
    for i, state, lo, hi in zip(range(rep.n), states, firsts.tolist(), stops.tolist(), strict=True):
        process(deal(i, state, lo, hi))
    env.run(until=model.horizon)

    rep.stall, rep.touched, rep.ended_by = plan.stall, plan.touched, plan.ended_by
    rep.closed = plan.closed
    done = plan.end < model.horizon
    moves = plan.state[done] * model.n_states + plan.next_state[done]
    obs = open_by_state(model, plan.state, plan.start, plan.end)
    # SimPy processed each deal's start and each lived stretch's timeout.
    return rep._records(obs, moves, n_events=rep.n + len(moves))


def _plan(reps: list[Replication]) -> Plan:
    """Every deal's stretches, replication after replication: each one's day-0 pipeline (its
    deals 0 .. n_initial - 1), then its arrivals."""
    model = reps[0].model
    initial_states = np.asarray(model.initial_states, dtype=np.int64)
    # Who enters its first stage at its creation (and so needs money if that is the gate): new
    # deals, and day-0 deals from counts; a CRM deal that has been in its stage for a while
    # is there already.
    initial_entering = model.initial.age_in_stage == 0
    parts, rows, first_states, created, entering = [], [], [], [], []
    offset = 0
    for rep in reps:
        market = rep.market
        n_arrived = len(market.arrival_days)
        parts += [rep.initial, rep.arrivals]
        rows += [offset + np.arange(rep.n_initial), offset + rep.initial.n + market.arrival_rows]
        offset += rep.initial.n + rep.arrivals.n
        first_states += [initial_states, np.zeros(n_arrived, np.int64)]
        created += [np.zeros(rep.n_initial), _arrival_clock(market.arrival_days)]
        entering += [initial_entering, np.ones(n_arrived, dtype=bool)]
    release = None
    if model.timing is not None:
        release = np.stack([rep.market.timing_release for rep in reps])
    market_of = np.repeat(np.arange(len(reps)), [rep.n for rep in reps])
    return plan_block(
        model,
        StackedTables(parts),
        np.concatenate(rows),
        np.concatenate(first_states),
        np.concatenate(created),
        np.concatenate(entering),
        release,
        market_of,
    )


def _arrival_clock(days: np.ndarray) -> np.ndarray:
    """The clock at each arrival as the reference's arrival process sees it (it adds each gap to
    the previous time), so that both paths date every later move alike."""
    clock, now = [], 0.0
    for day in days.tolist():
        now = now + (day - now)
        clock.append(now)
    return np.asarray(clock)


def _deal_process(
    rep: Replication, plan: Plan, arrival_firsts: np.ndarray, arrival_stops: np.ndarray
):
    """The process of a deal, with the replication's plan bound once.

    An arriving deal's process starts on day 0 and sleeps to the end of its first stretch in
    one timeout: nothing reads a deal before its first move, so a separate wake-up on its
    arrival day would cost an event and change nothing. Its first delay is therefore the
    planned clock at that move (SimPy shows 0 + clock = clock), and the later delays follow.
    """
    delay = plan.delay
    first = arrival_firsts[arrival_stops > arrival_firsts]  # arrivals with a lived stretch
    if len(first):
        delay = delay.copy()
        delay[first] = plan.end[first]
    timeout, cur = rep.env.timeout, rep.cur
    delays, nexts = delay.tolist(), plan.next_state.tolist()

    def planned_deal(i: int, state: int, lo: int, hi: int):
        """Deal i lives stretches lo..hi-1 of its plan: a timeout and a state update each."""
        cur[i] = state
        for j in range(lo, hi):
            yield timeout(delays[j])
            cur[i] = nexts[j]

    return planned_deal
