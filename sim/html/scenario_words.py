"""A scenario in plain words for a report: its stages with their key numbers, the stall
mechanisms switched on (one sentence each, with the numbers that drive them) and those off, our
own people (``[[team]]``), how sure the parameters are (``[uncertainty]``) and an inflow that
changes over time (``[inflow]``).

Everything is read from the validated :class:`sim.scenario.Scenario`, so the words can never
disagree with what was simulated.
"""

from __future__ import annotations

import calendar
import math

from sim.calendar import last_day
from sim.explain import MECHANISMS, has_mechanism
from sim.report import compact, money
from sim.scenario import Scenario
from sim.scenario_teams import PRIORITIES

#: z of the 10th and 90th percentiles of a normal: "8 in 10" ranges of a random walk.
Z90 = 1.2815515655446004

OUTCOME_WORDS = {"won": "won", "lost": "lost", "no_decision": "no decision", "dormant": "dormant"}


def _num(x: float) -> str:
    """120 not 120.0; 0.25 stays 0.25; 1,461 and 1,234 (not 1.23e+03) for the large ones."""
    if float(x).is_integer() or abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _pct(p: float) -> str:
    return f"{100 * p:.0f}%" if round(100 * p, 1).is_integer() else f"{100 * p:.1f}%"


def _days(x: float) -> str:
    return f"{_num(x)} day" if x == 1 else f"{_num(x)} days"


class _Names:
    """Display names of states: a stage's label, or the outcome in words."""

    def __init__(self, scenario: Scenario):
        self.labels = {s.name: s.label or s.name for s in scenario.stages}

    def __call__(self, name: str) -> str:
        return self.labels.get(name) or OUTCOME_WORDS.get(name, name)

    def many(self, names: list[str]) -> str:
        shown = [self(n) for n in names]
        return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def _spread(dist, unit: str) -> dict[str, str]:
    """Median and the P10-P90 range of a distribution, in ``unit`` ('days' or a currency)."""
    q10, q50, q90 = (dist.quantile(p) for p in (0.1, 0.5, 0.9))
    if unit == "days":
        return {"median": _days(round(q50)), "range": f"{q10:.0f}-{q90:.0f} days"}
    return {
        "median": money(q50, unit),
        "range": f"{compact(q10)}-{compact(q90)} {unit}",
    }


def stage_rows(scenario: Scenario) -> list[dict]:
    """One row per stage: number, label, typical visit, spread, the file's spec, the exits."""
    name = _Names(scenario)
    rows = []
    for i, stage in enumerate(scenario.stages, start=1):
        exits = sorted(stage.exits.items(), key=lambda kv: -kv[1])
        rows.append(
            {
                "number": i,
                "name": stage.name,
                "label": stage.label or stage.name,
                **_spread(stage.duration, "days"),
                "spec": stage.duration.describe(),
                "exits": ", ".join(f"{name(to)} {_pct(p)}" for to, p in exits if p > 0),
            }
        )
    return rows


def _month_day(text: str) -> str:
    month, day = (int(part) for part in text.split("-"))
    return f"{calendar.month_name[month]} {day}"


def _pipeline_words(scenario: Scenario, imported: dict | None) -> str:
    if imported:
        return (
            f"{_num(imported.get('open_deals', 0))} open deals from the CRM export "
            f"{imported.get('source')} as of {imported.get('as_of')}"
        )
    name = _Names(scenario)
    counts = [(stage, n) for stage, n in scenario.deals.initial.items() if n]
    if not counts:
        return "none: every deal is a new enquiry"
    total = sum(n for _, n in counts)
    parts = ", ".join(f"{_num(n)} in {name(stage)}" for stage, n in counts)
    return f"{_num(total)} open deals: {parts}"


def _seasonality_words(values: list[float] | None) -> str:
    if not values:
        return ""
    mean = sum(values) / 12
    low = min(range(12), key=lambda m: values[m])
    high = max(range(12), key=lambda m: values[m])
    return (
        f"; seasonal: busiest in {calendar.month_name[high + 1]} "
        f"(x{values[high] / mean:.2f}), quietest in {calendar.month_name[low + 1]} "
        f"(x{values[low] / mean:.2f})"
    )


