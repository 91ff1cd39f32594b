"""Whole stage paths of deals that nothing outside can disturb, decided in bulk.

In a scenario with stage dynamics only (no budget, decision group, shocks or timing), a deal's
path depends on nothing but its own pre-drawn numbers: visit k in state s lasts
``durations[deal, s, k]`` and leaves to ``exits[deal, s, k]``. So the path of every deal is
walked here with numpy, a visit at a time for all deals at once, and each deal's SimPy process
only has to live it: one timeout per visit and an update of its state (DESIGN section 6: draw and
decide in bulk, keep per-visit Python work to a few look-ups).

The bookkeeping of the visits (moves between stages, open deals at each period end, dormant
time) is then done here as well, on arrays, from the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.draws import VISITS, DealTables, visit_draws
from sim.model import Model
from sim.randomness import Purpose, Streams


@dataclass
class Paths:
    """Planned visits of a block of deals, flattened deal after deal.

    ``durations[offsets[i]:offsets[i+1]]`` are deal i's visits that begin before the horizon,
    and ``states`` the states they are spent in, ``next_states`` where each leads.
    """

    durations: np.ndarray
    states: np.ndarray
    next_states: np.ndarray
    offsets: np.ndarray


def walk(
    model: Model,
    streams: Streams,
    tables: DealTables,
    rows: np.ndarray,
    first_states: np.ndarray,
    start_days: np.ndarray,
) -> Paths:
    """Walk every deal from its first state until an outcome or the horizon."""
    n = len(rows)
    state = first_states.astype(np.int64).copy()
    day = start_days.astype(float).copy()
    won = model.won
    steps_d, steps_s, steps_x = [], [], []
    active = (state < won) & (day < model.horizon)
    k = 0
    while active.any():
        live = np.flatnonzero(active)
        page, column = divmod(k, VISITS)
        r = rows[live]
        d, x = visit_draws(
            model,
            state[live],
            tables.uniforms(Purpose.STAGE_DURATION, page)[r, column],
            tables.uniforms(Purpose.STAGE_EXIT, page)[r, column],
        )
        step_d = np.full(n, np.nan)
        step_x = np.full(n, -1, dtype=np.int64)
        step_d[live], step_x[live] = d, x
        steps_d.append(step_d)
        steps_s.append(np.where(active, state, -1))
        steps_x.append(step_x)
        day[live] += d
        state[live] = x
        active &= (state < won) & (day < model.horizon)
        k += 1
    if not steps_d:
        empty = np.empty(0)
        return Paths(empty, empty.astype(np.int64), empty.astype(np.int64), np.zeros(n + 1, int))
    d_matrix = np.stack(steps_d, axis=1)
    taken = ~np.isnan(d_matrix)  # visits are contiguous from k = 0 in each row
    offsets = np.concatenate([[0], np.cumsum(taken.sum(axis=1))])
    return Paths(
        durations=d_matrix[taken],
        states=np.stack(steps_s, axis=1)[taken],
        next_states=np.stack(steps_x, axis=1)[taken],
        offsets=offsets,
    )


@dataclass
class VisitLog:
    """Every visit of a replication begun before the horizon, with its times."""

    deal: np.ndarray
    state: np.ndarray
    next_state: np.ndarray
    start: np.ndarray
    end: np.ndarray  # may lie past the horizon: the visit is still under way there

    @classmethod
    def of(cls, paths: list[Paths], created: list[np.ndarray], first_ids: list[int]) -> VisitLog:
        parts = []
        for p, start_days, first in zip(paths, created, first_ids, strict=True):
            counts = np.diff(p.offsets)
            deal = np.repeat(np.arange(len(counts)), counts)
            # Each visit ends at its start plus its duration, added in the same order SimPy adds
            # them, so the times here equal the simulation clock bit for bit.
            end = np.empty(len(p.durations))
            start = np.empty(len(p.durations))
            for i in range(int(counts.max()) if len(counts) else 0):
                at = p.offsets[:-1] + i
                has = counts > i
                idx = at[has]
                prev = start_days[has] if i == 0 else end[idx - 1]
                start[idx] = prev
                end[idx] = prev + p.durations[idx]
            parts.append((deal + first, p.states, p.next_states, start, end))
        return cls(*(np.concatenate([part[j] for part in parts]) for j in range(5)))


def open_by_state(model: Model, log: VisitLog, period_ends: np.ndarray) -> np.ndarray:
    """Open deals by stage/dormant at each period end (a visit [start, end) covers the instant).

    Each visit adds one to its state from the first period end it covers to the last, as +1/-1
    marks in a (period, state) table summed down the periods.
    """
    width = model.n_stages + 1
    visible = log.state < width
    state = log.state[visible]
    first = np.searchsorted(period_ends, log.start[visible], side="left")
    after = np.searchsorted(period_ends, log.end[visible], side="left")
    marks = np.zeros((len(period_ends) + 1, width), dtype=np.int64)
    np.add.at(marks, (first, state), 1)
    np.add.at(marks, (after, state), -1)
    return np.cumsum(marks, axis=0)[:-1]
