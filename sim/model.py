"""A validated scenario compiled into the integers and arrays the engine works with.

The scenario file speaks in names ("need", "dormant", "won"); the engine speaks in state codes so
that a stage visit costs a few list look-ups. State codes:

* ``0 .. S-1``: the active stages, in file order;
* ``S``: dormant;
* ``S+1, S+2, S+3``: the outcomes won, lost, no_decision (absorbing).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from sim.calendar import DAYS_PER_MONTH, DAYS_PER_YEAR, Calendar
from sim.distributions import Distribution
from sim.scenario import Scenario

OUTCOMES = ("won", "lost", "no_decision")
DORMANT = "dormant"

# Causes that the results attribute stall time to, in the order of the per-deal stall matrix.
CAUSES = (
    "budget_wait",
    "timing_wait",
    "dormant",
    "budget_rework",
    "group_change_rework",
    "shock_rework",
    "seller_wait",
)
BUDGET_WAIT, TIMING_WAIT, DORMANT_CAUSE, BUDGET_REWORK, GROUP_REWORK, SHOCK_REWORK = range(6)
SELLER_WAIT = 6  # waiting for our own people (a [[team]]): queued, or their work outlasting ours


@dataclass(frozen=True)
class RoleModel:
    """One decision-group role: where it matters and what a replacement does."""

    name: str
    tenure_mean_days: float
    stages: frozenset[int]
    to: int
    probability: float


@dataclass(frozen=True)
class BudgetModel:
    gate: int
    funded_share: float
    releases: list[float]
    recheck_to: int
    recheck_probability: float


@dataclass(frozen=True)
class ShockModel:
    rate_per_day: float
    severity: Distribution
    from_stage: int
    reset_probability: float
    to: int
    inflow_drop: float
    recovery_days: float


@dataclass(frozen=True)
class TimingModel:
    stage: int
    daily_log_drift: float
    daily_log_sd: float
    buy_when_below: float
    max_wait_days: float


@dataclass(frozen=True)
class WorkModel:
    """The work a visit to one stage needs from one team."""

    team: int  # index into Model.teams
    effort_hours: Distribution
    client_waits: bool


@dataclass(frozen=True)
class TeamModel:
    """One team of ours: capacity over time, pace, cost and queue order.

    ``schedule`` is the headcount from each day on: ``[(0.0, n0), (day1, n1), ...]``;
    ``headcount`` None means unlimited (no queue ever forms).
    """

    name: str
    headcount: int | None
    schedule: tuple[tuple[float, int], ...]
    days_per_hour: float  # calendar days one hour of effort takes: 7 / hours_per_week
    cost_per_hour: float
    priority: str  # fifo | amount | stage

    @property
    def unlimited(self) -> bool:
        return self.headcount is None

    @property
    def most(self) -> int:
        """The largest headcount the team ever has (the number of desks to set up)."""
        return max(n for _, n in self.schedule)

    def person_days(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Person-days available in each window [start, end) (calendar days, all day long)."""
        days = np.array([day for day, _ in self.schedule] + [np.inf])
        heads = np.array([n for _, n in self.schedule], dtype=float)
        lo = np.maximum(starts[:, None], days[None, :-1])
        hi = np.minimum(ends[:, None], days[None, 1:])
        return (np.maximum(hi - lo, 0.0) * heads[None, :]).sum(axis=1)


@dataclass(frozen=True)
class InitialPipeline:
    """The open deals at day 0: from the scenario's counts by stage, or from a CRM export.

    A deal from a CRM has already spent ``age_in_stage`` days in its stage, was created
    ``-created`` days before day 0, and has its own amount (nan: drawn from the scenario).
    """

    states: np.ndarray
    age_in_stage: np.ndarray
    created: np.ndarray
    amounts: np.ndarray
    ids: tuple[str, ...] = ()
    skipped_closed: int = 0  # closed deals of the export, left out
    source: str = ""  # the export it came from

    @classmethod
    def from_counts(cls, states: list[int]) -> InitialPipeline:
        n = len(states)
        return cls(np.asarray(states, dtype=np.int64), np.zeros(n), np.zeros(n), np.full(n, np.nan))

    def provenance(self, as_of: dt.date) -> dict:
        """Where the day-0 deals came from: the ``pipeline`` of manifest.json, and the line
        the terminal shows (sim.cli_options.echo_day0_pipeline)."""
        return {
            "source": self.source,
            "as_of": as_of.isoformat(),
            "open_deals": len(self.ids),
            "closed_deals_skipped": self.skipped_closed,
        }

    @property
    def aged(self) -> bool:
        return bool(np.any(self.age_in_stage > 0))


