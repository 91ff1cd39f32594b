"""What a run will cost, estimated before it starts; a run beyond the budget is refused.

A scenario within every bound (sim.scenario_bounds) can still describe a run that would take
days or all the memory: a million arrivals a month, ten million deals at day 0, a decision-group
role replaced every few minutes, a stage that loops on itself 999,999 times in a million. So
before a run starts, its size is estimated from the scenario alone, in closed form:

* deals per replication: the day-0 pipeline plus the expected arrivals over the horizon
  (seasonality, trend and by-month rates included);
* stage visits per deal: the absorbing chain's expected visits (sim.stage_chain) from the first
  stage (arrivals) or each deal's own stage (the day-0 pipeline);
* events per deal: decision-group replacements (time in the role's stages over its tenure, each
  a visit more when it resets the deal) and market shocks (each one touches every open deal);
* memory: the deals of one replication at a time, in each worker, and the timing mechanism's
  table of days by waits.

Beyond the budget below the run is refused (exit 2) with the figures and what to change, unless
it is forced (``--force`` on the command line, ``allow_large=True`` in the API). The estimate is
an expectation, not a bound: it is meant to catch runs that are orders of magnitude too large.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.errors import UserError, require_whole
from sim.plural import counted

if TYPE_CHECKING:  # the CLI imports this module for --force: numpy waits until a run
    from sim.model import Model

#: The budget: stage visits and events of the whole run (all replications), deals in one
#: replication, and memory of one replication in one worker. The SimPy engine does some 10^4
#: visits a second a core, so a run at the budget takes about an hour on two cores (the
#: vectorized engine is faster); the bundled scenarios at their own replications take
#: under a hundredth of it.
MAX_RUN_WORK = 1e8
MAX_DEALS_PER_REPLICATION = 1e6
MAX_MEMORY_BYTES = 4e9
#: Memory of one deal in a replication's arrays and records, in bytes (measured, rounded up).
BYTES_PER_DEAL = 400.0


@dataclass(frozen=True)
class Rates:
    """Seconds of one engine's work on one core, by what the work is made of."""

    replication: float  # each replication: its draws, its plan, its reduction into the results
    rows_replication: float  # each replication whose deals.csv rows are written
    step: float  # each replication, by the expected visits and events of a deal (the planner's
    #  steps: a deal that loops makes its whole block of replications take more steps)
    deal: float  # each deal of each replication
    row: float  # each deals.csv row written (a deal of a replication)
    visit: float  # each stage visit and event
    mechanism_replication: float = 0.0  # each replication, each stall mechanism on
    mechanism_deal: float = 0.0  # each deal of each replication, each stall mechanism on


#: The time of a run, per engine, on one core: about twice the seconds measured on the
#: development machine by bench/run_cost_rates.py (shapes that each make one term dominate:
#: many replications of a few deals, deals that loop, thousands of deals, with and without
#: deals.csv; bundled scenarios with no stall mechanism on and with several), for a busier or
#: slower machine; an estimate that errs long, but not so long that it is no guide. Counting
#: visits alone left out what a replication and a deal cost whatever their visits: a run of
#: many replications of a few deals was estimated 4-5 times short. A deal that queues for our
#: own people costs a request, a hold and a release more a visit (set from bench/teams4.toml,
#: timed whole, about twice its measured time).
SECONDS_PER = {
    "vectorized": Rates(
        replication=2.5e-4, rows_replication=2.5e-4, step=1.1e-4, deal=3.5e-7, row=1e-6,
        visit=4e-7, mechanism_replication=1.1e-3, mechanism_deal=2.7e-7,
    ),
    "simpy": Rates(
        replication=2.5e-4, rows_replication=4e-4, step=0.0, deal=9e-6, row=1.7e-6,
        visit=6e-6, mechanism_replication=6e-4, mechanism_deal=4.5e-6,
    ),
    "simpy with teams": Rates(
        replication=2.5e-4, rows_replication=4e-4, step=0.0, deal=9e-6, row=1.7e-6,
        visit=3e-5, mechanism_replication=6e-4, mechanism_deal=4.5e-6,
    ),
}  # fmt: skip
#: What each of several workers gives: two jobs run 1.6-2.0 times as fast as one (the README's
#: Speed section), their results gathered and written by one process.
PARALLEL_EFFICIENCY = 0.8
#: A run estimated to last longer than this says so before it starts (seconds).
ANNOUNCE_AFTER_SECONDS = 10.0