def facts(scenario: Scenario, imported: dict | None = None) -> list[tuple[str, str]]:
    """(label, words) about the market: dates, the pipeline, the inflow, the deal amount."""
    end = last_day(scenario.start_date, scenario.horizon_days)  # inclusive, as --until
    amount = _spread(scenario.deals.amount, scenario.currency)
    first = scenario.stages[0].label or scenario.stages[0].name
    arrivals = scenario.deals.arrivals_per_month
    inflow = (
        f"{_num(arrivals)} a month on average (Poisson) into {first}"
        + _seasonality_words(scenario.deals.seasonality)
        + _trend_words(scenario)
        if arrivals
        else "none: only the day-0 pipeline"
    )
    given = _given_months(scenario)
    return [
        ("Day 0", scenario.start_date.isoformat()),
        ("Horizon", f"{_days(scenario.horizon_days)}, to {end.isoformat()}"),
        ("Pipeline at day 0", _pipeline_words(scenario, imported)),
        ("New enquiries", inflow),
        (
            "Deal amount",
            f"median {amount['median']}, 8 in 10 deals {amount['range']} "
            f"({scenario.deals.amount.describe()})",
        ),
        *([("Enquiries in given months", given)] if given else []),
    ]


def _trend_words(scenario: Scenario) -> str:
    """``[inflow] trend_per_year``: the rate x exp(trend x years), as a yearly change."""
    trend = scenario.inflow.trend_per_year if scenario.inflow is not None else 0.0
    if not trend:
        return ""
    change = math.exp(trend) - 1
    word = "growing" if trend > 0 else "shrinking"
    return f"; {word} by {_pct(abs(change))} a year (rate x exp({trend:g} x years since day 0))"


def _given_months(scenario: Scenario) -> str:
    """``[inflow] by_month``: the months whose arrival rate the file gives outright."""
    given = scenario.inflow.by_month if scenario.inflow is not None else {}
    if not given:
        return ""
    months = ", ".join(f"{month}: {_num(rate)}" for month, rate in sorted(given.items()))
    return (
        f"{months} a month; in these months the given rate replaces the usual one "
        "(seasonality and trend)"
    )


def _dormant(s: Scenario, name: _Names) -> str:
    d = s.dormant
    return (
        f"A shelved deal (stage zero: the client does without, for now) comes back to "
        f"{name(s.stages[0].name)} after {_days(round(d.reactivate_mean_days))} on average; "
        f"one still shelved {_days(d.give_up_after_days)} after it was shelved ends as "
        "no decision."
    )


def _budget(s: Scenario, name: _Names) -> str:
    b = s.budget
    text = (
        f"Entering {name(b.gate)} needs money. {_pct(b.funded_share)} of buyers have it "
        "allocated; the others only have a budget line and wait for the next fiscal year "
        f"(it starts on {_month_day(b.fiscal_year_start)})"
    )
    lag = b.release_lag_days
    text += f", plus {_days(lag)} until the money arrives." if lag else "."
    if b.recheck and b.recheck.probability:
        text += (
            f" When it arrives, {_pct(b.recheck.probability)} of them re-check the original "
            f"terms and go back to {name(b.recheck.to)} (final doubts)."
        )
    return text


def _role(role, name: _Names) -> str:
    years = role.tenure_mean_days / 365.25
    where = name(role.on_change.to)
    ends = role.on_change.to in ("won", "lost", "no_decision")
    verb = "ends the deal as" if ends else "sends the deal to"
    return (
        f"The {role.role} matters in {name.many(role.stages)} and is replaced after "
        f"{_days(round(role.tenure_mean_days))} on average ({years:.1f} years). A newcomer "
        f"{verb} {where} with probability {_pct(role.on_change.probability)}; otherwise the "
        "deal carries on."
    )


