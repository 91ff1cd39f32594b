"""The rules of a deal's life in array form: every deal's stretches, decided in bulk with numpy.

The vectorized engine (:mod:`sim.vectorized`) runs on this. A deal's life is a chain of
*stretches*: in an active stage, an optional wait for budget, the stage's work and an optional
wait for a good market moment, cut short by the first replacement or shock that moves the deal;
in dormant, one spell. The SimPy engine (:mod:`sim.deal`) lives the same rules event by event;
here each step decides the next stretch of every live deal at once, from the deal's pre-drawn
numbers and its replication's market.

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
    """Stretches of a block of deals in the order they happen to each deal, flattened.

    Stretch s belongs to ``deal[s]``; it begins at ``start[s]`` in ``state[s]`` and ends at
    ``end[s]`` with a move to ``next_state[s]`` (or runs past the horizon, with no move).
    """

    deal: np.ndarray
    state: np.ndarray
    next_state: np.ndarray
    start: np.ndarray
    end: np.ndarray  # inf: still under way at the horizon
    closed: np.ndarray  # per deal: close day, nan while open
    stall: np.ndarray  # (n, causes)
    touched: np.ndarray
    ended_by: np.ndarray

    def part(self, first: int, stop: int) -> Plan:
        """The plan of deals ``first .. stop - 1`` alone (one replication of a block), with its
        deals numbered from 0."""
        lo, hi = np.searchsorted(self.deal, [first, stop], side="left").tolist()
        stretches = slice(lo, hi)
        deals = slice(first, stop)
        return Plan(
            self.deal[stretches] - first,
            self.state[stretches],
            self.next_state[stretches],
            self.start[stretches],
            self.end[stretches],
            self.closed[deals],
            self.stall[deals],
            self.touched[deals],
            self.ended_by[deals],
        )

    def state_at_horizon(self, n: int) -> np.ndarray:
        """Each of the ``n`` deals' state at the horizon: the state of its last stretch if that
        is still under way, else (the deal closed) where that stretch took it."""
        last = np.searchsorted(self.deal, np.arange(1, n + 1), side="left") - 1
        under_way = np.isinf(self.end[last])
        return np.where(under_way, self.state[last], self.next_state[last])


class _Block:
    """The per-deal state of the walk, as arrays."""

    def __init__(self, model: Model, tables, rows, first_states, created, release, market_of):
        n = len(rows)
        self.model, self.tables, self.rows = model, tables, rows
        self.release, self.market_of = release, market_of
        self.live = np.ones(n, dtype=bool)
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
        self.state = np.asarray(first_states, dtype=np.int64).copy()
        self.now = np.asarray(created, dtype=float).copy()
        self.k = np.zeros(n, dtype=np.int64)
        self.unfunded = np.zeros(n, dtype=bool)
        self.asks = np.zeros(n, dtype=np.int64)  # requests for money so far (keys budget draws)
        self.role_next = [np.zeros(n, dtype=np.int64) for _ in model.roles]
        self.shock_next = np.zeros(n, dtype=np.int64)
        self.stall = np.zeros((len(CAUSES), n))  # cause-major: one cause's days are one row
        self.touched = np.zeros(n, dtype=np.int64)
        self.ended_by = np.full(n, -1, dtype=np.int64)
        self.closed = np.full(n, np.nan)
        self.rework_cause = np.full(n, -1, dtype=np.int64)
        self.rework_since = np.zeros(n)
        self.rework_target = np.zeros(n, dtype=np.int64)
        self.rework_waited = np.zeros(n)
        self.log: list[tuple] = []
        self.logged = np.zeros(n, dtype=np.int64)  # stretches logged so far, per deal
        self.log_ordinals: list[np.ndarray] = []  # per log entry: each stretch's rank in its deal

    # --- draws ----------------------------------------------------------------------------

    def draws(self, who: np.ndarray, states: np.ndarray, k: np.ndarray):
        """(duration, next state) of visit k of each deal in ``who`` if spent in ``states``."""
        rows = self.rows[who]
        aged = self.tables.age_in_stage
        age = np.where(k == 0, aged[rows], 0.0) if aged is not None else None
        cell, pages = self.tables.cells(rows, k)  # one look-up, whatever page each deal is on
        return visit_draws(
            self.model,
            states,
            self.tables.visit_uniforms(Purpose.STAGE_DURATION, pages).take(cell),
            self.tables.visit_uniforms(Purpose.STAGE_EXIT, pages).take(cell),
            age,
        )

    def budget_draws(self, who: np.ndarray, purpose: Purpose, ask: np.ndarray) -> np.ndarray:
        """The ``purpose`` draws of each deal's ask-th request for money (from 0)."""
        cell, pages = self.tables.cells(self.rows[who], ask)
        return self.tables.visit_uniforms(purpose, pages).take(cell)

    def _ask_for_money(self, who: np.ndarray) -> None:
        """Deals entering the budget gate: each is funded, or waits for the next release."""
        funded = self.budget_draws(who, Purpose.BUDGET_FUNDED, self.asks[who])
        self.asks[who] += 1
        self.unfunded[who] = funded >= self.model.budget.funded_share

    # --- stall bookkeeping ----------------------------------------------------------------

    def credit(self, who: np.ndarray, cause: int, start, end, until) -> None:
        """Count the part of waits [start, end) before ``until`` (arrays over ``who``)."""
        spent = np.minimum(end, until) - start
        waited = spent > 0
        if waited.any():
            self.stall[cause, who[waited]] += spent[waited]
            self.touched[who[waited]] |= 1 << cause

    def waited(self, who: np.ndarray) -> np.ndarray:
        s = self.stall
        return s[BUDGET_WAIT, who] + s[TIMING_WAIT, who] + s[DORMANT_CAUSE, who]

    def credit_rework(self, who: np.ndarray, until: np.ndarray) -> None:
        cause = self.rework_cause[who]
        spent = (until - self.rework_since[who]) - (self.waited(who) - self.rework_waited[who])
        self.stall[cause, who] += spent
        self.rework_cause[who] = -1

    def start_rework(self, who, cause, stages, lost, now) -> None:
        """A cause moved these deals away from ``stages``; mirror of ``DealLives._start_rework``."""
        self.touched[who] |= 1 << cause
        again = self.rework_cause[who] >= 0
        if again.any():  # moved again: the earlier cause keeps its time so far,
            self.credit_rework(who[again], now[again])  # which holds the lost work too
            stages = np.where(again, np.maximum(stages, self.rework_target[who]), stages)
            lost = np.where(again, 0.0, lost)
        self.stall[cause, who] += lost
        self.rework_cause[who] = cause
        self.rework_since[who] = now
        self.rework_target[who] = stages
        self.rework_waited[who] = self.waited(who)

    # --- a step: every live deal's next stretch -------------------------------------------

    def step(self, horizon: float) -> np.ndarray:
        """Plan the next stretch of every live deal; returns which deals are still live.

        Dormant deals go through the same pass as the others (one set of numpy calls a step,
        not two): a dormant spell is a stretch whose work is the spell, which no budget, timing
        wait or interruption touches, and which counts as dormant time.
        """
        live = np.flatnonzero(self.live)
        if len(live):
            if self.stages_only:
                self._plain_step(live, horizon)
            else:
                self._active_step(live, horizon)
        return live

    def _plain_step(self, who: np.ndarray, horizon: float) -> None:
        """A stretch that is only the stage's work (or a dormant spell): what ``_active_step``
        gives with no budget, timing, roles or shocks, without the array work that would change
        nothing."""
        now = self.now[who]
        state = self.state[who]
        d, nxt = self.draws(who, state, self.k[who])
        self.k[who] += 1
        end = now + d  # as SimPy: the work (or the spell) is one timeout of its own length
        done = end < horizon
        spell = self._dormant_spells(who, state, now, end, horizon)
        self._record(who, state, nxt, now, np.where(done, end, INF))
        self.live[who[~done]] = False
        self._end_spells(who[done], spell[done], nxt[done])
        self._move(who[done], nxt[done], end[done])

    def _dormant_spells(self, who, state, now, end, horizon) -> np.ndarray:
        """Which of these stretches are dormant spells; their days (before the horizon) count
        as dormant time."""
        spell = state == self.model.dormant
        if spell.any():
            at = np.flatnonzero(spell)
            self.credit(who[at], DORMANT_CAUSE, now[at], end[at], np.minimum(end[at], horizon))
        return spell

    def _end_spells(self, who: np.ndarray, spell: np.ndarray, nxt: np.ndarray) -> None:
        """A spell that ends in an outcome (the deal given up) was ended by dormancy."""
        self.ended_by[who[spell & (nxt >= self.model.won)]] = DORMANT_CAUSE

    def _active_step(self, who: np.ndarray, horizon: float) -> None:
        model, budget = self.model, self.model.budget
        state, now = self.state[who], self.now[who]
        work_start = now.copy()
        send_back = np.zeros(len(who), dtype=bool)
        unfunded = self.unfunded[who]
        waits_for_money = unfunded.any()
        if waits_for_money:
            releases = np.asarray(budget.releases)
            at = np.flatnonzero(unfunded)
            work_start[at] = releases[np.searchsorted(releases, now[at], side="right")]
            waiting = who[at]  # its request of the gate entry is the last one it made
            rechecks = self.budget_draws(waiting, Purpose.BUDGET_RECHECK, self.asks[waiting] - 1)
            send_back[at] = rechecks < budget.recheck_probability
        if send_back.any():  # sent back at the release: no work in this stretch
            nxt = np.full(len(who), budget.recheck_to, dtype=np.int64)
            work_end = work_start.copy()
            works = np.flatnonzero(~send_back)
            d, nxt[works] = self.draws(who[works], state[works], self.k[who[works]])
            self.k[who[works]] += 1
            work_end[works] = work_start[works] + d
        else:
            d, nxt = self.draws(who, state, self.k[who])
            self.k[who] += 1
            work_end = work_start + d
        # When the stretch would end, by SimPy's arithmetic: at the work's end, or, in the
        # timing stage, after one sleep of (ready - work_start) from work_start.
        end = work_end.copy()
        timing = model.timing
        if timing is not None:
            ready = np.flatnonzero((state == timing.stage) & ~send_back)
            at_ready = self._timing_end(who[ready], work_end[ready])
            waits = at_ready > work_end[ready]
            ready, at_ready = ready[waits], at_ready[waits]
            end[ready] = work_start[ready] + (at_ready - work_start[ready])

        hit_at, hit_role, hit_shock = self._first_hits(who, state, now, end)
        interrupted = hit_at < end
        nxt = np.where(interrupted, self._targets(hit_role, hit_shock), nxt)
        clock = np.minimum(hit_at, end)
        until = np.minimum(clock, horizon)
        if waits_for_money:
            self.credit(who, BUDGET_WAIT, now, work_start, until)
        if timing is not None:
            self.credit(who, TIMING_WAIT, work_end, end, until)
        spell = self._dormant_spells(who, state, now, clock, horizon)  # never interrupted
        done = clock < horizon
        self._record(who, state, nxt, now, np.where(done, clock, INF))

        if not done.all():  # the deals whose stretch runs past the horizon stop here
            self.live[who[~done]] = False
            who, state, nxt, clock = who[done], state[done], nxt[done], clock[done]
            interrupted, hit_role, hit_shock = interrupted[done], hit_role[done], hit_shock[done]
            work_start, work_end, send_back = work_start[done], work_end[done], send_back[done]
            hit_at, spell = hit_at[done], spell[done]
        now = clock
        self._end_spells(who, spell, nxt)
        if interrupted.any():
            self._interrupt(who, state, nxt, now, interrupted, hit_role, hit_shock,
                            work_start, work_end)  # fmt: skip
        backs = send_back & ~interrupted
        if backs.any():
            self.start_rework(who[backs], BUDGET_REWORK, state[backs], 0.0, now[backs])
        # Moved back to the gate while waiting for money (a new person there): still no money.
        was_waiting = self.unfunded[who] & (hit_at < work_start)
        self.unfunded[who] = False
        if budget is not None:
            self.unfunded[who] = was_waiting & (nxt == budget.gate)
            enter = np.flatnonzero((nxt == budget.gate) & (state != budget.gate))
            if len(enter):
                self._ask_for_money(who[enter])
        self._move(who, nxt, now)

    def _targets(self, hit_role: np.ndarray, hit_shock: np.ndarray) -> np.ndarray:
        """Where each interruption sends a deal."""
        model = self.model
        roles_to = np.array([role.to for role in model.roles] + [-1], dtype=np.int64)
        out = roles_to[hit_role]  # hit_role -1 picks the trailing -1
        if model.shocks is not None:
            out = np.where(hit_shock, model.shocks.to, out)
        return out

    def _interrupt(self, who, state, nxt, now, hit, hit_role, hit_shock, work_start, work_end):
        """Rework and pointers of the deals an interruption moved (mirror of DealLives)."""
        model = self.model
        shock = hit & hit_shock
        group = hit & ~hit_shock
        if shock.any():
            self.shock_next[who[shock]] += 1
        for j in range(len(model.roles)):
            mine = group & (hit_role == j)
            self.role_next[j][who[mine]] += 1
        lost = np.maximum(0.0, np.minimum(now, work_end) - work_start)
        for cause, mask in ((SHOCK_REWORK, shock), (GROUP_REWORK, group)):
            if mask.any():
                self.start_rework(who[mask], cause, state[mask], lost[mask], now[mask])
                ends = mask & (nxt >= model.won)
                self.ended_by[who[ends]] = cause

    def _first_hits(self, who, state, now, end):
        """The first interruption that moves each deal after ``now``, if before ``end``."""
        model, tables = self.model, self.tables
        hit_at = end.copy()
        hit_role = np.full(len(who), -1, dtype=np.int64)
        hit_shock = np.zeros(len(who), dtype=bool)
        rows = self.rows[who]
        for j, matters in enumerate(self.role_matters):
            relevant = matters[state]
            if relevant.any():
                at = np.flatnonzero(relevant)
                first = self._next_after(tables.role_effect[j], self.role_next[j], who[at],
                                         rows[at], now[at])  # fmt: skip
                closer = first < hit_at[at]
                hit_at[at[closer]] = first[closer]
                hit_role[at[closer]] = j
        shocks = model.shocks
        if shocks is not None:
            at = np.flatnonzero((state >= shocks.from_stage) & (state < model.n_stages))
            if len(at):
                first = self._next_after(tables.shock_effect, self.shock_next, who[at],
                                         rows[at], now[at])  # fmt: skip
                closer = first < hit_at[at]
                hit_at[at[closer]] = first[closer]
                hit_shock[at[closer]] = True
                hit_role[at[closer]] = -1
        return hit_at, hit_role, hit_shock

    @staticmethod
    def _next_after(times: np.ndarray, pointer: np.ndarray, who, rows, now) -> np.ndarray:
        """Advance each deal's pointer past ``now`` in its sorted row; the time it points at."""
        width = times.shape[1]
        cell = rows * width + pointer[who]  # flat indices into the table: cheaper look-ups
        flat = times.ravel()
        t = flat.take(cell)
        behind = t <= now
        while behind.any():
            cell[behind] += 1
            t[behind] = flat.take(cell[behind])
            behind = t <= now
        pointer[who] = cell - rows * width
        return t

    def _timing_end(self, who: np.ndarray, work_end: np.ndarray) -> np.ndarray:
        """When the deals' timing waits end, each on its own replication's indicator."""
        release = self.release  # (replications, days)
        days = release.shape[1]
        day = work_end.astype(np.int64)
        looked_up = release[self.market_of[who], np.minimum(day, days - 1)]
        ready = np.where(day < days, looked_up, INF)
        return np.minimum(ready, work_end + self.model.timing.max_wait_days)

    # --- moves and records ----------------------------------------------------------------

    def _record(self, who, state, nxt, start, end) -> None:
        self.log.append((who, state, nxt, start, end))
        self.log_ordinals.append(self.logged[who])  # a deal appears once per call
        self.logged[who] += 1

    def _move(self, who: np.ndarray, nxt: np.ndarray, now: np.ndarray) -> None:
        model = self.model
        if not self.stages_only:  # only the mechanisms start rework
            target = self.rework_target[who]
            settle = (
                (self.rework_cause[who] >= 0)
                & ((nxt < model.dormant) | (nxt >= model.won))
                & (nxt >= target)
            )
            if settle.any():
                self.credit_rework(who[settle], now[settle])
        self.state[who] = nxt
        self.now[who] = now
        closing = nxt >= model.won
        self.closed[who[closing]] = now[closing]
        self.live[who[closing]] = False

    def finish(self, horizon: float) -> None:
        """Rework still under way at the horizon ends there."""
        pending = np.flatnonzero(self.rework_cause >= 0)
        if len(pending):
            self.credit_rework(pending, np.full(len(pending), horizon))

    def plan(self) -> Plan:
        """The logged stretches grouped by deal, each deal's in the order they happen.

        A stretch's place is its deal's first place plus the number of stretches the deal had
        logged before it (a scatter, cheaper than sorting by deal).
        """
        if not self.log:  # a block without deals
            empty = np.empty(0, dtype=np.int64)
            self._record(empty, empty, empty, np.empty(0), np.empty(0))
        parts = [np.concatenate(column) for column in zip(*self.log, strict=True)]
        ordinal = np.concatenate(self.log_ordinals)
        per_deal = np.bincount(parts[0], minlength=len(self.rows))
        first = np.cumsum(per_deal) - per_deal
        place = first[parts[0]] + ordinal
        deal, state, nxt, start, end = (np.empty_like(part) for part in parts)
        for out, part in zip((deal, state, nxt, start, end), parts, strict=True):
            out[place] = part
        return Plan(deal, state, nxt, start, end, self.closed, self.stall.T,
                    self.touched, self.ended_by)  # fmt: skip


