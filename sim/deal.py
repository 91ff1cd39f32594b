"""The life of one deal as a SimPy process, with every stall mechanism (DESIGN section 2).

A deal sleeps until the next thing that changes its state, and no longer:

* in an active stage, a *stretch*: an optional wait for budget (it arrived at the gate without
  money), the stage's work, and an optional wait for a good market moment (the timing stage);
* cut short by the first *effective* interruption: a person of a role that matters in the stage
  is replaced and the replacement moves the deal, or a shock resets it.

Everything that decides these is known in advance (:mod:`sim.draws`): replacement days and
whether each one moves the deal, shock days and whether each resets the deal, budget release
days, the market indicator. So a stretch costs one timeout, where interrupts would cost a
process wake-up for every replacement and shock. Events that change nothing (a replacement in
a stage where the role does not matter, a shock the deal shrugs off) only appear in the event
log, written when the stretch ends.

Stall time is attributed per cause (DESIGN section 2, "settled details"): waiting for budget or
for the market, dormant time, and rework: the work lost in an interrupted stage plus the time
until the deal is back in that stage or a later one, less the waits in between.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.calendar import next_release
from sim.draws import VISITS, visit_draws
from sim.model import (
    BUDGET_REWORK,
    BUDGET_WAIT,
    DORMANT_CAUSE,
    GROUP_REWORK,
    SHOCK_REWORK,
    TIMING_WAIT,
)
from sim.randomness import Group, Purpose

if TYPE_CHECKING:
    from sim.engine import Replication, TableLists

INF = float("inf")


class DealLives:
    """Makes the deal processes of one replication and keeps their stall bookkeeping."""

    def __init__(self, rep: Replication):
        self.rep = rep
        model = rep.model
        self.model = model
        n = rep.n
        self.waits: list[tuple | None] = [None] * n  # (cause, start, end) segments of a stretch
        self.rework: list[tuple | None] = [None] * n  # (cause, since, stage, waited before)
        self.pending_log: list[tuple | None] = [None] * n  # a stretch under way, for the log
        self.roles_at = [[] for _ in range(model.n_stages + 1)]
        for j, role in enumerate(model.roles):
            for s in role.stages:
                self.roles_at[s].append(j)
        shocks = model.shocks
        self.shock_from = shocks.from_stage if shocks is not None else model.n_stages
        # Plain ints: the model's properties would be recomputed on every move.
        self.n_states, self.dormant, self.won = model.n_states, model.dormant, model.won

    # --- the process ------------------------------------------------------------------------

    def process(self, i: int, state: int, lists: TableLists, row: int):
        """The life of deal ``i`` from ``state`` until an outcome (or the horizon)."""
        rep, model = self.rep, self.model
        env = rep.env
        timeout = env.timeout
        cur, events = rep.cur, rep.events
        won = model.won
        dormant = model.dormant
        budget = model.budget
        gate = budget.gate if budget is not None else -1
        timing_stage = model.timing.stage if model.timing is not None else -1
        roles_at = self.roles_at
        shock_from, n_stages = self.shock_from, model.n_stages
        role_hits = [effect.item for effect in lists.tables.role_effect]
        shock_hits = lists.shock_effect_item
        next_role = [0] * len(role_hits)
        next_shock = 0

        cur[i] = state
        rep.entered[i] = env.now
        if events is not None:
            events.append((i, env.now, "created", -1, state, "arrival"))
        k = 0
        # Arrived at the gate without money: waits for the next release. A deal that enters
        # the gate at its creation (new, or day-0 from the scenario's counts) needs money too;
        # a CRM deal that has been in the stage for a while is there already.
        entering = lists.tables.group == Group.ARRIVALS or lists.age is None or lists.age[row] == 0
        asks = 0  # times the deal has asked for money at the gate (keys its budget draws)
        unfunded = False
        if state == gate and entering:
            unfunded = self._budget_draw(lists, row, asks, recheck=False) >= budget.funded_share
            asks += 1
        while state < won:
            now = env.now
            if state == dormant:
                duration, nxt = self._draw(lists, row, state, k)
                k += 1
                self.waits[i] = ((DORMANT_CAUSE, now, now + duration),)
                yield timeout(duration)
                self._credit_waits(i, env.now)
                if nxt >= won:  # the give-up clock ran out: dormant ended the deal
                    rep.ended_by[i] = DORMANT_CAUSE
                if nxt == gate:  # back into the first stage, which is the budget gate
                    unfunded = self._budget_draw(lists, row, asks, recheck=False) >= (
                        budget.funded_share
                    )
                    asks += 1
                self._move(i, state, nxt, "dormant")
                state = nxt
                continue

            # The stretch: [budget wait] + work + [timing wait].
            work_start = now
            send_back = False
            if unfunded:
                work_start = next_release(budget.releases, now)
                # The re-check belongs to the request made on entering the gate: the last one.
                send_back = self._budget_draw(lists, row, asks - 1, recheck=True) < (
                    budget.recheck_probability
                )
            if send_back:
                work_end = end = work_start
                nxt = budget.recheck_to
            else:
                duration, nxt = self._draw(lists, row, state, k)
                k += 1
                work_end = work_start + duration
                end = self._timing_end(work_end) if state == timing_stage else work_end
            if unfunded or end > work_end:
                self.waits[i] = (
                    (BUDGET_WAIT, now, work_start),
                    (TIMING_WAIT, work_end, end),
                )

            # The first interruption that moves the deal, if it comes before the stretch ends.
            hit_at, hit_role = end, -1
            for j in roles_at[state]:
                at = role_hits[j](row, next_role[j])
                while at <= now:
                    next_role[j] += 1
                    at = role_hits[j](row, next_role[j])
                if at < hit_at:
                    hit_at, hit_role = at, j
            hit_shock = False
            if shock_from <= state < n_stages:
                at = shock_hits(row, next_shock)
                while at <= now:
                    next_shock += 1
                    at = shock_hits(row, next_shock)
                if at < hit_at:
                    hit_at, hit_role, hit_shock = at, -1, True

            if events is not None:
                self.pending_log[i] = (state, now, work_start, work_end, end, lists, row)
            yield timeout(hit_at - now)
            if self.waits[i] is not None:
                self._credit_waits(i, hit_at)
            if events is not None:
                self.pending_log[i] = None
                self._log_stretch(i, state, now, work_start, work_end, end, hit_at, lists, row)
            if hit_shock or hit_role >= 0:
                cause_index = SHOCK_REWORK if hit_shock else GROUP_REWORK
                role = model.roles[hit_role] if hit_role >= 0 else None
                nxt = model.shocks.to if hit_shock else role.to
                cause = "shock" if hit_shock else f"group_change:{role.name}"
                if hit_role >= 0:
                    next_role[hit_role] += 1
                else:
                    next_shock += 1  # this shock is spent, whatever the clock's last bit says
                lost_work = max(0.0, min(hit_at, work_end) - work_start)
                self._start_rework(i, cause_index, state, lost_work)
                if nxt >= won:
                    rep.ended_by[i] = cause_index
            elif send_back:
                cause = "budget_recheck"
                self._start_rework(i, BUDGET_REWORK, state, 0.0)
            else:
                cause = "stage"
            # Moved back to the gate while waiting for money (a new person there): still no money.
            unfunded = unfunded and nxt == gate and hit_at < work_start
            if nxt == gate and state != gate:
                unfunded = self._budget_draw(lists, row, asks, recheck=False) >= budget.funded_share
                asks += 1
            self._move(i, state, nxt, cause)
            state = nxt
        rep.closed[i] = env.now

    # --- draws -----------------------------------------------------------------------------

    def _draw(self, lists: TableLists, row: int, state: int, k: int) -> tuple[float, int]:
        """(duration, next state) of the deal's k-th visit, if it is in ``state``."""
        if k == 0 and lists.age is not None and lists.age[row] > 0 and state <= self.dormant:
            return self._aged_first_visit(lists, row, state)
        if k < VISITS:
            return lists.durations_item[0](row, state, k), lists.exits_item[0](row, state, k)
        page, column = self._page(lists, k)
        return lists.durations_item[page](row, state, column), lists.exits_item[page](
            row, state, column
        )

    def _aged_first_visit(self, lists: TableLists, row: int, state: int) -> tuple[float, int]:
        """A CRM deal's first visit: what remains of a stage it has been in for a while."""
        tables = lists.tables
        u_duration = tables.uniforms(Purpose.STAGE_DURATION, 0)[row : row + 1, 0]
        u_exit = tables.uniforms(Purpose.STAGE_EXIT, 0)[row : row + 1, 0]
        age = np.asarray(lists.age[row : row + 1])
        durations, exits = visit_draws(self.model, np.array([state]), u_duration, u_exit, age)
        return float(durations[0]), int(exits[0])

    def _budget_draw(self, lists: TableLists, row: int, ask: int, recheck: bool) -> float:
        """The funded (or recheck) draw of the deal's ask-th request for money (from 0)."""
        page, column = self._page(lists, ask)
        return (lists.recheck_item if recheck else lists.funded_item)[page](row, column)

    @staticmethod
    def _page(lists: TableLists, k: int) -> tuple[int, int]:
        page, column = divmod(k, VISITS)
        while page >= len(lists.durations_item):
            lists.add_page()
        return page, column

    def _timing_end(self, work_end: float) -> float:
        """When a client ready at ``work_end`` stops waiting for a good market moment."""
        release = self.rep.market.timing_release
        day = int(work_end)
        ready = release[day] if day < len(release) else INF
        return min(ready, work_end + self.model.timing.max_wait_days)

    # --- bookkeeping ----------------------------------------------------------------------

    def _move(self, i: int, state: int, nxt: int, cause: str) -> None:
        rep = self.rep
        now = rep.env.now
        rep.stays.append((state * self.n_states + nxt, rep.entered[i], now))
        rep.entered[i] = now
        rep.cur[i] = nxt
        if rep.events is not None:
            rep.events.append((i, rep.env.now, "move", state, nxt, cause))
            if nxt >= self.won:
                rep.events.append((i, rep.env.now, "close", state, nxt, cause))
        rework = self.rework[i]
        if rework is not None and (nxt < self.dormant or nxt >= self.won) and nxt >= rework[2]:
            self._credit_rework(i, rep.env.now)

    def _credit_waits(self, i: int, until: float) -> None:
        """Count the waits of the deal's stretch up to ``until`` (its end, a cut, the horizon)."""
        rep = self.rep
        for cause, start, end in self.waits[i]:
            spent = min(end, until) - start
            if spent > 0:
                rep.stall[cause][i] += spent
                rep.touched[i] |= 1 << cause
        self.waits[i] = None

    def _waited(self, i: int) -> float:
        stall = self.rep.stall
        return stall[BUDGET_WAIT][i] + stall[TIMING_WAIT][i] + stall[DORMANT_CAUSE][i]

    def _start_rework(self, i: int, cause: int, stage: int, lost_work: float) -> None:
        """A cause moved the deal away from ``stage``: its time until it is back there is rework."""
        rep = self.rep
        rep.touched[i] |= 1 << cause
        previous = self.rework[i]
        if previous is not None:  # moved again: the earlier cause keeps its time so far,
            self._credit_rework(i, rep.env.now)  # which holds the work lost in this stage too
            stage = max(stage, previous[2])
            lost_work = 0.0
        rep.stall[cause][i] += lost_work
        self.rework[i] = (cause, rep.env.now, stage, self._waited(i))

    def _credit_rework(self, i: int, until: float) -> None:
        cause, since, _, waited_before = self.rework[i]
        self.rep.stall[cause][i] += (until - since) - (self._waited(i) - waited_before)
        self.rework[i] = None

    def finish(self, horizon: float) -> None:
        """Stalls still running at the horizon end there, and so do their log lines."""
        for i, pending in enumerate(self.pending_log):
            if pending is not None:
                state, start, work_start, work_end, end, lists, row = pending
                self._log_stretch(i, state, start, work_start, work_end, end, horizon, lists, row)
        for i, waits in enumerate(self.waits):
            if waits is not None:
                self._credit_waits(i, horizon)
        for i, rework in enumerate(self.rework):
            if rework is not None:
                self._credit_rework(i, horizon)

    # --- the event log ---------------------------------------------------------------------

    def _log_stretch(self, i, state, start, work_start, work_end, end, until, lists, row):
        """Write what happened during a stretch that ended (or was cut) at ``until``."""
        rep, model = self.rep, self.model
        log = rep.events.append
        if work_start > start:
            log((i, start, "budget_wait", state, state, "budget"))
            if work_start <= until:
                log((i, work_start, "budget_released", state, state, "budget"))
        if end > work_end and work_end < until:
            log((i, work_end, "timing_wait", state, state, "timing"))
        for j in self.roles_at[state]:
            times = lists.tables.role_times[j][row]
            role = model.roles[j].name
            for day in times[(times > start) & (times < until)].tolist():
                log((i, day, "person_replaced", state, state, f"group_change:{role}"))
        if self.shock_from <= state < model.n_stages:
            days = rep.market.shock_days
            for day in days[(days > start) & (days < until)].tolist():
                log((i, day, "shock_survived", state, state, "shock"))
