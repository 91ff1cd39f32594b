"""Scenario files: pydantic models of the TOML, loading, validation, JSON Schema, dumping.

A scenario is the whole input of a simulation (`dealsim schema` prints the contract for its keys).
Validation happens here, once, so that the engine can trust every name and number it is given:
field checks live on the models, checks that need the whole file (stage names used as targets,
exits that sum to 1, stages that can never end) live on ``Scenario``. Every problem the user can
cause becomes one ``ScenarioError`` naming the file and each field, with stage list indices
replaced by stage names (``stages.options.exits`` rather than ``stages[1].exits``) because that is
what the user sees in the file.
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
import difflib
import hashlib
import importlib.resources
import json
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from sim.calendar import last_day
from sim.distributions import DistributionSpec
from sim.empirical import DurationSpec
from sim.errors import ScenarioError
from sim.plural import verb
from sim.scenario_bounds import (
    DATE_PATTERN,
    MAX_AMOUNT,
    MAX_ARRIVALS_PER_MONTH,
    MAX_BUY_WHEN_BELOW,
    MAX_DAYS,
    MAX_DESCRIPTION_LENGTH,
    MAX_DRIFT,
    MAX_EXITS_WEIGHT,
    MAX_FACTOR,
    MAX_HORIZON_DAYS,
    MAX_INITIAL_PER_STAGE,
    MAX_LISTED_PROBLEMS,
    MAX_NAME_LENGTH,
    MAX_NESTING,
    MAX_PARAMETER,
    MAX_REPLICATIONS,
    MAX_ROLES,
    MAX_SCENARIO_BYTES,
    MAX_SEASONALITY,
    MAX_SEED,
    MAX_SHOCKS_PER_YEAR,
    MAX_STAGES,
    MAX_START_DATE,
    MAX_TREND_PER_YEAR,
    MAX_VOLATILITY,
    MAX_WALK_SD,
    MIN_MEAN_DAYS,
    MIN_START_DATE,
    calendar_date,
    mean_problem,
    plain_number,
)
from sim.scenario_teams import Team, team_problems
from sim.stage_chain import stages_that_never_end, unreachable_stages, zero_time_cycles
from sim.toml_writer import toml_dumps, toml_key

__all__ = [
    "DEFAULT_SCENARIO",
    "MAX_REPLICATIONS",
    "OUTCOMES",
    "RESERVED_NAMES",
    "Budget",
    "Deals",
    "Dormant",
    "Indicator",
    "OnChange",
    "Recheck",
    "Role",
    "Scenario",
    "Shocks",
    "Stage",
    "Timing",
    "Crm",
    "Inflow",
    "StageUncertainty",
    "Uncertainty",
    "apply_overrides",
    "bundled_scenarios",
    "bundled_scenarios_dir",
    "shown_path",
    "dump_scenario_toml",
    "find_scenario",
    "load_scenario",
    "moved_scenario",
    "parse_override",
    "scenario_from_dict",
    "scenario_hash",
    "scenario_json_schema",
    "toml_dumps",
]

#: Absorbing end states of a deal.
OUTCOMES: tuple[str, ...] = ("won", "lost", "no_decision")
#: Names a stage may not take: outcomes, stage zero, and the "still open" column of the results.
RESERVED_NAMES: frozenset[str] = frozenset({*OUTCOMES, "dormant", "open"})
#: A scenario name: any text with a visible character and no control characters (C0, DEL,
#: C1: they would garble terminals and file listings). Written for Rust's and Python's regex.
NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
#: Scenario used when none is named.
DEFAULT_SCENARIO = "equipment"
#: Tolerance on the sum of a stage's exit probabilities.
EXIT_SUM_TOLERANCE = 1e-6


# Numbers are strict (no bools, no numeric strings) and finite, as in sim.distributions: a typo
# such as `funded_share = "0.4"` must be an error, and nan/inf would poison every statistic.
# Strict floats still accept TOML integers (`horizon_days = 730`). Every number is bounded too
# (sim.scenario_bounds, listed in the README's "Bounds"), so that the schema says it as well.
def _between(low: float, high: float, *, above: bool = False) -> Any:
    """A strict, finite float in [low, high] (in (low, high] with ``above``)."""
    if above:
        return Annotated[float, Field(strict=True, allow_inf_nan=False, gt=low, le=high)]
    return Annotated[float, Field(strict=True, allow_inf_nan=False, ge=low, le=high)]


Probability = _between(0, 1)
Days = _between(0, MAX_DAYS)  # a lag, a recovery: 0 allowed
PositiveDays = _between(0, MAX_DAYS, above=True)  # a horizon, a give-up time
MeanDays = _between(MIN_MEAN_DAYS, MAX_DAYS)  # the mean of a wait: at least a minute
Count = Annotated[int, Field(strict=True, ge=0, le=MAX_INITIAL_PER_STAGE)]
Name = Annotated[str, Field(max_length=MAX_NAME_LENGTH)]

_STRICT = ConfigDict(extra="forbid", frozen=True)

#: MM-DD of a day that every year has (no 02-29): exactly what Budget's validator accepts.
FISCAL_YEAR_START_PATTERN = (
    r"^((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
    r"|02-(0[1-9]|1[0-9]|2[0-8]))$"
)


class _Model(BaseModel):
    """Base of the scenario models: unknown keys are errors (typos), values are immutable."""

    model_config = _STRICT


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


#: What a stage's name (its key in exits, --set and the CRM's --stage-map) may be.
STAGE_KEY_PATTERN = r"^[a-z][a-z0-9_-]*$"


class Stage(_Model):
    """One active buying stage: how long a visit lasts and where the deal goes next."""

    name: str = Field(
        pattern=STAGE_KEY_PATTERN,
        max_length=MAX_NAME_LENGTH,
        description="Identifier used in exits etc.",
    )
    label: Name | None = Field(default=None, description="Display name; default: the name.")
    duration: DurationSpec = Field(description="Time spent in one visit, in days.")
    exits: dict[str, _between(0, MAX_PARAMETER)] = Field(  # sum 1: checked on the whole
        description="Probability of each next state (stage, dormant or outcome); sum 1."
    )
    stalled_share: Probability = Field(
        default=0.0,
        description=(
            "Of the visits, the share that would never end on their own (a fitted cure share), "
            "counted in exits.dormant: they leave for dormant after the stage's duration like "
            "the others. A deal already `age` days in the stage (from a CRM) is one of them with "
            "the chance pi / (pi + (1 - pi) S(age)), S the duration's survival: the longer it "
            "has sat, the likelier it has stalled."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _default_label(cls, data: Any) -> Any:
        """Fill ``label`` from the name, so that reports never have to handle a missing one."""
        if (
            isinstance(data, dict)
            and data.get("label") is None
            and isinstance(data.get("name"), str)
        ):
            name = data["name"].replace("_", " ").replace("-", " ")
            data = {**data, "label": name[:1].upper() + name[1:]}
        return data

    @field_validator("stalled_share")
    @classmethod
    def _stalled_share_within_the_dormant_exit(cls, share: float, info: ValidationInfo) -> float:
        """The stalled visits are part of the exit to dormant (checked here, after ``exits``, so
        that a wrong exit is reported alone)."""
        exits = info.data.get("exits")
        if not share or exits is None:
            return share
        dormant = exits.get("dormant", 0.0)
        if dormant <= 0:
            raise ValueError(
                f"{share:g} of the visits stall, but the stage has no exit to dormant, where they "
                "go: give exits.dormant at least that share, or set stalled_share = 0"
            )
        if share > dormant + EXIT_SUM_TOLERANCE:
            raise ValueError(
                f"{share:g} of the visits stall, more than exits.dormant ({dormant:g}), the exit "
                "they are part of: lower stalled_share or raise exits.dormant"
            )
        if share >= 1:
            raise ValueError("must be below 1 (some visits must end)")
        return share

    @model_serializer(mode="wrap")
    def _without_a_zero_stalled_share(self, handler) -> dict:
        """A stage with no stalled visits is written (and hashed) as before the field existed:
        a results folder's ``scenario_hash`` still matches its unchanged scenario file."""
        data = handler(self)
        if not self.stalled_share:
            data.pop("stalled_share", None)
        return data


