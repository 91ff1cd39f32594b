"""Everything random in a replication, drawn in bulk before the SimPy run starts.

The engine's per-visit work must stay at a few list look-ups (the speed target), so all
distributions are sampled here with vectorized inverse transforms:

* per deal and visit ``k``: the duration and the exit it would take in *each* state if its k-th
  visit were there (tables ``durations[deal][state][k]`` and ``exits[deal][state][k]``);
* per deal and request for money ``j`` (its j-th entry into the budget gate): whether the money
  is there, and whether the client re-checks the deal when the money comes (pages of the same
  shape as the visits', keyed by j: a deal asks a few times at most, so one page serves);
* per deal and role: the replacement times of the person in the role, and the draws that decide
  what each replacement does;
* per deal and shock: the draw that decides whether the shock resets it;
* per replication (the market): arrival times, shock times and severities, the timing indicator.

Rows are keyed by deal (see :mod:`sim.randomness`), so two scenarios compared on one seed see the
same numbers for the same decisions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.distributions import SharedUniforms
from sim.model import Model
from sim.randomness import Group, Purpose, Streams, name_key

VISITS = 8  # pre-drawn stage visits per deal; rare longer stories extend in blocks of this size
SHOCK_SLOTS = 4  # shock reactions per deal drawn in one stream (a run sees a few shocks at most)
ROLE_SLOTS = 8  # replacements per deal and role in a block; blocks run past the horizon


@dataclass
class DealTables:
    """Pre-drawn numbers for a block of deals (the day-0 pipeline or the arrivals).

    Visit draws come in pages of ``VISITS`` visits for every deal of the block: page 0 is drawn
    up front, later pages the first time any deal of the block needs them (a long, winding
    story). Page p of deal i is the same whichever deal asked first.
    """

    model: Model
    streams: Streams
    group: Group
    n: int
    amounts: np.ndarray  # (n,)
    role_times: list[np.ndarray]  # per role: (n, m) replacement days, sorted, then inf
    role_moves: list[np.ndarray]  # per role: (n, m) whether each of those moves the deal
    # (the planner scans the days that move, sim.planner._stack_moving; SimPy walks them all)
    shock_reacts: np.ndarray | None  # (n, shocks): whether each shock would reset the deal
    shock_days: np.ndarray  # the replication's shock days
    age_in_stage: np.ndarray | None = None  # days already spent in the first stage (CRM deals)
    _pages: dict = field(default_factory=dict, repr=False)

    def uniforms(self, purpose: Purpose, page: int) -> np.ndarray:
        """(n, VISITS) uniforms of visits ``page * VISITS ...`` for one purpose."""
        key = (purpose, page)
        if key not in self._pages:
            self._pages[key] = self.draw_uniforms(purpose, page, np.empty((self.n, VISITS)))
        return self._pages[key]

    def draw_uniforms(self, purpose: Purpose, page: int, out: np.ndarray) -> np.ndarray:
        """Fill ``out`` (n, VISITS) with ``uniforms(purpose, page)``, uncached (the planner
        draws several blocks' pages straight into one stacked array)."""
        if self.n:
            sub = () if page == 0 else (page,)
            self.streams.generator(purpose, self.group, *sub).random(out=out)
        return out

    def effort_uniforms(self, team: str, page: int) -> np.ndarray:
        """(n, VISITS) uniforms for a team's effort on visits ``page * VISITS ...`` (keyed by
        the team's name: a deal needs the same effort in two scenarios whatever the headcount)."""
        key = ("effort", team, page)
        if key not in self._pages:
            out = np.empty((self.n, VISITS))
            if self.n:
                rng = self.streams.generator(Purpose.TEAM_EFFORT, self.group, name_key(team), page)
                rng.random(out=out)
            self._pages[key] = out
        return self._pages[key]

    def tables(self, page: int) -> tuple[np.ndarray, np.ndarray]:
        """(durations, exits), each (S+1, n, VISITS): visit k of the page in any state."""
        key = ("tables", page)
        if key not in self._pages:
            self._pages[key] = state_tables(
                self.model,
                self.uniforms(Purpose.STAGE_DURATION, page),
                self.uniforms(Purpose.STAGE_EXIT, page),
            )
        return self._pages[key]


@dataclass
class Market:
    """The shared environment of one replication."""

    arrival_days: np.ndarray  # accepted arrival days, increasing
    arrival_rows: np.ndarray  # row of each accepted arrival in the arrivals tables
    n_arrival_rows: int
    shock_days: np.ndarray
    shock_severity: np.ndarray
    timing_release: np.ndarray | None  # per day j: the day the timing wait begun on day j ends


@dataclass
class ReplicationDraws:
    """Every number of one replication, drawn before either engine runs it.

    Deals are numbered day-0 pipeline first (``0 .. n_initial - 1``, rows of ``initial``), then
    the arrivals in the order they arrive (rows ``market.arrival_rows`` of ``arrivals``).
    """

    replication: int
    streams: Streams
    market: Market
    initial: DealTables
    arrivals: DealTables

    @property
    def n_initial(self) -> int:
        return self.initial.n

    @property
    def n(self) -> int:
        return self.initial.n + len(self.market.arrival_days)

    def created(self) -> np.ndarray:
        """Each deal's creation day: 0 for the day-0 pipeline (before 0 for a CRM deal)."""
        return np.concatenate([self.initial.model.initial.created, self.market.arrival_days])

    def start_days(self) -> np.ndarray:
        """The day each deal's simulated story starts: 0 for the day-0 pipeline (a CRM deal's
        earlier life is behind it), the arrival day for the others."""
        return np.concatenate([np.zeros(self.n_initial), self.market.arrival_days])

    def amounts(self) -> np.ndarray:
        arrived = self.arrivals.amounts[self.market.arrival_rows]
        return np.concatenate([self.initial.amounts, arrived])

    def first_states(self) -> np.ndarray:
        """Each deal's state on creation: its CRM or counted stage, or the first stage."""
        arrived = np.zeros(len(self.market.arrival_days), np.int64)
        return np.concatenate([self.initial.model.initial.states, arrived])


def draw_replication(model: Model, seed: int, replication: int) -> ReplicationDraws:
    """The market of replication ``replication`` and the tables of its deals."""
    streams = Streams(seed, replication)
    market = draw_market(model, streams)
    n_initial = len(model.initial.states)
    initial = draw_deal_tables(model, streams, Group.INITIAL, n_initial, market)
    arrivals = draw_deal_tables(model, streams, Group.ARRIVALS, market.n_arrival_rows, market)
    return ReplicationDraws(replication, streams, market, initial, arrivals)


def visit_draws(
    model: Model,
    states: np.ndarray,
    u_duration: np.ndarray,
    u_exit: np.ndarray,
    age: np.ndarray | None = None,
):
    """Duration and exit of visits to the given states (1-d arrays), from their uniforms.

    The visits are grouped by state: each state present gets its visits' positions (one
    comparison a state, fewer than a sort of the states costs), so each state's inverse CDF and
    exit search run on its own visits only; a mask per state applied to every array made every
    state pay for all the visits (three times slower). The draws do not depend on the grouping.

    Args:
        age: days already spent in the stage before the visit was drawn (a deal imported
            from a CRM, mid-stage on day 0): its duration is what remains.
    """
    n = len(states)
    durations = np.empty(n)
    exits = np.empty(n, dtype=np.int64)
    for s, count in enumerate(np.bincount(states, minlength=model.n_states).tolist()):
        if not count:
            continue
        at = slice(None) if count == n else np.flatnonzero(states == s)
        u, aged = u_duration[at], age[at] if age is not None else None
        if s == model.dormant:
            durations[at], exits[at] = _dormant_spell(model, u, aged if aged is not None else 0.0)
            continue
        drawn = model.durations[s].ppf(u)
        u_next = u_exit[at]
        nxt = np.searchsorted(model.exit_cumulative[s], u_next, side="right")
        if aged is not None and (aged > 0).any():  # as the reference process: only an aged deal
            old = np.flatnonzero(aged > 0)
            drawn[old] = remaining_duration(model.durations[s], u[old], aged[old])
            if model.stalled_of_dormant is not None and model.stalled_of_dormant[s] > 0:
                nxt[old] = aged_exits(model, s, u_next[old], aged[old])
        durations[at] = drawn
        exits[at] = nxt
    np.minimum(exits, model.n_states - 1, out=exits)
    return durations, exits


def aged_exits(model: Model, s: int, u: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Where visits already ``age`` days into stage ``s`` go, in a stage with stalled visits.

    A share pi of the stage's visits never ends on its own (``stalled_share``, part of the
    exit to dormant); the others end after the duration F and leave by the other exits. Of the
    visits still in the stage at ``age``, the stalled ones are pi / (pi + (1 - pi) S(age)), S = 1
    - F: one uniform decides, below that chance dormant, above it the exits of the visits that
    end (the stage's exits less pi, renormalised). At age 0 the chance is pi, and the exits are
    the stage's own.
    """
    probs = np.diff(model.exit_cumulative[s], prepend=0.0)
    dormant = model.dormant
    stalled = model.stalled_of_dormant[s] * probs[dormant]  # pi, as this replication's exits
    if stalled <= 0:  # this replication's drawn exits send (next to) none to dormant
        return np.searchsorted(model.exit_cumulative[s], u, side="right")
    ending = probs.copy()
    ending[dormant] = max(ending[dormant] - stalled, 0.0)
    cumulative = np.cumsum(ending) / ending.sum()
    cumulative[-1] = 1.0
    survival = 1.0 - np.asarray(model.durations[s].cdf(age), dtype=float)
    chance = stalled / (stalled + (1.0 - stalled) * survival)
    has_stalled = u < chance
    rescaled = (u - chance) / np.where(has_stalled, 1.0, 1.0 - chance)  # uniform over the rest
    return np.where(
        has_stalled, dormant, np.searchsorted(cumulative, rescaled, side="right")
    ).astype(np.int64)


def remaining_duration(dist, u: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Time left in a stage already ``age`` days old: the duration given that it exceeds age.

    Inverse transform of the conditional distribution: the uniform is mapped into
    [F(age), 1), so an old deal is not treated as a fresh one (and a deal with age 0 draws
    exactly what it would have drawn anyway).
    """
    floor = np.asarray(dist.cdf(age), dtype=float)
    conditioned = np.minimum(floor + u * (1.0 - floor), 1.0 - 1e-12)
    return np.maximum(dist.ppf(conditioned) - age, 0.0)


def _dormant_spell(model: Model, u: np.ndarray, age=0.0) -> tuple[np.ndarray, np.ndarray]:
    """An exponential reactivation races the give-up clock.

    One uniform settles the whole dormant spell: its length and whether it ends in a
    reactivation (back to the first stage) or a give-up (no decision). A deal imported dormant
    has already used ``age`` days of its give-up clock; the reactivation, memoryless, does not
    care how long it has waited.
    """
    reactivate = -model.dormant_mean_days * np.log1p(-u)
    give_up = np.maximum(model.dormant_give_up_days - age, 0.0)
    gives_up = reactivate >= give_up
    return (
        np.where(gives_up, give_up, reactivate),
        np.where(gives_up, model.n_stages + 3, 0),
    )


def state_tables(model: Model, u_duration: np.ndarray, u_exit: np.ndarray):
    """Durations and exits of every (active or dormant) state for the given uniforms.

    Args:
        u_duration, u_exit: arrays of any shape with the same shape.

    Returns:
        (durations, exits), each with a new first axis of length S+1, so that
        ``durations[s, ...]`` are the visits' durations if they were in state s. State-major, so
        that each state's numbers are written in one block (a state axis inside each deal made
        every state's write a strided copy of a few numbers at a time); exits in the smallest
        integer type that holds a state (a page's exits then take an eighth of the memory the
        deals read them from).
    """
    n_stages = model.n_stages
    shape = (n_stages + 1, *u_duration.shape)
    durations = np.empty(shape)
    exits = np.empty(shape, dtype=np.min_scalar_type(model.n_states))
    shared = SharedUniforms(u_duration)  # every stage maps them: lognormal ones share Phi^-1
    at_or_below = np.empty(u_exit.shape, dtype=bool)  # one buffer for every comparison
    for s in range(n_stages):
        durations[s] = model.durations[s].ppf_shared(shared)
        _count_at_or_below(model.exit_cumulative[s], u_exit, exits[s], at_or_below)
    np.minimum(exits[:n_stages], model.n_states - 1, out=exits[:n_stages])
    durations[n_stages], exits[n_stages] = _dormant_spell(model, u_duration)
    return durations, exits


def _count_at_or_below(cumulative: np.ndarray, u: np.ndarray, out: np.ndarray, mask: np.ndarray):
    """``np.searchsorted(cumulative, u, side="right")`` into ``out``: how many of the sorted
    cumulative probabilities are at or below each uniform (the index of the exit it picks).

    Counted one distinct value at a time, a comparison and an addition over the whole page
    each (a stage has a handful of exits): a binary search per uniform cost three times as
    much. Equal values (exits of probability 0) count together.
    """
    out.fill(0)
    as_count = mask.view(np.uint8)
    values = cumulative.tolist()
    k = 0
    while k < len(values):
        value, first = values[k], k
        while k < len(values) and values[k] == value:
            k += 1
        np.greater_equal(u, value, out=mask)
        out += as_count if k - first == 1 else as_count * out.dtype.type(k - first)


def draw_deal_tables(
    model: Model, streams: Streams, group: Group, n: int, market: Market
) -> DealTables:
    """Draw every per-deal number for ``n`` deals of a group."""
    amounts = _amounts(model, streams, group, n)
    age = None
    if group == Group.INITIAL:
        given = model.initial.amounts
        amounts = np.where(np.isnan(given), amounts, given)  # a CRM deal keeps its own amount
        age = model.initial.age_in_stage if model.initial.aged else None
    shock_reacts = None
    if model.shocks is not None:
        shock_reacts = _shock_reactions(model, streams, group, n, market)
    role_times, role_moves = [], []
    for role in model.roles:
        times, moves = _replacements(model, streams, group, n, role)
        role_times.append(times)
        role_moves.append(moves)
    return DealTables(
        model, streams, group, n, amounts, role_times, role_moves, shock_reacts,
        market.shock_days, age,
    )  # fmt: skip


def _amounts(model: Model, streams: Streams, group: Group, n: int) -> np.ndarray:
    """Each deal's amount. A group without deals (a book with no inflow) draws nothing: the
    streams are keyed, so no other number moves, and a replication is spared the fixed cost of
    a stream and of an inverse CDF."""
    if n == 0:
        return np.empty(0)
    return model.amount.ppf(streams.uniforms(Purpose.AMOUNT, group, n, 1)[:, 0])


def _replacements(model: Model, streams: Streams, group: Group, n: int, role):
    """Each deal's replacement days of the person in a role, and which of them move the deal.

    Returns (replacement days ending in +inf, whether each moves the deal: its effect draw is
    below the role's probability), both (n, m). Blocks of ``ROLE_SLOTS`` gaps are added until
    every deal's person has been replaced past the horizon; block b of deal i is the same in
    any scenario.
    """
    if n == 0:
        return np.full((n, 1), np.inf), np.zeros((n, 1), dtype=bool)
    key = name_key(role.name)
    times, moves = [], []
    last = None
    while last is None or last.min() < model.horizon:
        block = len(times)
        rng = streams.generator(Purpose.ROLE_TENURE, group, key, block)
        gaps = rng.standard_exponential((n, ROLE_SLOTS))
        gaps *= role.tenure_mean_days
        block_times = _cumsum_rows(gaps)
        if last is not None:  # the first block starts from day 0
            block_times += last[:, None]
        times.append(block_times)
        effect = streams.uniforms(Purpose.ROLE_CHANGE_EFFECT, group, n, ROLE_SLOTS, key, block)
        moves.append(effect < role.probability)
        last = block_times[:, -1]
    # The blocks side by side (sorted already), then the stop: one copy each.
    width = ROLE_SLOTS * len(times)
    all_times, all_moves = np.empty((n, width + 1)), np.zeros((n, width + 1), dtype=bool)
    for b, (block_times, block_moves) in enumerate(zip(times, moves, strict=True)):
        all_times[:, b * ROLE_SLOTS : (b + 1) * ROLE_SLOTS] = block_times
        all_moves[:, b * ROLE_SLOTS : (b + 1) * ROLE_SLOTS] = block_moves
    all_times[:, width] = np.inf
    return all_times, all_moves


def _cumsum_rows(values: np.ndarray) -> np.ndarray:
    """``np.cumsum(values, axis=1)`` in place, a column at a time: the same additions in the
    same order, several times faster on short rows (numpy loops per row there)."""
    for c in range(1, values.shape[1]):
        values[:, c] += values[:, c - 1]
    return values


def _shock_reactions(model: Model, streams: Streams, group: Group, n: int, market: Market):
    """(n, shocks): whether each shock would reset each deal if the deal were exposed."""
    n_shocks = len(market.shock_days)
    if n_shocks == 0 or n == 0:  # a calm replication, or no deal: nothing to draw (the
        return np.zeros((n, n_shocks), dtype=bool)  # streams are keyed: no other number moves)
    blocks = -(-n_shocks // SHOCK_SLOTS)
    u = np.hstack(
        [streams.uniforms(Purpose.SHOCK_EFFECT, group, n, SHOCK_SLOTS, b) for b in range(blocks)]
    )[:, :n_shocks]
    return u < model.shocks.reset_probability * market.shock_severity


def draw_market(model: Model, streams: Streams) -> Market:
    """Shock times and severities, the timing indicator, and the arrival times."""
    horizon = model.horizon
    shock_days = np.empty(0)
    severity = np.empty(0)
    if model.shocks is not None:
        shock_days = _poisson_days(streams, Purpose.SHOCK_TIMES, model.shocks.rate_per_day, horizon)
        u = streams.uniforms(Purpose.SHOCK_SEVERITY, Group.MARKET, 1, max(len(shock_days), 1))
        severity = model.shocks.severity.ppf(u[0, : len(shock_days)])
    arrival_days, rows, n_rows = _arrivals(model, streams, shock_days, severity)
    return Market(
        arrival_days=arrival_days,
        arrival_rows=rows,
        n_arrival_rows=n_rows,
        shock_days=shock_days,
        shock_severity=severity,
        timing_release=_timing_release_days(model, streams),
    )


def _poisson_days(streams: Streams, purpose: Purpose, rate_per_day: float, horizon: float):
    """Event days of a homogeneous Poisson process on [0, horizon), from unit exponential gaps.

    Gaps are scaled by the rate rather than redrawn, so two scenarios with different rates see
    their events at proportional times (common random numbers across a rate sweep).
    """
    if rate_per_day <= 0:
        return np.empty(0)
    rng = streams.generator(purpose, Group.MARKET)
    expected = rate_per_day * horizon
    chunk = int(expected + 6 * math.sqrt(expected) + 16)
    with np.errstate(over="ignore"):  # a vanishing rate puts the events at +inf: none happen
        days = np.cumsum(rng.standard_exponential(chunk)) / rate_per_day
        while days[-1] < horizon:
            more = np.cumsum(rng.standard_exponential(chunk)) / rate_per_day + days[-1]
            days = np.concatenate([days, more])
    return days[days < horizon]


def _arrivals(model: Model, streams: Streams, shock_days: np.ndarray, severity: np.ndarray):
    """Arrival days by thinning a Poisson process at the peak rate (of the seasons, or of the
    rate by day when it changes over time: ``model.arrival_rate_by_day``).

    Returns (accepted days, their candidate rows, number of candidates). Each deal keeps the
    row of its candidate, so a scenario that cuts the inflow keeps the other deals' numbers.
    """
    peak, relative_rate = _rate_shape(model)
    days = _poisson_days(streams, Purpose.ARRIVAL_GAPS, peak, model.horizon)
    n = len(days)
    if n == 0:
        return days, np.empty(0, dtype=np.int64), 0
    accept_ratio = relative_rate(days)
    shocks = model.shocks
    if shocks is not None and shocks.inflow_drop > 0:
        for day, sev in zip(shock_days, severity, strict=True):
            inside = (days >= day) & (days < day + shocks.recovery_days)
            accept_ratio[inside] *= 1.0 - shocks.inflow_drop * sev
    rows = np.arange(n)
    if np.any(accept_ratio < 1.0):
        u = streams.uniforms(Purpose.ARRIVAL_THINNING, Group.MARKET, 1, n)[0]
        keep = u < accept_ratio
        days, rows = days[keep], rows[keep]
    return days, rows, n


def _rate_shape(model: Model):
    """The peak arrival rate per day, and the rate relative to it on given days."""
    by_day = model.arrival_rate_by_day
    if by_day is not None:  # a rate that changes over time ([inflow], or a drawn path)
        peak = float(by_day.max())
        return peak, lambda days: by_day[days.astype(np.int64)] / peak
    season = model.seasonality
    if season is None:
        return model.arrivals_per_day, lambda days: np.ones(len(days))
    top = season.max()

    def seasonal(days: np.ndarray) -> np.ndarray:
        months = np.array([model.calendar.date_of(d).month for d in days]) - 1
        return season[months] / top

    return model.arrivals_per_day * top, seasonal


def _timing_release_days(model: Model, streams: Streams) -> np.ndarray | None:
    """For each day j, the day on which a timing wait that began on day j ends.

    The indicator is a daily geometric random walk starting at 1.0. A wait begun on day j ends on
    the first later day whose level is at or below ``buy_when_below`` times the level of day j;
    ``inf`` where that does not happen within ``max_wait_days`` (the deal then waits the maximum).
    """
    timing = model.timing
    if timing is None:
        return None
    max_steps = math.ceil(timing.max_wait_days)
    n_days = math.ceil(model.horizon) + 1
    z = streams.uniforms(Purpose.INDICATOR, Group.MARKET, 1, n_days + max_steps)[0]
    from scipy.special import ndtri

    steps = timing.daily_log_drift + timing.daily_log_sd * ndtri(z)
    log_level = np.concatenate([[0.0], np.cumsum(steps)])
    threshold = log_level[:n_days] + math.log(timing.buy_when_below)
    # The first of days j+1 .. j+max_steps whose level is at or below day j's threshold.
    first = _first_at_or_below(log_level, threshold + 1e-12, max_steps)
    return np.where(first < max_steps, np.arange(n_days) + first + 1, np.inf)


def _first_at_or_below(levels: np.ndarray, bound: np.ndarray, width: int) -> np.ndarray:
    """For each day j of ``bound``, how many of the days j+1 .. j+width come before the first
    whose level is at or below ``bound[j]`` (``width`` when none is).

    The same answer as scanning each row of a (days, width) window of levels, found instead
    by binary lifting on range minima: a stretch of days is skipped whole when its minimum is
    above the bound (a minimum is one of the levels, so the comparisons are the same ones), the
    stretch lengths halving from the largest power of two below ``width``. Some ten array
    operations per level instead of days x width comparisons.
    """
    n = len(bound)
    # minima[p][i]: the minimum of levels[i + 1 .. i + 2**p] (days after day i).
    minima = [levels[1:]]
    while 2 ** len(minima) <= width:
        half = 2 ** (len(minima) - 1)
        previous = minima[-1]
        minima.append(np.minimum(previous[:-half], previous[half:]))
    skipped = np.zeros(n, dtype=np.int64)  # days known to be above the bound
    days = np.arange(n)
    for p in range(len(minima) - 1, -1, -1):
        length = 2**p
        room = skipped + length <= width
        at = days + skipped  # the stretch of days after day j + skipped
        above = minima[p][np.minimum(at, len(minima[p]) - 1)] > bound
        skipped += np.where(room & above, length, 0)
    return skipped