_forced: contextvars.ContextVar[bool] = contextvars.ContextVar("dealsim_force", default=False)
#: Set while the runs of one command (a comparison, a sweep) go on: their whole was announced.
_announced: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "dealsim_announced", default=False
)


def force_large_runs(flag: bool = True) -> None:
    """Let runs beyond the budget go ahead in this context (the CLI's ``--force``)."""
    _forced.set(bool(flag))


def force_option(ctx, param, value: bool) -> bool:
    """Click callback of ``--force``: the flag also lets a run over the budget start."""
    force_large_runs(value)
    return value


#: Help of ``--force`` on the commands that run scenarios: it has both meanings.
FORCE_HELP = (
    "Replace a non-empty results folder; and run even when the run's estimated cost is over "
    "the budget (see the README's Bounds)."
)


@dataclass(frozen=True)
class RunCost:
    """The estimated size of a run."""

    replications: int
    deals: float  # per replication
    visits_per_deal: float
    events_per_deal: float
    shock_events: float  # per replication: shocks x the deals they touch
    memory_bytes: float  # one replication in one worker
    teams: bool = False  # deals queue for our own people (slower on SimPy)
    rows: bool = False  # each deal's deals.csv row is written (not with --deals none)
    mechanisms: int = 0  # stall mechanisms on (budget, decision group, shocks, timing)

    @property
    def work(self) -> float:
        """Stage visits and events of the whole run."""
        per_replication = self.deals * (self.visits_per_deal + self.events_per_deal)
        return self.replications * (per_replication + self.shock_events)

    def seconds(self, engine: str, jobs: int) -> float:
        """Roughly how long the run lasts on ``engine`` with ``jobs`` workers (errs long)."""
        key = f"{engine} with teams" if self.teams and engine == "simpy" else engine
        rates = SECONDS_PER[key]
        workers = max(1, min(jobs, self.replications))  # a replication runs on one core
        if workers > 1:
            workers *= PARALLEL_EFFICIENCY
        per_replication = (
            rates.replication
            + self.rows * rates.rows_replication
            + (self.visits_per_deal + self.events_per_deal) * rates.step
            + self.deals * (rates.deal + self.rows * rates.row)
            + self.mechanisms * (rates.mechanism_replication + self.deals * rates.mechanism_deal)
        )
        return (self.replications * per_replication + self.work * rates.visit) / workers

    def problems(self) -> list[str]:
        """What is over the budget, each with what to change."""
        out = []
        if not self.deals <= MAX_DEALS_PER_REPLICATION:
            out.append(
                f"{_n(self.deals)} deals per replication (budget {_n(MAX_DEALS_PER_REPLICATION)}"
                "): lower deals.initial, deals.arrivals_per_month or horizon_days"
            )
        if not self.memory_bytes <= MAX_MEMORY_BYTES:
            out.append(
                f"about {self.memory_bytes / 1e9:.1f} GB of memory per worker (budget "
                f"{MAX_MEMORY_BYTES / 1e9:.0f} GB): fewer deals per replication"
            )
        if not self.work <= MAX_RUN_WORK:
            out.append(
                f"{_n(self.work)} stage visits and events in all (budget {_n(MAX_RUN_WORK)}; "
                f"{_n(self.visits_per_deal)} visits and {_n(self.events_per_deal)} events per "
                f"deal, {_n(self.deals)} deals, {counted(self.replications, 'replication')}): "
                "fewer replications (-n), fewer deals, fewer loops back (exits to earlier stages), "
                "longer tenures or fewer shocks"
            )
        return out


def _n(x: float) -> str:
    """A count for humans: 1.2e+09 reads worse than 1.2 billion."""
    if not math.isfinite(x):
        return "unboundedly many"
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if x >= size:
            return f"{x / size:.3g} {word}"
    return f"{x:,.0f}"


