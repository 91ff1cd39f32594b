"""What summary.json holds below its top-level keys, checked when a results folder is read.

``plot``, ``report`` and ``explain`` trust every number of a summary: a percentile edited into
text, a month whose ``bookings`` went missing or a list where an object was made one of their
figures or tables crash with a traceback (exit 1, "a bug"), or drew a wrong figure without a
word. :func:`summary_problems` checks the whole structure once, against what dealsim writes
(:meth:`sim.aggregate.Aggregate.summary`, :func:`sim.team_results.team_summary`,
:func:`sim.uncertainty.uncertainty_summary`, :func:`sim.whatif.what_if`), and names the key path
of each damaged value (``periods[3].bookings.p50: expected a number ..., found text 'abc'``);
:func:`sim.results.read_summary` turns the first few into one message.

It accepts what dealsim writes, no more:

* a number is finite: dealsim writes nan and infinity as null
  (:func:`sim.aggregate.clean_for_json`), never as the NaN or Infinity that Python's json module
  reads without complaint; true and false are no numbers, and 3.0 is no count;
* null only where dealsim writes it: the standard error of a single value, the mean and
  percentiles of no values (no deal closed that way; then all of them), a team's utilisation
  without a schedule or its waits when it served nobody, the cost per won deal when no deal was
  won;
* no number is negative (amounts, days, hours, counts and shares cannot be), a share lies in
  0..1, the seed, replications and horizon within the bounds a run is held to, and nothing is
  beyond :data:`MAX_MAGNITUDE`;
* the months of ``periods``, of each team's ``periods`` and of ``target.by_period`` are those
  the calendar gives from ``start_date`` over ``horizon_days``: a month deleted or repeated by
  hand would shift every later month of a figure without a word;
* a section that a run may lack (``teams`` and ``cost_of_sale`` without teams, ``target``
  without --target, ``what_if`` for the base case, ``totals``, ``parameter_uncertainty`` and
  ``shocks_per_replication``, which older versions did not write) is optional, and checked when
  it is there. Keys it does not know are ignored, and stall causes, states and teams are read by
  name, whichever there are, so that an older or newer summary still reads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from sim.aggregate import CYCLE_CLASSES, OUTCOME_KEYS
from sim.calendar import Calendar
from sim.scenario_bounds import (
    MAX_DAYS,
    MAX_HORIZON_DAYS,
    MAX_REPLICATIONS,
    MAX_SEED,
    calendar_date,
    plain_number,
)
from sim.stats import FAN_PERCENTILES, PERCENTILES

#: How many damaged values one message names (the first ones, in the file's order).
SHOWN_PROBLEMS = 3
#: Larger numbers are damage: a scenario's bounds keep a mean deal amount within 1e12 and a run
#: within 100,000 replications, while a figure's arithmetic overflows from about 1e308 on.
MAX_MAGNITUDE = 1e100

#: (key path, what was expected there, what was found there or None when the key is missing)
Problem = tuple[str, str, "str | None"]


def summary_problems(summary: Mapping) -> list[Problem]:
    """Every value of ``summary`` that is not of the kind dealsim writes, in the file's order;
    when every value is, what does not agree between them."""
    problems = list(SUMMARY.problems(summary, ""))
    return problems or [
        *_sections_written_together(summary),
        *_month_problems(summary),
        *_percentile_order_problems(summary, ""),
    ]


_PERCENTILE_KEY = re.compile(r"^(?:wait_)?p(\d{1,2})$")


def _percentile_order_problems(value: object, path: str) -> Iterator[Problem]:
    """Percentiles out of order anywhere (a P10 above its P50, edited by hand): every figure and
    headline drawn from them would be a band turned inside out."""
    if isinstance(value, Mapping):
        found = sorted(
            (int(m[1]), key)
            for key in value
            if (m := _PERCENTILE_KEY.match(str(key))) and isinstance(value[key], int | float)
        )
        for (_, low), (_, high) in zip(found, found[1:], strict=False):
            if value[low] > value[high]:
                yield (
                    _key(path, low),
                    f"at most {high} (percentiles in order)",
                    f"{plain_number(value[low])} > {high} {plain_number(value[high])}",
                )
        for key, inner in value.items():
            yield from _percentile_order_problems(inner, _key(path, str(key)))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _percentile_order_problems(inner, f"{path}[{i}]")


def problems_text(problems: list[Problem], shown: int = SHOWN_PROBLEMS) -> str:
    """``'bookings.p10: expected ..., found null; ...'``: the first few, and how many more."""
    parts = [_problem_text(problem) for problem in problems[:shown]]
    if len(problems) > shown:
        parts.append(f"and {len(problems) - shown} more")
    return "; ".join(parts)


def _problem_text(problem: Problem) -> str:
    path, expected, found = problem
    if found is None:
        return f"{path}: missing (expected {expected})"
    return f"{path}: expected {expected}, found {found}"


def found_text(value: object) -> str:
    """What a damaged value is, in the words of a message: ``text 'abc'``, ``null``, ``NaN``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"text {value if len(value) <= 40 else value[:37] + '...'!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**20 else f"an integer of {len(str(abs(value)))} digits"
    if isinstance(value, list):
        return f"a list of {len(value)}" if value else "an empty list"
    if isinstance(value, dict):
        return "an object" if value else "an empty object"
    return type(value).__name__


