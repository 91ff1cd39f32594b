"""The SimPy engine: one replication as processes that meet over shared events.

The deal model, written the way SimPy is meant to be used:

* each deal is a process (:mod:`sim.deal`);
* new deals come from an arrival process;
* waiting for money is waiting on the budget office's release event, one event per fiscal
  year's release that every unfunded deal at the gate waits on;
* the market is a process: at each shock it interrupts every exposed deal the shock resets
  (all at the same instant: the correlation that gives forecasts their fat tails);
* our own teams are resources (:mod:`sim.teams`) that deals queue for, hold and release;
* the decision groups are a process that walks the replacements of every deal's people in time
  order and interrupts a deal when a person whose role matters at its current stage is replaced
  by someone who moves it.

All randomness is drawn beforehand and keyed by deal (:mod:`sim.draws`), so this engine and the
vectorized one (:mod:`sim.vectorized`) read the same numbers and give the same records.
"""

from __future__ import annotations

import array
import bisect
import itertools
import math

import numpy as np
import simpy

from sim.deal import SHOCK, DealLives, TableLists
from sim.draws import ReplicationDraws
from sim.model import CAUSES, Model
from sim.records import ReplicationRecords, open_by_state_of_moves
from sim.teams import Desk


class BudgetOffice:
    """The buyers' fiscal calendar: one shared event per budget release.

    The release events are created at day 0 with the release day as their delay, so each fires
    at exactly its day (a timeout's end is its creation time plus its delay).
    """

    def __init__(self, env: simpy.Environment, releases: list[float], horizon: float):
        self.releases = releases
        never = env.event()  # a release past the horizon: waited on, never seen
        self.events = [
            env.timeout(day) if 0 < day < horizon else never if day >= horizon else None
            for day in releases
        ]

    def release_after(self, now: float) -> simpy.Event:
        """The event of the first release strictly after ``now``."""
        return self.events[bisect.bisect_right(self.releases, now)]