def _shocks(s: Scenario, name: _Names) -> str:
    k = s.shocks
    text = (
        f"Market-wide shocks, {_num(k.rate_per_year)} a year on average (one every "
        f"{1 / k.rate_per_year:.1f} years), of severity {k.severity.describe()}. A shock hits "
        f"every deal in {name(k.from_stage)} or a later stage at the same moment and sends each "
        f"to {name(k.to)} with probability {_num(k.reset_probability)} x severity"
    )
    if k.inflow_drop and k.recovery_days:
        text += (
            f"; new enquiries fall by {_pct(k.inflow_drop)} x severity for {_days(k.recovery_days)}"
        )
    return text + "."


def _timing(s: Scenario, name: _Names) -> str:
    t = s.timing
    better = 1 - t.buy_when_below
    goal = (
        f"{_pct(better)} below its level when the wait began"
        if better > 0
        else f"below {t.buy_when_below:g} x its level when the wait began"
    )
    return (
        f"In {name(t.stage)}, a client ready to buy waits for a good moment of a shared market "
        f"indicator (an exchange rate: volatility {_pct(t.indicator.volatility)} a year, drift "
        f"{_pct(t.indicator.drift)}): it buys once the indicator is {goal}, or after "
        f"{_days(t.max_wait_days)} at most."
    )


def _capacity(s: Scenario) -> str:
    limited = [t.name for t in s.team if not t.unlimited]
    teams = limited[0] if len(limited) == 1 else ", ".join(limited[:-1]) + " and " + limited[-1]
    return (
        f"Where {teams} work on a deal, it waits in the team's queue until one of its people is "
        "free; those days are the cause 'Waiting for our own people'. The teams are described "
        "below."
    )


def _people(n: int) -> str:
    return "1 person" if n == 1 else f"{n} people"


def _headcount(team) -> str:
    if team.unlimited:
        return "As many people as the work needs (unlimited: no deal ever waits for them)"
    text = f"{_people(team.headcount)} at day 0"
    if team.changes:
        text += ", then " + ", ".join(
            f"{_people(c.headcount)} from {c.date.isoformat()}" for c in team.changes
        )
    return text


def _work(team, work, name: _Names) -> str:
    """One stage's work for the team: the hours, the calendar days they take, who waits."""
    effort = work.effort_hours
    q10, q50, q90 = (effort.quantile(p) for p in (0.1, 0.5, 0.9))
    days = q50 * 7 / team.hours_per_week  # a person's hours run over calendar days
    waits = (
        "the client waits for it: the stage's own time starts when our work is done"
        if work.client_waits
        else "it runs alongside the client's own time: the deal moves on when both are done"
    )
    return (
        f"In {name(work.stage)}: typically {_num(round(q50))} hours a visit, 8 in 10 visits "
        f"{q10:.0f}-{q90:.0f} hours ({effort.describe()}), about {_days(round(days, 1))} of one "
        f"person; {waits}."
    )


def team_words(scenario: Scenario) -> list[dict]:
    """Each ``[[team]]``: its name and sentences on its people, pace, cost, queue and work."""
    name = _Names(scenario)
    out = []
    for team in scenario.team:
        cost = (
            f"each hour of effort costs {money(team.cost_per_hour, scenario.currency)}"
            if team.cost_per_hour
            else "its hours are not priced (cost_per_hour 0)"
        )
        texts = [
            f"{_headcount(team)}; each works {_num(team.hours_per_week)} hours a week, and {cost}.",
            f"Who goes first when deals queue: {PRIORITIES[team.priority]} ({team.priority}).",
            *(_work(team, work, name) for work in team.work),
        ]
        out.append({"name": team.name, "texts": texts})
    return out


def _ratio_range(dist) -> str:
    """A factor's 8-in-10 range around its median: 'x0.92-x1.09'."""
    median = dist.quantile(0.5)
    return f"x{dist.quantile(0.1) / median:.3g}-x{dist.quantile(0.9) / median:.3g}"


