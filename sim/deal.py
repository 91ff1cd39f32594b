"""The life of one deal as a SimPy process, with every stall mechanism.

In an active stage a deal lives a *stretch*: it may first wait for the budget release (it came
to the gate without money: it waits on the release, an event every such deal shares), then
does the stage's work (a timeout), then, in the timing stage, waits for a good market moment.
Anything that moves a deal in the middle of that comes from outside as an interrupt: the
replacement of a person whose role matters here (:mod:`sim.simpy_engine`'s decision-group
process) or a market-wide shock that resets it (the market process). In dormant, the deal
sleeps until it reactivates or gives up.

Random numbers are read from tables drawn beforehand (:mod:`sim.draws`): the duration and exit
of the deal's k-th stage visit, its j-th request for money, so that per-event work stays at a
few list look-ups and two scenarios see the same numbers for the same decisions.

Stall time is attributed per cause: waiting for budget or
for the market, dormant time, and rework: the work lost in an interrupted stage plus the time
until the deal is back in that stage or a later one, less the waits in between. The vectorized
engine (:mod:`sim.planner`) applies the same rules to arrays; tests hold the two equal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from simpy import Interrupt

from sim.draws import VISITS, DealTables, state_tables, visit_draws
from sim.model import (
    BUDGET_REWORK,
    BUDGET_WAIT,
    DORMANT_CAUSE,
    GROUP_REWORK,
    SELLER_WAIT,
    SHOCK_REWORK,
    TIMING_WAIT,
    WorkModel,
)
from sim.randomness import Group, Purpose
from sim.teams import priority_of

if TYPE_CHECKING:
    from sim.simpy_engine import SimpyReplication

INF = float("inf")
DORMANT_BIT = 1 << DORMANT_CAUSE
BUDGET_BIT = 1 << BUDGET_WAIT
TIMING_BIT = 1 << TIMING_WAIT
SHOCK = -1  # the cause of an interrupt by the market; a role's interrupt carries its index


class TableLists:
    """A group's pre-drawn tables, read one number at a time through a ``memoryview``.

    A page's visit tables are (states, rows, ``VISITS``), viewed flat: visit ``column`` of the
    deal in row ``row``, in state ``state``, is number ``state_starts[page][state] + row *
    VISITS + column`` (a Python float or int). A flat view read by one int beats one indexed
    by a tuple (a tuple built, three indices checked: half the time again), ``ndarray.item``
    and converting a deal's whole table to lists, since a deal reads only a few of the (states
    x visits) numbers drawn for it. Index ``page`` of each list is a page of ``VISITS`` visits.
    """

    def __init__(self, tables: DealTables, deal_of_row: np.ndarray, cur: list[int], won: int):
        self.tables = tables
        # Which rows a later page is still drawn for: the deal of each row (-1: a candidate
        # arrival turned away) and every deal's state (-1 before it exists), as in the
        # replication.
        self.deal_of_row, self.cur, self.won = deal_of_row, cur, won
        self.durations_view: list = []
        self.exits_view: list = []
        self.state_starts: list[list[int]] = []  # per page: where each state's numbers start
        self.funded_view: list = []
        self.recheck_view: list = []
        self.effort_view: dict = {}  # (team, stage, page) -> hours table's view
        self.rows_in_page: list[list[int] | None] = []  # a later page holds the open rows only
        self.add_page()
        # Page 0's views, where nearly every read is made (a deal takes them at its start).
        budget = tables.model.budget is not None
        self.first_page = (
            self.durations_view[0],
            self.exits_view[0],
            self.state_starts[0],
            self.budget_view(Purpose.BUDGET_FUNDED, 0) if budget else None,
            self.budget_view(Purpose.BUDGET_RECHECK, 0) if budget else None,
        )
        age = tables.age_in_stage
        self.age = age.tolist() if age is not None else None

    def add_page(self) -> None:
        page = len(self.durations_view)
        if page == 0:
            durations, exits = self.tables.tables(0)
            self.rows_in_page.append(None)  # every row, in its place
        else:
            durations, exits = self._open_rows_page(page)
        self.durations_view.append(_view(durations.reshape(-1)))
        self.exits_view.append(_view(exits.reshape(-1)))
        per_state = durations.shape[1] * VISITS  # the page's rows x visits
        self.state_starts.append([s * per_state for s in range(durations.shape[0])])

    def _open_rows_page(self, page: int) -> tuple[np.ndarray, np.ndarray]:
        """Visit page ``page`` (> 0) of the deals still open or yet to arrive only, their rows
        packed in order (``rows_in_page[page]`` gives a row's place, -1 for the others).

        A later page is first needed when the first deal makes its 9th visit (a winding
        story), by which time a third of a book like `portfolio` has closed, and nine in ten
        by page 2: the inverse CDFs of their rows, and whole pages of fresh memory to hold
        them, were a tenth of the SimPy engine's time. The numbers of the open rows are those
        of the whole page (:func:`sim.draws.state_tables` maps each uniform on its own)."""
        tables, deals = self.tables, self.deal_of_row
        state = np.asarray(self.cur)[deals]  # a turned-away row's -1 reads some deal: masked
        rows = np.flatnonzero((deals >= 0) & (state < self.won))
        place = np.full(tables.n, -1, dtype=np.int64)
        place[rows] = np.arange(len(rows))
        self.rows_in_page.append(place.tolist())
        u_duration = tables.uniforms(Purpose.STAGE_DURATION, page)[rows]
        u_exit = tables.uniforms(Purpose.STAGE_EXIT, page)[rows]
        return state_tables(tables.model, u_duration, u_exit)

    def budget_view(self, purpose: Purpose, page: int):
        """The view of a page of the money draws (funded or re-check) of the deals' requests,
        drawn when first asked for: a deal seldom asks for money eight times, so later pages
        are drawn apart from the visits' pages."""
        views = self.funded_view if purpose == Purpose.BUDGET_FUNDED else self.recheck_view
        while len(views) <= page:
            views.append(_view(self.tables.uniforms(purpose, len(views))))
        return views[page]

    def effort_hours(self, work: WorkModel, stage: int, visit: int, row: int) -> float:
        """Hours of our team's work that the deal's ``visit``-th stage visit needs."""
        page, column = divmod(visit, VISITS)
        key = (work.team, stage, page)
        view = self.effort_view.get(key)
        if view is None:
            team = self.tables.model.teams[work.team]
            u = self.tables.effort_uniforms(team.name, page)
            view = self.effort_view[key] = _view(work.effort_hours.ppf(u))
        return view[row, column]

    def entering(self, row: int) -> bool:
        """Whether the deal enters its first stage at its creation (a new deal, a day-0 deal
        from the scenario's counts) rather than being there already (a CRM deal with time in
        its stage): entering the budget gate needs money."""
        return self.tables.group == Group.ARRIVALS or self.age is None or self.age[row] == 0


def _view(table: np.ndarray) -> memoryview:
    """A table's numbers as a memoryview: indexed by ints, it gives Python floats and ints, as
    ``ndarray.item`` does, in about half the time."""
    return memoryview(np.ascontiguousarray(table))


class DealLives:
    """Makes the deal processes of one replication and keeps their stall bookkeeping."""

    def __init__(self, rep: SimpyReplication):
        self.rep = rep
        model = rep.model
        self.model = model
        n = rep.n
        self.phase: list[tuple | None] = [None] * n  # (cause, since): a wait under way
        self.rework: list[tuple | None] = [None] * n  # (cause, since, stage, waited before)
        # Plain ints: the model's properties would be recomputed on every move.
        self.n_states, self.dormant, self.won = model.n_states, model.dormant, model.won
        self.gate = model.budget.gate if model.budget is not None else -1
        self.timing_stage = model.timing.stage if model.timing is not None else -1
        self.work_at = [*model.work, []] if model.work else [[]] * (model.n_stages + 1)
        # Per state below won: is a visit there the stage's own work alone (an active stage
        # with none of our people's work and no wait for the market)? (A deal that came to the
        # gate without money waits for it first: ``life`` checks that apart.)
        self.plain = [
            s < self.dormant and not self.work_at[s] and s != self.timing_stage
            for s in range(self.won)
        ]
        self.shared = self._shared()
        # Per role: where a new person moves the deal, and the cause the log gives.
        self.replaced = [(role.to, f"group_change:{role.name}") for role in model.roles]
        # The bookkeeping's lists, looked up once (an interrupt or a rework runs through it).
        self.env, self.stall, self.touched = rep.env, rep.stall, rep.touched
        stall = rep.stall
        self.waits = (
            stall[BUDGET_WAIT],
            stall[TIMING_WAIT],
            stall[DORMANT_CAUSE],
            stall[SELLER_WAIT],
        )

    def _shared(self) -> tuple:
        """What every deal's ``life`` reads, gathered once per replication: each deal then
        starts with one unpacking instead of some thirty attribute reads (a deal's start costs
        as much as a stage visit otherwise, and most deals make only a few visits). The order
        is the one ``life`` unpacks: change both together."""
        rep, model = self.rep, self.model
        budget, timing = model.budget, model.timing
        release = rep.timing_release
        return (
            rep.env,
            rep.env.timeout,
            rep.events,
            self.won,
            self.dormant,
            self.gate,
            self.timing_stage,
            self.phase,
            rep.budget.release_after if budget is not None else None,
            budget.funded_share if budget is not None else 0.0,
            budget.recheck_probability if budget is not None else 0.0,
            rep.cur,
            rep.entered,
            self.rework,
            rep.moves,
            rep.move_days,
            self.n_states,
            rep.stall[BUDGET_WAIT],
            rep.stall[DORMANT_CAUSE],
            rep.stall[TIMING_WAIT],
            rep.stall[SELLER_WAIT],
            rep.touched,
            self.work_at,
            release,
            len(release) if release is not None else 0,
            timing.max_wait_days if timing is not None else INF,
            self.plain,
        )

    # --- the process ------------------------------------------------------------------------

    def life(self, i: int, state: int, lists: TableLists, row: int):
        """The life of deal ``i`` from ``state`` until an outcome (or the horizon).

        Kept lean: a stage visit costs a timeout and a few list look-ups (the speed target).
        The common draw (a visit on the current page of the tables) is read inline, and the
        clock is kept in ``now``: after a timeout of ``d`` started at ``now`` SimPy's clock is
        ``now + d`` exactly, so it is read from the environment only after waits whose end the
        deal does not know (money, our people, an interrupt).
        """
        (
            env, timeout, events, won, dormant, gate, timing_stage, phase,
            release_after, funded_share, recheck_probability,
            cur, entered, rework, moves, move_days, n_states,
            budget_days, dormant_days, timing_days, seller_days, touched, work_at,
            timing_release, release_days, max_wait, plain,
        ) = self.shared  # fmt: skip  # in the order _shared gathers them
        # The visit tables' page being read: visit k is column `col` of it (a CRM deal's first
        # visit, what remains of a stage it is already in, is computed apart: `col` starts
        # past the page so that the first read takes the slow path).
        durations_at, exits_at, starts, funded_at, recheck_at = lists.first_page
        # Where the deal's numbers start in each state's part of that page (a later page holds
        # the open deals' rows only): its row times VISITS.
        at = row * VISITS
        col = VISITS if lists.age is not None and lists.age[row] > 0 else 0
        now = env.now
        cur[i] = state
        entered[i] = now
        if events is not None:
            events.append((i, now, "created", -1, state, "arrival"))
        k = 0  # stage visits drawn so far (keys the visit draws)
        asks = 0  # requests for money so far (keys the budget draws)
        unfunded = False
        if state == gate and lists.entering(row):  # its first request for money
            unfunded = funded_at[row, 0] >= funded_share  # as _asks_in_vain, on page 0
            asks += 1
        reworking = False  # whether rework[i] is set (only this deal's life sets it)
        while state < won:
            # A deal that came to the gate without money (``unfunded``: it is at the gate) may be
            # sent back at the release by the re-check of the request it made on entering: then
            # it makes no visit there.
            send_back = False
            if unfunded:
                ask = asks - 1
                if ask < VISITS:
                    send_back = recheck_at[row, ask] < recheck_probability
                else:
                    send_back = self._budget_draw(lists, row, ask, True) < recheck_probability
            if not send_back:  # the visit's numbers, read at its start
                if col < VISITS:
                    visit = starts[state] + at + col
                    duration, nxt = durations_at[visit], exits_at[visit]
                    col += 1
                else:
                    duration, nxt, durations_at, exits_at, starts, at, col = self._draw(
                        lists, row, state, k
                    )
                k += 1
            # A plain stage visit is the stage's own work and nothing else (no wait for money,
            # for our people or for the market): most visits, so it takes the shortest way.
            if plain[state] and not unfunded:
                try:
                    yield timeout(duration)
                except Interrupt as interrupt:  # the work so far is lost
                    work_start, now = now, env.now
                    nxt, cause = self._interrupted(i, state, interrupt.cause, work_start, INF, 0.0)
                    reworking = True
                else:
                    now += duration
                    cause = "stage"
            elif state == dormant:  # (never without money: that is at the gate)
                entered[i] = now  # a dormant spell still under way at the horizon ends there
                yield timeout(duration)  # not interruptible: no role matters, no shock hits here
                later = now + duration  # = env.now
                spent = later - now
                now = later
                if spent > 0:
                    dormant_days[i] += spent
                    touched[i] |= DORMANT_BIT
                if nxt >= won:  # the give-up clock ran out: dormant ended the deal
                    self.rep.ended_by[i] = DORMANT_CAUSE
                cause = "dormant"
            else:
                # The stretch: [budget wait] + work + [timing wait].
                work_start = work_end = INF  # not yet
                helper = None  # our people's work alongside the client's, if any
                seller_before = None  # seller waits before our work (lost work excludes them)
                try:
                    if unfunded:
                        phase[i] = (BUDGET_WAIT, now)
                        if events is not None:
                            events.append((i, now, "budget_wait", state, state, "budget"))
                        yield release_after(now)
                        released = env.now  # as end_phase, inline: a thousand waits a run
                        if released > now:
                            budget_days[i] += released - now
                            touched[i] |= BUDGET_BIT
                        phase[i] = None
                        now = released
                        if events is not None:
                            events.append((i, now, "budget_released", state, state, "budget"))
                    work_start = now
                    if send_back:
                        nxt, cause = self.model.budget.recheck_to, "budget_recheck"
                        self._start_rework(i, BUDGET_REWORK, state, 0.0)
                        reworking = True
                    elif work_at[state]:  # our own people have work to do here too
                        seller_before = seller_days[i]
                        helper = yield from self._team_work(i, state, lists, row, k - 1)
                        yield timeout(duration)
                        if helper is not None and helper.is_alive:  # our work outlasts theirs
                            phase[i] = (SELLER_WAIT, env.now)
                            if events is not None:
                                events.append((i, env.now, "seller_wait", state, state, "team"))
                            yield helper
                            self.end_phase(i)
                        helper = None
                        now = env.now
                        if state == timing_stage:
                            work_end = now
                            yield from self._timing_wait(i, state, work_end)
                            now = env.now
                        cause = "stage"
                    elif state != timing_stage:
                        yield timeout(duration)
                        now += duration
                        cause = "stage"
                    else:
                        # The work, then the wait for a good market moment, in one sleep: the
                        # client is ready at work_end and buys at `ready`, both known now (the
                        # indicator is the replication's, drawn beforehand). A cut before
                        # work_end cuts the work, after it the wait.
                        work_end = work_start + duration
                        day = int(work_end)  # as _timing_end, inline: the hot path
                        ready = timing_release[day] if day < release_days else INF
                        longest = work_end + max_wait
                        if longest < ready:  # as min(ready, longest), without the call
                            ready = longest
                        if ready > work_end:
                            phase[i] = (TIMING_WAIT, work_end)
                            yield timeout(ready - work_start)
                            now = work_start + (ready - work_start)  # SimPy's sum, not `ready`
                            phase[i] = None
                            waited = now - work_end
                            if waited > 0:  # as the vectorized engine counts it
                                timing_days[i] += waited
                                touched[i] |= TIMING_BIT
                            if events is not None:
                                events.append((i, work_end, "timing_wait", state, state, "timing"))
                        else:
                            yield timeout(duration)
                            now += duration
                        cause = "stage"
                    unfunded = False
                except Interrupt as interrupt:
                    now = env.now
                    if helper is not None and helper.is_alive:
                        helper.interrupt(interrupt.cause)  # our work for it stops too
                    if events is not None and state == timing_stage and work_end < now:
                        events.append((i, work_end, "timing_wait", state, state, "timing"))
                    if phase[i] is not None:  # the wait it cut counts up to now
                        self.end_phase(i)
                    waited = 0.0 if seller_before is None else seller_days[i] - seller_before
                    nxt, cause = self._interrupted(
                        i, state, interrupt.cause, work_start, work_end, waited
                    )
                    reworking = True
                    # Moved back to the gate while waiting for money (a new person there): still
                    # no money.
                    unfunded = unfunded and work_start == INF and nxt == gate
            if nxt == gate and state != gate:  # entering the gate: is the money there?
                if asks < VISITS:
                    unfunded = funded_at[row, asks] >= funded_share
                else:
                    unfunded = self._asks_in_vain(lists, row, asks)
                asks += 1
            # The move.
            moves.append(state * n_states + nxt)
            move_days.append(now)
            cur[i] = nxt
            if events is not None:
                events.append((i, now, "move", state, nxt, cause))
                if nxt >= won:
                    events.append((i, now, "close", state, nxt, cause))
            if reworking:  # back in the stage it was moved from (or a later one), or closed?
                if (nxt < dormant or nxt >= won) and nxt >= rework[i][2]:
                    self._credit_rework(i, now)
                    reworking = False
            state = nxt
        self.rep.closed[i] = now
        # Closed: the process sleeps on an event that never fires rather than return. A process
        # that returns schedules its own end as one more event (one in five of a run), and no
        # one waits for a deal's end.
        yield self.rep.closed_for_good

    def _interrupted(
        self, i: int, state: int, hit: int, work_start: float, work_end: float, waited: float
    ):
        """A replacement (``hit`` = the role) or a shock (``SHOCK``) cut the stretch short:
        count the wait it cut, start the rework; returns (next state, cause).

        ``waited``: the days of the work so far spent waiting for our own people (not lost
        work: they count as seller_wait)."""
        if self.phase[i] is not None:
            self.end_phase(i)
        if hit == SHOCK:
            nxt, cause_index, cause = self.model.shocks.to, SHOCK_REWORK, "shock"
        else:
            (nxt, cause), cause_index = self.replaced[hit], GROUP_REWORK
        now = self.env.now
        worked = (work_end if work_end < now else now) - work_start - waited  # min(now, end)
        self._start_rework(i, cause_index, state, worked if worked > 0.0 else 0.0)
        if nxt >= self.won:
            self.rep.ended_by[i] = cause_index
        return nxt, cause

    def _team_work(self, i: int, state: int, lists: TableLists, row: int, visit: int):
        """Our people's work for this visit: the work the client waits for, done in team order
        (the deal queued for each team in turn); then the work alongside the client's own time
        starts as a helper process, returned (None if there is none)."""
        rep = self.rep
        desks, amount = rep.desks, lists.tables.amounts[row]
        alongside = []
        for work in self.work_at[state]:
            if not work.client_waits:
                alongside.append(work)
                continue
            desk = desks[work.team]
            self.phase[i] = (SELLER_WAIT, rep.env.now)
            hours = lists.effort_hours(work, state, visit, row)
            yield from desk.serve(i, state, hours, priority_of(desk.team, amount, state), self)
        if not alongside:
            return None
        return rep.env.process(self._alongside(i, state, lists, row, visit, alongside))

    def _alongside(self, i, state, lists, row, visit, works):
        """The helper process of work that runs alongside the client's own time."""
        desks, amount = self.rep.desks, lists.tables.amounts[row]
        try:
            for work in works:
                desk = desks[work.team]
                hours = lists.effort_hours(work, state, visit, row)
                yield from desk.serve(i, state, hours, priority_of(desk.team, amount, state))
        except Interrupt:  # the deal was moved: our work for it stops
            return

    def _timing_wait(self, i: int, state: int, work_end: float):
        """Wait for a good market moment (at most ``max_wait_days``) once the work is done (the
        log line is written when the wait ends, or where it is cut: see ``life``)."""
        ready = self._timing_end(work_end)
        if ready > work_end:
            self.phase[i] = (TIMING_WAIT, work_end)
            yield self.rep.env.timeout(ready - work_end)
            self.end_phase(i)
            if self.rep.events is not None:
                self.rep.events.append((i, work_end, "timing_wait", state, state, "timing"))

    # --- draws -----------------------------------------------------------------------------

    def _draw(self, lists: TableLists, row: int, state: int, k: int):
        """(duration, next state) of the deal's k-th visit, if it is in ``state``, read off the
        page that holds it (turned to, or drawn, here); with that page's views and state
        starts, the deal's place in it (its row there x VISITS) and the column of the visit
        after it: ``life`` reads the next ones inline."""
        page, column = self._page(lists, k)
        durations_at, exits_at = lists.durations_view[page], lists.exits_view[page]
        starts, places = lists.state_starts[page], lists.rows_in_page[page]
        at = (row if places is None else places[row]) * VISITS
        if k == 0 and lists.age is not None and lists.age[row] > 0 and state <= self.dormant:
            duration, nxt = self._aged_first_visit(lists, row, state)
        else:
            visit = starts[state] + at + column
            duration, nxt = durations_at[visit], exits_at[visit]
        return duration, nxt, durations_at, exits_at, starts, at, column + 1

    def _aged_first_visit(self, lists: TableLists, row: int, state: int) -> tuple[float, int]:
        """A CRM deal's first visit: what remains of a stage it has been in for a while."""
        tables = lists.tables
        u_duration = tables.uniforms(Purpose.STAGE_DURATION, 0)[row : row + 1, 0]
        u_exit = tables.uniforms(Purpose.STAGE_EXIT, 0)[row : row + 1, 0]
        age = np.asarray(lists.age[row : row + 1])
        durations, exits = visit_draws(self.model, np.array([state]), u_duration, u_exit, age)
        return float(durations[0]), int(exits[0])

    def _asks_in_vain(self, lists: TableLists, row: int, ask: int) -> bool:
        """Whether the deal's ask-th request for money finds none (it waits for a release)."""
        return self._budget_draw(lists, row, ask, recheck=False) >= self.model.budget.funded_share

    def _budget_draw(self, lists: TableLists, row: int, ask: int, recheck: bool) -> float:
        """The funded (or recheck) draw of the deal's ask-th request for money (from 0)."""
        page, column = divmod(ask, VISITS)
        purpose = Purpose.BUDGET_RECHECK if recheck else Purpose.BUDGET_FUNDED
        return lists.budget_view(purpose, page)[row, column]

    @staticmethod
    def _page(lists: TableLists, k: int) -> tuple[int, int]:
        page, column = divmod(k, VISITS)
        while page >= len(lists.durations_view):
            lists.add_page()
        return page, column

    def _timing_end(self, work_end: float) -> float:
        """When a client ready at ``work_end`` stops waiting for a good market moment."""
        release = self.rep.timing_release
        day = int(work_end)
        ready = release[day] if day < len(release) else INF
        return min(ready, work_end + self.model.timing.max_wait_days)

    # --- bookkeeping ----------------------------------------------------------------------

    def end_phase(self, i: int, until: float | None = None) -> None:
        """Count the wait under way up to now (or ``until``: the horizon)."""
        cause, since = self.phase[i]
        spent = (self.env.now if until is None else until) - since
        if spent > 0:
            self.stall[cause][i] += spent
            self.touched[i] |= 1 << cause
        self.phase[i] = None

    def _waited(self, i: int) -> float:
        budget, timing, dormant, seller = self.waits
        waited = budget[i] + timing[i] + dormant[i]
        ours = seller[i]
        return waited + ours if ours else waited  # as the vectorized engine's, bit for bit

    def _start_rework(self, i: int, cause: int, stage: int, lost_work: float) -> None:
        """A cause moved the deal away from ``stage``: its time until it is back there is rework."""
        now = self.env.now
        self.touched[i] |= 1 << cause
        previous = self.rework[i]
        if previous is not None:  # moved again: the earlier cause keeps its time so far,
            self._credit_rework(i, now)  # which holds the work lost in this stage too
            stage = max(stage, previous[2])
            lost_work = 0.0
        self.stall[cause][i] += lost_work
        self.rework[i] = (cause, now, stage, self._waited(i))

    def _credit_rework(self, i: int, until: float) -> None:
        cause, since, _, waited_before = self.rework[i]
        self.stall[cause][i] += (until - since) - (self._waited(i) - waited_before)
        self.rework[i] = None

    def finish(self, horizon: float) -> None:
        """Waits, dormant spells and rework still under way at the horizon end there."""
        rep = self.rep
        # Few deals are still waiting, dormant or in rework: found first, in a comprehension
        # (a loop of plain statements over every deal cost more than the work on those few).
        for i in [i for i, phase in enumerate(self.phase) if phase is not None]:
            cause, since = self.phase[i]
            if cause == TIMING_WAIT and since < horizon and rep.events is not None:
                state = rep.cur[i]
                rep.events.append((i, since, "timing_wait", state, state, "timing"))
            self.end_phase(i, horizon)
        dormant = self.dormant
        for i in [i for i, state in enumerate(rep.cur) if state == dormant]:
            if horizon > rep.entered[i]:
                rep.stall[DORMANT_CAUSE][i] += horizon - rep.entered[i]
                rep.touched[i] |= DORMANT_BIT
        for i in [i for i, rework in enumerate(self.rework) if rework is not None]:
            self._credit_rework(i, horizon)
