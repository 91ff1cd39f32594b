"""The planned path: a scenario of stage dynamics only, decided in bulk, lived by processes.

With no budget, decision group, shocks or timing, nothing outside a deal can change its path,
so the whole path is walked with numpy beforehand (:mod:`sim.paths`) and each deal's SimPy
process only lives it: a timeout and a state update per visit. The bookkeeping (moves, open
deals by period, dormant time) is done on arrays from the same numbers. The records are the
same as the general process gives (a test holds them equal), at a fraction of the cost.
"""

from __future__ import annotations

import numpy as np

from sim.engine import Replication, ReplicationRecords
from sim.model import DORMANT_CAUSE
from sim.paths import Paths, VisitLog, open_by_state, walk


def run_planned(rep: Replication) -> ReplicationRecords:
    model, env, market = rep.model, rep.env, rep.market
    n_initial = rep.n_initial
    n_arrived = len(market.arrival_days)
    initial_states = np.asarray(model.initial_states, dtype=np.int64)
    paths = [
        walk(model, rep.streams, rep.initial, np.arange(n_initial), initial_states,
             np.zeros(n_initial)),
        walk(model, rep.streams, rep.arrivals, market.arrival_rows,
             np.zeros(n_arrived, np.int64), market.arrival_days),
    ]  # fmt: skip
    created = [0.0] * rep.n
    deal = _planned_deal_process(rep, created)
    bounds = paths[0].offsets.tolist()
    durations = paths[0].durations.tolist()
    next_states = paths[0].next_states.tolist()
    states = model.initial_states
    for i in range(n_initial):
        env.process(deal(i, states[i], bounds[i], bounds[i + 1], durations, next_states))
    env.process(_planned_arrivals(rep, deal, n_initial, paths[1]))
    env.run(until=model.horizon)
    log = VisitLog.of(
        paths, [np.asarray(created[:n_initial]), np.asarray(created[n_initial:])], [0, n_initial]
    )
    _dormant_from_log(rep, log)
    done = log.end < model.horizon
    moves = log.state[done] * model.n_states + log.next_state[done]
    return rep._records(open_by_state(model, log, model.calendar.period_ends()), moves)


def _planned_deal_process(rep: Replication, created: list[float]):
    env, timeout = rep.env, rep.env.timeout
    cur, closed = rep.cur, rep.closed
    first_outcome = rep.model.won

    def planned_deal(i, state, lo, hi, durations, next_states):
        """Deal i lives its planned visits lo..hi-1: a timeout and a state update each."""
        created[i] = env.now
        cur[i] = state
        for j in range(lo, hi):
            yield timeout(durations[j])
            cur[i] = state = next_states[j]
        if state >= first_outcome:
            closed[i] = env.now

    return planned_deal


def _planned_arrivals(rep: Replication, deal, first_id: int, path: Paths):
    env, timeout = rep.env, rep.env.timeout
    bounds = path.offsets.tolist()
    durations = path.durations.tolist()
    next_states = path.next_states.tolist()
    for j, day in enumerate(rep.market.arrival_days.tolist()):
        yield timeout(day - env.now)
        env.process(deal(first_id + j, 0, bounds[j], bounds[j + 1], durations, next_states))


def _dormant_from_log(rep: Replication, log: VisitLog) -> None:
    """Dormant time, touches and give-ups of planned deals, from their visits."""
    model = rep.model
    dormant = log.state == model.dormant
    if not dormant.any():
        return
    spent = np.minimum(log.end[dormant], model.horizon) - log.start[dormant]
    rep.stall[DORMANT_CAUSE] = np.bincount(log.deal[dormant], spent, minlength=rep.n).tolist()
    touched = np.zeros(rep.n, dtype=np.int64)
    touched[log.deal[dormant]] = 1 << DORMANT_CAUSE
    rep.touched = touched.tolist()
    gave_up = dormant & (log.next_state >= model.won) & (log.end < model.horizon)
    ended = np.full(rep.n, -1)
    ended[log.deal[gave_up]] = DORMANT_CAUSE
    rep.ended_by = ended.tolist()
