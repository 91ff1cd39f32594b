"""The rules of a deal's life in array form: every deal's stretches, decided in bulk with numpy.

The vectorized engine (:mod:`sim.vectorized`) runs on this. A deal's life is a chain of
*stretches*: in an active stage, an optional wait for budget, the stage's work and an optional
wait for a good market moment, cut short by the first replacement or shock that moves the deal;
in dormant, one spell. The SimPy engine (:mod:`sim.deal`) lives the same rules event by event;
here each step decides the next stretch of every open deal (the working set) at once, from the
deal's pre-drawn numbers and its replication's market.

The rules therefore exist twice, in scalar form (the SimPy engine) and in array form (here): a
change to one must be made to the other, and the equality tests (tests/test_engines.py,
tests/test_properties.py) say when they drift apart. Clocks are computed with the float
operations SimPy applies (a timeout of ``d`` from ``now`` ends at ``now + d``; a budget release
comes at its exact day), so the two engines agree to the last bit, except where an interruption
comes from another process's clock (within an ulp or so of the same day).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.draws import VISITS, DealTables, visit_draws
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
from sim.randomness import Purpose

INF = np.inf


@dataclass
class Plan:
    """The stretches of a block of deals, grouped by replication, and how each deal ended.

    Stretch s begins at ``start[s]`` in ``state[s]`` and ends at ``end[s]`` with a move to
    ``next_state[s]`` (or runs past the horizon, with no move). The stretches of replication r
    of the block (deals ``bounds[r] .. bounds[r + 1] - 1``) are ``cuts[r] .. cuts[r + 1] - 1``,
    step by step: the records count them (flows, open deals by period), which does not depend
    on their order, so they are never sorted by deal.
    """

    state: np.ndarray
    next_state: np.ndarray
    start: np.ndarray
    end: np.ndarray  # inf: still under way at the horizon
    # First deal (bounds) and first stretch (cuts) of each replication up to the last one with
    # deals, then the counts: trailing replications without deals have no entry (``part``
    # searches these, so an empty replication anywhere gives an empty part).
    bounds: np.ndarray
    cuts: np.ndarray
    closed: np.ndarray  # per deal: close day, nan while open
    stall: np.ndarray  # (n, causes)
    touched: np.ndarray
    ended_by: np.ndarray
    horizon_state: np.ndarray  # per deal: its state at the horizon

    def part(self, first: int, stop: int) -> Plan:
        """The plan of deals ``first .. stop - 1`` alone (replications of the block, whole),
        with its deals numbered from 0."""
        lo, hi = np.searchsorted(self.bounds, [first, stop]).tolist()
        if self.bounds[lo] != first or self.bounds[hi] != stop:
            raise ValueError(f"deals {first}..{stop - 1} are not whole replications of the block")
        stretches = slice(self.cuts[lo], self.cuts[hi])
        deals = slice(first, stop)
        return Plan(
            self.state[stretches],
            self.next_state[stretches],
            self.start[stretches],
            self.end[stretches],
            self.bounds[lo : hi + 1] - first,
            self.cuts[lo : hi + 1] - self.cuts[lo],
            self.closed[deals],
            self.stall[deals],
            self.touched[deals],
            self.ended_by[deals],
            self.horizon_state[deals],
        )


class _Block:
    """The per-deal state of the walk, as arrays over the deals still open only.

    The working set is compact: entry i of every working array is deal ``id[i]``, and a deal
    that closes or runs past the horizon leaves it at the end of its step (its stall days,
    touched causes go to the per-deal outputs then). So each step works on contiguous arrays
    of the deals it moves, with no gathers and scatters through index arrays of the whole block
    (that indexing cost more than the rules themselves).
    """

    def __init__(self, model: Model, tables, rows, first_states, created, release, market_of):
        n = len(rows)
        self.model, self.tables = model, tables
        self.release = release
        self.stages_only = (
            model.budget is None
            and model.timing is None
            and model.shocks is None
            and not model.roles
        )
        # Per role, indexed by state: does the role matter there?
        self.role_matters = [
            np.isin(np.arange(model.n_states), list(role.stages)) for role in model.roles
        ]
        self.role_to = np.array([role.to for role in model.roles] + [-1], dtype=np.int64)
        if model.budget is not None:
            self.releases = np.asarray(model.budget.releases)
        # Per-deal outputs, indexed by deal: written as each deal leaves the working set.
        self.closed = np.full(n, np.nan)
        self.ended_by = np.full(n, -1, dtype=np.int64)
        self.stall_of = np.zeros((len(CAUSES), n))  # cause-major: one cause's days are one row
        self.touched_of = np.zeros(n, dtype=np.int64)
        self.horizon_state = np.zeros(n, dtype=np.int64)
        # The replications' deals: deals bounds[r] .. bounds[r + 1] - 1 (market_of never
        # decreases).
        self.bounds = np.searchsorted(market_of, np.arange(market_of.max(initial=-1) + 2))
        # The working set: every array indexed by open deal must be named in working_arrays(),
        # which shrinks them together as deals close; one left out would silently be read at
        # another deal's position.
        self.id = np.arange(n)
        self.rows = np.asarray(rows)
        self.market = np.asarray(market_of)
        aged = tables.age_in_stage
        self.age = aged[self.rows] if aged is not None else None
        self.state = np.asarray(first_states, dtype=np.int64).copy()
        self.now = np.asarray(created, dtype=float).copy()
        self.k = np.zeros(n, dtype=np.int64)
        # Per role, then shocks: each deal's place in its row of the effect table, as a flat
        # index into the table (the next replacement or shock that may move it).
        self.role_cursor = [self.rows * times.shape[1] for times in tables.role_effect]
        if tables.shock_effect is not None:
            self.shock_cursor = self.rows * tables.shock_effect.shape[1]
        self.stall = np.zeros((len(CAUSES), n))
        self.touched = np.zeros(n, dtype=np.int64)
        if not self.stages_only:  # what only the stall mechanisms read (see working_arrays)
            self.unfunded = np.zeros(n, dtype=bool)
            self.asks = np.zeros(n, dtype=np.int64)  # requests for money (keys budget draws)
            self.rework_cause = np.full(n, -1, dtype=np.int64)
            self.rework_since = np.zeros(n)
            self.rework_target = np.zeros(n, dtype=np.int64)
            self.rework_waited = np.zeros(n)
        self.log: list[tuple] = []  # per step: (deal, state, next state, start, end)

    def working_arrays(self) -> list[str]:
        """The names of the arrays that follow the working set (one entry per open deal)."""
        names = ["id", "rows", "state", "now", "k", "touched"]
        if self.release is not None:
            names.append("market")
        if self.age is not None:
            names.append("age")
        if not self.stages_only:
            names += ["unfunded", "asks", "rework_cause", "rework_since", "rework_target",
                      "rework_waited"]  # fmt: skip
            if self.model.shocks is not None:
                names.append("shock_cursor")
        return names

    # --- draws ----------------------------------------------------------------------------

    def draws(self, at):
        """(duration, next state) of the next visit of the deals ``at`` (indices into the
        working set, or a slice) in their current states."""
        k = self.k[at]
        age = np.where(k == 0, self.age[at], 0.0) if self.age is not None else None
        u_duration, u_exit = self.tables.uniforms(
            (Purpose.STAGE_DURATION, Purpose.STAGE_EXIT), self.rows[at], k
        )
        return visit_draws(self.model, self.state[at], u_duration, u_exit, age)

    def budget_draws(self, at: np.ndarray, purpose: Purpose, ask: np.ndarray) -> np.ndarray:
        """The ``purpose`` draws of each deal's ask-th request for money (from 0)."""
        return self.tables.uniforms((purpose,), self.rows[at], ask)[0]

    def _ask_for_money(self, at: np.ndarray) -> None:
        """Deals entering the budget gate: each is funded, or waits for the next release."""
        funded = self.budget_draws(at, Purpose.BUDGET_FUNDED, self.asks[at])
        self.asks[at] += 1
        self.unfunded[at] = funded >= self.model.budget.funded_share

    # --- stall bookkeeping ----------------------------------------------------------------

    def credit(self, at: np.ndarray, cause: int, start, end, until) -> None:
        """Count the part of waits [start, end) before ``until`` (arrays over ``at``)."""
        spent = np.minimum(end, until) - start
        waited = spent > 0
        if waited.any():
            at = at[waited]
            self.stall[cause, at] += spent[waited]
            self.touched[at] |= 1 << cause

    def waited(self, at) -> np.ndarray:
        s = self.stall
        return s[BUDGET_WAIT, at] + s[TIMING_WAIT, at] + s[DORMANT_CAUSE, at]

    def credit_rework(self, at, until: np.ndarray) -> None:
        cause = self.rework_cause[at]
        spent = (until - self.rework_since[at]) - (self.waited(at) - self.rework_waited[at])
        self.stall[cause, at] += spent
        self.rework_cause[at] = -1

    def start_rework(self, at, cause, stages, lost, now) -> None:
        """A cause moved these deals away from ``stages``; mirror of ``DealLives._start_rework``."""
        self.touched[at] |= 1 << cause
        again = self.rework_cause[at] >= 0
        if again.any():  # moved again: the earlier cause keeps its time so far,
            self.credit_rework(at[again], now[again])  # which holds the lost work too
            stages = np.where(again, np.maximum(stages, self.rework_target[at]), stages)
            lost = np.where(again, 0.0, lost)
        self.stall[cause, at] += lost
        self.rework_cause[at] = cause
        self.rework_since[at] = now
        self.rework_target[at] = stages
        self.rework_waited[at] = self.waited(at)

    # --- a step: every open deal's next stretch -------------------------------------------

    def step(self, horizon: float) -> int:
        """Plan the next stretch of every open deal; returns how many are still open.

        Dormant deals go through the same pass as the others (one set of numpy calls a step,
        not two): a dormant spell is a stretch whose work is the spell, which no budget, timing
        wait or interruption touches, and which counts as dormant time.
        """
        if len(self.id):
            if self.stages_only:
                self._plain_step(horizon)
            else:
                self._active_step(horizon)
        return len(self.id)

    def _plain_step(self, horizon: float) -> None:
        """A stretch that is only the stage's work (or a dormant spell): what ``_active_step``
        gives with no budget, timing, roles or shocks, without the array work that would change
        nothing."""
        now, state = self.now, self.state
        d, nxt = self.draws(slice(None))
        self.k += 1
        end = now + d  # as SimPy: the work (or the spell) is one timeout of its own length
        done = end < horizon
        spell = self._dormant_spells(state, now, end, horizon)
        self._record(nxt, np.where(done, end, INF))
        self._end_spells(spell & done, nxt)
        self._move(nxt, end, done, horizon)

    def _dormant_spells(self, state, now, end, horizon) -> np.ndarray:
        """Which of these stretches are dormant spells; their days (before the horizon) count
        as dormant time."""
        spell = state == self.model.dormant
        if spell.any():
            at = np.flatnonzero(spell)
            self.credit(at, DORMANT_CAUSE, now[at], end[at], np.minimum(end[at], horizon))
        return spell

    def _end_spells(self, spell: np.ndarray, nxt: np.ndarray) -> None:
        """A spell that ends in an outcome (the deal given up) was ended by dormancy."""
        self.ended_by[self.id[spell & (nxt >= self.model.won)]] = DORMANT_CAUSE

    def _active_step(self, horizon: float) -> None:
        model, budget = self.model, self.model.budget
        state, now = self.state, self.now
        work_start = now.copy()
        send_back = np.zeros(len(state), dtype=bool)
        waiting = np.flatnonzero(self.unfunded)
        if len(waiting):
            work_start[waiting] = self.releases[
                np.searchsorted(self.releases, now[waiting], side="right")
            ]
            # Its request of the gate entry is the last one it made.
            rechecks = self.budget_draws(waiting, Purpose.BUDGET_RECHECK, self.asks[waiting] - 1)
            send_back[waiting] = rechecks < budget.recheck_probability
        # Every deal's next visit is read, also for the deals sent back (whose draws are not
        # used, nor their visit counted): cheaper than picking the others out and back.
        d, nxt = self.draws(slice(None))
        if send_back.any():  # sent back at the release: no work in this stretch
            works = ~send_back
            nxt = np.where(works, nxt, budget.recheck_to)
            work_end = np.where(works, work_start + d, work_start)
            self.k += works
        else:
            self.k += 1
            work_end = work_start + d
        # When the stretch would end, by SimPy's arithmetic: at the work's end, or, in the
        # timing stage, after one sleep of (ready - work_start) from work_start.
        end = work_end
        timing = model.timing
        if timing is not None:
            ready = np.flatnonzero((state == timing.stage) & ~send_back)
            at_ready = self._timing_end(ready, work_end[ready])
            waits = at_ready > work_end[ready]
            ready, at_ready = ready[waits], at_ready[waits]
            end = work_end.copy()
            end[ready] = work_start[ready] + (at_ready - work_start[ready])

        hit_at, hit_role, hit_shock = self._first_hits(state, now, end)
        interrupted = hit_at < end
        nxt = np.where(interrupted, self._targets(hit_role, hit_shock), nxt)
        clock = np.minimum(hit_at, end)
        until = np.minimum(clock, horizon)
        if len(waiting):  # only a deal waiting for money has days before its work starts
            self.credit(waiting, BUDGET_WAIT, now[waiting], work_start[waiting], until[waiting])
        if timing is not None:  # and only a deal waiting for its moment days after its work
            self.credit(ready, TIMING_WAIT, work_end[ready], end[ready], until[ready])
        spell = self._dormant_spells(state, now, clock, horizon)  # never interrupted
        done = clock < horizon
        self._record(nxt, np.where(done, clock, INF))

        # The deals whose stretch runs past the horizon (not done) stop here: the masks below
        # leave them alone, and they leave the working set with the closed ones.
        now = clock
        self._end_spells(spell & done, nxt)
        interrupted &= done
        if interrupted.any():
            self._interrupt(state, nxt, now, interrupted, hit_role, hit_shock,
                            work_start, work_end)  # fmt: skip
        backs = send_back & ~interrupted & done
        if backs.any():
            at = np.flatnonzero(backs)
            self.start_rework(at, BUDGET_REWORK, state[at], 0.0, now[at])
        if budget is not None:
            # Moved back to the gate while waiting for money (a new person there): still no
            # money.
            self.unfunded = self.unfunded & (hit_at < work_start) & (nxt == budget.gate)
            enter = np.flatnonzero((nxt == budget.gate) & (state != budget.gate) & done)
            if len(enter):
                self._ask_for_money(enter)
        self._move(nxt, now, done, horizon)

    def _targets(self, hit_role: np.ndarray, hit_shock: np.ndarray) -> np.ndarray:
        """Where each interruption sends a deal."""
        out = self.role_to[hit_role]  # hit_role -1 picks the trailing -1
        if self.model.shocks is not None:
            out = np.where(hit_shock, self.model.shocks.to, out)
        return out

    def _interrupt(self, state, nxt, now, hit, hit_role, hit_shock, work_start, work_end):
        """Rework and pointers of the deals an interruption moved (mirror of DealLives)."""
        model = self.model
        shock = hit & hit_shock
        group = hit & ~hit_shock
        if shock.any():
            self.shock_cursor[shock] += 1
        for j, cursor in enumerate(self.role_cursor):
            mine = group & (hit_role == j)
            cursor[mine] += 1
        lost = np.maximum(0.0, np.minimum(now, work_end) - work_start)
        for cause, mask in ((SHOCK_REWORK, shock), (GROUP_REWORK, group)):
            if mask.any():
                at = np.flatnonzero(mask)
                self.start_rework(at, cause, state[at], lost[at], now[at])
                ends = mask & (nxt >= model.won)
                self.ended_by[self.id[ends]] = cause

    def _first_hits(self, state, now, end):
        """The first interruption that moves each deal after ``now``, if before ``end``."""
        model, tables = self.model, self.tables
        hit_at = end.copy()
        hit_role = np.full(len(state), -1, dtype=np.int64)
        hit_shock = np.zeros(len(state), dtype=bool)
        for j, matters in enumerate(self.role_matters):
            at = np.flatnonzero(matters[state])
            if len(at):
                first = _next_after(tables.role_effect[j], self.role_cursor[j], at, now[at])
                closer = first < hit_at[at]
                at = at[closer]
                hit_at[at] = first[closer]
                hit_role[at] = j
        shocks = model.shocks
        if shocks is not None:
            at = np.flatnonzero((state >= shocks.from_stage) & (state < model.n_stages))
            if len(at):
                first = _next_after(tables.shock_effect, self.shock_cursor, at, now[at])
                closer = first < hit_at[at]
                at = at[closer]
                hit_at[at] = first[closer]
                hit_shock[at] = True
                hit_role[at] = -1
        return hit_at, hit_role, hit_shock

    def _timing_end(self, at: np.ndarray, work_end: np.ndarray) -> np.ndarray:
        """When the deals' timing waits end, each on its own replication's indicator."""
        release = self.release  # (replications, days)
        days = release.shape[1]
        day = work_end.astype(np.int64)
        looked_up = release[self.market[at], np.minimum(day, days - 1)]
        ready = np.where(day < days, looked_up, INF)
        return np.minimum(ready, work_end + self.model.timing.max_wait_days)

    # --- moves and records ----------------------------------------------------------------

    def _record(self, nxt, end) -> None:
        """Log this step's stretch of every deal of the working set (from its clock, in its
        state, to ``end`` and ``nxt``). The arrays logged are never changed in place after."""
        self.log.append((self.id, self.state, nxt, self.now, end))

    def _move(self, nxt: np.ndarray, now: np.ndarray, done: np.ndarray, horizon: float) -> None:
        """The deals whose stretch ended before the horizon (``done``) move to ``nxt`` at
        ``now``; the closed ones and the others leave the working set."""
        model = self.model
        if not self.stages_only:  # only the mechanisms start rework
            settle = (
                (self.rework_cause >= 0)
                & ((nxt < model.dormant) | (nxt >= model.won))
                & (nxt >= self.rework_target)
                & done
            )
            if settle.any():
                at = np.flatnonzero(settle)
                self.credit_rework(at, now[at])
        closing = (nxt >= model.won) & done
        closed = np.flatnonzero(closing)
        self.closed[self.id[closed]] = now[closed]
        state_before = self.state
        self.state, self.now = nxt, now
        open_ = done & ~closing
        if not open_.all():
            gone = np.flatnonzero(~open_)
            # At the horizon: where the deal closed to, or the state of its stretch under way.
            at_horizon = np.where(done[gone], nxt[gone], state_before[gone])
            self._leave(gone, at_horizon, horizon)
            self._keep(np.flatnonzero(open_))

    def _keep(self, kept: np.ndarray) -> None:
        """Shrink the working set to the deals ``kept`` (by index, then a take per array:
        far cheaper than boolean masks)."""
        for name in self.working_arrays():
            setattr(self, name, getattr(self, name).take(kept))
        self.role_cursor = [cursor.take(kept) for cursor in self.role_cursor]
        self.stall = self.stall.take(kept, axis=1)

    def _leave(self, gone: np.ndarray, at_horizon: np.ndarray, horizon: float) -> None:
        """Deals leaving the working set: rework still under way ends at the horizon, and their
        state there, stall days and touched causes go to the per-deal outputs."""
        if not self.stages_only:
            pending = gone[self.rework_cause[gone] >= 0]
            if len(pending):
                self.credit_rework(pending, np.full(len(pending), horizon))
        deals = self.id.take(gone)
        self.horizon_state[deals] = at_horizon
        for cause, days in enumerate(self.stall):  # a cause at a time: 1-d, cheaper
            self.stall_of[cause, deals] = days.take(gone)
        self.touched_of[deals] = self.touched.take(gone)

    def plan(self) -> Plan:
        """The logged stretches grouped by replication (the deals ``bounds[r] ..
        bounds[r + 1] - 1``), step by step inside each.

        A step's log holds its deals in increasing order (the working set only ever loses
        deals), so each replication's stretches of a step are one slice of it: the plan is one
        concatenation of slices, no sort or scatter.
        """
        bounds = self.bounds
        if not self.log:  # a block without deals
            empty = np.empty(0, dtype=np.int64)
            self.log.append((empty, empty, empty, np.empty(0), np.empty(0)))
        slices = [np.searchsorted(entry[0], bounds).tolist() for entry in self.log]
        order = [(t, cut[r], cut[r + 1]) for r in range(len(bounds) - 1)
                 for t, cut in enumerate(slices)]  # fmt: skip
        columns = [  # each led by an empty piece: the dtype, were there no stretches
            np.concatenate([self.log[0][c][:0], *(self.log[t][c][lo:hi] for t, lo, hi in order)])
            for c in range(1, 5)
        ]
        per_replication = np.diff(np.array(slices), axis=1).sum(axis=0)
        cuts = np.concatenate([[0], np.cumsum(per_replication)])
        return Plan(*columns, bounds, cuts, self.closed, self.stall_of.T, self.touched_of,
                    self.ended_by, self.horizon_state)  # fmt: skip


