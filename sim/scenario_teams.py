"""The ``[[team]]`` sections of a scenario: our own people, their capacity and the work they do.

A team (presales engineers, account executives, legal...) has a headcount that can change on
given dates, works ``hours_per_week`` per person, costs ``cost_per_hour``, and does work at some
stages: each visit of a deal to such a stage needs ``effort_hours`` of one person. A deal queues
for a free person (in the team's ``priority`` order), holds that person for the effort at the
team's pace (a person's hours run over calendar days: effort / (hours_per_week / 7) days), then
goes on. With ``client_waits = true`` the client's own time in the stage starts when our work is
done; with ``false`` both run alongside and the deal leaves when both are done.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sim.distributions import DistributionSpec
from sim.plural import verb
from sim.scenario_bounds import (
    DATE_PATTERN,
    MAX_DAYS,
    MAX_NAME_LENGTH,
    calendar_date,
    mean_problem,
)
from sim.toml_writer import toml_key

if TYPE_CHECKING:
    from sim.scenario import Scenario

#: Priorities a team's queue can follow, and what each means (for messages and docs).
PRIORITIES = {
    "fifo": "first come, first served",
    "amount": "largest amount first",
    "stage": "latest stage first",
}
#: A headcount that never runs out (the "unlimited capacity" what-if; no queue ever forms).
UNLIMITED = "unlimited"

#: A visit's effort: at most a century of one person's hours, round the clock.
MAX_EFFORT_HOURS = MAX_DAYS * 24
#: Dated headcount changes of one team (each deal's capacity is read against all of them).
MAX_HEADCOUNT_CHANGES = 1_000
Headcount = Annotated[int, Field(strict=True, ge=0, le=100_000)]
Hours = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0, le=168)]
Money = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=1e9)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HeadcountChange(_Model):
    """From ``date`` on, the team has ``headcount`` people (a hire, a leaver, a freeze)."""

    date: dt.date = Field(json_schema_extra={"pattern": DATE_PATTERN})
    headcount: Headcount

    @field_validator("date", mode="before")
    @classmethod
    def _a_date(cls, value: object) -> dt.date:
        return calendar_date(value)


class Work(_Model):
    """The work one visit of a deal to ``stage`` needs from the team."""

    stage: str
    effort_hours: DistributionSpec = Field(description="Hours of one person, per visit.")
    client_waits: bool = Field(
        default=True,
        description="true: the stage's own time starts when our work is done; false: both "
        "run alongside and the deal leaves when both are done.",
    )


class Team(_Model):
    """Our own people who work on deals."""

    name: str = Field(min_length=1, max_length=min(80, MAX_NAME_LENGTH))
    headcount: Headcount | Literal["unlimited"] = Field(
        description="People at day 0, or 'unlimited' (no queue ever forms)."
    )
    hours_per_week: Hours = Field(default=40.0, description="Working hours per person.")
    cost_per_hour: Money = Field(default=0.0, description="Currency per hour of effort.")
    priority: Literal["fifo", "amount", "stage"] = Field(
        default="fifo", description="fifo | amount (largest first) | stage (latest first)."
    )
    changes: list[HeadcountChange] = Field(
        default_factory=list,
        max_length=MAX_HEADCOUNT_CHANGES,
        description="Dated headcount changes, in date order.",
    )
    work: list[Work] = Field(min_length=1, description="The stages that need this team.")

    @field_validator("changes")
    @classmethod
    def _dates_increase(cls, value: list[HeadcountChange]) -> list[HeadcountChange]:
        for before, after in zip(value, value[1:], strict=False):
            if after.date == before.date:
                raise ValueError(
                    f"two changes on {after.date.isoformat()}: one change per date (the "
                    "headcount from that day on)"
                )
            if after.date < before.date:
                raise ValueError(
                    f"dates must increase: {after.date.isoformat()} comes after "
                    f"{before.date.isoformat()}"
                )
        return value

    @property
    def unlimited(self) -> bool:
        return self.headcount == UNLIMITED


def team_problems(s: Scenario) -> list[str]:
    """Whole-file problems of the ``[[team]]`` sections, each as ``path: message``."""
    problems: list[str] = []
    names = s.stage_names
    seen: set[str] = set()
    for team in s.team:
        path = f"team.{toml_key(team.name)}"  # the path style of every scenario message
        if team.name in seen:
            problems.append(f"{path}.name: the team {team.name!r} is listed more than once")
        seen.add(team.name)
        stages_seen: set[str] = set()
        for work in team.work:
            where = f"{path}.work.{toml_key(work.stage)}"
            if work.stage not in names:
                problems.append(
                    f"{where}.stage: unknown stage {work.stage!r}; stages: {', '.join(names)}"
                )
            if work.stage in stages_seen:
                problems.append(f"{where}: the stage {work.stage!r} is listed more than once")
            stages_seen.add(work.stage)
            low, _ = work.effort_hours.support()
            if low < 0:
                problems.append(
                    f"{where}.effort_hours: {work.effort_hours.describe()} can be negative"
                )
            too_long = mean_problem(
                f"{where}.effort_hours", work.effort_hours, MAX_EFFORT_HOURS, "hours"
            )
            if too_long:
                problems.append(too_long)
        for k, change in enumerate(team.changes):
            if change.date <= s.start_date:
                problems.append(
                    f"{path}.changes.{k}.date: {change.date.isoformat()} is not after "
                    f"start_date {s.start_date.isoformat()} (give the day-0 team as headcount)"
                )
        if team.unlimited:
            if team.changes:
                problems.append(f"{path}.changes: an unlimited team has no headcount to change")
        elif team.headcount == 0 and not any(c.headcount > 0 for c in team.changes):
            stages = ", ".join(w.stage for w in team.work)
            problems.append(
                f"{path}.headcount: 0 people and no hire in changes, but {stages} "
                f"{verb(len(team.work), 'needs', 'need')} this team's work: every deal there "
                "would wait for ever"
            )
    return problems