class Deals(_Model):
    """The pipeline at day 0, the inflow of new deals, and deal amounts."""

    initial: dict[str, Count] = Field(
        default_factory=dict, description="Open deals at day 0, by stage name."
    )
    arrivals_per_month: _between(0, MAX_ARRIVALS_PER_MONTH) = Field(
        default=0.0, description="Poisson inflow into the first stage (a month = 365.25/12 days)."
    )
    amount: DistributionSpec = Field(description="Deal amount, in the scenario's currency.")
    seasonality: list[_between(0, MAX_SEASONALITY)] | None = Field(
        default=None,
        description="12 monthly multipliers of arrivals, Jan..Dec (normalised to mean 1).",
        json_schema_extra={"minItems": 12, "maxItems": 12},  # the validator's own message
    )

    @field_validator("seasonality")
    @classmethod
    def _twelve_months(cls, value: list[float] | None) -> list[float] | None:
        if value is None:
            return value
        if len(value) != 12:
            raise ValueError(f"needs 12 monthly multipliers (Jan..Dec), got {len(value)}")
        if not sum(value) > 0:
            raise ValueError("multipliers must not all be 0 (their mean must be > 0)")
        return value


class Dormant(_Model):
    """Stage zero: the client will do without, for now."""

    reactivate_mean_days: MeanDays = Field(
        description="Mean of the exponential wait before the deal returns to the first stage."
    )
    give_up_after_days: PositiveDays = Field(
        description="Still dormant this long after entering: no_decision."
    )


class Recheck(_Model):
    """Final doubts after waiting for the budget."""

    to: str = Field(description="A stage before the gate.")
    probability: Probability


class Budget(_Model):
    """The buyer's budget cycle: entering the gate stage needs allocated money."""

    fiscal_year_start: str = Field(
        default="01-01",
        description="MM-DD, a date that exists every year.",
        json_schema_extra={"pattern": FISCAL_YEAR_START_PATTERN},  # the validator's messages
    )
    gate: str = Field(description="Entering this stage needs money.")
    funded_share: Probability = Field(description="Probability that the money is already there.")
    release_lag_days: Days = Field(
        default=0.0, description="Money arrives this long after the fiscal year starts."
    )
    recheck: Recheck | None = None

    @field_validator("fiscal_year_start")
    @classmethod
    def _month_day(cls, value: str) -> str:
        match = re.fullmatch(r"(\d{2})-(\d{2})", value)
        if not match:
            raise ValueError(f"{value!r} is not MM-DD (e.g. '04-01' for April 1)")
        month, day = int(match[1]), int(match[2])
        if not 1 <= month <= 12:
            raise ValueError(f"{value!r}: there is no month {month} (months are 01-12)")
        if (month, day) == (2, 29):
            raise ValueError(
                "'02-29' is not allowed: February 29 does not exist every year "
                "(use '02-28' or '03-01')"
            )
        last = calendar.monthrange(2023, month)[1]  # a non-leap year
        if not 1 <= day <= last:
            raise ValueError(
                f"{value!r}: {calendar.month_name[month]} has no day {day} (it has {last} days)"
            )
        return value


class OnChange(_Model):
    """What a replacement in a role does to a deal at one of the role's stages."""

    to: str = Field(description="A stage at or before the role's first stage, dormant or outcome.")
    probability: Probability


class Role(_Model):
    """A member of the buying group, replaced at random."""

    role: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    tenure_mean_days: MeanDays = Field(description="Mean exponential time until replaced.")
    stages: list[str] = Field(min_length=1, description="Stages where this person matters.")
    on_change: OnChange

    @field_validator("stages")
    @classmethod
    def _no_duplicates(cls, value: list[str]) -> list[str]:
        dups = sorted({s for s in value if value.count(s) > 1})
        if dups:
            raise ValueError(f"listed more than once: {', '.join(dups)}")
        return value


class Shocks(_Model):
    """Market-wide macroeconomic shocks (one Poisson process per replication)."""

    rate_per_year: _between(0, MAX_SHOCKS_PER_YEAR, above=True)
    severity: DistributionSpec = Field(description="Shock severity, within [0, 1].")
    from_stage: str = Field(description="This stage and later ones are exposed.")
    reset_probability: Probability = Field(description="Times severity: chance a deal is reset.")
    to: str = Field(description="A stage at or before from_stage, dormant or an outcome.")
    inflow_drop: Probability = Field(default=0.0, description="Arrivals x (1 - drop * severity).")
    recovery_days: Days = Field(default=0.0, description="... for this long.")


