"""One deal's story as a dated timeline a training room can follow (``dealsim trace``).

Statistics say *how often* deals stall; a trainer also needs *one* deal to point at: "watch
this deal: the new general director arrives, the proposal goes back to market monitoring, then
the fiscal year ends". This module runs one replication with the event log on, picks a deal
(by number, or the one with the most stalled days, one that was reset, or a won one), and turns
its events into plain sentences with dates, and optionally into a timeline picture.

Everything is deterministic for a given scenario, seed and replication: the engine is, and the
selection rules below break every tie by the deal number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.calendar import next_release
from sim.engine import simulate_replication
from sim.errors import UserError
from sim.model import CAUSES, InitialPipeline, Model, compile_scenario
from sim.palette import DORMANT_COLOR
from sim.palette import stage_colors as palette_colors
from sim.records import ReplicationRecords
from sim.report import money
from sim.run_cost import check_run_cost
from sim.scenario import Scenario, load_scenario
from sim.scenario_bounds import MAX_SEED
from sim.tables import render, wrap

#: How a deal can be picked automatically, and what each pick means (for messages and help).
PICKS = {
    "stalled": "the deal with the most stalled days",
    "reset": "a deal sent back by a budget re-check, a decision-group change or a shock",
    "won": "a won deal",
}
#: With no --replication, replications 0 .. SEARCH-1 are tried in order until one has a match.
SEARCH = 20
#: Stories with at least this many lines are preferred (a room needs something to follow).
RICH_STORY = 5
RESET_CAUSES = ("budget_recheck", "shock", "group_change")
ACRONYMS = frozenset({"it", "cfo", "ceo", "cto", "cio", "coo", "hr"})
#: Hatching of the waits inside a stage, drawn in dark ink over a white halo.
WAIT_HATCH = {"budget": "//", "timing": "..", "seller": "xx"}
WAIT_INK = "#1a202c"
WAIT_SWATCH = "#a0aec0"  # the legend's sample bar under the hatching

CAUSE_WORDS = {
    "budget_wait": "budget wait",
    "timing_wait": "exchange-rate wait",
    "dormant": "dormant",
    "budget_rework": "re-work after final doubts",
    "group_change_rework": "re-work after a new decision-maker",
    "shock_rework": "re-work after a shock",
    "seller_wait": "waiting for our people",
}


@dataclass
class Story:
    """One deal of one replication, with everything needed to tell and draw it."""

    scenario: Scenario
    model: Model
    seed: int
    replication: int
    deal: int
    amount: float
    created: float
    first_state: int
    state: int  # at the horizon
    closed: float  # nan if still open
    stall: np.ndarray  # days by cause, in CAUSES order
    events: list[tuple]  # (deal, day, event, from, to, cause) of this deal, by day
    shocks: dict[float, float] = field(default_factory=dict)  # day -> severity (market-wide)
    pick: str | None = None

    @property
    def outcome(self) -> str | None:
        """'won', 'lost', 'no_decision', or None while open."""
        if self.state < self.model.won:
            return None
        return self.model.state_names()[self.state]

    @property
    def stalled_days(self) -> float:
        return float(self.stall.sum())

    def label(self, code: int) -> str:
        """The display name of a state code (the scenario's stage label)."""
        model = self.model
        if code < model.n_stages:
            return model.scenario.stages[code].label or model.stage_names[code]
        return {
            model.dormant: "dormant",
            model.won: "won",
            model.won + 1: "lost",
            model.won + 2: "no decision",
        }[code]

    def lines(self) -> list[tuple[float, str]]:
        """The story as (day, sentence) pairs, in date order, ending with the outcome."""
        return story_lines(self)

    def text(self) -> str:
        return format_story(self)


# ---------------------------------------------------------------------------------------------
# Running and picking
# ---------------------------------------------------------------------------------------------


def run_with_events(model: Model, seed: int, replication: int) -> ReplicationRecords:
    return simulate_replication(model, seed, replication, record_events=True)


def deal_events(records: ReplicationRecords) -> dict[int, list[tuple]]:
    """Each deal's events, in log order (already sorted by day)."""
    by_deal: dict[int, list[tuple]] = {}
    for event in records.events or []:
        if event[0] >= 0:
            by_deal.setdefault(event[0], []).append(event)
    return by_deal


def without_echoes(events: list[tuple]) -> list[tuple]:
    """Drop the log's echo of an effective interruption.

    The engine logs the replacements and shocks of a stretch from its start inclusive, so the
    replacement (or shock) that ended the previous stretch and moved the deal is logged again,
    at the same moment, as one that "did not move" it. Those echoes would tell the room that
    the same new person both sent the deal back and kept it going.
    """
    moved = {(e[1], e[5]) for e in events if e[2] == "move" and e[5] != "stage"}
    return [
        e
        for e in events
        if not (
            (e[2] == "person_replaced" and (e[1], e[5]) in moved)
            or (e[2] == "shock_survived" and (e[1], "shock") in moved)
        )
    ]


def shock_severities(records: ReplicationRecords) -> dict[float, float]:
    return {
        float(day): float(sev)
        for day, sev in zip(records.shock_days, records.shock_severity, strict=True)
    }


def _is_reset(model: Model, event: tuple) -> bool:
    """A move that a budget re-check, a person or a shock made backwards (or to dormant)."""
    _, _, kind, src, dst, cause = event
    if kind != "move" or not cause.startswith(RESET_CAUSES):
        return False
    return dst == model.dormant or dst < src


def _n_lines(model: Model, events: list[tuple]) -> int:
    """How many lines a story would have (moves into an outcome are told by their close)."""
    return sum(1 for e in events if not (e[2] == "move" and e[4] >= model.won)) + 1


def select_deal(model: Model, records: ReplicationRecords, pick: str) -> int | None:
    """The deal of this replication that best shows ``pick`` (see PICKS), or None.

    Rules (ties go to the lowest deal number, so the choice is deterministic):

    * ``stalled``: the most stalled days (all causes);
    * ``reset``: the most distinct reset causes, then the most events, then stalled days;
    * ``won``: the most events, then stalled days.

    Among the candidates, stories of at least RICH_STORY lines are preferred.
    """
    if pick not in PICKS:
        raise UserError(f"unknown pick {pick!r}: use one of {', '.join(PICKS)}")
    events = deal_events(records)
    stalled = records.stall.sum(axis=1)
    best, best_key = None, None
    for i in range(records.n_deals):
        mine = events.get(i, [])
        n_lines = _n_lines(model, mine)
        if pick == "stalled":
            if stalled[i] <= 0:
                continue
            score: tuple = (stalled[i], n_lines)
        elif pick == "reset":
            resets = {e[5].split(":")[0] for e in mine if _is_reset(model, e)}
            if not resets:
                continue
            score = (len(resets), n_lines, stalled[i])
        else:
            if records.state[i] != model.won:
                continue
            score = (n_lines, stalled[i])
        key = (n_lines >= RICH_STORY, *score)
        if best_key is None or key > best_key:
            best, best_key = i, key
    return best


def find_story(
    scenario: Scenario | str | Path | None,
    *,
    deal: int | None = None,
    pick: str | None = None,
    replication: int | None = None,
    seed: int | None = None,
    pipeline: InitialPipeline | None = None,
) -> Story:
    """Run a replication and return the story of one deal.

    Args:
        scenario: a Scenario, a bundled name or a path (None: the default scenario).
        deal: an explicit deal number (0-based: the day-0 pipeline first, then arrivals).
        pick: 'stalled', 'reset' or 'won' (see :func:`select_deal`); default 'stalled' when
            no deal is given.
        replication: which replication (default: the first of 0..SEARCH-1 with a match).
        seed: default: the scenario's.
        pipeline: the day-0 deals of a CRM export (``sim.pipeline.apply_pipeline``), each
            with its age in stage and its amount, as ``run --pipeline`` starts from them.
    """
    if deal is not None and pick is not None:
        raise UserError(f"--deal and --{pick} cannot be used together: choose one")
    scenario, model, seed = _prepare(
        scenario, seed, replication, searching=deal is None, pipeline=pipeline
    )
    if deal is not None:
        rep = 0 if replication is None else replication
        records = run_with_events(model, seed, rep)
        if not 0 <= deal < records.n_deals:
            raise UserError(
                f"--deal: {deal} is not a deal of replication {rep} "
                f"(it has {records.n_deals} deals, numbered 0..{records.n_deals - 1})"
            )
        return _story(scenario, model, seed, records, deal, None)
    asked, pick = pick, pick or "stalled"
    tried = [replication] if replication is not None else list(range(SEARCH))
    for rep in tried:
        records = run_with_events(model, seed, rep)
        chosen = select_deal(model, records, pick)
        if chosen is not None:
            return _story(scenario, model, seed, records, chosen, pick)
    where = (
        f"replication {replication}" if replication is not None else f"replications 0..{SEARCH - 1}"
    )
    missing = _missing_mechanism(scenario, pick)
    if missing:
        picked = f"--{pick}" if asked else "a stalled deal (the default when no --deal is given)"
        raise UserError(
            f"{picked}: '{scenario.name}' has no {missing}: give --won, or --deal N for any deal"
        )
    raise UserError(
        f"--{pick}: no deal in {where} of '{scenario.name}' (seed {seed}) is {PICKS[pick]}; "
        "try another --seed or --replication, or a scenario with that mechanism"
    )


def _missing_mechanism(s: Scenario, pick: str) -> str | None:
    """What the scenario lacks for any deal to be the ``pick`` (None: a deal can be)."""
    resets = s.budget is not None and s.budget.recheck is not None, s.decision_group, s.shocks
    if pick == "reset" and not any(resets):
        return "mechanism that resets a deal (a [budget] re-check, [[decision_group]] or [shocks])"
    ours = any(not team.unlimited for team in s.team)
    if pick == "stalled" and not any((*resets, s.budget, s.timing, s.dormant, ours)):
        return (
            "stall mechanism ([budget], [timing], [dormant], [[decision_group]], [shocks] or "
            "[[team]]), so no deal stalls"
        )
    return None


def _prepare(
    scenario: Scenario | str | Path | None,
    seed: int | None,
    replication: int | None,
    searching: bool = False,
    pipeline: InitialPipeline | None = None,
) -> tuple[Scenario, Model, int]:
    """The scenario loaded and compiled, and the seed, once the options are checked."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    seed = scenario.seed if seed is None else seed
    if not 0 <= seed <= MAX_SEED:
        raise UserError(f"--seed: {seed} is outside 0..{MAX_SEED}")
    if replication is not None and replication < 0:
        raise UserError(f"--replication: {replication} must be >= 0")
    model = compile_scenario(scenario, pipeline)
    # A story is told from one replication, on the SimPy engine with its event log, or from up
    # to SEARCH of them when a pick is looked for (``searching``): a book of millions of deals
    # is refused as a run of that many replications would be.
    check_run_cost(model, SEARCH if searching and replication is None else 1)
    return scenario, model, seed


def find_stories(
    scenario: Scenario | str | Path | None,
    deals: list[int],
    *,
    deal: int | None = None,
    pick: str | None = None,
    replication: int | None = None,
    seed: int | None = None,
    pipeline: InitialPipeline | None = None,
) -> list[Story]:
    """The stories ``dealsim trace`` tells and draws (``pipeline``: as :func:`find_story`).

    With ``deals`` alone, exactly those deals of one replication (default 0), in the order
    given, each once. With ``deal`` or ``pick`` too, that story comes first (its replication is
    the one the others are taken from), then the listed deals it does not already include.
    Without ``deals``: the one story :func:`find_story` picks.
    """
    deals = list(dict.fromkeys(deals))  # each deal once, in the order given
    if deals and deal is None and pick is None:
        scenario, model, seed = _prepare(scenario, seed, replication, pipeline=pipeline)
        records = run_with_events(model, seed, 0 if replication is None else replication)
        return _deal_stories(scenario, model, seed, records, deals)
    story = find_story(
        scenario, deal=deal, pick=pick, replication=replication, seed=seed, pipeline=pipeline
    )
    return [story, *stories_of(story, [d for d in deals if d != story.deal])]


def repeated_deals_note(deals: list[int]) -> str | None:
    """What to tell when ``--deals`` lists a deal more than once (each story is told once)."""
    twice = [d for d in dict.fromkeys(deals) if deals.count(d) > 1]
    if not twice:
        return None
    listed = ", ".join(map(str, twice))
    return f"--deals: {listed} listed more than once: each story is told once"


def replication_note(story: Story) -> str | None:
    """What to tell when the replication traced is past the scenario's count: legitimate (a
    replication's random streams are keyed by its number, so this is the replication a longer
    run would have), but no run of the scenario as written contains it."""
    count = story.scenario.replications
    if story.replication < count:
        return None
    return (
        f"replication {story.replication} is past the scenario's {count} (run simulates "
        f"0..{count - 1}): it is the replication {story.replication} a run of more than "
        f"{story.replication} replications would have, from seed {story.seed}"
    )


def stories_of(story: Story, deals: list[int]) -> list[Story]:
    """Other deals of the same replication (for a picture of a few deals)."""
    records = run_with_events(story.model, story.seed, story.replication)
    return _deal_stories(story.scenario, story.model, story.seed, records, deals)


def _deal_stories(scenario, model, seed, records, deals: list[int]) -> list[Story]:
    """The stories of the listed deals of one replication's records (--deals)."""
    for d in deals:
        if not 0 <= d < records.n_deals:
            raise UserError(
                f"--deals: {d} is not a deal of replication {records.replication} "
                f"(it has {records.n_deals} deals, numbered 0..{records.n_deals - 1})"
            )
    return [_story(scenario, model, seed, records, d, None) for d in deals]


