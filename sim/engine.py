"""The SimPy model of one replication: one process per deal, the arrivals, the market.

Pure: ``simulate_replication(model, seed, replication)`` returns records and does no I/O.

All randomness is drawn beforehand and keyed by deal (:mod:`sim.draws`). Two ways to run a
replication give the same records for the same scenario and seed (tests hold them equal):

* the reference (:mod:`sim.deal`): each deal's SimPy process applies the rules itself, stretch
  by stretch; it runs when an event log is wanted, since it can say what happened when;
* the fast path (:mod:`sim.planner`, :mod:`sim.planned`): the same rules decide every deal's
  stretches for all deals at once with numpy, and each deal's process lives its plan.

The rules therefore exist twice, in scalar and in array form: a change to one must be made to
the other, and the equality tests (tests/test_engine.py, tests/test_properties.py) say when
they drift apart.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import simpy

from sim.draws import DealTables, Market, draw_deal_tables, draw_market
from sim.model import CAUSES, Model
from sim.randomness import Group, Purpose, Streams


@dataclass
class ReplicationRecords:
    """What one replication produced: flat per-deal arrays plus per-period counts."""

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
    n_events: int  # SimPy events processed (the fast path needs fewer: no arrival process)
    events: list[tuple] | None  # (deal, day, event, from_state, to_state, cause)

    @property
    def n_deals(self) -> int:
        return len(self.created)


def simulate_replication(
    model: Model, seed: int, replication: int, record_events: bool = False
) -> ReplicationRecords:
    """Run one replication of the scenario to its horizon."""
    with gc_paused():
        return Replication(model, seed, replication, record_events).run()


#: Deals the fast path plans in one pass: enough to spread the planner's per-step cost over
#: several replications, few enough to keep a block's tables small.
DEALS_PER_PLAN = 16_000
MAX_REPLICATIONS_PER_PLAN = 16


def simulate_replications(
    model: Model, seed: int, replications: range, record_events: bool = False
) -> Iterator[ReplicationRecords]:
    """Run the replications in order, yielding each one's records (the same records as
    ``simulate_replication`` gives for each alone).

    On the fast path, replications are planned a block at a time (see :mod:`sim.planned`).
    """
    if record_events:
        for r in replications:
            yield simulate_replication(model, seed, r, record_events)
        return
    from sim.planned import run_planned

    size = replications_per_plan(model)
    for start in range(0, len(replications), size):
        block = replications[start : start + size]
        with gc_paused():
            reps = [Replication(model, seed, r, False) for r in block]
            records = list(run_planned(reps))
        yield from records


def replications_per_plan(model: Model) -> int:
    """How many replications the fast path plans together (from the deals expected in one)."""
    expected = len(model.initial_states) + model.arrivals_per_day * model.horizon
    return int(max(1, min(MAX_REPLICATIONS_PER_PLAN, DEALS_PER_PLAN // max(expected, 1))))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector off while a replication runs.

    A replication allocates thousands of long-lived objects (a generator, a process and its
    events per deal), so the collector would run over and over and find nothing to free: it
    cost about a fifth of the time spent creating the processes. Reference counting still
    frees everything as usual; the few cycles left (events pending at the horizon) are
    collected once the collector is back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def open_by_state(model: Model, state, start, end) -> np.ndarray:
    """Open deals by stage/dormant at each period end (a stretch [start, end) covers it).

    Each stretch adds one to its state from the first period end it covers to the last, as
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


class TableLists:
    """A block's pre-drawn tables, read one number at a time with ``ndarray.item``.

    ``item`` (~60 ns) beats converting a deal's whole table to lists, since a deal reads only a
    few of the (states x visits) numbers drawn for it. Index ``page`` of each list is a page of
    ``VISITS`` visits.
    """

    def __init__(self, tables: DealTables):
        self.tables = tables
        self.durations_item: list = []
        self.exits_item: list = []
        self.funded_item: list = []
        self.recheck_item: list = []
        self.add_page()
        shocks = tables.shock_effect
        self.shock_effect_item = shocks.item if shocks is not None else None
        age = tables.age_in_stage
        self.age = age.tolist() if age is not None else None

    def add_page(self) -> None:
        page = len(self.durations_item)
        durations, exits = self.tables.tables(page)
        self.durations_item.append(durations.item)
        self.exits_item.append(exits.item)
        if self.tables.model.budget is not None:
            self.funded_item.append(self.tables.uniforms(Purpose.BUDGET_FUNDED, page).item)
            self.recheck_item.append(self.tables.uniforms(Purpose.BUDGET_RECHECK, page).item)