class Indicator(_Model):
    """A shared market indicator: geometric random walk, 1.0 at day 0, yearly parameters."""

    volatility: _between(0, MAX_VOLATILITY)
    drift: _between(-MAX_DRIFT, MAX_DRIFT) = 0.0


class Timing(_Model):
    """Choosing the best moment: waiting for a good level of the indicator."""

    stage: str
    indicator: Indicator
    buy_when_below: _between(0, MAX_BUY_WHEN_BELOW, above=True) = Field(
        description="Relative to the indicator's level when the deal began waiting."
    )
    max_wait_days: PositiveDays


class Crm(_Model):
    """How a CRM export's stage names map to this scenario's stages (for --pipeline)."""

    stage_map: dict[str, str] = Field(
        default_factory=dict,
        description="CRM stage name -> scenario stage (or an outcome, for closed deals).",
    )


class StageUncertainty(_Model):
    """How sure a stage's parameters are: drawn once per replication (see ``Uncertainty``)."""

    duration_scale: DistributionSpec | None = Field(
        default=None,
        description="Factor on every duration of the stage, e.g. lognormal median 1, p90 1.1.",
    )
    exits_weight: _between(0, MAX_EXITS_WEIGHT, above=True) | None = Field(
        default=None,
        description="Exit probabilities ~ Dirichlet(weight x exits): as sure as this many "
        "observed exits.",
    )


class Uncertainty(_Model):
    """Parameter uncertainty: each replication draws its own parameters from these, once.

    A fitted scenario says how sure it is; a planner can write the same by hand. With
    ``enabled = false`` (or ``--no-parameter-uncertainty``) every replication uses the point
    values of the file.
    """

    enabled: bool = Field(default=True, description="false: every replication the same values.")
    arrivals_per_month: DistributionSpec | None = Field(
        default=None,
        description="Distribution of deals.arrivals_per_month, e.g. gamma mean 520, cv 0.15 "
        "(its draws are scaled to deals.arrivals_per_month, which defaults to its median).",
    )
    arrivals_walk_sd: _between(0, MAX_WALK_SD) = Field(
        default=0.0,
        description="Each replication's rate wanders month by month: log-rate random walk of "
        "this sd per month (no drift: as likely to rise as to fall).",
    )
    amount_scale: DistributionSpec | None = Field(
        default=None, description="Factor on every deal amount of a replication."
    )
    stages: dict[str, StageUncertainty] = Field(
        default_factory=dict, description="Per stage name: duration_scale, exits_weight."
    )


class Inflow(_Model):
    """Arrivals that change over time (on top of deals.arrivals_per_month and seasonality)."""

    trend_per_year: _between(-MAX_TREND_PER_YEAR, MAX_TREND_PER_YEAR) = Field(
        default=0.0,
        description="Rate x exp(trend x years since start_date): -0.1 is about -10% a year.",
    )
    by_month: dict[str, _between(0, MAX_ARRIVALS_PER_MONTH)] = Field(
        default_factory=dict,
        description='Arrivals per month in given calendar months, {"2027-03" = 40}: these '
        "replace the rate (seasonality and trend) in those months; each a month the horizon "
        "touches (from start_date's to that of the last day simulated).",
    )