def estimate(model: Model, replications: int, rows: bool = False) -> RunCost:
    """The expected size of running ``model`` ``replications`` times (``rows``: writing each
    deal's deals.csv row)."""
    import numpy as np

    from sim.stage_chain import expected_visits

    require_whole("replications", replications)  # the first to weigh it: compare, sweep...

    scenario = model.scenario
    horizon = model.horizon
    exits = {stage.name: stage.exits for stage in scenario.stages}
    names = model.stage_names
    first = names[0]
    arrivals = _expected_arrivals(model)
    initial_states = np.asarray(model.initial.states)
    initial = float(len(initial_states))
    deals = initial + arrivals
    start: dict[str, float] = {}
    if arrivals > 0:
        start[first] = arrivals
    counts = np.bincount(initial_states[initial_states < len(names)], minlength=len(names))
    for code in np.flatnonzero(counts):
        start[names[code]] = start.get(names[code], 0.0) + float(counts[code])
    total = sum(start.values())
    visits = expected_visits(exits, {k: v / total for k, v in start.items()}) if total else {}
    visits_per_deal = sum(visits.values())
    events = _role_events(model, visits)
    shocks = model.shocks.rate_per_day * horizon * deals if model.shocks is not None else 0.0
    return RunCost(
        replications=replications,
        deals=deals,
        visits_per_deal=visits_per_deal,
        events_per_deal=events,
        shock_events=shocks,
        memory_bytes=deals * BYTES_PER_DEAL + _timing_bytes(model),
        teams=bool(model.teams),
        rows=rows,
        mechanisms=sum(
            x is not None and x != []
            for x in (model.budget, model.roles, model.shocks, model.timing)
        ),
    )


def _timing_bytes(model: Model) -> float:
    """The timing mechanism's day-by-wait table (sim.draws): a byte or two a cell."""
    if model.timing is None:
        return 0.0
    return 2.0 * (math.ceil(model.horizon) + 1) * math.ceil(model.timing.max_wait_days)


def _expected_arrivals(model: Model) -> float:
    """Expected new deals over the horizon."""
    if model.arrival_rate_by_day is not None:
        whole = int(model.horizon)
        by_day = model.arrival_rate_by_day
        return float(
            by_day[:whole].sum() + by_day[min(whole, len(by_day) - 1)] * (model.horizon - whole)
        )
    return model.arrivals_per_day * model.horizon


def _role_events(model: Model, visits: dict[str, float]) -> float:
    """Expected decision-group replacements per deal: time spent in each role's stages (at most
    the horizon) over its mean tenure, plus the visits a reset sends the deal back through."""
    if not model.roles:
        return 0.0
    durations = {n: d.mean() for n, d in zip(model.stage_names, model.durations, strict=True)}
    events = 0.0
    for role in model.roles:
        time_in = sum(
            visits.get(model.stage_names[s], 0.0) * durations[model.stage_names[s]]
            for s in role.stages
        )
        changes = min(time_in, model.horizon) / role.tenure_mean_days
        events += changes * (1.0 + role.probability)  # a reset: about one visit more
    return events