def _bound(value: float) -> str:
    """A bound for a message: '100,000' (integers grouped), '1e+100', '36525'."""
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# ---------------------------------------------------------------------------------------------
# What must agree between values that are each of the right kind
# ---------------------------------------------------------------------------------------------


def _sections_written_together(summary: Mapping) -> list[Problem]:
    """A run with teams writes their cost of sale beside them, and the report reads both."""
    if summary.get("teams") and "cost_of_sale" not in summary:
        return [("cost_of_sale", "an object (it comes with teams)", None)]
    return []


def _month_problems(summary: Mapping) -> list[Problem]:
    """Months that are not the calendar months of the horizon, in ``periods`` and wherever
    they are repeated (each team's ``periods``, the target's quarter ends)."""
    calendar = Calendar(calendar_date(summary["start_date"]), summary["horizon_days"])
    months = calendar.period_labels
    lists = [("periods", summary["periods"], months)]
    lists += [
        (f"teams.{name}.periods", team["periods"], months)
        for name, team in (summary.get("teams") or {}).items()
    ]
    if summary.get("target"):
        quarter_ends = [months[i] for i in calendar.quarter_end_periods()]
        lists.append(("target.by_period", summary["target"]["by_period"], quarter_ends))
    found = (
        _months_problem(path, [row["period"] for row in rows], want) for path, rows, want in lists
    )
    return [problem for problem in found if problem is not None]


def _months_problem(path: str, found: list[str], expected: list[str]) -> Problem | None:
    """The first month of ``found`` that is not the one expected there, or the count."""
    for i, (month, wanted) in enumerate(zip(found, expected, strict=False)):
        if month != wanted:
            return f"{path}[{i}].period", f"{wanted!r} (the months of the horizon)", repr(month)
    if len(found) != len(expected):
        span = f"{expected[0]} to {expected[-1]}, as start_date and horizon_days say"
        return path, f"{len(expected)} months ({span})", f"{len(found)}"
    return None


# ---------------------------------------------------------------------------------------------
# The kinds of value: each yields the problems of a value found at a key path
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    """A finite JSON number from ``low`` (excluded if ``above_low``) to ``high``, an integer if
    ``integer``; or null, where dealsim writes null (``null``)."""

    integer: bool = False
    low: float = 0
    high: float = MAX_MAGNITUDE
    null: bool = False
    above_low: bool = False

    @property
    def expected(self) -> str:
        noun = "an integer" if self.integer else "a number"
        if self.above_low:
            span = f"above {_bound(self.low)} and at most {_bound(self.high)}"
        else:
            span = f"from {_bound(self.low)} to {_bound(self.high)}"
        return f"{noun} {span}" + (" or null" if self.null else "")

    def matches_kind(self, value: object) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    def problems(self, value: object, path: str) -> Iterator[Problem]:
        if value is None and self.null:
            return
        if not self._fits(value):
            yield path, self.expected, found_text(value)

    def _fits(self, value) -> bool:
        if not self.matches_kind(value) or (self.integer and not isinstance(value, int)):
            return False
        if isinstance(value, float) and not math.isfinite(value):  # JSON's NaN, Infinity
            return False
        if value > self.high:  # an integer of 400 digits too, which no float holds
            return False
        return value > self.low if self.above_low else value >= self.low


@dataclass(frozen=True)
class Text:
    """A JSON string; with ``pattern``, one that matches it whole (``expected`` says which)."""

    pattern: str | None = None
    expected: str = "text"

    def matches_kind(self, value: object) -> bool:
        return isinstance(value, str)

    def problems(self, value: object, path: str) -> Iterator[Problem]:
        if not isinstance(value, str) or (
            self.pattern is not None and not re.fullmatch(self.pattern, value)
        ):
            yield path, self.expected, found_text(value)


@dataclass(frozen=True)
class Date:
    """Day 0 as a scenario has it: ``YYYY-MM-DD`` within the years the calendar handles."""

    expected: str = "a date YYYY-MM-DD from 1900 to 2199"

    def matches_kind(self, value: object) -> bool:
        return isinstance(value, str)

    def problems(self, value: object, path: str) -> Iterator[Problem]:
        try:
            calendar_date(value)
        except ValueError:
            yield path, self.expected, found_text(value)