class Scenario(_Model):
    """A whole scenario file."""

    name: str = Field(
        pattern=NAME_PATTERN,
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        description="Any text without control characters (results folders use an ASCII slug).",
    )
    description: str = Field(default="", max_length=MAX_DESCRIPTION_LENGTH)
    start_date: dt.date = Field(
        description=f"Day 0: a TOML date or an ISO date string YYYY-MM-DD, from "
        f"{MIN_START_DATE} to {MAX_START_DATE}.",
        json_schema_extra={"pattern": DATE_PATTERN},
    )
    horizon_days: _between(0, MAX_HORIZON_DAYS, above=True)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    replications: int = Field(default=500, strict=True, ge=2, le=MAX_REPLICATIONS)
    seed: int = Field(default=1, strict=True, ge=0, le=MAX_SEED)
    deals: Deals
    stages: list[Stage] = Field(min_length=1, max_length=MAX_STAGES)
    dormant: Dormant | None = None
    budget: Budget | None = None
    decision_group: list[Role] = Field(default_factory=list, max_length=MAX_ROLES)
    shocks: Shocks | None = None
    timing: Timing | None = None
    team: list[Team] = Field(default_factory=list, description="Our own people ([[team]]).")
    crm: Crm | None = None
    uncertainty: Uncertainty | None = None
    inflow: Inflow | None = None

    @property
    def stage_names(self) -> list[str]:
        """Stage names in file order (the order that "before" and "later" refer to)."""
        return [s.name for s in self.stages]

    def stage_index(self, name: str) -> int:
        """Position of stage ``name`` in file order.

        Raises:
            KeyError: no such stage.
        """
        for i, stage in enumerate(self.stages):
            if stage.name == name:
                return i
        raise KeyError(name)

    @field_validator("start_date", mode="before")
    @classmethod
    def _a_date(cls, value: Any) -> Any:
        """A date, nothing else: pydantic would also take a timestamp number or a date-time,
        which the schema cannot say and a planner does not mean."""
        return calendar_date(value)

    @model_validator(mode="before")
    @classmethod
    def _arrivals_from_uncertainty(cls, data: Any) -> Any:
        """``[uncertainty] arrivals_per_month = {...}`` alone gives the rate its median."""
        try:
            spec = data["uncertainty"]["arrivals_per_month"]
            deals = data["deals"]
        except (KeyError, TypeError):
            return data
        if not isinstance(deals, dict) or "arrivals_per_month" in deals:
            return data
        from sim.distributions import parse_distribution

        try:
            median = parse_distribution(spec).quantile(0.5)
        except (ValueError, TypeError):
            return data  # reported by the field's own validation
        return {**data, "deals": {**deals, "arrivals_per_month": median}}

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        problems = _cross_problems(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self


# --------------------------------------------------------------------------------------------
# Cross-field checks
# --------------------------------------------------------------------------------------------


#: Names listed in one message at most (a scenario of 20,000 stages has one-line messages).
_NAMES_LISTED = 30


def _fmt_names(names: typing.Iterable[str]) -> str:
    names = list(names)
    if len(names) <= _NAMES_LISTED:
        return ", ".join(names)
    return ", ".join(names[:_NAMES_LISTED]) + f", ... ({len(names)} in all)"


def _cross_problems(s: Scenario) -> list[str]:
    """All whole-file problems, each as ``path: message``."""
    problems: list[str] = []
    names = s.stage_names
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        index.setdefault(name, i)
    targets = list(dict.fromkeys([*names, "dormant", *OUTCOMES]))
    target_set = set(targets)  # membership in a set: validation stays linear in the stages

    seen: set[str] = set()
    for name in names:
        if name in seen:
            problems.append(f"stages.{name}: the stage name {name!r} is used more than once")
        seen.add(name)
        if name in RESERVED_NAMES:
            problems.append(
                f"stages.{name}.name: {name!r} is reserved "
                f"({_fmt_names(sorted(RESERVED_NAMES))} cannot name a stage)"
            )

    def check_dist(path: str, spec: Any, within: tuple[float, float] | None = None) -> None:
        lo, hi = spec.support()
        if within is None:
            if lo < 0:
                problems.append(f"{path}: {spec.describe()} can be negative (down to {lo:g})")
        elif lo < within[0] or hi > within[1]:
            problems.append(
                f"{path}: {spec.describe()} ranges over [{lo:g}, {hi:g}], "
                f"outside [{within[0]:g}, {within[1]:g}]"
            )

    def check_mean(path: str, spec: Any, longest: float, unit: str, shortest: float = 0) -> None:
        problem = mean_problem(path, spec, longest, unit, shortest)
        if problem:
            problems.append(problem)

    dormant_used: list[str] = []
    for stage in s.stages:
        path = f"stages.{stage.name}"
        check_dist(f"{path}.duration", stage.duration)
        check_mean(f"{path}.duration", stage.duration, MAX_DAYS, "days", MIN_MEAN_DAYS)
        unknown = [t for t in stage.exits if t not in target_set]
        for t in unknown:
            problems.append(
                f"{path}.exits: unknown target {t!r}; valid targets: {_fmt_names(targets)}"
            )
        total = sum(stage.exits.values())
        if abs(total - 1.0) > EXIT_SUM_TOLERANCE:
            problems.append(f"{path}.exits: probabilities must sum to 1, they sum to {total:.10g}")
        if "dormant" in stage.exits:
            dormant_used.append(f"{path}.exits")
    check_dist("deals.amount", s.deals.amount)
    check_mean("deals.amount", s.deals.amount, MAX_AMOUNT, s.currency)

    for stage_name in s.deals.initial:
        if stage_name not in index:
            problems.append(
                f"deals.initial.{toml_key(stage_name)}: unknown stage {stage_name!r}; "
                f"stages: {_fmt_names(names)}"
            )

    def check_to(path: str, to: str, last: int | None, what: str) -> None:
        """``to`` must be a stage at index <= last, dormant or an outcome."""
        if to == "dormant":
            dormant_used.append(path)
            return
        if to in OUTCOMES:
            return
        earlier = names[: last + 1] if last is not None else []
        allowed = list(dict.fromkeys([*earlier, "dormant", *OUTCOMES]))
        if to not in index:
            problems.append(f"{path}: unknown target {to!r}; allowed: {_fmt_names(allowed)}")
        elif last is not None and index[to] > last:
            problems.append(f"{path}: {to!r} comes after {what}; allowed: {_fmt_names(allowed)}")

    if s.budget is not None:
        gate = s.budget.gate
        if gate not in index:
            problems.append(f"budget.gate: unknown stage {gate!r}; stages: {_fmt_names(names)}")
        elif s.budget.recheck is not None:
            to = s.budget.recheck.to
            before = names[: index[gate]]
            if to not in index or index[to] >= index[gate]:
                allowed = _fmt_names(before) if before else "none (the gate is the first stage)"
                why = f"{to!r} is not a stage" if to not in index else f"{to!r} is not before it"
                problems.append(
                    f"budget.recheck.to: the gate is {gate!r} and {why}; "
                    f"allowed (stages before the gate): {allowed}"
                )

    roles_seen: set[str] = set()
    for role in s.decision_group:
        path = f"decision_group.{toml_key(role.role)}"
        if role.role in roles_seen:
            problems.append(f"{path}.role: the role {role.role!r} is listed more than once")
        roles_seen.add(role.role)
        missing = [st for st in role.stages if st not in index]
        if missing:
            problems.append(
                f"{path}.stages: unknown stage(s) {_fmt_names(missing)}; "
                f"stages: {_fmt_names(names)}"
            )
        known = [index[st] for st in role.stages if st in index]
        first = min(known) if known else None
        what = f"the role's first stage {names[first]!r}" if first is not None else "its stages"
        check_to(f"{path}.on_change.to", role.on_change.to, first, what)

    if s.shocks is not None:
        sh = s.shocks
        check_dist("shocks.severity", sh.severity, within=(0.0, 1.0))
        if sh.from_stage not in index:
            problems.append(
                f"shocks.from_stage: unknown stage {sh.from_stage!r}; stages: {_fmt_names(names)}"
            )
            check_to("shocks.to", sh.to, None, "from_stage")
        else:
            check_to("shocks.to", sh.to, index[sh.from_stage], f"from_stage {sh.from_stage!r}")

    if s.timing is not None and s.timing.stage not in index:
        problems.append(
            f"timing.stage: unknown stage {s.timing.stage!r}; stages: {_fmt_names(names)}"
        )

    if dormant_used and s.dormant is None:
        problems.append(
            f"dormant: {_fmt_names(dormant_used)} send(s) deals to 'dormant' but there is no "
            "[dormant] section (add reactivate_mean_days and give_up_after_days)"
        )

    if s.crm is not None:
        allowed = {*names, "dormant", *OUTCOMES}
        for crm_stage, target in s.crm.stage_map.items():
            if target not in allowed:
                problems.append(
                    f"crm.stage_map.{toml_key(crm_stage)}: {target!r} is not a stage, dormant "
                    f"or an outcome; stages: {_fmt_names(names)}"
                )

    problems += team_problems(s)
    problems += _uncertainty_problems(s, check_dist, check_mean)
    problems += _inflow_problems(s)

    exits = {stage.name: stage.exits for stage in s.stages}
    stuck = stages_that_never_end(exits)
    if stuck:
        problems.append(
            f"stages: {_fmt_names(stuck)} can never end: no path of exits with probability > 0 "
            f"leads to an outcome ({_fmt_names(OUTCOMES)}) or to dormant"
        )
    instant = [st.name for st in s.stages if st.duration.mean() < MIN_MEAN_DAYS]
    looping = zero_time_cycles(exits, instant)
    if looping:
        problems.append(
            f"stages: {_fmt_names(looping)} can loop without time passing: their durations "
            "can all be 0 and their exits lead back among them (give one of them a duration "
            "of at least a minute, or break the loop)"
        )
    return problems


def _uncertainty_problems(s: Scenario, check_dist, check_mean) -> list[str]:
    """``[uncertainty]``: known stages and draws that cannot be negative."""
    u = s.uncertainty
    if u is None:
        return []
    problems: list[str] = []
    for name in u.stages:
        if name not in s.stage_names:
            problems.append(
                f"uncertainty.stages.{toml_key(name)}: unknown stage {name!r}; "
                f"stages: {_fmt_names(s.stage_names)}"
            )
    dists = [("uncertainty.arrivals_per_month", u.arrivals_per_month)]
    dists.append(("uncertainty.amount_scale", u.amount_scale))
    dists += [
        (f"uncertainty.stages.{toml_key(k)}.duration_scale", v.duration_scale)
        for k, v in u.stages.items()
    ]
    for path, spec in dists:
        if spec is not None:
            check_dist(path, spec)
            longest = MAX_ARRIVALS_PER_MONTH if path.endswith("per_month") else MAX_FACTOR
            check_mean(path, spec, longest, "times" if longest == MAX_FACTOR else "deals a month")
    return problems


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def horizon_months(start_date: dt.date, horizon_days: float) -> tuple[str, str]:
    """The first and last calendar month (``YYYY-MM``) a horizon touches: ``start_date``'s and
    that of its last day simulated (``sim.calendar.last_day``; a month it only begins is in)."""
    return f"{start_date:%Y-%m}", f"{last_day(start_date, horizon_days):%Y-%m}"


def _inflow_problems(s: Scenario) -> list[str]:
    """``[inflow] by_month``: calendar months, each overlapping the horizon (a month outside it
    would change nothing, silently; ``horizon_months``)."""
    if s.inflow is None:
        return []
    first, last = horizon_months(s.start_date, s.horizon_days)
    problems = []
    for key in s.inflow.by_month:
        path = f"inflow.by_month.{toml_key(key)}"
        if not (_MONTH.match(key) and 1 <= int(key[5:]) <= 12):
            problems.append(f"{path}: not a calendar month YYYY-MM (e.g. 2027-03)")
        elif not first <= key <= last:  # YYYY-MM with a four-digit year: sorts as dates do
            problems.append(
                f"{path}: outside the scenario's horizon ({first} to {last}: start_date "
                f"{s.start_date}, horizon_days {s.horizon_days:g}), so it would change nothing"
            )
    return problems


# --------------------------------------------------------------------------------------------
# Error messages
# --------------------------------------------------------------------------------------------

#: Lists whose items messages and --set name by a key of theirs (a team's work by its stage).
_NAMED_LISTS = {"stages": "name", "decision_group": "role", "team": "name", "work": "stage"}


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional from a type."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _field_keys(model: type[BaseModel]) -> dict[str, Any]:
    """File key -> annotation of a model's fields (aliases are what the file uses)."""
    return {(f.alias or name): f.annotation for name, f in model.model_fields.items()}


def _step_type(tp: Any, item: str | int) -> Any:
    """The type one loc step below ``tp``, or None when it cannot be told."""
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _field_keys(tp).get(item) if isinstance(item, str) else None
    if origin is list and isinstance(item, int):
        return typing.get_args(tp)[0]
    if origin is dict and isinstance(item, str):
        return typing.get_args(tp)[1]
    if origin in (typing.Union, types.UnionType) and isinstance(item, str):
        for member in typing.get_args(tp):
            dist = getattr(member, "model_fields", {}).get("dist")
            if dist is not None and item in typing.get_args(dist.annotation):
                return member
    return None


def _format_loc(loc: tuple[str | int, ...], data: Any) -> tuple[str, Any]:
    """Pydantic loc -> ``stages.need.exits`` and the model type of the parent of the last item.

    Walks the raw input alongside the loc so that list indices of stages and roles become their
    names, and the discriminator tag that pydantic inserts for distributions is dropped.
    """
    parts: list[str] = []
    node: Any = data
    tp: Any = Scenario
    parent_tp: Any = None
    for pos, item in enumerate(loc):
        if isinstance(item, str) and isinstance(node, dict) and item not in node:
            if node.get("dist") == item:  # tagged-union step: not a key of the file
                tp = _step_type(tp, item)
                continue
        if isinstance(item, str) and node is not None and not isinstance(node, dict | list):
            continue  # a plain union's member (``constrained-int``) under a value: no key
        parent_tp = tp
        tp = _step_type(tp, item) if tp is not None else None
        if isinstance(item, int):
            # One style with the whole-file checks and --set: an item by its unique name
            # (quoted as TOML when it has a space), else by its index: stages.2.duration.
            label = f".{item}"
            elem = node[item] if isinstance(node, list) and 0 <= item < len(node) else None
            key = _NAMED_LISTS.get(str(loc[pos - 1])) if pos else None
            if key and isinstance(elem, dict):
                name = elem.get(key)
                same = [e for e in node if isinstance(e, dict) and e.get(key) == name]
                if isinstance(name, str) and name.strip() and len(same) == 1:
                    label = f".{toml_key(name)}"
            parts.append(label)
            node = elem
        else:
            parts.append(f".{toml_key(item)}")
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts).lstrip("."), parent_tp