def _story(scenario, model, seed, records, deal, pick) -> Story:
    return Story(
        scenario=scenario,
        model=model,
        seed=seed,
        replication=records.replication,
        deal=deal,
        amount=float(records.amount[deal]),
        created=float(records.created[deal]),
        first_state=int(records.first_state[deal]),
        state=int(records.state[deal]),
        closed=float(records.closed[deal]),
        stall=np.asarray(records.stall[deal], dtype=float),
        events=without_echoes(deal_events(records).get(deal, [])),
        shocks=shock_severities(records),
        pick=pick,
    )


# ---------------------------------------------------------------------------------------------
# Telling
# ---------------------------------------------------------------------------------------------


def _role(cause: str) -> str:
    return cause.split(":", 1)[1] if ":" in cause else "decision-maker"


def _new(role: str) -> str:
    """'general director' -> 'New general director'; 'it director' -> 'New IT director'."""
    words = [w.upper() if w.lower() in ACRONYMS else w for w in role.split(" ")]
    return "New " + " ".join(words)


def _severity(story: Story, day: float) -> str:
    sev = story.shocks.get(float(day))
    return f" (severity {sev:.2f})" if sev is not None else ""


#: What an event did to the deal, in the words both the story and the picture's legend use (one
#: source, so that the two never name an event differently): who or what acted ("group": a new
#: decision-maker, "shock": a market shock, "": nobody named), then the words that follow. The
#: story names the person's role and the shock's severity, and adds where the deal went.
EVENT_NAMES = {
    "group_reset": ("group", ": the proposal must be presented again"),
    "group_freeze": ("group", " freezes the project -> dormant"),
    "group_cancel": ("group", ": the project is cancelled"),
    "group_kept": ("group", " takes over and keeps the project going"),
    "shock_reset": ("shock", ": the plans are reopened"),
    "shock_shelve": ("shock", ": the client shelves the project -> dormant"),
    "shock_cancel": ("shock", ": the project is cancelled"),
    "shock_kept": ("shock", ": this client carries on"),
    "recheck": ("", "Final doubts: the client re-checks the original terms"),
    "released": ("", "The budget money is released"),
}


