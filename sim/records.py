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