class SimpyReplication:
    """The shared state of one replication; deals write their records into its lists."""

    def __init__(self, model: Model, draws: ReplicationDraws, record_events: bool):
        self.model = model
        self.draws = draws
        self.market = draws.market
        # The timing release days as Python floats: a numpy scalar read off the array would
        # become a deal's clock, then SimPy's (every sum and heap comparison after it slower).
        release = draws.market.timing_release
        self.timing_release = release.tolist() if release is not None else None
        self.n_initial = draws.n_initial
        n = draws.n
        self.n = n
        self.env = simpy.Environment()
        self.cur = [-1] * n  # each deal's state; -1 before it exists
        self.deals: list[simpy.Process | None] = [None] * n
        self.lives: list = []  # the deals' generators (their processes' code)
        self.closed = [np.nan] * n
        self.stall = [[0.0] * n for _ in CAUSES]
        self.touched = [0] * n
        self.ended_by = [-1] * n
        # Every move: (from * n_states + to) and its day, for flows and open deals by period
        # (two flat lists: cheap to append, to turn to arrays; a stay's start is the day of the
        # move into it, see sim.records.open_by_state_of_moves).
        self.moves: list[int] = []
        self.move_days = array.array("d")  # doubles: no float object kept per move
        self.entered = [0.0] * n
        self.events: list[tuple] | None = [] if record_events else None
        self.closed_for_good = self.env.event()  # what closed deals wait on: never triggered
        self.budget = None
        if model.budget is not None:
            self.budget = BudgetOffice(self.env, model.budget.releases, model.horizon)
        self.desks = [Desk(self.env, team, n, self.events) for team in model.teams]

    def run(self) -> ReplicationRecords:
        model, env, draws = self.model, self.env, self.draws
        lives = DealLives(self)
        initial = TableLists(draws.initial, self._deal_of_rows()[0], self.cur, model.won)
        first = [
            lives.life(i, state, initial, i)
            for i, state in enumerate(model.initial.states.tolist())
        ]
        self.lives.extend(first)  # kept to be closed at the end (_end_lives)
        process = env.process
        self.deals[: len(first)] = [process(life) for life in first]
        if len(self.market.arrival_days):
            process(self._arrivals(lives))
        if model.shocks is not None and len(self.market.shock_days):
            process(self._market())
        if model.roles:
            process(self._decision_groups())
            if self.events is not None:
                process(self._replacements_logged())
        env.run(until=model.horizon)
        lives.finish(model.horizon)
        self._end_lives()
        return self._records()

    def _end_lives(self) -> None:
        """Close the deal processes still suspended at the horizon (closed deals sleep for good,
        see :mod:`sim.deal`): their frames hold the replication in a cycle that only the
        garbage collector would free, replication after replication, over a growing heap."""
        for life in self.lives:
            life.close()
        # A process and the event it waits on hold each other (the event's callbacks resume
        # it): 2,000 such pairs a replication left to the collector, whose passes then cost
        # more than reducing the replication (about 5% of a portfolio run). The closed deals
        # all wait on one event; only the deals still open wait on events of their own.
        self.closed_for_good.callbacks.clear()
        won = self.model.won
        for deal, state in zip(self.deals, self.cur, strict=True):
            if 0 <= state < won:
                target = deal.target
                if target is not None and target.callbacks:
                    target.callbacks.clear()

    # --- the processes around the deals -----------------------------------------------------

    def _arrivals(self, lives: DealLives):
        """New deals, each started as its own process on its arrival day."""
        env, timeout, market = self.env, self.env.timeout, self.market
        arrived = self._deal_of_rows()[1]
        arrivals = TableLists(self.draws.arrivals, arrived, self.cur, self.model.won)
        first = self.n_initial
        for j, (day, row) in enumerate(
            zip(market.arrival_days.tolist(), market.arrival_rows.tolist(), strict=True)
        ):
            yield timeout(delay_until(env.now, day))
            life = lives.life(first + j, 0, arrivals, row)
            self.lives.append(life)
            self.deals[first + j] = env.process(life)

    def _market(self):
        """Market-wide shocks: each one interrupts, at its instant, every exposed deal it resets.

        A deal is exposed in ``from_stage`` and the active stages after it (waiting for money
        at the gate included); whether a shock resets an exposed deal was drawn per deal.
        """
        model, env, cur, deals = self.model, self.env, self.cur, self.deals
        shocks = model.shocks
        days = self.market.shock_days
        # Created at day 0: each shock comes at exactly its day, as the vectorized engine has it.
        arrivals = [env.timeout(day) for day in days.tolist()]
        draws = self.draws
        reacting = self._deals_where(draws.initial.shock_reacts, draws.arrivals.shock_reacts)
        exposed = range(shocks.from_stage, model.n_stages)
        for k, shock in enumerate(arrivals):
            yield shock
            for i in reacting[k]:
                if cur[i] in exposed:
                    deals[i].interrupt(SHOCK)
            if self.events is not None:
                self._log_shock(k, set(reacting[k]), exposed)

    def _log_shock(self, k: int, reset: set[int], exposed: range) -> None:
        now = self.env.now
        severity = self.market.shock_severity[k]
        self.events.append((-1, now, "shock", -1, -1, f"shock:severity={severity:.2f}"))
        for i, state in enumerate(self.cur):
            if state in exposed and i not in reset:
                self.events.append((i, now, "shock_survived", state, state, "shock"))

    def _decision_groups(self):
        """Replacements of every deal's people that move it, in time order: one of a person who
        matters at the deal's current stage interrupts it."""
        cur, deals, matters = self.cur, self.deals, self._roles_matter()
        env, won = self.env, self.model.won
        timeout = env.timeout
        now = env.now  # the clock, kept here: each timeout below lands on its day exactly
        for day, i, j in zip(*self._replacement_timeline(moving=True), strict=True):
            if cur[i] >= won:  # closed for good: its people no longer matter (no wake-up)
                continue
            delay = day - now
            if now + delay != day:  # rounded an ulp off: delay_until finds the one that lands
                delay = delay_until(now, day)
            yield timeout(delay)
            now = day
            if matters[j][cur[i]]:
                deals[i].interrupt(j)

    def _replacements_logged(self):
        """The replacements that move nothing, written into the event log as they happen.

        A process of its own: walked by the one above, their stops would change the clock from
        which it reaches the next moving replacement, and a timeout cannot always land on a
        given day exactly (:func:`delay_until`), so keeping a log could move an interruption
        by an ulp."""
        cur, matters, log, env = self.cur, self._roles_matter(), self.events, self.env
        roles, won = self.model.roles, self.model.won
        for day, i, j in zip(*self._replacement_timeline(moving=False), strict=True):
            if cur[i] >= won:
                continue
            yield env.timeout(delay_until(env.now, day))
            state = cur[i]
            if matters[j][state]:
                name = roles[j].name
                log.append((i, env.now, "person_replaced", state, state, f"group_change:{name}"))

    def _roles_matter(self) -> list[list[bool]]:
        """Per role, by state (and -1: a deal not yet created, the last entry): does it matter?"""
        model = self.model
        return [[s in role.stages for s in range(model.n_states)] + [False] for role in model.roles]

    def _replacement_timeline(self, moving: bool) -> tuple[list, list, list]:
        """(day, deal, role) of the replacements before the horizon whose successor moves the
        deal (``moving``) or does not, in time order."""
        horizon = self.model.horizon
        groups = (self.draws.initial, self.draws.arrivals)
        parts = []
        for tables, deal_of_row in zip(groups, self._deal_of_rows(), strict=True):
            for j, times in enumerate(tables.role_times):
                moves = tables.role_moves[j]
                rows, cols = np.nonzero((moves == moving) & (times < horizon))
                deals = deal_of_row[rows]
                kept = deals >= 0
                rows, cols, deals = rows[kept], cols[kept], deals[kept]
                parts.append((times[rows, cols], deals, np.full(len(deals), j)))
        days, deals, roles = (np.concatenate(column) for column in zip(*parts, strict=True))
        order = np.argsort(days, kind="stable")
        return days[order].tolist(), deals[order].tolist(), roles[order].tolist()

    def _deal_of_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """For each row of the day-0 and of the arrival tables, its deal (-1: a candidate
        arrival the inflow's thinning turned away)."""
        market = self.market
        arrived = np.full(self.draws.arrivals.n, -1, dtype=np.int64)
        arrived[market.arrival_rows] = self.n_initial + np.arange(len(market.arrival_rows))
        return np.arange(self.n_initial), arrived

    def _deals_where(self, initial: np.ndarray, arrivals: np.ndarray) -> list[list[int]]:
        """Per column (shock), the deals whose row is True in the day-0 or arrival tables."""
        day0, arrived = self._deal_of_rows()
        deals = np.concatenate([day0, arrived])
        table = np.vstack([initial, arrivals])
        return [deals[(table[:, k]) & (deals >= 0)].tolist() for k in range(table.shape[1])]

    # --- the records ------------------------------------------------------------------------

    def _records(self) -> ReplicationRecords:
        model, draws = self.model, self.draws
        n_states = model.n_states
        if self.events is not None:
            self.events.sort(key=lambda event: event[1])
        moves = _array(self.moves, np.int64)
        cur = np.asarray(self.cur, dtype=np.int64)
        first_state = draws.first_states()
        created = cur >= 0  # every deal by the horizon (arrivals come before it)
        open_by = open_by_state_of_moves(
            model, first_state[created], draws.start_days()[created], moves // n_states,
            moves % n_states, np.frombuffer(self.move_days, dtype=float),
        )  # fmt: skip
        flows = np.bincount(moves, minlength=n_states * n_states).reshape(n_states, -1)
        return ReplicationRecords(
            replication=draws.replication,
            created=draws.created(),
            first_state=first_state,
            amount=draws.amounts(),
            state=cur,
            closed=np.asarray(self.closed, dtype=float),
            stall=_array(itertools.chain.from_iterable(self.stall), float, len(CAUSES) * self.n)
            .reshape(len(CAUSES), self.n)
            .T.reshape(self.n, len(CAUSES)),
            touched=np.asarray(self.touched, dtype=np.int64),
            ended_by=np.asarray(self.ended_by, dtype=np.int64),
            open_by_state=open_by,
            flows=flows,
            shock_days=self.market.shock_days,
            shock_severity=self.market.shock_severity,
            n_events=events_processed(self.env),
            events=self.events,
            teams=[desk.records(model.horizon) for desk in self.desks],
        )