def event_name(kind: str, who: str = "New decision-maker", shock: str = "Market shock") -> str:
    """The words for an event of ``kind`` (:data:`EVENT_NAMES`); the defaults name nobody in
    particular, as the legend does."""
    actor, words = EVENT_NAMES[kind]
    return {"group": who, "shock": shock, "": ""}[actor] + words


#: Events that spare the deal or free it, by the event log's kind.
SPARING_EVENTS = {
    "person_replaced": "group_kept",
    "shock_survived": "shock_kept",
    "budget_released": "released",
}


def event_kind(model: Model, event: tuple) -> str | None:
    """Which of :data:`EVENT_NAMES` an event is (None: told otherwise, or not at all)."""
    _, _, kind, _, dst, cause = event
    if kind not in ("move", "close"):
        return SPARING_EVENTS.get(kind)
    if cause == "budget_recheck" and dst < model.won:
        return "recheck"
    actor = {"group_change": "group", "shock": "shock"}.get(cause.split(":", 1)[0])
    if actor is None:
        return None
    if dst >= model.won:
        return f"{actor}_cancel"
    if dst == model.dormant:
        return "group_freeze" if actor == "group" else "shock_shelve"
    return f"{actor}_reset"


def _outcome_word(model: Model, state: int) -> str:
    return {model.won: "WON", model.won + 1: "LOST", model.won + 2: "NO DECISION"}[state]