def _short(value: Any, limit: int = 80) -> str:
    """A value as the user wrote it, cut short: a 1 MB name is not echoed back whole."""
    # A text's own length, not its repr's (the quotes are ours).
    if isinstance(value, dt.date | dt.time):  # as TOML writes it, not datetime.date(2027, 1, 1)
        return value.isoformat()
    return _cut_text(repr(value), limit, 20, len(value) if isinstance(value, str) else None)


def _cut_text(text: str, limit: int, room: int, length: int | None = None) -> str:
    """``text`` if it fits ``limit``, else its start and how long it was (``room`` for that):
    ``length`` characters, or the text's own."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - room]}... ({length if length is not None else len(text):,} characters)"


def _error_message(err: Mapping[str, Any], parent_tp: Any) -> str:
    """Pydantic's message without its noise, made specific where that helps."""
    kind = err["type"]
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if kind == "extra_forbidden":
        key = str(err["loc"][-1]) if err["loc"] else ""
        model = _unwrap(parent_tp)
        if isinstance(model, type) and issubclass(model, BaseModel):
            allowed = list(_field_keys(model))
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            return f"unknown key {_short(key)} ({hint}allowed: {_fmt_names(allowed)})"
        return f"unknown key {_short(key)}"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_not_found":
        return "missing key 'dist' (the distribution family, e.g. dist = \"lognormal\")"
    ctx = err.get("ctx") or {}
    if kind == "union_tag_invalid":
        return f"unknown distribution {ctx.get('tag')!r}; one of: {ctx.get('expected_tags')}"
    value = err.get("input")
    if kind in ("model_type", "model_attributes_type", "dict_type"):  # a value for a table
        got = _short(value)
        return f"expected a table of keys ([section] or {{ key = value, ... }}), got {got}"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == NAME_PATTERN:
        got = _short(value)
        return f"{got}: a name needs a visible character and no control ones (tab, newline)"
    if kind == "string_pattern_mismatch":
        return f"{_short(value)} does not match the pattern {ctx.get('pattern')}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        # 0.0006944444444444445 is a minute, and 36525.0 a century: said as a person says them
        bound = next((ctx[k] for k in ("ge", "gt", "le", "lt") if k in ctx), None)
        if isinstance(bound, float) and not float(bound).is_integer():
            words = " (a minute, in days)" if bound == MIN_MEAN_DAYS else ""
            msg = msg.replace(repr(bound), plain_number(bound) + words)
    if kind not in ("value_error", "assertion_error") and isinstance(value, int | float | str):
        if not isinstance(value, bool) or kind.endswith("_type"):
            msg = f"{msg} (got {_short(value)})"
    return msg