def _next_after(
    times: np.ndarray, cursor: np.ndarray, at: np.ndarray, now: np.ndarray
) -> np.ndarray:
    """Advance the cursors ``at`` (flat indices into ``times``, sorted rows ending in inf) past
    ``now``; the times they point at."""
    flat = times.ravel()
    cell = cursor[at]
    t = flat.take(cell)
    behind = np.flatnonzero(t <= now)
    if len(behind):  # only the cursors that move are advanced, and written back
        moved = behind
        while len(behind):
            cell[behind] += 1
            t[behind] = flat.take(cell[behind])
            behind = behind[t[behind] <= now[behind]]
        cursor[at[moved]] = cell[moved]
    return t


class StackedTables:
    """Several blocks' tables as one block of rows, for the planner.

    The blocks are a replication's day-0 pipeline and its arrivals (drawn by group, see
    :mod:`sim.draws`), for one replication or several: rows follow the blocks in order. Each
    step of the walk costs a few dozen numpy calls whatever the number of deals, so walking all
    blocks in one pass of steps costs far less than walking each. The numbers are the blocks'
    own, only stacked.
    """

    def __init__(self, parts: list[DealTables], memory: PageMemory | None = None):
        self.parts = parts
        self.memory = memory if memory is not None else PageMemory()
        self.age_in_stage = None
        if any(part.age_in_stage is not None for part in parts):
            self.age_in_stage = np.concatenate(
                [np.zeros(part.n) if part.age_in_stage is None else part.age_in_stage
                 for part in parts]
            )  # fmt: skip
        # Per role, then shocks: each row's days that move the deal, then inf.
        horizon = parts[0].model.horizon
        self.role_effect = [
            _stack_moving([part.role_times[j] for part in parts],
                          [part.role_moves[j] for part in parts], horizon)
            for j in range(len(parts[0].role_times))
        ]  # fmt: skip
        self.shock_effect = None
        if parts[0].shock_reacts is not None:
            self.shock_effect = _stack_moving(
                [np.broadcast_to(part.shock_days, part.shock_reacts.shape) for part in parts],
                [part.shock_reacts for part in parts],
                horizon,
            )
        self.n = sum(part.n for part in parts)
        sizes = [part.n for part in parts]
        self._first_row = np.cumsum([0, *sizes])[:-1].tolist()
        self._part_of = np.repeat(np.arange(len(parts)), sizes)  # each row's block
        self._pages: dict = {}  # per purpose: (capacity, n, VISITS)
        self._drawn: dict = {}  # per purpose: the pages past 0 drawn, as page * blocks + block

    def uniforms(self, purposes: tuple[Purpose, ...], rows: np.ndarray, k: np.ndarray):
        """Per purpose, the uniforms of visit (or request) ``k`` of each row: every block's
        ``uniforms(purpose, k // VISITS)`` read at the row and column, in one look-up whatever
        page each row is on."""
        # Page p, row i, column c is cell p * n * VISITS + i * VISITS + c, with k = p * VISITS + c.
        cell = rows * VISITS
        cell += k
        pages, later = 1, None
        if len(k) and k.max() >= VISITS:  # some rows on a page past the first (after a few steps)
            page = k // VISITS
            cell += page * ((self.n - 1) * VISITS)
            pages = int(page.max()) + 1
            beyond = page > 0  # which blocks need a page past the first (few)
            later = np.unique(page[beyond] * len(self.parts) + self._part_of[rows[beyond]])
        return [self._table(purpose, pages, later).take(cell) for purpose in purposes]

    def _table(self, purpose: Purpose, pages: int, later: np.ndarray | None) -> np.ndarray:
        """The stacked pages of ``purpose``, flat (page after page, rows stacked by block),
        with room for ``pages`` pages and, drawn in it, page 0 of every block and the pages
        past it that ``later`` names (``page * blocks + block``).

        A page of a block is drawn the first time any of its deals needs it, straight into the
        table; the rest of a page no deal of a block has needed is never read. The streams are
        keyed by page, so what is drawn does not depend on when or for whom."""
        table = self._pages.get(purpose)
        if table is None or len(table) < pages:  # room doubles: few copies as pages come
            room = max(pages, 4, 2 * len(table) if table is not None else 0)
            grown = self.memory.pages(purpose, room, self.n)
            if table is None:
                self._drawn[purpose] = set()
                for block in range(len(self.parts)):
                    self._draw(purpose, grown, 0, block)
            elif not np.shares_memory(grown, table):  # else the pages are there already
                grown[: len(table)] = table
            self._pages[purpose] = table = grown
        if later is not None:
            drawn = self._drawn[purpose]
            for key in later.tolist():
                if key not in drawn:
                    drawn.add(key)
                    self._draw(purpose, table, *divmod(key, len(self.parts)))
        return table.reshape(-1)

    def _draw(self, purpose: Purpose, table: np.ndarray, page: int, block: int) -> None:
        first = self._first_row[block]
        part = self.parts[block]
        part.draw_uniforms(purpose, page, table[page, first : first + part.n])