class Replication:
    """The shared state of one replication; deals write their records into its lists."""

    def __init__(self, model: Model, seed: int, replication: int, record_events: bool):
        self.model = model
        self.replication = replication
        self.streams = Streams(seed, replication)
        self.market: Market = draw_market(model, self.streams)
        n_initial = len(model.initial_states)
        self.n_initial = n_initial
        self.initial = draw_deal_tables(model, self.streams, Group.INITIAL, n_initial, self.market)
        self.arrivals = draw_deal_tables(
            model, self.streams, Group.ARRIVALS, self.market.n_arrival_rows, self.market
        )
        n = n_initial + len(self.market.arrival_days)
        self.n = n
        self.cur = [-1] * n
        self.closed = [np.nan] * n
        self.stall = [[0.0] * n for _ in CAUSES]
        self.touched = [0] * n
        self.ended_by = [-1] * n
        # Every stay in a state, (state, start, end), for flows and open deals by period.
        self.stays: list[tuple[int, float, float]] = []
        self.entered = [0.0] * n
        self.events: list[tuple] | None = [] if record_events else None
        self.env = simpy.Environment()

    def run(self, allow_planned: bool = True) -> ReplicationRecords:
        """Simulate to the horizon: the fast path, unless an event log is wanted (or, in tests,
        ``allow_planned=False`` asks for the reference)."""
        if allow_planned and self.events is None:
            from sim.planned import run_planned

            return next(run_planned([self]))
        return self.run_general()

    def run_general(self) -> ReplicationRecords:
        from sim.deal import DealLives

        model, env = self.model, self.env
        lives = DealLives(self)
        initial = TableLists(self.initial)
        for i, state in enumerate(model.initial_states):
            env.process(lives.process(i, state, initial, i))
        env.process(self.arrival_process(lives, self.n_initial))
        if model.shocks is not None and self.events is not None:
            env.process(self.market_log())
        env.run(until=model.horizon)
        lives.finish(model.horizon)
        if self.events is not None:
            self.events.sort(key=lambda event: event[1])  # stretches log their inner events late
        n_moves = len(self.stays)
        for i, state in enumerate(self.cur):  # the stays still under way at the horizon
            if 0 <= state < model.won:
                self.stays.append((state * model.n_states, self.entered[i], np.inf))
        stays = np.asarray(self.stays, dtype=float).reshape(-1, 3)  # no deals: no rows
        code, start, end = stays[:, 0].astype(np.int64), stays[:, 1], stays[:, 2]
        state = code // model.n_states
        # SimPy processed each process's start (the deals' and the arrival process's), each
        # move (one timeout per stretch) and each arrival's timeout.
        n_events = self.n + 1 + n_moves + len(self.market.arrival_days)
        obs = open_by_state(model, state, start, end)
        return self._records(obs, code[:n_moves], n_events)

    def arrival_process(self, lives, first_id: int):
        env, timeout, market = self.env, self.env.timeout, self.market
        arrivals = TableLists(self.arrivals)
        for j, (day, row) in enumerate(
            zip(market.arrival_days.tolist(), market.arrival_rows.tolist(), strict=True)
        ):
            yield timeout(day - env.now)
            env.process(lives.process(first_id + j, 0, arrivals, row))

    def market_log(self):
        """Writes each shock into the event log (the deals react to it themselves)."""
        timeout, env = self.env.timeout, self.env
        for day, severity in zip(self.market.shock_days, self.market.shock_severity, strict=True):
            yield timeout(day - env.now)
            self.events.append((-1, env.now, "shock", -1, -1, f"shock:severity={severity:.2f}"))

    def _records(
        self, open_by_state: np.ndarray, moves: np.ndarray, n_events: int
    ) -> ReplicationRecords:
        model = self.model
        n_states = model.n_states
        flows = np.bincount(moves, minlength=n_states * n_states).reshape(n_states, n_states)
        n_initial = len(model.initial_states)
        n_arrived = self.n - n_initial
        return ReplicationRecords(
            replication=self.replication,
            created=np.concatenate([model.initial.created, self.market.arrival_days]),
            first_state=np.concatenate(
                [np.asarray(model.initial_states, dtype=np.int64), np.zeros(n_arrived, np.int64)]
            ),
            amount=np.concatenate(
                [self.initial.amounts, self.arrivals.amounts[self.market.arrival_rows]]
            ),
            state=np.asarray(self.cur),
            closed=np.asarray(self.closed),
            stall=_per_deal_stall(self.stall, self.n),
            touched=np.asarray(self.touched),
            ended_by=np.asarray(self.ended_by),
            open_by_state=open_by_state,
            flows=flows,
            shock_days=self.market.shock_days,
            shock_severity=self.market.shock_severity,
            n_events=n_events,
            events=self.events,
        )


def _per_deal_stall(stall, n: int) -> np.ndarray:
    """(n, causes) from either the process's per-cause lists or the planner's matrix."""
    if isinstance(stall, np.ndarray):
        return stall
    return np.asarray(stall).T.reshape(n, len(CAUSES))