def announce_duration(cost: RunCost, engine: str, jobs: int) -> None:
    """Say before a long run starts about how long it will take (a note: not with --quiet)."""
    from sim.status import note

    seconds = cost.seconds(engine, jobs)
    if seconds >= ANNOUNCE_AFTER_SECONDS and not _announced.get():
        teams = " with teams" if cost.teams and engine == "simpy" else ""
        note(
            f"this run will take about {_duration(seconds)} (an estimate, for "
            f"{counted(cost.replications, 'replication')} on the {engine} engine{teams} with "
            f"{counted(jobs, 'job')}; Ctrl-C stops it and writes nothing)"
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


def check_run_cost(
    model: Model,
    replications: int,
    allow_large: bool = False,
    rows: bool = False,
    name: str | None = None,
) -> RunCost:
    """The run's estimated cost (``rows``: with deals.csv); refused (UserError, exit 2) when it
    is over the budget, unless ``allow_large`` or ``--force``. ``name``: what the refusal calls
    the run (default: its scenario's name), e.g. a sweep's point among others.

    Raises:
        UserError: over the budget, naming what is large and what to change.
    """
    cost = estimate(model, replications, rows)
    problems = cost.problems()
    if problems and not (allow_large or _forced.get()):
        lines = "\n".join(f"  {p}" for p in problems)
        raise UserError(
            f"{name or model.scenario.name}: this run is too large to start (estimated before "
            "running):"
            f"\n{lines}\nChange the scenario or the options, or run it anyway with --force."
        )
    return cost


def check_runs_cost(
    models: list[Model],
    replications: int,
    jobs: int,
    what: str,
    fewer: str = "fewer runs",
    engine: str = "auto",
    allow_large: bool = False,
    names: list[str | None] | None = None,
) -> bool:
    """The runs one command makes (a comparison's scenarios, a sweep's values, a sensitivity
    analysis's points), checked as one: each alone (its deals, its memory) and all together
    (their visits and events against the budget); announced as one when they take long, each
    on the engine ``engine`` chooses for it. True when it announced them. ``names``: what a
    refusal of one run calls it (see :func:`check_run_cost`), one a model.

    Raises:
        UserError: one run, or all of them together, over the budget (unless forced); an
            engine that cannot run one of them.
    """
    works, seconds = _weigh_each(models, replications, jobs, engine, allow_large, names)
    return _check_whole(sum(works), sum(seconds), replications, jobs, what, fewer, allow_large)


def check_design_cost(
    models: list[Model],
    runs: int,
    replications: int,
    jobs: int,
    what: str,
    fewer: str,
    engine: str = "auto",
    allow_large: bool = False,
    names: list[str | None] | None = None,
) -> bool:
    """``runs`` runs, each bounded by the costliest of ``models`` (a design's points, bounded by
    the corners of its box), checked as :func:`check_runs_cost` checks them, from the arithmetic
    alone: before a single point of a large design is built. True when it announced them.
    ``names``: what a refusal of one of the models calls it (e.g. the corner it is).

    Raises:
        UserError: one of the models, or all the runs together, over the budget (unless forced).
    """
    works, seconds = _weigh_each(models, replications, jobs, engine, allow_large, names)
    whole, longest = runs * max(works), runs * max(seconds)
    return _check_whole(whole, longest, replications, jobs, what, fewer, allow_large)


def _weigh_each(
    models: list[Model],
    replications: int,
    jobs: int,
    engine: str,
    allow_large: bool,
    names: list[str | None] | None,
) -> tuple[list[float], list[float]]:
    """Each model's run checked alone (refused over the budget, by its name): the stage visits
    and events of each, and the seconds each takes on the engine ``engine`` chooses for it."""
    from sim.engine import choose_engine

    works, seconds = [], []
    for model, name in zip(models, names or [None] * len(models), strict=True):
        cost = check_run_cost(model, replications, allow_large, name=name)
        works.append(cost.work)
        seconds.append(cost.seconds(choose_engine(model, engine), jobs))
    return works, seconds


def _check_whole(
    work: float,
    seconds: float,
    replications: int,
    jobs: int,
    what: str,
    fewer: str,
    allow_large: bool,
) -> bool:
    """Refuse the runs of one command over the budget; say how long they take when long
    (True when it did)."""
    from sim.status import note

    each = f"{counted(replications, 'replication')} each"
    if not work <= MAX_RUN_WORK and not (allow_large or _forced.get()):
        raise UserError(
            f"{what}: too large to start (estimated before running):\n  {each}, "
            f"{_n(work)} stage visits and events in all (budget {_n(MAX_RUN_WORK)}): fewer "
            f"replications (-n) or {fewer}\nChange the options, or run it anyway with --force."
        )
    if seconds >= ANNOUNCE_AFTER_SECONDS and not _announced.get():
        note(
            f"this will take about {_duration(seconds)} ({what}, {each}, with "
            f"{counted(jobs, 'job')}: an estimate; Ctrl-C stops it and writes nothing)"
        )
        return True
    return False


@contextlib.contextmanager
def announced() -> Iterator[None]:
    """Within: a run's own duration is not said again (the command's whole was)."""
    token = _announced.set(True)
    try:
        yield
    finally:
        _announced.reset(token)


__all__ = [
    "BYTES_PER_DEAL",
    "MAX_DEALS_PER_REPLICATION",
    "MAX_MEMORY_BYTES",
    "MAX_RUN_WORK",
    "RunCost",
    "ANNOUNCE_AFTER_SECONDS",
    "FORCE_HELP",
    "PARALLEL_EFFICIENCY",
    "SECONDS_PER",
    "Rates",
    "announce_duration",
    "announced",
    "check_design_cost",
    "check_run_cost",
    "check_runs_cost",
    "force_option",
    "estimate",
    "force_large_runs",
]