class PageMemory:
    """Memory for the pages of visit numbers, handed from block to block of one run.

    A block's pages are tens of MB, drawn into once: in memory fresh from the system each first
    touch costs a page fault, which made drawing into it twice as slow. So the blocks of a run,
    planned one after the other, draw into the same memory (its old numbers are never read: a
    block draws every page before it reads it). Pages of one purpose are laid page after page
    with the block's rows, so a block that needs more pages keeps the ones it has in place.
    """

    def __init__(self):
        self._held: dict = {}

    def pages(self, purpose: Purpose, pages: int, rows: int) -> np.ndarray:
        """(pages, rows, VISITS) of memory for ``purpose``, its first pages where they were."""
        size = pages * rows * VISITS
        held = self._held.get(purpose)
        if held is None or len(held) < size:
            held = self._held[purpose] = np.empty(size)
        return held[:size].reshape(pages, rows, VISITS)


def _stack_moving(times: list[np.ndarray], moves: list[np.ndarray], horizon: float) -> np.ndarray:
    """Stack the blocks' days before the horizon that move a deal: per row, the ``times``
    where ``moves``, in order, then inf (at least one: a scan stops at the first inf, so the
    padding of the shorter rows is never read).

    The same look-ups as scanning each row's moving days to the end, sorted, then inf: rows of
    ``times`` are sorted already (replacement and shock days only grow), so the moving days are
    put in place by their rank, not sorted (sorting short rows cost more than the rest of a
    block's set-up); and the days from the horizon on are left out, which changes nothing the
    records read: a deal's clock is always before the horizon, so a scan never passes such a
    day, and a stretch cut by one ends at or past the horizon, where nothing of the cut counts
    (the planner reads what a cut does only for stretches that end before the horizon). The
    table is then a few columns wide, not one per replacement drawn.
    """
    found_rows, found_days = [], []
    start = 0
    for days, moving in zip(times, moves, strict=True):
        kept = moving & (days < horizon)
        at = np.flatnonzero(kept)  # row by row, in order
        found_rows.append(start + at // days.shape[1])
        found_days.append(days.reshape(-1)[at] if days.flags.c_contiguous else days[kept])
        start += len(days)
    rows, found = np.concatenate(found_rows), np.concatenate(found_days)
    counts = np.bincount(rows, minlength=start)
    width = int(counts.max(initial=0)) + 1
    rank = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]
    stacked = np.full((start, width), INF)
    stacked.reshape(-1)[rows * width + rank] = found
    return stacked


def plan_block(
    model: Model,
    tables,
    rows: np.ndarray,
    first_states: np.ndarray,
    created: np.ndarray,
    entering: np.ndarray,
    release: np.ndarray | None,
    market_of: np.ndarray,
) -> Plan:
    """Decide every stretch of a block of deals from their creation to an outcome or the horizon.

    Args:
        tables: the block's pre-drawn numbers (a ``StackedTables``), read at ``rows``.
        entering: per deal, whether it enters its first stage at its creation (a new deal, a
            day-0 deal from the scenario's counts) rather than being there already (a CRM deal
            with time in its stage): entering the budget gate needs money.
        release: per replication of the block and day j, the day a timing wait begun on day j
            ends (``Market.timing_release``, stacked); None without ``[timing]``.
        market_of: per deal, its replication's row in ``release``.
    """
    block = _Block(model, tables, rows, first_states, created, release, market_of)
    budget = model.budget
    if budget is not None:
        at_gate = np.flatnonzero((block.state == budget.gate) & entering)
        block._ask_for_money(at_gate)
    while block.step(model.horizon):
        pass
    return block.plan()