@dataclass(frozen=True)
class Model:
    """Everything the engine needs, indexed by state code."""

    scenario: Scenario
    calendar: Calendar
    stage_names: list[str]
    durations: list[Distribution]
    exit_cumulative: np.ndarray  # (S, n_states): cumulative exit probabilities per stage
    initial: InitialPipeline  # the day-0 deals
    arrivals_per_day: float
    seasonality: np.ndarray | None  # 12 multipliers (Jan..Dec), mean 1
    amount: Distribution
    dormant_mean_days: float
    dormant_give_up_days: float
    budget: BudgetModel | None
    roles: list[RoleModel] = field(default_factory=list)
    shocks: ShockModel | None = None
    timing: TimingModel | None = None
    teams: list[TeamModel] = field(default_factory=list)
    work: list[list[WorkModel]] = field(default_factory=list)  # per stage, in team order
    #: Arrivals per day for each whole day of the horizon when the rate changes over time
    #: (``[inflow]``, or a replication's own drawn path); None: arrivals_per_day x seasonality.
    arrival_rate_by_day: np.ndarray | None = None
    #: Per stage, the share of its exit to dormant that is its stalled visits (``stalled_share``
    #: over ``exits.dormant``: a share of the exit, so that a replication's own drawn exits keep
    #: it); None when no stage has stalled visits.
    stalled_of_dormant: np.ndarray | None = None

    @property
    def initial_states(self) -> list[int]:
        return self.initial.states.tolist()

    @property
    def n_stages(self) -> int:
        return len(self.stage_names)

    @property
    def dormant(self) -> int:
        return self.n_stages

    @property
    def won(self) -> int:
        return self.n_stages + 1

    @property
    def n_states(self) -> int:
        return self.n_stages + 4

    @property
    def horizon(self) -> float:
        return self.calendar.horizon_days

    def state_names(self) -> list[str]:
        return [*self.stage_names, DORMANT, *OUTCOMES]

    def code(self, name: str) -> int:
        return self.state_names().index(name)


def compile_scenario(scenario: Scenario, pipeline: InitialPipeline | None = None) -> Model:
    """Turn a validated scenario into a Model (no randomness, no I/O).

    Args:
        pipeline: the day-0 deals from a CRM export, replacing ``deals.initial``.
    """
    names = [stage.name for stage in scenario.stages]
    states = [*names, DORMANT, *OUTCOMES]
    code = {name: i for i, name in enumerate(states)}
    calendar = Calendar(scenario.start_date, scenario.horizon_days)

    probs = np.zeros((len(names), len(states)))
    for s, stage in enumerate(scenario.stages):
        for target, p in stage.exits.items():
            probs[s, code[target]] = p
    cumulative = np.cumsum(probs, axis=1)
    cumulative /= cumulative[:, -1:]  # exits sum to 1 within 1e-6: make the last step exact

    initial = [code[name] for name in names for _ in range(scenario.deals.initial.get(name, 0))]

    seasonality = None
    if scenario.deals.seasonality is not None:
        season = np.asarray(scenario.deals.seasonality, dtype=float)
        seasonality = season / season.mean()

    dormant = scenario.dormant
    base_per_day = scenario.deals.arrivals_per_month / DAYS_PER_MONTH
    by_day = arrival_rate_by_day(scenario, calendar, base_per_day, seasonality)
    return Model(
        scenario=scenario,
        calendar=calendar,
        stage_names=names,
        durations=[stage.duration for stage in scenario.stages],
        exit_cumulative=cumulative,
        initial=pipeline if pipeline is not None else InitialPipeline.from_counts(initial),
        arrivals_per_day=float(by_day.mean()) if by_day is not None else base_per_day,
        seasonality=seasonality,
        amount=scenario.deals.amount,
        dormant_mean_days=dormant.reactivate_mean_days if dormant else np.inf,
        dormant_give_up_days=dormant.give_up_after_days if dormant else np.inf,
        budget=_compile_budget(scenario, code, calendar),
        roles=[
            RoleModel(
                name=role.role,
                tenure_mean_days=role.tenure_mean_days,
                stages=frozenset(code[s] for s in role.stages),
                to=code[role.on_change.to],
                probability=role.on_change.probability,
            )
            for role in scenario.decision_group
        ],
        shocks=_compile_shocks(scenario, code),
        timing=_compile_timing(scenario, code),
        teams=[_compile_team(team, calendar) for team in scenario.team],
        work=_compile_work(scenario, code),
        arrival_rate_by_day=by_day,
        stalled_of_dormant=_stalled_of_dormant(scenario),
    )