def _cut_line(line: str, limit: int = 300) -> str:
    """A problem on one screen line or two, however long the key or value it names."""
    return _cut_text(line, limit, 30)


_GOT = re.compile(r"^(  .+?: )(.*) (\(got .*\))$")


def _either(before: str, line: str) -> str | None:
    """``headcount: Input should be greater than or equal to 0 or 'unlimited' (got -1)`` from
    the two lines pydantic gives a value that fits no member of ``int | "unlimited"`` (the
    same key, the same value); None for two problems of their own."""
    first, second = _GOT.match(before), _GOT.match(line)
    if not (first and second) or "\n" in line:
        return None
    if first.group(1) != second.group(1) or first.group(3) != second.group(3):
        return None
    said = second.group(2)
    if said.startswith("Input should be "):
        said = said[len("Input should be ") :]
    return f"{first.group(1)}{first.group(2)} or {said} {first.group(3)}"


def _validation_message(
    source: str, exc: ValidationError, data: Any, beyond: list[str] | None = None
) -> str:
    """One line a problem: the first MAX_LISTED_PROBLEMS of them, then how many more. Only
    those shown are formatted, so that 700,000 unknown keys are one screen, quickly.

    ``beyond``: the whole-file problems found besides the field errors (each ``path: ...``),
    or None when those checks could not run yet (a line says so)."""
    lines: list[str] = []
    count = 0
    for err in exc.errors(include_url=False):
        if len(lines) >= MAX_LISTED_PROBLEMS:  # counted, not formatted
            count += max(1, len(str(err["msg"]).splitlines()))
            continue
        path, parent_tp = _format_loc(tuple(err["loc"]), data)
        msg = _error_message(err, parent_tp)
        merged = _either(lines[-1], f"  {path}: {msg}") if lines and path else None
        if merged is not None:  # one value, two members of a union: one problem
            lines[-1] = merged
            continue
        # whole-file checks (no path): each line already starts with its field path
        new = [f"  {path}: {line}" if path else f"  {line}" for line in msg.splitlines()]
        lines.extend(new)
        count += len(new)
    lines += [f"  {line}" for line in beyond or []]
    count += len(beyond or [])
    shown = [_cut_line(line) for line in lines[:MAX_LISTED_PROBLEMS]]
    if count > len(shown):
        shown.append(f"  ... and {count - len(shown)} more")
    if beyond is None and count <= MAX_LISTED_PROBLEMS:  # a cut list says "more" already
        from sim.scenario_partial import WAITING

        shown.append(f"  {WAITING}")
    problems = f"{count} {verb(count, 'problem', 'problems')}"  # as the message always read
    return f"{source}: invalid scenario ({problems}):\n" + "\n".join(shown)


# --------------------------------------------------------------------------------------------
# Finding and loading files
# --------------------------------------------------------------------------------------------


def bundled_scenarios_dir() -> Path:
    """Folder of the bundled scenarios.

    A wheel carries the repository's ``scenarios/`` as ``sim/_bundled_scenarios`` (hatch
    force-include); a source checkout uses ``scenarios/`` next to the package.
    """
    try:
        packaged = importlib.resources.files("sim") / "_bundled_scenarios"
        if packaged.is_dir():
            return Path(str(packaged))
    except (ModuleNotFoundError, OSError):  # pragma: no cover - defensive
        pass
    return Path(__file__).resolve().parent.parent / "scenarios"


def shown_path(path: Path | str) -> str:
    """How messages name a scenario file: a bundled one by its name (``equipment``) rather
    than by a path inside the installed package, any other by its path as given."""
    path = Path(path)
    try:
        if path.suffix == ".toml" and path.resolve().parent == bundled_scenarios_dir().resolve():
            return path.stem
    except OSError:  # pragma: no cover - an unresolvable path is shown as given
        pass
    return str(path)


def _bundled_paths() -> dict[str, Path]:
    folder = bundled_scenarios_dir()
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def bundled_scenarios() -> list[tuple[str, str, Path]]:
    """The bundled scenarios as (name, description, path), sorted by name.

    The name is the file stem (what ``find_scenario`` looks up). Only the TOML is parsed, not
    validated, so listing stays cheap and a broken file does not hide the others.
    """
    out: list[tuple[str, str, Path]] = []
    for name, path in sorted(_bundled_paths().items()):
        try:
            with path.open("rb") as fh:
                description = str(tomllib.load(fh).get("description", ""))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            description = f"(unreadable: {exc})"
        out.append((name, description, path))
    return out


