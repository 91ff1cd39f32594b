"""The SimPy model of one replication: one process per deal, the arrivals, the market.

Pure: ``simulate_replication(model, seed, replication)`` returns records and does no I/O.

Speed comes from drawing every random number beforehand (:mod:`sim.draws`): a stage visit is two
list look-ups and one timeout. Interruptions whose times are known in advance (a person replaced
in the decision group, a market shock) are found by the deal itself when it starts a stretch of
time, and it sleeps only until the first of them. This is exactly what an interrupt would do, at
the cost of one timeout instead of a process wake-up in every deal.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
import simpy

from sim.calendar import next_release
from sim.draws import (
    SHOCK_SLOTS,
    VISITS,
    DealTables,
    Market,
    draw_deal_tables,
    draw_market,
    extend_role_times,
    extend_shock_effects,
    extend_visits,
)
from sim.model import (
    BUDGET_REWORK,
    BUDGET_WAIT,
    CAUSES,
    DORMANT_CAUSE,
    GROUP_REWORK,
    SHOCK_REWORK,
    TIMING_WAIT,
    Model,
)
from sim.paths import VisitLog, open_by_state, walk
from sim.randomness import Group, Streams, name_key

INF = float("inf")


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
    n_events: int  # SimPy events processed
    events: list[tuple] | None  # (deal, day, event, from_state, to_state, cause)

    @property
    def n_deals(self) -> int:
        return len(self.created)


def simulate_replication(
    model: Model, seed: int, replication: int, record_events: bool = False
) -> ReplicationRecords:
    """Run one replication of the scenario to its horizon."""
    return _Replication(model, seed, replication, record_events).run()


class _Replication:
    """The state of one replication; deal processes are closures over its lists for speed."""

    def __init__(self, model: Model, seed: int, replication: int, record_events: bool):
        self.model = model
        self.replication = replication
        self.streams = Streams(seed, replication)
        self.market: Market = draw_market(model, self.streams)
        n_initial = len(model.initial_states)
        self.initial = draw_deal_tables(model, self.streams, Group.INITIAL, n_initial)
        self.arrivals = draw_deal_tables(
            model, self.streams, Group.ARRIVALS, self.market.n_arrival_rows
        )
        n = n_initial + len(self.market.arrival_days)
        self.n = n
        self.cur = [-1] * n
        self.closed = [np.nan] * n
        self.stall = [[0.0] * n for _ in CAUSES]
        self.touched = [0] * n
        self.ended_by = [-1] * n
        self.extra_timeouts = 0  # timeouts beyond one per stage visit (waits, interruptions)
        # A stall in progress (dormant, budget or timing wait): cause and start, so that the
        # horizon can cut it. A rework in progress: cause, start, stage to get back to, and the
        # waiting time already counted when it began (waits are their own causes).
        self.wait_cause = [-1] * n
        self.wait_since = [0.0] * n
        self.rework = [None] * n
        self.transitions: list[int] = []
        self.events: list[tuple] | None = [] if record_events else None
        self.exposed = self._exposure()
        self.env = simpy.Environment()

    # --- running -------------------------------------------------------------------------------

    def run(self, allow_planned: bool = True) -> ReplicationRecords:
        """Simulate to the horizon; a scenario of stage dynamics only takes the planned path."""
        stages_only = self.exposed is None and self.model.budget is None
        if allow_planned and stages_only and self.model.timing is None and self.events is None:
            return self.run_planned()
        model, env = self.model, self.env
        deal = self.deal_process()
        initial = _TableLists(self.initial)
        for i, state in enumerate(model.initial_states):
            env.process(deal(i, state, initial, i))
        env.process(self.arrival_process(deal, len(model.initial_states)))
        if model.shocks is not None and self.events is not None:
            env.process(self.market_log())
        period_ends = model.calendar.period_ends()
        marks: list[int] = []
        env.process(self.period_marks(period_ends[:-1], marks))
        env.run(until=model.horizon)
        marks.append(len(self.transitions))
        moves = np.asarray(self.transitions, dtype=np.int64)
        return self._records(self._open_by_state(period_ends, marks), moves)

    def run_planned(self) -> ReplicationRecords:
        """A scenario of stage dynamics only: paths decided in bulk, lived by the processes.

        Gives the same records as the general ``deal`` process (a test holds them equal), with
        a visit reduced to one timeout and one state update.
        """
        model, env, market = self.model, self.env, self.market
        n_initial = len(model.initial_states)
        initial_states = np.asarray(model.initial_states, dtype=np.int64)
        n_arrived = len(market.arrival_days)
        paths = [
            walk(
                model,
                self.streams,
                self.initial,
                np.arange(n_initial),
                initial_states,
                np.zeros(n_initial),
            ),
            walk(
                model,
                self.streams,
                self.arrivals,
                market.arrival_rows,
                np.zeros(n_arrived, np.int64),
                market.arrival_days,
            ),
        ]
        created = [0.0] * self.n
        deal = self._planned_deal_process(created)
        initial_path = paths[0]
        states = model.initial_states
        bounds = initial_path.offsets.tolist()
        durations = initial_path.durations.tolist()
        next_states = initial_path.next_states.tolist()
        for i in range(n_initial):
            env.process(deal(i, states[i], bounds[i], bounds[i + 1], durations, next_states))
        env.process(self._planned_arrivals(deal, n_initial, paths[1]))
        env.run(until=model.horizon)
        log = VisitLog.of(
            paths,
            [np.asarray(created[:n_initial]), np.asarray(created[n_initial:])],
            [0, n_initial],
        )
        self._dormant_from_log(log)
        done = log.end < model.horizon
        moves = log.state[done] * model.n_states + log.next_state[done]
        return self._records(open_by_state(model, log, model.calendar.period_ends()), moves)

    def _planned_deal_process(self, created: list[float]):
        env, timeout = self.env, self.env.timeout
        cur, closed = self.cur, self.closed
        first_outcome = self.model.won

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

    def _planned_arrivals(self, deal, first_id: int, path):
        env, timeout, market = self.env, self.env.timeout, self.market
        bounds = path.offsets.tolist()
        durations = path.durations.tolist()
        next_states = path.next_states.tolist()
        for j, day in enumerate(market.arrival_days.tolist()):
            yield timeout(day - env.now)
            env.process(deal(first_id + j, 0, bounds[j], bounds[j + 1], durations, next_states))

    def _dormant_from_log(self, log: VisitLog) -> None:
        """Dormant time, touches and give-ups of planned deals, from their visits."""
        model = self.model
        dormant = log.state == model.dormant
        if not dormant.any():
            return
        spent = np.minimum(log.end[dormant], model.horizon) - log.start[dormant]
        per_deal = np.bincount(log.deal[dormant], spent, minlength=self.n)
        self.stall[DORMANT_CAUSE] = per_deal.tolist()
        touched = np.zeros(self.n, dtype=np.int64)
        touched[log.deal[dormant]] = 1 << DORMANT_CAUSE
        self.touched = touched.tolist()
        gave_up = dormant & (log.next_state >= model.won) & (log.end < model.horizon)
        ended = np.full(self.n, -1)
        ended[log.deal[gave_up]] = DORMANT_CAUSE
        self.ended_by = ended.tolist()

    def arrival_process(self, deal, first_id: int):
        env, timeout, market = self.env, self.env.timeout, self.market
        arrivals = _TableLists(self.arrivals)
        for j, (day, row) in enumerate(
            zip(market.arrival_days.tolist(), market.arrival_rows.tolist(), strict=True)
        ):
            yield timeout(day - env.now)
            env.process(deal(first_id + j, 0, arrivals, row))

    def market_log(self):
        """Writes each shock into the event log (the deals react to it themselves)."""
        timeout, env = self.env.timeout, self.env
        for day, severity in zip(self.market.shock_days, self.market.shock_severity, strict=True):
            yield timeout(day - env.now)
            self.events.append((-1, env.now, "shock", -1, -1, f"shock:severity={severity:.2f}"))

    def period_marks(self, days: np.ndarray, marks: list[int]):
        """Notes how many moves had happened at each period end (see ``_open_by_state``)."""
        env = self.env
        for day in days.tolist():
            yield env.timeout(day - env.now)
            marks.append(len(self.transitions))

    def _open_by_state(self, period_ends: np.ndarray, marks: list[int]) -> np.ndarray:
        """Open deals by stage/dormant at each period end, rebuilt from the log of moves.

        Moves are logged in time order, so the state counts at a period end are the day-0
        pipeline, plus the arrivals so far, plus the net moves before that period's mark. This
        costs nothing per visit, unlike counting every deal at every period end.
        """
        model = self.model
        width = model.n_states
        moves = np.asarray(self.transitions, dtype=np.int64)
        period_of_move = np.searchsorted(np.asarray(marks), np.arange(len(moves)), side="right")
        n_periods = len(marks)
        net = np.zeros((n_periods + 1, width), dtype=np.int64)
        np.add.at(net, (period_of_move, moves % width), 1)
        np.add.at(net, (period_of_move, moves // width), -1)
        counts = np.cumsum(net[:n_periods], axis=0)
        counts += np.bincount(np.asarray(model.initial_states, dtype=np.int64), minlength=width)
        arrived = np.searchsorted(self.market.arrival_days, period_ends, side="left")
        counts[:, 0] += arrived
        return counts[:, : model.n_stages + 1]

    # --- one deal --------------------------------------------------------------------------------

    def deal_process(self):
        """Make the deal generator, with everything it reads bound once as closure variables.

        The hot path is the ``else`` branch of the loop: a visit nothing can interrupt costs two
        list look-ups, a timeout and a few comparisons.
        """
        env = self.env
        timeout = env.timeout
        model = self.model
        cur, transitions, events = self.cur, self.transitions, self.events
        closed = self.closed
        n_states = model.n_states
        dormant = model.dormant
        first_outcome = model.won
        budget = model.budget
        gate = budget.gate if budget is not None else -1
        timing_stage = model.timing.stage if model.timing is not None else -1
        exposed = self.exposed
        mechanisms = exposed is not None or budget is not None
        # States whose visit needs more than a plain timeout.
        special = [s == dormant or s == timing_stage for s in range(model.n_stages + 1)]
        if exposed is not None:
            special = [a or b for a, b in zip(special, exposed, strict=True)]

        def deal(i: int, state: int, lists: _TableLists, row: int):
            """The life of deal ``i``: stage visits until an outcome (or the horizon)."""
            duration_at = lists.durations.item
            exit_at = lists.exits.item
            cur[i] = state
            if events is not None:
                events.append((i, env.now, "created", -1, state, "arrival"))
            interrupts = _Interrupts(self, i, lists.tables, row) if exposed is not None else None
            cause = "stage"
            k = 0
            while state < first_outcome:
                if k < VISITS:
                    duration = duration_at(row, state, k)
                    nxt = exit_at(row, state, k)
                else:
                    duration, nxt = self._extended_visit(lists, row, state, k)
                k += 1
                if special[state]:
                    nxt, cause = yield from self._special_visit(i, state, duration, nxt, interrupts)
                else:
                    yield timeout(duration)
                if nxt == gate and state != gate:
                    nxt, cause = yield from self._budget_entry(
                        i, k - 1, lists, row, interrupts, cause
                    )
                transitions.append(state * n_states + nxt)
                if events is not None:
                    events.append((i, env.now, "move", state, nxt, cause))
                if mechanisms and self.rework[i] is not None:
                    self._settle_rework(i, nxt)
                state = nxt
                cur[i] = state
            closed[i] = env.now
            if events is not None:
                events.append((i, env.now, "close", -1, state, cause))

        def plain_deal(i: int, state: int, lists: _TableLists, row: int):
            """``deal`` for a scenario with no mechanism and no event log: the pure chain.

            Same draws and decisions as ``deal``; only the checks that cannot fire are left out.
            """
            duration_at = lists.durations.item
            exit_at = lists.exits.item
            cur[i] = state
            k = 0
            while state < first_outcome:
                try:
                    duration = duration_at(row, state, k)
                    nxt = exit_at(row, state, k)
                except IndexError:  # past the pre-drawn visits
                    duration, nxt = self._extended_visit(lists, row, state, k)
                k += 1
                if state == dormant:
                    yield from self._special_visit(i, state, duration, nxt, None)
                else:
                    yield timeout(duration)
                transitions.append(state * n_states + nxt)
                state = nxt
                cur[i] = state
            closed[i] = env.now

        return plain_deal if not mechanisms and events is None and timing_stage < 0 else deal

    def _extended_visit(self, lists: _TableLists, row: int, state: int, k: int):
        """(duration, next state) of a visit beyond the pre-drawn ones (a long, winding story)."""
        block = k // VISITS
        key = (row, block)
        if key not in lists.extended:
            lists.extended[key] = extend_visits(
                self.model, self.streams, lists.tables.group, row, block
            )
        durations, exits, _, _ = lists.extended[key]
        return durations[state][k % VISITS], exits[state][k % VISITS]

    def _budget_draws(self, lists: _TableLists, row: int, k: int) -> tuple[float, float]:
        """(funded draw, recheck draw) of the deal's k-th visit."""
        if k < VISITS:
            return lists.funded.item(row, k), lists.recheck.item(row, k)
        self._extended_visit(lists, row, 0, k)
        _, _, funded, recheck = lists.extended[(row, k // VISITS)]
        return funded[k % VISITS], recheck[k % VISITS]

    def _special_visit(self, i, state, duration, nxt, interrupts):
        """A visit to dormant, to the timing stage, or to a stage something can interrupt.

        Returns (next state, cause of the move).
        """
        env = self.env
        start = env.now
        if state == self.model.dormant:
            self._begin_wait(i, DORMANT_CAUSE)
            yield env.timeout(duration)
            self._end_wait(i)
            if nxt >= self.model.won:  # the give-up clock ran out: dormant ended the deal
                self.ended_by[i] = DORMANT_CAUSE
            return nxt, "dormant"
        if interrupts is not None and self.exposed[state]:
            hit = yield from interrupts.sleep(state, duration)
            self.extra_timeouts -= 1  # its last timeout is the visit's own, counted as a move
        else:
            yield env.timeout(duration)
            hit = None
        timing = self.model.timing
        if hit is None and timing is not None and state == timing.stage:
            hit = yield from self._timing_wait(i, interrupts, state)
        if hit is not None:
            return self._interrupted(i, state, hit, env.now - start)
        return nxt, "stage"

    def _exposure(self) -> list[bool] | None:
        """Per active state: can something outside the deal interrupt it there?"""
        model = self.model
        if not model.roles and model.shocks is None:
            return None
        exposed = [False] * (model.n_stages + 1)
        for role in model.roles:
            for s in role.stages:
                exposed[s] = True
        if model.shocks is not None:
            for s in range(model.shocks.from_stage, model.n_stages):
                exposed[s] = True
        return exposed

    # --- stall bookkeeping -------------------------------------------------------------------

    def _begin_wait(self, i: int, cause: int) -> None:
        self.wait_cause[i] = cause
        self.wait_since[i] = self.env.now
        self.touched[i] |= 1 << cause

    def _end_wait(self, i: int) -> None:
        self.stall[self.wait_cause[i]][i] += self.env.now - self.wait_since[i]
        self.wait_cause[i] = -1

    def _waited(self, i: int) -> float:
        stall = self.stall
        return stall[BUDGET_WAIT][i] + stall[TIMING_WAIT][i] + stall[DORMANT_CAUSE][i]

    def _start_rework(self, i: int, cause: int, stage: int, lost_work: float) -> None:
        """A cause moved the deal away from ``stage``: its time until it is back there is rework."""
        self.touched[i] |= 1 << cause
        previous = self.rework[i]
        if previous is not None:  # interrupted again: the earlier cause keeps its time so far
            self._credit_rework(i)
            stage = max(stage, previous[2])
        self.stall[cause][i] += lost_work
        self.rework[i] = (cause, self.env.now, stage, self._waited(i))

    def _credit_rework(self, i: int, until: float | None = None) -> None:
        cause, since, _, waited_before = self.rework[i]
        now = self.env.now if until is None else until
        self.stall[cause][i] += (now - since) - (self._waited(i) - waited_before)
        self.rework[i] = None

    def _settle_rework(self, i: int, entering: int) -> None:
        """Credit the rework when the deal is back at (or past) its stage, or closes."""
        target = self.rework[i][2]
        if entering >= self.model.won or entering >= target:
            self._credit_rework(i)

    # --- mechanisms ---------------------------------------------------------------------------

    def _interrupted(self, i: int, state: int, hit: tuple, elapsed: float) -> tuple[int, str]:
        """Apply a decision-group change or shock that moves the deal; returns (next, cause)."""
        label, target, cause_index = hit
        if target >= self.model.won:
            self.ended_by[i] = cause_index
        self._start_rework(i, cause_index, state, elapsed)
        return target, label

    def _budget_entry(self, i, k, lists, row, interrupts, cause):
        """Entering the gate stage: funded now, or wait for the next release and re-check.

        Returns the state the deal really moves to, and why.
        """
        budget = self.model.budget
        gate = budget.gate
        funded, recheck = self._budget_draws(lists, row, k)
        if funded < budget.funded_share:
            return gate, cause
        env = self.env
        release = next_release(budget.releases, env.now)
        if self.events is not None:
            self.events.append((i, env.now, "budget_wait", gate, gate, "budget"))
        self.cur[i] = gate  # a deal waiting for money stands at the gate
        self._begin_wait(i, BUDGET_WAIT)
        if interrupts is not None and self.exposed[gate]:
            hit = yield from interrupts.sleep(gate, release - env.now)
        else:
            yield env.timeout(release - env.now)
            self.extra_timeouts += 1
            hit = None
        self._end_wait(i)
        if hit is not None:
            return self._interrupted(i, gate, hit, 0.0)
        if self.events is not None:
            self.events.append((i, env.now, "budget_released", gate, gate, "budget"))
        if recheck < budget.recheck_probability:
            self._start_rework(i, BUDGET_REWORK, gate, 0.0)
            return budget.recheck_to, "budget_recheck"
        return gate, cause

    def _timing_wait(self, i, interrupts, state):
        """The client is ready and waits for a good moment of the market indicator."""
        env = self.env
        timing = self.model.timing
        now = env.now
        day = int(now)
        release = self.market.timing_release[day] if day < len(self.market.timing_release) else INF
        until = min(release, now + timing.max_wait_days)
        if until <= now:
            return None
        if self.events is not None:
            self.events.append((i, now, "timing_wait", state, state, "timing"))
        self._begin_wait(i, TIMING_WAIT)
        if interrupts is not None and self.exposed[state]:
            hit = yield from interrupts.sleep(state, until - now)
        else:
            yield env.timeout(until - now)
            self.extra_timeouts += 1
            hit = None
        self._end_wait(i)
        return hit

    # --- results ------------------------------------------------------------------------------

    def _records(self, open_by_state: np.ndarray, moves: np.ndarray) -> ReplicationRecords:
        model = self.model
        horizon = model.horizon
        # Stalls still running at the horizon end there.
        for i in np.flatnonzero(np.asarray(self.wait_cause) >= 0).tolist():
            self.stall[self.wait_cause[i]][i] += horizon - self.wait_since[i]
        for i in [i for i, rework in enumerate(self.rework) if rework is not None]:
            self._credit_rework(i, until=horizon)
        n_states = model.n_states
        flows = np.bincount(moves, minlength=n_states * n_states).reshape(n_states, n_states)
        n_initial = len(model.initial_states)
        n_arrived = self.n - n_initial
        n_processes = self.n + 2
        n_open = int(np.count_nonzero(np.asarray(self.cur) < model.won))
        n_timeouts = (
            len(moves)
            + n_open
            + self.extra_timeouts
            + len(self.market.arrival_days)
            + len(open_by_state)
        )
        return ReplicationRecords(
            replication=self.replication,
            created=np.concatenate([np.zeros(n_initial), self.market.arrival_days]),
            first_state=np.concatenate(
                [np.asarray(model.initial_states, dtype=np.int64), np.zeros(n_arrived, np.int64)]
            ),
            amount=np.concatenate(
                [self.initial.amounts, self.arrivals.amounts[self.market.arrival_rows]]
            ),
            state=np.asarray(self.cur),
            closed=np.asarray(self.closed),
            stall=np.asarray(self.stall).T.reshape(self.n, len(CAUSES)),
            touched=np.asarray(self.touched),
            ended_by=np.asarray(self.ended_by),
            open_by_state=open_by_state,
            flows=flows,
            shock_days=self.market.shock_days,
            shock_severity=self.market.shock_severity,
            n_events=n_processes + n_timeouts,
            events=self.events,
        )


class _TableLists:
    """A block's pre-drawn tables, read one number at a time with ``ndarray.item``.

    ``item`` (~60 ns) beats converting a deal's whole table to lists, since a deal reads only a
    few of the (states x visits) numbers drawn for it. Extension blocks become lists per deal.
    """

    def __init__(self, tables: DealTables):
        self.tables = tables
        self.durations = tables.durations
        self.exits = tables.exits
        self.funded = tables.funded
        self.recheck = tables.recheck
        self.extended: dict[int, tuple] = {}


class _Interrupts:
    """Known-in-advance interruptions of one deal: its people's replacements and market shocks."""

    def __init__(self, rep: _Replication, i: int, tables: DealTables, row: int):
        self.rep = rep
        self.i = i
        self.tables = tables
        self.row = row
        model = rep.model
        self.roles_at = [[] for _ in range(model.n_stages + 1)]
        for j, role in enumerate(model.roles):
            for s in role.stages:
                self.roles_at[s].append(j)
        self.role_times = [t[row].tolist() for t in tables.role_times]
        self.role_effect = [e[row].tolist() for e in tables.role_effect]
        self.role_next = [0] * len(model.roles)
        shocks = model.shocks
        self.shock_from = shocks.from_stage if shocks is not None else model.n_stages + 1
        self.shock_days = rep.market.shock_days.tolist()
        self.shock_severity = rep.market.shock_severity.tolist()
        self.shock_effect = tables.shock_effect[row].tolist() if shocks is not None else []

    def _next_replacement(self, j: int, now: float) -> tuple[float, int]:
        """The first replacement of role j's person after ``now`` (and its index)."""
        times = self.role_times[j]
        m = self.role_next[j]
        while True:
            if m == len(times):
                role = self.rep.model.roles[j]
                more_t, more_e = extend_role_times(
                    self.rep.streams,
                    self.tables.group,
                    name_key(role.name),
                    self.row,
                    times[-1],
                    role.tenure_mean_days,
                    m // len(times) + 1,
                )
                times += more_t
                self.role_effect[j] += more_e
            if times[m] > now:
                self.role_next[j] = m
                return times[m], m
            m += 1

    def sleep(self, state: int, duration: float):
        """Spend ``duration`` in ``state`` unless something moves the deal first.

        Returns None when the time ran out undisturbed, else ("group_change"|"shock", target).
        """
        rep = self.rep
        env = rep.env
        model = rep.model
        end = env.now + duration
        while True:
            now = env.now
            first, kind, which = end, None, -1
            for j in self.roles_at[state]:
                day, m = self._next_replacement(j, now)
                if day < first:
                    first, kind, which = day, "role", j
            if state >= self.shock_from and state < model.n_stages:
                q = bisect.bisect_right(self.shock_days, now)
                if q < len(self.shock_days) and self.shock_days[q] < first:
                    first, kind, which = self.shock_days[q], "shock", q
            yield env.timeout(first - now)
            rep.extra_timeouts += 1
            if kind is None:
                return None
            if kind == "role":
                hit = self._role_change(which, state)
            else:
                hit = self._shock(which, state)
            if hit is not None:
                return hit

    def _role_change(self, j: int, state: int):
        rep, role = self.rep, self.rep.model.roles[j]
        m = self.role_next[j]
        self.role_next[j] = m + 1
        moved = self.role_effect[j][m] < role.probability
        if rep.events is not None:
            target = role.to if moved else state
            rep.events.append((self.i, rep.env.now, "group_change", state, target, role.name))
        if not moved:  # a replacement that changes nothing does not touch the deal
            return None
        return (f"group_change:{role.name}", role.to, GROUP_REWORK)

    def _shock(self, q: int, state: int):
        rep, shocks = self.rep, self.rep.model.shocks
        if q >= len(self.shock_effect):
            self.shock_effect += extend_shock_effects(
                rep.streams, self.tables.group, self.row, q + SHOCK_SLOTS - len(self.shock_effect)
            )
        moved = self.shock_effect[q] < shocks.reset_probability * self.shock_severity[q]
        if rep.events is not None:
            target = shocks.to if moved else state
            rep.events.append((self.i, rep.env.now, "shock_hit", state, target, "shock"))
        return ("shock", shocks.to, SHOCK_REWORK) if moved else None
