"""A scenario in plain words for a report: its stages with their key numbers, the stall
mechanisms switched on (one sentence each, with the numbers that drive them) and those off.

Everything is read from the validated :class:`sim.scenario.Scenario`, so the words can never
disagree with what was simulated.
"""

from __future__ import annotations

import calendar
import datetime as dt

from sim.explain import MECHANISMS, has_mechanism
from sim.report import compact, money
from sim.scenario import Scenario

OUTCOME_WORDS = {"won": "won", "lost": "lost", "no_decision": "no decision", "dormant": "dormant"}


def _num(x: float) -> str:
    """120 not 120.0; 0.25 stays 0.25."""
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.3g}"


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
            f"{imported.get('open_deals')} open deals from the CRM export "
            f"{imported.get('source')} as of {imported.get('as_of')}"
        )
    name = _Names(scenario)
    counts = [(stage, n) for stage, n in scenario.deals.initial.items() if n]
    if not counts:
        return "none: every deal is a new enquiry"
    total = sum(n for _, n in counts)
    parts = ", ".join(f"{n} in {name(stage)}" for stage, n in counts)
    return f"{total} open deals: {parts}"


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
    end = scenario.start_date + dt.timedelta(days=float(scenario.horizon_days))
    amount = _spread(scenario.deals.amount, scenario.currency)
    first = scenario.stages[0].label or scenario.stages[0].name
    arrivals = scenario.deals.arrivals_per_month
    inflow = (
        f"{_num(arrivals)} a month on average (Poisson) into {first}"
        + _seasonality_words(scenario.deals.seasonality)
        if arrivals
        else "none: only the day-0 pipeline"
    )
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
    ]


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


def mechanisms(scenario: Scenario) -> tuple[list[dict], list[str]]:
    """The stall mechanisms switched on ({title, texts}) and the titles of those off."""
    name = _Names(scenario)
    words = {
        "budget": lambda: [_budget(scenario, name)],
        "decision_group": lambda: [_role(r, name) for r in scenario.decision_group],
        "shocks": lambda: [_shocks(scenario, name)],
        "timing": lambda: [_timing(scenario, name)],
        "dormant": lambda: [_dormant(scenario, name)],
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
    }