class StackedTables:
    """Several blocks' tables as one block of rows, for the planner.

    The blocks are a replication's day-0 pipeline and its arrivals (drawn by group, see
    :mod:`sim.draws`), for one replication or several: rows follow the blocks in order. Each
    step of the walk costs a few dozen numpy calls whatever the number of deals, so walking all
    blocks in one pass of steps costs far less than walking each. The numbers are the blocks'
    own, only stacked.
    """

    def __init__(self, parts: list[DealTables]):
        self.parts = parts
        self.age_in_stage = None
        if any(part.age_in_stage is not None for part in parts):
            self.age_in_stage = np.concatenate(
                [np.zeros(part.n) if part.age_in_stage is None else part.age_in_stage
                 for part in parts]
            )  # fmt: skip
        self.role_effect = [
            _stack_rows([part.role_effect[j] for part in parts])
            for j in range(len(parts[0].role_effect))
        ]
        self.shock_effect = None
        if parts[0].shock_effect is not None:
            self.shock_effect = _stack_rows([part.shock_effect for part in parts])
        self.n = sum(part.n for part in parts)
        self._pages: dict = {}  # per purpose: (capacity, n, VISITS), pages 0 .. drawn - 1 drawn
        self._drawn: dict = {}

    def cells(self, rows: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, int]:
        """Where visit (or request) ``k`` of each row is in a flat ``visit_uniforms`` table, and
        how many pages that table must hold."""
        page = k // VISITS
        cell = page * (self.n * VISITS) + rows * VISITS + (k - page * VISITS)
        return cell, int(page.max(initial=0)) + 1

    def visit_uniforms(self, purpose: Purpose, pages: int) -> np.ndarray:
        """Every block's ``uniforms(purpose, page)`` for pages 0 .. pages - 1 (at least), stacked
        by rows and laid page after page, flat (index with :meth:`cells`): one look-up serves
        deals on different pages. A page is drawn the first time any deal needs it; drawing a
        page no deal of some block needed changes nothing (the streams are keyed by page)."""
        table = self._pages.get(purpose)
        drawn = self._drawn.get(purpose, 0)
        if drawn < pages:
            if table is None or len(table) < pages:  # room doubles: few copies as pages come
                grown = np.empty((max(pages, 2 * drawn), self.n, VISITS))
                if drawn:
                    grown[:drawn] = table[:drawn]
                self._pages[purpose] = table = grown
            for page in range(drawn, pages):
                start = 0
                for part in self.parts:  # drawn in place: no copies of the blocks' pages
                    part.draw_uniforms(purpose, page, table[page, start : start + part.n])
                    start += part.n
            self._drawn[purpose] = pages
        return table.reshape(-1)


def _stack_rows(tables: list[np.ndarray]) -> np.ndarray:
    """Stack tables of sorted times ending in inf; the narrower are padded with inf (a scan
    stops at the first inf, so the padding is never read)."""
    stacked = np.full((sum(len(t) for t in tables), max(t.shape[1] for t in tables)), INF)
    start = 0
    for table in tables:
        stacked[start : start + len(table), : table.shape[1]] = table
        start += len(table)
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
    while len(block.step(model.horizon)):
        pass
    block.finish(model.horizon)
    return block.plan()