def _named_line(story: Story, event: tuple, kind: str) -> str:
    """The story's sentence for an event of :data:`EVENT_NAMES`: its words, with the person's
    role, the shock's severity and where the deal went."""
    _, day, _, _, dst, cause = event
    model = story.model
    text = event_name(kind, _new(_role(cause)), f"Market shock{_severity(story, day)}")
    if kind.endswith("_cancel"):
        return f"{text} -> {_outcome_word(model, dst)}"
    if kind.endswith(("_freeze", "_shelve")):
        return f"{text} (doing without, for now)"
    if kind.endswith("_reset") or kind == "recheck":
        return f"{text} -> back to {story.label(dst)}"
    return text


def _close_line(story: Story, event: tuple) -> str:
    """The sentence for a deal reaching its outcome, naming who or what ended it."""
    _, _, _, _, dst, cause = event
    model = story.model
    outcome = _outcome_word(model, dst)
    if dst == model.won:
        return f"Contract signed: WON ({money(story.amount, story.scenario.currency)})"
    if cause == "dormant":
        give_up = model.dormant_give_up_days
        return f"Still shelved after {give_up:.0f} days of silence: closed as {outcome}"
    kind = event_kind(model, event)
    if kind is not None:
        return _named_line(story, event, kind)
    if dst == model.won + 1:
        return "LOST: the client buys from a competitor or drops the project"
    return "NO DECISION: the client never makes up its mind"


def _move_line(story: Story, event: tuple) -> str:
    _, _, _, src, dst, cause = event
    model = story.model
    to = story.label(dst)
    if cause == "dormant":  # leaving dormant for a stage: reactivation
        return f"The client comes back to the project -> {to}"
    kind = event_kind(model, event)
    if kind is not None:
        return _named_line(story, event, kind)
    if dst == model.dormant:
        return "The client decides to do without, for now -> dormant"
    if dst > src:
        return f"Moves on -> {to}"
    return f"The client slides back -> back to {to}"


#: A request for our own people, as told in the story ({team}: the team's name): when a person
#: was free at once, and when the deal queued ({waited}: how long). The log has the request
#: either way; only the time to the work's start tells whether the deal really waited.
SELLER_REQUESTS = {
    "seller_wait": (
        "Needs work from our {team} before going on (someone is free at once)",
        "Waits {waited} for our {team}: everyone is busy with other deals",
    ),
    "seller_queued": (
        "Asks our {team} for work done alongside",
        "Asks our {team} for work done alongside (queued behind other deals for {waited})",
    ),
}
#: What our own people then do for the deal.
SELLER_LINES = {
    "seller_start": "Our {team} starts the work",
    "seller_done": "Our {team} finishes the work",
    "seller_left": "Our {team} stops: the deal has moved",
}


def _team(cause: str) -> str:
    """The team a seller event is about (``team:presales``); ``team`` alone: our people."""
    name = cause.removeprefix("team:")
    return "people" if name in ("team", "") else name


def _wait_after(events: list[tuple], k: int) -> float | None:
    """Days from event k to the deal's next move (how long a wait lasted), if any."""
    day = events[k][1]
    for e in events[k + 1 :]:
        if e[2] in ("move", "close"):
            return float(e[1] - day)
    return None


def _queued_days(story: Story, events: list[tuple], k: int) -> float:
    """Days the request at event k spent in its team's queue: until the work started, the deal
    left the queue (it moved), or the story ended (the outcome or the horizon)."""
    _, day, _, _, _, cause = events[k]
    for e in events[k + 1 :]:
        if e[2] in ("seller_start", "seller_left") and e[5] == cause:
            return float(e[1] - day)
    end_day = story.closed if story.outcome else story.model.horizon
    return float(end_day - day)