@dataclass(frozen=True)
class Exactly:
    """A value of one JSON kind with nothing more to check: ``true``/``false``, or ``null``."""

    test: Callable[[object], bool]
    expected: str

    def matches_kind(self, value: object) -> bool:
        return self.test(value)

    def problems(self, value: object, path: str) -> Iterator[Problem]:
        if not self.test(value):
            yield path, self.expected, found_text(value)


FLAG = Exactly(lambda value: isinstance(value, bool), "true or false")
NULL = Exactly(lambda value: value is None, "null")


@dataclass(frozen=True)
class Fields:
    """An object with named keys: the ``required`` ones must be there, the ``optional`` ones
    may be; other keys are ignored (a newer dealsim may write more). The keys of
    ``null_together`` are null for one reason (no values) and so all or none of them: a figure
    that draws a P50 to P90 band takes both or neither."""

    required: Mapping[str, object]
    optional: Mapping[str, object] = field(default_factory=dict)
    expected: str = "an object"
    null_together: tuple[str, ...] = ()

    def matches_kind(self, value: object) -> bool:
        return isinstance(value, dict)

    def problems(self, value: object, path: str) -> Iterator[Problem]:
        if not isinstance(value, dict):
            yield path, self.expected, found_text(value)
            return
        for key, kind in self.required.items():
            if key not in value:
                yield _key(path, key), kind.expected, None
        for key, item in value.items():  # in the file's order: the first damage is named first
            kind = self.required.get(key) or self.optional.get(key)
            if kind is not None:
                yield from kind.problems(item, _key(path, key))
        yield from self._nulls_apart(value, path)

    def _nulls_apart(self, value: dict, path: str) -> Iterator[Problem]:
        nulls = [key for key in self.null_together if key in value and value[key] is None]
        numbers = [key for key in self.null_together if value.get(key) is not None]
        if nulls and numbers:
            yield (
                _key(path, nulls[0]),
                f"a number, as {numbers[0]} is (dealsim writes them null together)",
                "null",
            )


@dataclass(frozen=True)
class EachValue:
    """An object keyed by names (stages, causes, teams) whose values are all of one kind."""

    kind: object
    expected: str = "an object"

    def matches_kind(self, value: object) -> bool:
        return isinstance(value, dict)

    def problems(self, value: object, path: str) -> Iterator[Problem]:
        if not isinstance(value, dict):
            yield path, self.expected, found_text(value)
            return
        for key, item in value.items():
            yield from self.kind.problems(item, _key(path, key))


@dataclass(frozen=True)
class Each:
    """A list whose items are all of one kind; ``non_empty`` where dealsim writes at least one."""

    kind: object
    non_empty: bool = False

    @property
    def expected(self) -> str:
        return "a non-empty list" if self.non_empty else "a list"

    def matches_kind(self, value: object) -> bool:
        return isinstance(value, list)

    def problems(self, value: object, path: str) -> Iterator[Problem]:
        if not isinstance(value, list) or (self.non_empty and not value):
            yield path, self.expected, found_text(value)
            return
        for i, item in enumerate(value):
            yield from self.kind.problems(item, f"{path}[{i}]")


@dataclass(frozen=True)
class Either:
    """One of a few kinds of different JSON kinds (text or a list, null or an object): a value
    of one of those JSON kinds is checked as that kind, so the key path goes on inside it."""

    kinds: tuple

    @property
    def expected(self) -> str:
        return " or ".join(kind.expected for kind in self.kinds)

    def matches_kind(self, value: object) -> bool:
        return any(kind.matches_kind(value) for kind in self.kinds)

    def problems(self, value: object, path: str) -> Iterator[Problem]:
        for kind in self.kinds:
            if kind.matches_kind(value):
                yield from kind.problems(value, path)
                return
        yield path, self.expected, found_text(value)


# ---------------------------------------------------------------------------------------------
# What dealsim writes
# ---------------------------------------------------------------------------------------------

NUMBER = Number()  # amounts, days, hours, mean counts: never negative
NUMBER_OR_NULL = Number(null=True)  # nan, written as null: of one value, or of none
COUNT = Number(integer=True)
SHARE = Number(high=1)
SHARE_OR_NULL = Number(high=1, null=True)
#: A period label: the calendar month, as the figures read it back.
MONTH = Text(r"[0-9]{4}-(0[1-9]|1[0-2])", "a month YYYY-MM")


def _described(percentiles=PERCENTILES) -> Fields:
    """:func:`sim.stats.describe` of per-replication values: a run has replications, so only
    the standard error can be null (of a single one)."""
    return Fields({"mean": NUMBER, "se": NUMBER_OR_NULL, **{f"p{q}": NUMBER for q in percentiles}})