def uncertainty_words(scenario: Scenario) -> list[str]:
    """``[uncertainty]`` in sentences: that each replication draws its own parameters, and
    how far each drawn parameter ranges. Empty when the scenario has no such section."""
    from sim.uncertainty import drawn_parameters

    u = scenario.uncertainty
    if u is None:
        return []
    if not drawn_parameters(scenario):
        return [
            "The scenario says how sure its parameters are, but that is switched off here "
            "(enabled = false, or --no-parameter-uncertainty): every replication runs on the "
            "values above, so the bands hold only the luck of the deals."
        ]
    name = _Names(scenario)
    texts = [
        "Each replication draws its own parameters, once, before its first deal: every "
        "replication is a market the data cannot rule out, so the bands hold how unsure the "
        "parameters are as well as the luck of the deals. Drawn:"
    ]
    if u.arrivals_per_month is not None:
        rate, level = scenario.deals.arrivals_per_month, u.arrivals_per_month
        texts.append(
            f"The inflow's level: {_num(rate)} new deals a month times {_ratio_range(level)} in "
            f"8 in 10 replications ({level.describe()}, scaled to its median)."
        )
    if u.arrivals_walk_sd > 0:
        spread = math.exp(Z90 * u.arrivals_walk_sd * math.sqrt(12))
        texts.append(
            f"The inflow wanders month by month (a random walk of the log rate, sd "
            f"{u.arrivals_walk_sd:g} a month, as likely to fall as to rise): after a year, 8 in "
            f"10 replications' rate is within x{1 / spread:.2f}-x{spread:.2f} of where it began."
        )
    if u.amount_scale is not None:
        texts.append(
            f"Deal amounts: every drawn amount times {_ratio_range(u.amount_scale)} in 8 in 10 "
            f"replications ({u.amount_scale.describe()}); a deal from a CRM export keeps its own."
        )
    for stage, su in u.stages.items():
        if su.duration_scale is not None:
            texts.append(
                f"{name(stage)}: every duration times {_ratio_range(su.duration_scale)} in 8 in "
                f"10 replications ({su.duration_scale.describe()})."
            )
        if su.exits_weight is not None:
            texts.append(
                f"{name(stage)}: its exit shares drawn around the file's, as sure as "
                f"{_num(su.exits_weight)} observed exits (a Dirichlet)."
            )
    return texts


def mechanisms(scenario: Scenario) -> tuple[list[dict], list[str]]:
    """The stall mechanisms switched on ({title, texts}) and the titles of those off."""
    name = _Names(scenario)
    words = {
        "budget": lambda: [_budget(scenario, name)],
        "decision_group": lambda: [_role(r, name) for r in scenario.decision_group],
        "shocks": lambda: [_shocks(scenario, name)],
        "timing": lambda: [_timing(scenario, name)],
        "dormant": lambda: [_dormant(scenario, name)],
        "capacity": lambda: [_capacity(scenario)],
    }
    on, off = [], []
    for mechanism, (title, section, _) in MECHANISMS.items():
        if not has_mechanism(scenario, mechanism):
            off.append(title)
        elif mechanism in words:
            on.append({"title": title, "texts": words[mechanism]()})
        else:  # a mechanism newer than these words: at least say where it is
            on.append({"title": title, "texts": [f"Switched on: see {section} in the scenario."]})
    return on, off


def describe(scenario: Scenario, imported: dict | None = None) -> dict:
    """Everything a report says about a scenario (see the module docstring).

    Args:
        imported: the manifest's ``pipeline`` entry when the day-0 deals came from a CRM export.
    """
    on, off = mechanisms(scenario)
    return {
        "name": scenario.name,
        "description": scenario.description,
        "facts": facts(scenario, imported),
        "stages": stage_rows(scenario),
        "mechanisms_on": on,
        "mechanisms_off": off,
        "teams": team_words(scenario),
        "uncertainty": uncertainty_words(scenario),
    }
