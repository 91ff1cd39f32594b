"""What a replication produces, whichever engine ran it: flat per-deal arrays and per-period
counts (the results are built from these alone)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.model import Model


@dataclass
class ReplicationRecords:
    """What one replication produced: flat per-deal arrays plus per-period counts.

    Deals are numbered day-0 pipeline first, then the arrivals in the order they arrived.
    """

    replication: int
    created: np.ndarray  # day each deal entered the pipeline
    first_state: np.ndarray
    amount: np.ndarray
    state: np.ndarray  # state at the horizon: a stage, dormant, or an outcome
    closed: np.ndarray  # close day, nan while open
    stall: np.ndarray  # (n, len(CAUSES)) days lost by cause within the horizon
    touched: np.ndarray  # bit c set: cause c made the deal wait or moved it
    ended_by: np.ndarray  # cause that sent the deal straight to an outcome, or -1
    open_by_state: np.ndarray  # (periods, S+1) open deals by stage/dormant at each period end
    flows: np.ndarray  # (n_states, n_states) moves between states
    shock_days: np.ndarray
    shock_severity: np.ndarray
    n_events: int  # SimPy events processed (0 on the vectorized engine, which has none)
    events: list[tuple] | None  # (deal, day, event, from_state, to_state, cause)
    teams: list = field(default_factory=list)  # per [[team]]: sim.teams.TeamRecords

    @property
    def n_deals(self) -> int:
        return len(self.created)


def open_by_state(model: Model, state, start, end) -> np.ndarray:
    """Open deals by stage/dormant at each period end (a stay [start, end) covers it).

    Each stay adds one to its state from the first period end it covers to the last, as
    +1/-1 marks in a (period, state) table summed down the periods (counted with bincount
    over the flattened table).
    """
    width = model.n_stages + 1
    visible = state < width
    shown = state[visible]
    periods_before = model.calendar.period_ends_before
    first = periods_before(start[visible]) * width + shown
    after = periods_before(end[visible]) * width + shown
    size = (model.calendar.n_periods + 1) * width
    marks = np.bincount(first, minlength=size) - np.bincount(after, minlength=size)
    return np.cumsum(marks.reshape(-1, width), axis=0)[:-1]


def open_by_state_of_moves(
    model: Model, first_state, start, moved_from, moved_to, day
) -> np.ndarray:
    """``open_by_state`` counted from the deals' creations and moves instead of their stays.

    A stay starts at the deal's creation (``first_state`` from ``start``) or with the move into
    it, and ends with the move out of it; an open stay's end, past the horizon, only ever marks
    the periods' extra last row, dropped. So the same +1/-1 marks come from the creations
    (+1), and from each move (-1 for the state it leaves, +1 for the one it enters, both on its
    day): the SimPy engine keeps no start day per move, and no open stay is looked up at the
    end.
    """
    width = model.n_stages + 1
    period = model.calendar.period_ends_before(day) * width
    size = (model.calendar.n_periods + 1) * width

    def marks(state: np.ndarray, at: np.ndarray) -> np.ndarray:
        visible = state < width
        return np.bincount(at[visible] + state[visible], minlength=size)

    created = marks(first_state, model.calendar.period_ends_before(start) * width)
    marked = created + marks(moved_to, period) - marks(moved_from, period)
    return np.cumsum(marked.reshape(-1, width), axis=0)[:-1]