def _seller_request_line(story: Story, events: list[tuple], k: int) -> str:
    _, _, kind, _, _, cause = events[k]
    if kind == "seller_wait" and cause == "team":  # the deal is done, our work alongside is not
        return _outlasting_wait_line(story, events, k)
    at_once, queued = SELLER_REQUESTS[kind]
    waited = _queued_days(story, events, k)
    if waited <= 0:  # granted the instant it was asked: no queue to tell of
        return at_once.format(team=_team(cause))
    return queued.format(team=_team(cause), waited=_wait_length(waited))


def _outlasting_wait_line(story: Story, events: list[tuple], k: int) -> str:
    """The deal has done its part of the stage and waits for the work our people do alongside
    (logged with the cause "team", no team named): until that work ends or the deal moves."""
    day = events[k][1]
    team = next(
        (
            _team(e[5])
            for e in reversed(events[:k])
            if e[2].startswith("seller_") and e[5] != "team"
        ),
        "people",
    )
    end = next(
        (e[1] for e in events[k + 1 :] if e[2] in ("seller_done", "seller_left", "move", "close")),
        story.closed if story.outcome else story.model.horizon,
    )
    return f"Waits {_wait_length(float(end - day))} for our {team} to finish the work alongside"


def _wait_length(days: float) -> str:
    """'under a day', '1 day', '29 days', '2.3 months'."""
    if days < 1:
        return "under a day"
    return "1 day" if round(days) == 1 else _duration(days)


def _from_the_crm(model: Model, deal: int, amount: str) -> str:
    """', 213 days in it already (CRM deal A, 1k EUR)' for a deal of a CRM export (its
    remaining time there is drawn given that it has lasted that long), else ' (1k EUR)'."""
    initial = model.initial
    age = float(initial.age_in_stage[deal])  # every day-0 deal has one (0: none told)
    so_far = f", {age:.0f} days in it already" if age > 0 else ""
    crm = f"CRM deal {initial.ids[deal]}, " if deal < len(initial.ids) else ""
    return f"{so_far} ({crm}{amount})"


def story_lines(story: Story) -> list[tuple[float, str]]:
    """The deal's events as (day, plain sentence) pairs, ending with the outcome or the horizon."""
    model = story.model
    out: list[tuple[float, str]] = []
    events = story.events
    for k, event in enumerate(events):
        _, day, kind, src, dst, cause = event
        day = float(day)
        if kind == "created":
            amount = money(story.amount, story.scenario.currency)
            if story.deal < len(model.initial_states):
                text = f"Already in the pipeline at the start: {story.label(dst)}"
                text += _from_the_crm(model, story.deal, amount)
            else:
                text = f"New enquiry: enters {story.label(dst)} ({amount})"
        elif kind == "move":
            if dst >= model.won:
                continue  # told by the close event that follows
            text = _move_line(story, event)
        elif kind == "close":
            text = _close_line(story, event)
        elif kind == "budget_wait":
            release = next_release(model.budget.releases, day)
            text = (
                "Budget line only: waits for the next fiscal year's money "
                f"(released {model.calendar.date_of(release).isoformat()})"
            )
        elif event_kind(model, event) is not None:
            text = _named_line(story, event, event_kind(model, event))
        elif kind == "timing_wait":
            text = "Ready to buy, waiting for a better exchange rate"
            waited = _wait_after(events, k)
            if waited is not None and model.timing is not None:
                if waited >= model.timing.max_wait_days - 1e-6:
                    text += f" (stops waiting after {waited:.0f} days: the line is needed)"
                else:
                    text += f" (waits {waited:.0f} days)"
        elif kind in SELLER_REQUESTS:
            text = _seller_request_line(story, events, k)
        elif kind in SELLER_LINES:
            text = SELLER_LINES[kind].format(team=_team(cause))
        else:
            text = f"{kind} ({cause})"
        out.append((day, text))
    if story.outcome is None:
        horizon = model.horizon
        where = (
            "dormant (doing without, for now)"
            if story.state == model.dormant
            else f"in {story.label(story.state)}"
        )
        out.append((horizon, f"Still open at the horizon: {where}"))
    return out


def _duration(days: float) -> str:
    if days >= 60:
        return f"{days / (365.25 / 12):.1f} months"
    return f"{days:.0f} days"


def format_story(story: Story) -> str:
    """The story as text: a header, one dated line per event, and where the time went."""
    model = story.model
    scenario = story.scenario
    why = f", picked as {PICKS[story.pick]}" if story.pick else ""
    head = (
        f"Deal {story.deal} of '{scenario.name}' (replication {story.replication}, "
        f"seed {story.seed}{why})"
    )
    # escaped before the layout: an escape sequence is as wide as it is written
    lines = [*wrap(printable(head), cap=None), ""]
    rows = [
        [model.calendar.date_of(day).isoformat(), printable(text)] for day, text in story.lines()
    ]
    lines += render(rows, text={1}, header=False, indent=0)
    lines.append("")
    end = story.closed if story.outcome else model.horizon
    life = _duration(end - story.created)
    if story.outcome:
        verdict = f"Closed {story.outcome.replace('_', ' ')} after {life}"
    else:
        verdict = f"Still open after {life} (at the horizon)"
    total = story.stalled_days
    if total > 0:
        parts = [
            f"{CAUSE_WORDS[c]} {d:.0f}"
            for c, d in zip(CAUSES, story.stall, strict=True)
            if d >= 0.5
        ]
        verdict += f"; {total:.0f} of those days stalled: " + ", ".join(parts)
    else:
        verdict += "; no stalled days"
    lines += wrap(printable(verdict + "."), cap=None)
    return "\n".join(printable(line) for line in lines)