def _refuse_a_folder(text: str) -> None:
    if Path(text).is_dir():
        raise ScenarioError(
            f"{text}: a folder, not a scenario file (a .toml file or a bundled name)"
        )


def find_scenario(ref: str | Path | None) -> Path:
    """Resolve a scenario reference: None (the default), a file path, or a bundled name.

    A string is a path when it names an existing file, ends with ``.toml`` or contains a path
    separator; otherwise it is a bundled name.

    Raises:
        ScenarioError: an unknown bundled name (the message lists the bundled ones).
    """
    if ref is None:
        ref = DEFAULT_SCENARIO
    if isinstance(ref, Path):
        return ref
    text = str(ref)
    bundled = _bundled_paths()
    if Path(text).is_file() or text.endswith(".toml") or "/" in text or "\\" in text:
        _refuse_a_folder(text)
        return Path(text)
    if text in bundled:  # a bundled name, even where a folder of that name is here
        return bundled[text]
    _refuse_a_folder(text)
    listed = _fmt_names(bundled) if bundled else "none found in " + str(bundled_scenarios_dir())
    raise ScenarioError(f"{text}: no such scenario file or bundled scenario (bundled: {listed})")


def _read_toml(path: Path) -> dict[str, Any]:
    shown = shown_path(path)
    try:
        data = tomllib.loads(_scenario_text(path, shown))
    except RecursionError:
        raise ScenarioError(
            f"{shown}: nested too deeply for a scenario (at most {MAX_NESTING} levels of tables "
            "and arrays)"
        ) from None
    except FileNotFoundError:
        raise ScenarioError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise ScenarioError(f"{shown}: is a folder, not a scenario file") from None
    except tomllib.TOMLDecodeError as exc:
        text = str(exc)
        match = re.search(r"\s*\(at line (\d+), column (\d+)\)\s*$", text)
        if match:
            where = f"line {match[1]}, column {match[2]}"
            raise ScenarioError(
                f"{shown}: TOML syntax error at {where}: {text[: match.start()]}"
            ) from None
        raise ScenarioError(f"{shown}: TOML syntax error: {text}") from None
    except UnicodeDecodeError as exc:
        if exc.object[:2] in (b"\xff\xfe", b"\xfe\xff"):  # what Windows editors call "Unicode"
            raise ScenarioError(
                f"{shown}: UTF-16 text; scenario files are UTF-8: save it as UTF-8"
            ) from None
        raise ScenarioError(f"{shown}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ScenarioError(f"{shown}: cannot read: {exc.strerror or exc}") from None
    _check_nesting(data, shown)
    return data


def _scenario_text(path: Path, shown: str) -> str:
    """The file's text, refused before it is read when it is larger than any scenario."""
    if path.exists() and not path.is_file():  # a pipe or a device would be read forever
        raise ScenarioError(f"{shown}: not a regular file (a pipe, a device?): not a scenario file")
    if path.is_file() and path.stat().st_size > MAX_SCENARIO_BYTES:
        raise ScenarioError(
            f"{shown}: {path.stat().st_size / 2**20:.1f} MiB is too large for a scenario file "
            f"(at most {MAX_SCENARIO_BYTES / 2**20:.0f} MiB)"
        )
    # A UTF-8 byte-order mark (Windows editors write one) is not TOML syntax: drop it.
    return path.read_bytes().decode("utf-8").removeprefix("\ufeff")


def _check_nesting(data: Any, source: str) -> None:
    """Refuse tables and arrays nested deeper than any scenario needs, before anything walks
    them recursively (validation, overrides, messages). Iterative, so it cannot overflow."""
    stack = [(data, 0)] if isinstance(data, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            raise ScenarioError(
                f"{source}: nested too deeply for a scenario (more than {MAX_NESTING} levels "
                "of tables and arrays)"
            )
        items = node.values() if isinstance(node, dict) else node
        stack.extend((v, depth + 1) for v in items if isinstance(v, dict | list))


def unreachable_stage_notes(s: Scenario) -> list[str]:
    """Notes on the stages no deal of the scenario can reach: none starts there (new deals and
    reactivated ones start in the first stage), and no exit, budget re-check, replacement or
    shock leads there from where deals are. Valid, but its numbers change nothing: most likely
    a typo in an exit. (A --pipeline may still put deals there.)"""
    start = {s.stages[0].name, *(stage for stage, n in s.deals.initial.items() if n > 0)}
    sent = [role.on_change.to for role in s.decision_group]
    sent += [s.shocks.to] if s.shocks is not None else []
    sent += [s.budget.recheck.to] if s.budget is not None and s.budget.recheck is not None else []
    exits = {stage.name: stage.exits for stage in s.stages}
    return [
        f"stages.{toml_key(stage)}: no deal can reach it (none starts there, and no exit, "
        "re-check, replacement or shock leads there): its numbers change nothing"
        for stage in unreachable_stages(exits, start | set(sent))
    ]


def moved_scenario(scenario: Scenario, **update: Any) -> Scenario:
    """The scenario with its ``start_date`` or ``horizon_days`` changed (``--until``,
    ``--pipeline --as-of``, a backtest's cut-off), without the ``[inflow] by_month`` months the
    new horizon does not touch: they changed nothing there, and the scenario as run (a results
    folder's ``scenario.toml``, read again by explain and report) must validate."""
    moved = scenario.model_copy(update=update)
    inflow = moved.inflow
    if inflow is None or not inflow.by_month:
        return moved
    first, last = horizon_months(moved.start_date, moved.horizon_days)
    kept = {month: rate for month, rate in inflow.by_month.items() if first <= month <= last}
    if len(kept) == len(inflow.by_month):
        return moved
    return moved.model_copy(update={"inflow": inflow.model_copy(update={"by_month": kept})})


def scenario_from_dict(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate parsed scenario data.

    Raises:
        ScenarioError: every problem at once, one per line, naming ``source`` and each field.
    """
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{source}: a scenario must be a table, not {type(data).__name__}")
    _check_nesting(data, source)
    try:
        return Scenario.model_validate(dict(data))
    except ValidationError as exc:
        from sim.scenario_partial import problems_beyond

        # The whole-file checks too, where they can run: all problems in one round.
        beyond = problems_beyond(exc, data) if _has_field_errors(exc) else []
        raise ScenarioError(_validation_message(source, exc, data, beyond)) from None


def _has_field_errors(exc: ValidationError) -> bool:
    """Not only the whole-file checks (they run on valid fields only, as one error without
    a loc). Counted first: a file of 700,000 unknown keys is not listed twice."""
    return exc.error_count() > 1 or bool(exc.errors(include_url=False)[0]["loc"])


def load_scenario(
    ref: str | Path | None = None, overrides: Mapping[str, object] | None = None
) -> Scenario:
    """Find, read and validate a scenario.

    Args:
        ref: a bundled name, a path, or None for the default scenario.
        overrides: dotted keys to set before validation, e.g. ``{"deals.arrivals_per_month": 8}``
            or ``{"stages.need.duration.median": 90}`` (list items of ``stages`` and
            ``decision_group`` are addressed by name or by index).

    Raises:
        ScenarioError: missing file, TOML syntax error, bad override or invalid scenario.
    """
    path = find_scenario(ref)
    data = _read_toml(path)
    if overrides:
        data = apply_overrides(data, overrides)
    return scenario_from_dict(data, source=shown_path(path))


# --------------------------------------------------------------------------------------------
# Overrides (--set K=V)
# --------------------------------------------------------------------------------------------


def parse_override(text: str) -> tuple[str, object]:
    """Parse ``KEY=VALUE`` from the command line; VALUE is read as a TOML value if it is one.

    So ``horizon_days=365`` gives an int, ``budget.gate=decision`` a string, and
    ``deals.amount={dist="fixed", value=1}`` a table.

    Raises:
        ScenarioError: no ``=`` or an empty key.
    """
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key:
        raise ScenarioError(f"--set {text}: expected KEY=VALUE, e.g. horizon_days=365")
    try:
        value: object = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def _key_parts(key: str) -> list[str]:
    """Split a dotted key as TOML does: ``decision_group."general director".tenure_mean_days``
    has three parts, the quoted one holding a space (or a dot)."""
    parts, current, quoted = [], [], False
    for ch in key:
        if ch == '"':
            quoted = not quoted
        elif ch == "." and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return parts


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, object]) -> dict[str, Any]:
    """A deep copy of ``data`` with each dotted key set (missing tables are created).

    Raises:
        ScenarioError: a key that goes through something that is not a table or list item.
    """
    out = copy.deepcopy(dict(data))
    for key, value in overrides.items():
        parts = _key_parts(key)
        if not all(parts):
            raise ScenarioError(f"--set {key}: empty part in the key")
        node: Any = out
        for pos, part in enumerate(parts[:-1]):
            where = ".".join(parts[: pos + 1])
            if isinstance(node, list):
                node = _list_item(node, part, parts[pos - 1] if pos else "", key)
            elif isinstance(node, dict):
                if part not in node and _names_a_list(parts, pos) and pos + 1 < len(parts) - 1:
                    # A list of named tables (roles, teams) the file has none of: an entry is
                    # not made up from one key (which role? its stages? its tenure?).
                    raise ScenarioError(
                        f"--set {key}: the scenario has no {where} entries; add a "
                        f'[[{where}]] table with {_NAMED_LISTS[part]} = "{parts[pos + 1]}" to the '
                        "file to set its fields"
                    )
                if part not in node:
                    node[part] = {}
                node = node[part]
            else:
                raise ScenarioError(f"--set {key}: {where} is not a table")
            if not isinstance(node, dict | list):
                raise ScenarioError(f"--set {key}: {where} is a value, not a table")
        last = parts[-1]
        if isinstance(node, list):
            list_key = parts[-2] if len(parts) > 1 else ""
            item = _list_item(node, last, list_key, key)
            if isinstance(item, dict) and not isinstance(value, dict):
                # A stage (a role, a team) made a bare value would lose its name too, and
                # the message would then name it by its index.
                raise ScenarioError(
                    f"--set {key}: {key} is an entry of {list_key} (a "
                    f"table of keys), not a value; set one of its keys: --set {key}.KEY=VALUE"
                )
            node[node.index(item)] = copy.deepcopy(value)
        else:
            node[last] = copy.deepcopy(value)
    return out


def _names_a_list(parts: list[str], pos: int) -> bool:
    """Whether ``parts[pos]`` is where the schema keeps a list of named tables: the top-level
    stages, decision_group and team, and a team's work. Elsewhere (``uncertainty.stages`` is a
    table keyed by stage name) the same word is an ordinary table."""
    if pos == 0:
        return parts[0] in ("stages", "decision_group", "team")
    return pos == 2 and parts[0] == "team" and parts[2] == "work"


def _list_item(items: list[Any], part: str, list_key: str, key: str) -> Any:
    """Pick a list item by its name (stages, roles) or by index."""
    name_key = _NAMED_LISTS.get(list_key)
    if name_key:
        for item in items:
            if isinstance(item, dict) and item.get(name_key) == part:
                return item
    if part.isdigit() and int(part) < len(items):
        return items[int(part)]
    names = [str(i.get(name_key)) for i in items if isinstance(i, dict)] if name_key else []
    hint = f" (have: {_fmt_names(names)})" if names else f" (0..{len(items) - 1})"
    raise ScenarioError(f"--set {key}: no item {part!r} in {list_key or 'the list'}{hint}")


# --------------------------------------------------------------------------------------------
# Schema, TOML dump, hash
# --------------------------------------------------------------------------------------------


def scenario_json_schema() -> dict[str, Any]:
    """JSON Schema of scenario files, for editors (e.g. taplo / Even Better TOML)."""
    schema = _standard_only(Scenario.model_json_schema())
    schema.pop("title", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "dealsim scenario",
        **schema,
    }


def _standard_only(node: Any) -> Any:
    """The schema without OpenAPI's ``discriminator`` (not JSON Schema; ``oneOf`` with each
    family's ``const`` tag says the same)."""
    if isinstance(node, dict):
        return {k: _standard_only(v) for k, v in node.items() if k != "discriminator"}
    if isinstance(node, list):
        return [_standard_only(v) for v in node]
    return node


def scenario_hash(scenario: Scenario) -> str:
    """sha256 (hex) of the canonical JSON of the resolved scenario: same inputs, same hash."""
    canonical = json.dumps(
        scenario.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), allow_nan=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def dump_scenario_toml(scenario: Scenario) -> str:
    """The resolved scenario (defaults filled in) as TOML text that loads back to an equal one."""
    data = scenario.model_dump(mode="python", exclude_none=True)
    return f"# dealsim scenario {scenario.name!r}, as resolved\n" + toml_dumps(data)