def _stalled_of_dormant(scenario: Scenario) -> np.ndarray | None:
    shares = [  # validated: a share only where exits.dormant > 0 (within 1e-6 of it at most)
        min(stage.stalled_share / stage.exits["dormant"], 1.0) if stage.stalled_share else 0.0
        for stage in scenario.stages
    ]
    return np.asarray(shares) if any(shares) else None


def arrival_rate_by_day(
    scenario: Scenario, calendar: Calendar, base_per_day: float, seasonality: np.ndarray | None
) -> np.ndarray | None:
    """The ``[inflow]`` rate for each whole day of the horizon, or None when it is constant.

    Day d gets the rate of its calendar month from ``by_month`` when that month is listed,
    else ``base x seasonality x exp(trend x d / 365.25)``.
    """
    inflow = scenario.inflow
    if inflow is None or (inflow.trend_per_year == 0 and not inflow.by_month):
        return None
    days = np.arange(int(np.ceil(calendar.horizon_days)) + 1, dtype=float)
    dates = [calendar.date_of(d) for d in days]
    months = np.array([d.month for d in dates]) - 1
    rate = np.full(len(days), base_per_day)
    if seasonality is not None:
        rate *= seasonality[months]
    rate *= np.exp(inflow.trend_per_year * days / DAYS_PER_YEAR)
    for i, date in enumerate(dates):
        listed = inflow.by_month.get(f"{date:%Y-%m}")
        if listed is not None:
            rate[i] = listed / DAYS_PER_MONTH
    return rate


def _compile_team(team, calendar: Calendar) -> TeamModel:
    if team.unlimited:
        headcount, schedule = None, ((0.0, 0),)
    else:
        headcount = team.headcount
        schedule = ((0.0, team.headcount),) + tuple(
            (float(calendar.day_of(change.date)), change.headcount) for change in team.changes
        )
    return TeamModel(
        name=team.name,
        headcount=headcount,
        schedule=schedule,
        days_per_hour=7.0 / team.hours_per_week,
        cost_per_hour=team.cost_per_hour,
        priority=team.priority,
    )


def _compile_work(scenario: Scenario, code: dict[str, int]) -> list[list[WorkModel]]:
    work: list[list[WorkModel]] = [[] for _ in scenario.stages]
    for t, team in enumerate(scenario.team):
        for item in team.work:
            work[code[item.stage]].append(WorkModel(t, item.effort_hours, item.client_waits))
    return work


def _compile_budget(scenario: Scenario, code: dict[str, int], calendar: Calendar):
    budget = scenario.budget
    if budget is None:
        return None
    recheck = budget.recheck
    return BudgetModel(
        gate=code[budget.gate],
        funded_share=budget.funded_share,
        releases=calendar.budget_release_days(budget.fiscal_year_start, budget.release_lag_days),
        recheck_to=code[recheck.to] if recheck else code[budget.gate],
        recheck_probability=recheck.probability if recheck else 0.0,
    )


def _compile_shocks(scenario: Scenario, code: dict[str, int]):
    shocks = scenario.shocks
    if shocks is None:
        return None
    return ShockModel(
        rate_per_day=shocks.rate_per_year / DAYS_PER_YEAR,
        severity=shocks.severity,
        from_stage=code[shocks.from_stage],
        reset_probability=shocks.reset_probability,
        to=code[shocks.to],
        inflow_drop=shocks.inflow_drop,
        recovery_days=shocks.recovery_days,
    )


def _compile_timing(scenario: Scenario, code: dict[str, int]):
    timing = scenario.timing
    if timing is None:
        return None
    vol = timing.indicator.volatility
    return TimingModel(
        stage=code[timing.stage],
        daily_log_drift=(timing.indicator.drift - vol**2 / 2) / DAYS_PER_YEAR,
        daily_log_sd=vol / np.sqrt(DAYS_PER_YEAR),
        buy_when_below=timing.buy_when_below,
        max_wait_days=timing.max_wait_days,
    )