DESCRIBED = _described()
MEAN_AND_SE = Fields({"mean": NUMBER_OR_NULL, "se": NUMBER_OR_NULL})

OUTCOME = Fields({"share": SHARE, "share_se": NUMBER_OR_NULL, "count_mean": NUMBER})
#: The pooled cycle times of the deals closed one way: no mean or percentiles when none did.
CYCLE = Fields(
    {
        "n": COUNT,
        "mean": NUMBER_OR_NULL,
        "se": NUMBER_OR_NULL,
        **{f"p{q}": NUMBER_OR_NULL for q in PERCENTILES},
        "histogram": Fields(
            {"bin_days": Number(integer=True, low=1, high=MAX_DAYS), "counts": Each(COUNT)}
        ),
    },
    null_together=("mean", *(f"p{q}" for q in PERCENTILES)),
)
PERIOD = Fields(
    {
        "period": MONTH,
        "bookings": _described(FAN_PERCENTILES),
        "cumulative_bookings": _described(FAN_PERCENTILES),
        "won": DESCRIBED,
        "open_by_stage": EachValue(NUMBER),
    }
)
TEAM_PERIOD = Fields(
    {
        "period": MONTH,
        "utilisation": NUMBER_OR_NULL,  # null: an unlimited team has no person-days to fill
        "queue_mean": NUMBER,
        "hours": NUMBER,
        "served": NUMBER,
        "wait_mean": NUMBER_OR_NULL,  # null: nobody served that month
        "wait_p50": NUMBER_OR_NULL,
        "wait_p90": NUMBER_OR_NULL,
    },
    null_together=("wait_mean", "wait_p50", "wait_p90"),
)
HEADCOUNT = Either(
    (
        Text("unlimited", "'unlimited'"),
        Each(Fields({"from_day": Number(high=MAX_DAYS), "people": COUNT}), non_empty=True),
    )
)
TEAM = Fields(
    {
        "headcount": HEADCOUNT,
        "utilisation": NUMBER_OR_NULL,
        "hours": DESCRIBED,
        "cost": DESCRIBED,
        "hours_on_won_deals": NUMBER,
        "hours_on_lost_deals": NUMBER,
        "served_per_replication": NUMBER,
        "wait_days": Fields(
            {"mean": NUMBER_OR_NULL, "p50": NUMBER_OR_NULL, "p90": NUMBER_OR_NULL},
            null_together=("mean", "p50", "p90"),
        ),
        "waited_share": SHARE_OR_NULL,
        "periods": Each(TEAM_PERIOD, non_empty=True),
    }
)
TARGET = Fields(
    {
        "amount": Number(above_low=True),
        "by_period": Each(
            Fields({"period": MONTH, "probability": SHARE, "se": NUMBER}), non_empty=True
        ),
    }
)
WHAT_IF = Either(
    (
        NULL,
        Fields(
            {"label": Text()},
            {
                "sets": Fields({}),
                "pipeline": Either(
                    (NULL, Fields({"file": Text(), "as_of": Either((NULL, Text()))}))
                ),
            },
        ),
    )
)

#: The whole summary; its required keys are those :data:`sim.results.SUMMARY_KEYS` lists.
SUMMARY = Fields(
    {
        "scenario": Text(),
        "seed": Number(integer=True, high=MAX_SEED),
        "replications": Number(integer=True, low=1, high=MAX_REPLICATIONS),
        "start_date": Date(),
        "horizon_days": Number(high=MAX_HORIZON_DAYS, above_low=True),
        "currency": Text(),
        "deals": Fields({"mean": NUMBER, "total": COUNT}),
        "outcomes": Fields({key: OUTCOME for key in OUTCOME_KEYS}),
        "cycle_days": Fields({key: CYCLE for key in CYCLE_CLASSES}),
        "bookings": DESCRIBED,
        "periods": Each(PERIOD, non_empty=True),
        "stall_days": EachValue(Fields({"mean": NUMBER, "se": NUMBER_OR_NULL})),
        "stall_counts": EachValue(Fields({"touched_share": SHARE, "ended_share": SHARE})),
        "flows": EachValue(EachValue(NUMBER)),
    },
    {
        "totals": Fields({"won_count": DESCRIBED, "won_value": DESCRIBED}),
        "parameter_uncertainty": Fields({"used": FLAG, "drawn": Each(Text())}),
        "shocks_per_replication": NUMBER,
        "teams": EachValue(TEAM),
        "cost_of_sale": Fields(
            {
                "total": DESCRIBED,
                "per_won_deal": MEAN_AND_SE,
                "per_won_deal_own_hours": MEAN_AND_SE,
            }
        ),
        "target": TARGET,
        "what_if": WHAT_IF,
    },
)