def _array(values, dtype, count: int = -1) -> np.ndarray:
    """A flat list (or iterable) of Python numbers as an array: ``np.fromiter`` reads them one
    by one, without ``np.asarray``'s look at every item for the shape and type of the result
    (a quarter faster on the replication's lists of moves and waits)."""
    return np.fromiter(values, dtype=dtype, count=len(values) if count < 0 else count)


def delay_until(now: float, day: float) -> float:
    """The delay of a timeout from ``now`` that ends at exactly ``day``.

    SimPy ends a timeout at ``now + delay``, which can round an ulp away from ``day``; the other
    processes' clocks (arrivals, the decision groups) then drift from the days the deals' own
    numbers give (and from the vectorized engine's). A delay an ulp or two off ``day - now``
    always lands on ``day`` exactly.
    """
    delay = day - now
    while now + delay < day:
        delay = math.nextafter(delay, math.inf)
    while now + delay > day:
        delay = math.nextafter(delay, -math.inf)
    return delay


def events_processed(env: simpy.Environment) -> int:
    """SimPy events processed so far: those scheduled less those still waiting in the queue.

    SimPy keeps no counter of its own; every scheduled event takes the next id of
    ``env._eid``, so reading that count costs nothing per event.
    """
    scheduled = next(env._eid)  # the id the next event would get = events scheduled so far
    return scheduled - len(env._queue)