def printable(text: str) -> str:
    """``text`` safe for a terminal: control characters (from a scenario's names and labels:
    an escape sequence could clear the screen or fake a line) written as ``\\x1b``-style
    escapes, one line stays one line."""
    import unicodedata

    return "".join(
        ch if unicodedata.category(ch) not in ("Cc", "Cf") else ascii(ch)[1:-1] for ch in text
    )


# ---------------------------------------------------------------------------------------------
# The picture
# ---------------------------------------------------------------------------------------------


def _segments(story: Story) -> list[tuple[float, float, int]]:
    """(start, end, state) of each stay in a stage or dormant, until the outcome or horizon."""
    end_day = story.closed if story.outcome else story.model.horizon
    segments = []
    state, since = story.first_state, story.created
    for _, day, kind, _, dst, _ in story.events:
        if kind != "move":
            continue
        segments.append((since, float(day), state))
        state, since = dst, float(day)
    if state < story.model.won:
        segments.append((since, end_day, state))
    return [s for s in segments if s[1] > s[0] or s[2] < story.model.won]


def _waits(story: Story) -> list[tuple[float, float, str]]:
    """(start, end, 'budget'|'timing'|'seller') of the waits inside stage stays."""
    end_day = story.closed if story.outcome else story.model.horizon
    out = []
    events = story.events
    ends = {"budget_wait": ("move", "budget_released"), "timing_wait": ("move",),
            "seller_wait": ("move", "seller_start")}  # fmt: skip
    for k, (_, day, kind, *rest) in enumerate(events):
        if kind not in ends:
            continue
        stop, until = end_day, ends[kind]
        if kind == "seller_wait" and rest[-1] == "team":  # our work alongside, until it ends
            until = ("move", "seller_done", "seller_left")
        for later in events[k + 1 :]:
            if later[2] in until:
                stop = float(later[1])
                break
        out.append((float(day), stop, kind.removesuffix("_wait")))
    return out


#: The picture's width in inches, and in pixels once saved (slides are 1920 pixels wide).
PICTURE_WIDTH = 12.8
PICTURE_PIXELS = 1920

#: marker, face, edge (None: white on the bar, the face in the legend), size: one entry per
#: kind of mark. The marker says who acted (a person, a shock, the budget), the face what came of
#: it: the actor's colour sent back, dormant grey shelved, black cancelled, hollow spared.
MARKS = {
    "group_reset": ("v", "#6b46c1", None, 120),
    "group_freeze": ("v", DORMANT_COLOR, "#6b46c1", 120),
    "group_cancel": ("v", "#1a202c", "#6b46c1", 120),
    "group_kept": ("v", "none", "#6b46c1", 90),
    "shock_reset": ("X", "#c53030", None, 130),
    "shock_shelve": ("X", DORMANT_COLOR, "#c53030", 130),
    "shock_cancel": ("X", "#1a202c", "#c53030", 130),
    "shock_kept": ("X", "none", "#c53030", 100),
    "recheck": ("<", "#dd6b20", None, 120),
    "released": ("P", "#2b6cb0", None, 110),
    "won": ("*", "#2f855a", None, 260),
    "lost": ("X", "#1a202c", None, 130),
    "no_decision": ("o", "#718096", None, 120),
    "open": (">", "#1a202c", None, 110),
}
#: Marks of how the deal ended, drawn just after the end of its bar rather than above it; the
#: other marks' legend text is the story's own (:data:`EVENT_NAMES`).
OUTCOME_MARKS = {
    "won": "Won",
    "lost": "Lost",
    "no_decision": "No decision",
    "open": "Still open at the horizon",
}


def mark_label(mark: str) -> str:
    """The legend's text for a kind of mark: the event's name as the story tells it."""
    return OUTCOME_MARKS.get(mark) or event_name(mark)


def _marks(story: Story) -> list[tuple[float, str, str]]:
    """(day, kind of mark, short note) of what happened; the note names a new person."""
    model = story.model
    out = []
    for event in story.events:
        _, day, kind, _, dst, cause = event
        day = float(day)
        if kind == "move" and dst >= model.won:
            continue  # marked by the close event that follows
        if kind == "close":
            out.append((day, model.state_names()[dst], ""))
        mark = event_kind(model, event)
        if mark is not None:
            who = _new(_role(cause)).removeprefix("New ") if mark.startswith("group") else ""
            out.append((day, mark, who))
    if story.outcome is None:
        out.append((model.horizon, "open", ""))
    return out


def stage_colors(model: Model) -> list[str]:
    """One clearly distinct colour per stage (a qualitative palette), then dormant grey."""
    return [*palette_colors(model.n_stages), DORMANT_COLOR]


def _text_color(face: str) -> str:
    """Dark or white text, whichever reads better on ``face``."""
    import matplotlib

    r, g, b = matplotlib.colors.to_rgb(face)
    return "#1a202c" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"


def _stage_number(model: Model, state: int) -> str:
    """'1', '2', ... for stages and '0' for dormant (the forum's "stage zero")."""
    return "0" if state == model.dormant else str(state + 1)


def _dodge(days: list[float], near: float, step: float) -> list[float]:
    """Horizontal offsets (points) that put marks closer than ``near`` days side by side."""
    offsets = [0.0] * len(days)
    order = sorted(range(len(days)), key=lambda i: days[i])
    k = 0
    while k < len(order):
        j = k
        while j + 1 < len(order) and days[order[j + 1]] - days[order[j]] < near:
            j += 1
        m = j - k + 1
        for i, idx in enumerate(order[k : j + 1]):
            offsets[idx] = (i - (m - 1) / 2) * step
        k = j + 1
    return offsets


def draw_timeline(stories: list[Story], path: Path | str, what_if: str | None = None) -> Path:
    """Draw the stories as a timeline picture: one row per deal, stages as bars over dates.

    Waits (budget, exchange rate) are hatched over the stage bar; what happened is marked with
    symbols above the bar, explained in the legend; market-wide shocks are dashed vertical lines.
    ``what_if``: the label of a scenario changed by ``--set`` or ``--pipeline``
    (:mod:`sim.whatif`), said under the title and in the footer.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.legend_handler import HandlerTuple
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.transforms import blended_transform_factory, offset_copy

    if not stories:
        raise UserError("no deal to draw")
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):  # SVG: the HTML report (sim.html.story)
        raise UserError(f"--picture: {path} must end in .png")
    model = stories[0].model
    scenario = stories[0].scenario
    start = scenario.start_date
    colors = stage_colors(model)

    def when(day: float) -> float:
        return mdates.date2num(start) + day

    def wait_patches(kind: str) -> list:
        """A wait's hatching: dark lines over a wider white halo, visible on any bar colour."""
        hatch = WAIT_HATCH[kind]
        out = []
        for color, width in (("white", 2.8), (WAIT_INK, 1.0)):
            patch = Patch(facecolor="none", edgecolor=color, hatch=hatch, linewidth=0)
            patch.set_hatch_linewidth(width)
            out.append(patch)
        return out

    n = len(stories)
    fig, ax = plt.subplots(figsize=(PICTURE_WIDTH, picture_height(n)))
    bar = 0.5
    first = min(s.created for s in stories)
    span = model.horizon - first
    used_marks: list[str] = []
    used_waits: set[str] = set()
    for row, story in enumerate(stories):
        y = n - 1 - row
        for seg_start, seg_end, state in _segments(story):
            face = colors[min(state, model.n_stages)]
            ax.broken_barh(
                [(when(seg_start), max(seg_end - seg_start, 0.5))],
                (y - bar / 2, bar),
                facecolors=face,
                edgecolor="white",
                linewidth=1.2,
            )
            if seg_end - seg_start >= 0.025 * span:  # room for the stage number inside the bar
                ax.text(
                    when((seg_start + seg_end) / 2),
                    y,
                    _stage_number(model, state),
                    ha="center",
                    va="center",
                    fontsize=11.5,
                    fontweight="bold",
                    color=_text_color(face),
                    # a solid patch of the bar's colour, so hatching never runs through it
                    bbox={"boxstyle": "round,pad=0.3", "fc": face, "ec": "none"},
                    zorder=4,
                )
        for w_start, w_end, kind in _waits(story):
            used_waits.add(kind)
            for patch in wait_patches(kind):
                ax.broken_barh(
                    [(when(w_start), max(w_end - w_start, 0.5))],
                    (y - bar / 2, bar),
                    facecolors="none",
                    edgecolor=patch.get_edgecolor(),
                    hatch=WAIT_HATCH[kind],
                    linewidth=0,
                ).set_hatch_linewidth(patch.get_hatch_linewidth())
        marks = _marks(story)
        above = [m for m in marks if m[1] not in OUTCOME_MARKS]
        offsets = _dodge([m[0] for m in above], 0.012 * span, 13.0)
        for (day, mark, note), dx in [
            *zip(above, offsets, strict=True),
            *((m, 9.0) for m in marks if m[1] in OUTCOME_MARKS),
        ]:
            marker, color, edge, size = MARKS[mark]
            hollow = color == "none"
            edge = edge or "white"
            is_above = mark not in OUTCOME_MARKS
            # events above the bar; the outcome just after the bar's end, on its centre line
            mark_y = y + bar / 2 + 0.14 if is_above else y
            where = offset_copy(ax.transData, fig=fig, x=dx, y=0, units="points")
            if note:  # who was replaced, in small print above the mark
                ax.annotate(
                    note,
                    (when(day), mark_y),
                    xycoords=where,
                    xytext=(0, 8),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    color="#553c9a",
                )
            ax.scatter(
                [when(day)],
                [mark_y],
                marker=marker,
                s=size,
                facecolors="white" if hollow else color,
                edgecolors=edge,
                linewidths=1.6 if hollow else 0.8,
                zorder=5,
                transform=where,
                clip_on=False,
            )
            if mark not in used_marks:
                used_marks.append(mark)
    # market-wide shocks: dashed lines over every row, labelled along the top of the plot
    shocks = stories[0].shocks
    top_edge = blended_transform_factory(ax.transData, ax.transAxes)
    last_at: list[float] = []  # per label level: the day of the last label written there
    for day, severity in sorted(shocks.items()):
        ax.axvline(when(day), color="#c53030", linestyle="--", linewidth=1, alpha=0.6, zorder=1)
        # labels of shocks close in time go one level up instead of overprinting
        level = next((k for k, at in enumerate(last_at) if day - at > 0.09 * span), len(last_at))
        if level == len(last_at):
            last_at.append(day)
        last_at[level] = day
        ax.annotate(
            f"shock {severity:.2f}",
            (when(day), 1.0),
            xycoords=top_edge,
            xytext=(3, 2 + 11 * level),
            textcoords="offset points",
            fontsize=8,
            color="#c53030",
            va="bottom",
            annotation_clip=False,
        )
    horizon = when(model.horizon)
    ax.axvline(horizon, color="#1a202c", linewidth=1.2, zorder=1)
    ax.annotate(
        "horizon",
        (horizon, -0.62),
        xytext=(-3, 0),
        textcoords="offset points",
        fontsize=8,
        ha="right",
    )
    ax.set_xlim(when(first - 15), horizon + 20)
    ax.set_ylim(-0.75, n - 0.1)
    ax.set_yticks(range(n))
    ax.set_yticklabels(
        [f"Deal {s.deal}\n{money(s.amount, scenario.currency)}" for s in reversed(stories)],
        fontsize=10,
    )
    locator = mdates.AutoDateLocator(minticks=6, maxticks=14)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(axis="x", color="#e2e8f0", zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)

    stage_handles = [
        Patch(
            facecolor=colors[s],
            label=f"{s + 1}. {model.scenario.stages[s].label or model.stage_names[s]}",
        )
        for s in range(model.n_stages)
    ]
    if any(seg[2] == model.dormant for s in stories for seg in _segments(s)):
        stage_handles.append(Patch(facecolor=colors[-1], label="0. Dormant (doing without)"))
    wait_handles, wait_labels = [], []
    for kind, label in (
        ("budget", "Waiting for budget"),
        ("timing", "Waiting for a better exchange rate"),
        ("seller", "Waiting for our own people"),
    ):
        if kind in used_waits:
            wait_handles.append((Patch(facecolor=WAIT_SWATCH), *wait_patches(kind)))
            wait_labels.append(label)
    mark_handles = []
    for mark in MARKS:
        if mark not in used_marks:
            continue
        marker, color, edge, size = MARKS[mark]
        hollow = color == "none"
        edge = edge or color
        mark_handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker=marker,
                markersize=math.sqrt(size) * 0.8,
                markerfacecolor="white" if hollow else color,
                markeredgecolor=edge,
                label=mark_label(mark),
            )
        )
    handles = stage_handles + wait_handles + mark_handles
    labels = [h.get_label() for h in stage_handles] + wait_labels
    labels += [h.get_label() for h in mark_handles]
    ax.legend(
        handles=handles,
        labels=labels,
        handler_map={tuple: HandlerTuple(ndivide=1)},
        loc="upper center",
        bbox_to_anchor=(0.5, -0.09),
        ncol=3,
        fontsize=9,
        frameon=False,
    )
    if n == 1:
        story = stories[0]
        title = f"{scenario.name}: the story of deal {story.deal}"
        if story.outcome:
            life = _duration(story.closed - story.created)
            title += f" ({story.outcome.replace('_', ' ')} after {life})"
        else:
            title += " (still open at the horizon)"
    else:
        numbers = [str(s.deal) for s in stories]
        title = f"{scenario.name}: the stories of deals {', '.join(numbers[:-1])} and {numbers[-1]}"
    from sim.plots import WHAT_IF_COLOR, footer, what_if_tag

    pad = 16 + 11 * len(last_at)  # above the shocks' labels
    if what_if:
        title += " (what-if)"
        ax.annotate(
            what_if_tag(what_if),
            (0, 1),
            xycoords="axes fraction",
            xytext=(0, pad - 2),
            textcoords="offset points",
            fontsize=10,
            fontweight="bold",
            color=WHAT_IF_COLOR,
            va="bottom",
        )
        pad += 16
    ax.set_title(title, fontsize=14, loc="left", pad=pad)
    stories_desc = f"replication {stories[0].replication}, seed {stories[0].seed}"
    caption = (
        f"dealsim trace, {stories_desc}. Bars: the stage each deal is in, over dates; "
        "hatching: waiting inside the stage; marks above a bar: what happened to the deal."
    )
    fig.tight_layout(rect=(0, footer(fig, caption, what_if), 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=PICTURE_PIXELS / PICTURE_WIDTH)
    plt.close(fig)
    return path


def picture_height(n_deals: int) -> float:
    """Inches: 16:9 at most for up to six deals (rows get slimmer), then a row per deal more."""
    natural = 3.1 + 1.05 * n_deals
    slide = PICTURE_WIDTH * 9 / 16
    if natural <= slide:
        return natural
    return max(slide, 3.1 + 0.68 * n_deals)


def parse_deal_list(text: str | None) -> list[int]:
    """'3,17, 40' -> [3, 17, 40], with a clear error naming the option."""
    if text is None:
        return []
    out = []
    listed = text.strip()
    for part in (listed[:-1] if listed.endswith(",") else listed).split(","):  # '3, 17,' is fine
        part = part.strip()
        if not part:  # '3,,4' or '': a number left out, not a list to guess at
            raise UserError(f"--deals {text}: an empty deal number (use e.g. 3,17,40)")
        try:
            out.append(int(part))
        except ValueError:
            raise UserError(f"--deals: {part!r} is not a deal number (use e.g. 3,17,40)") from None
    return out
