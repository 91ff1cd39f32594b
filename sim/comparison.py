"""What-if comparisons on common random numbers (``dealsim compare``, ``sim.compare``).

Every scenario runs with the same seed and replication count. The engine draws its random
numbers per (replication, deal, purpose), so replication ``r`` of scenario B meets the same
market, the same clients and the same dice as replication ``r`` of scenario A wherever the two
scenarios make the same decision. The difference B - A is therefore computed replication by
replication (a paired difference) and its confidence interval only carries the noise the change
itself causes: typically several times narrower than two independent runs would give, and
exactly zero when a scenario is compared with itself.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim import __version__
from sim.atomic import atomic_folder
from sim.errors import UserError
from sim.overrides import (
    ScenarioRef,
    check_same_as_set,
    format_sets,
    parse_sets,
    resolve_scenario,
    value_text,
)
from sim.report import compact
from sim.scenario import Scenario, _key_parts, scenario_hash
from sim.stats import few_replications_note, mean_and_se, paired_difference
from sim.tables import Scale, render, scale_for, wrap

__all__ = [
    "LEVEL",
    "MAIN_METRICS",
    "METRICS",
    "Arm",
    "Comparison",
    "compare",
    "compare_folder",
    "check_comparable",
    "refuse_period_key",
    "describe_metric",
    "paired_metric",
    "prepare_arms",
]

#: Confidence level of every interval here.
LEVEL = 0.95
#: Per-replication metrics compared (names as in ``RunResult.per_replication``), in table order,
#: with their kind (how to print them) and their label.
METRICS: dict[str, tuple[str, str]] = {
    "bookings": ("money", "bookings"),
    "won_share": ("share", "won share"),
    "lost_share": ("share", "lost share"),
    "no_decision_share": ("share", "no-decision share"),
    "open_share": ("share", "still-open share"),
    "cycle_days_won": ("days", "won cycle (days)"),
    "n_deals": ("count", "deals"),
}
#: The scenario keys that every arm of a comparison or a sweep runs with one value of (its
#: first arm's, or the option's), and that option.
SHARED_BY_ARMS = {"seed": "--seed", "replications": "-n/--replications"}
#: The metrics that plots and short tables show.
MAIN_METRICS = ("bookings", "won_share", "lost_share", "no_decision_share", "cycle_days_won")

COMPARISON_JSON = "comparison.json"
COMPARE_PLOT = "compare_bookings.png"
MANIFEST = "manifest.json"


# ---------------------------------------------------------------------------------------------
# Statistics of per-replication metrics
# ---------------------------------------------------------------------------------------------


def _t_half_width(se: float, n: int, level: float) -> float:
    """Half width of a t interval; 0 for a zero standard error (no scipy needed then)."""
    if not math.isfinite(se) or n < 2:
        return math.nan
    if se == 0:
        return 0.0
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, n - 1)) * se


#: What a metric of each kind can be: an interval is cut there (the true mean lies inside).
BOUNDS = {"share": (0.0, 1.0), "money": (0.0, math.inf), "count": (0.0, math.inf)}
BOUNDS["days"] = BOUNDS["count"]


def describe_metric(
    values: np.ndarray, level: float = LEVEL, kind: str | None = None
) -> dict[str, float]:
    """Mean of per-replication values with its t interval; replications without a value (nan,
    e.g. no deal won) are left out and ``n`` says how many were used.

    ``kind`` (of :data:`METRICS`): the interval is cut at what such a metric can be (no
    negative bookings, no share above 1, which a t interval of few runs gives), and
    ``ci_cut`` says whether it was, so that it is written as it is, not as +- a width.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    mean, se = mean_and_se(values)
    half = _t_half_width(se, len(values), level)
    stats = {
        "mean": mean,
        "se": se,
        "ci_low": mean - half,
        "ci_high": mean + half,
        "n": len(values),
    }
    return stats if kind is None else _within_bounds(stats, kind)


def _within_bounds(stats: dict, kind: str) -> dict:
    low, high = BOUNDS.get(kind, (-math.inf, math.inf))
    cut = False
    if math.isfinite(stats["ci_low"]) and stats["ci_low"] < low:
        stats["ci_low"], cut = low, True
    if math.isfinite(stats["ci_high"]) and stats["ci_high"] > high:
        stats["ci_high"], cut = high, True
    stats["ci_cut"] = cut
    return stats


def paired_metric(a: np.ndarray, b: np.ndarray, level: float = LEVEL) -> dict[str, float]:
    """``{a, b, delta, ci_low, ci_high, se, n}``: means of A and B and the paired B - A.

    Only replications where both sides have a value are used (a replication in which no deal
    was won has no won cycle time), so ``a`` and ``b`` are the means over those same ``n``
    replications and ``delta`` is exactly ``b - a`` up to rounding.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    a, b = a[both], b[both]
    n = len(a)
    if n == 0:
        nan = math.nan
        return {"a": nan, "b": nan, "delta": nan, "ci_low": nan, "ci_high": nan, "se": nan, "n": 0}
    diff = paired_difference(a, b, level)
    if diff["se"] == 0:  # identical or shifted by a constant: a zero-width interval, exactly
        diff["ci_low"] = diff["ci_high"] = diff["delta"]
    return {
        "a": float(a.mean()),
        "b": float(b.mean()),
        "delta": diff["delta"],
        "ci_low": diff["ci_low"],
        "ci_high": diff["ci_high"],
        "se": diff["se"],
        "n": n,
    }


def compare_runs(
    a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], level: float = LEVEL
) -> dict[str, dict[str, float]]:
    """Paired differences B - A of every metric of two runs on the same seed."""
    return {name: paired_metric(a[name], b[name], level) for name in METRICS if name in a}


def paired_by_period(a, b, level: float = LEVEL) -> list[dict]:
    """Paired B - A of cumulative bookings at each month end both runs have.

    ``a`` and ``b`` are RunResults on the same seed; months are matched by their label (a
    comparison's scenarios all simulate the same months: :func:`check_comparable`).
    """
    columns_a = {p["period"]: i for i, p in enumerate(a.summary["periods"])}
    values_a = a.per_replication["cumulative_bookings"]
    values_b = b.per_replication["cumulative_bookings"]
    out = []
    for j, period in enumerate(p["period"] for p in b.summary["periods"]):
        if period in columns_a:
            paired = paired_metric(values_a[:, columns_a[period]], values_b[:, j], level)
            out.append({"period": period, **paired})
    return out


# ---------------------------------------------------------------------------------------------
# Scenarios to compare
# ---------------------------------------------------------------------------------------------


@dataclass
class Arm:
    """One scenario of a comparison (or one point of a sweep) and, once run, its result."""

    label: str
    scenario: Scenario
    path: Path | None = None
    sets: dict[str, object] = field(default_factory=dict)
    result: object | None = field(default=None, repr=False)  # a sim.api.RunResult

    def describe(self) -> dict:
        """Name, file and changes: enough to run it again."""
        return {
            "label": self.label,
            "name": self.scenario.name,
            "path": str(self.path) if self.path is not None else None,
            "sets": jsonable(self.sets),
            "scenario_hash": scenario_hash(self.scenario),
        }


def normalize_sets(sets: Mapping[str, object] | Sequence[str] | str | None) -> dict[str, object]:
    """Accept ``{"k": v}``, ``["k=v", ...]`` or ``"k=v"`` (the API is used from notebooks)."""
    if sets is None:
        return {}
    if isinstance(sets, str):
        return parse_sets([sets])
    if isinstance(sets, Mapping):
        return dict(sets)
    return parse_sets(list(sets))


def _unique(labels: list[str]) -> list[str]:
    """Suffix repeated labels with [2], [3]... so that table columns and legends differ."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} [{seen[label]}]")
    return out


def prepare_arms(
    refs: Sequence[ScenarioRef],
    sets: Mapping[str, object] | None = None,
    starts_on: dt.date | None = None,
) -> list[Arm]:
    """Load and validate every scenario before anything runs.

    One scenario with ``sets`` is compared with its changed self (labelled
    ``"equipment (shocks.rate_per_year=2)"``); with two or more, ``sets`` applies to each.
    ``starts_on``: the day every arm starts on whatever its file says (``--pipeline --as-of``).

    Raises:
        UserError: fewer than two scenarios (and no ``sets``), or any scenario error.
    """
    sets = dict(sets or {})
    refs = list(refs)
    if not refs or (len(refs) == 1 and not sets):
        raise UserError(
            "compare: give two or more scenarios, or one scenario and --set KEY=VALUE "
            "to compare it with its changed self"
        )
    if len(refs) == 1:
        for key, value in sets.items():
            refuse_shared_key(
                key, f"compare: --set {key}={value_text(value)} changes one side only"
            )
        base, path = resolve_scenario(refs[0])
        changed, _ = resolve_scenario(refs[0], sets)
        if _same_assumptions(changed, base):  # a difference of exactly 0, by design
            raise UserError(
                f"compare: --set {format_sets(sets)} changes nothing in {base.name} (it already "
                "holds that value): both sides would be the same scenario"
            )
        arms = [
            Arm(base.name, base, path),
            Arm(f"{base.name} ({format_sets(sets)})", changed, path, sets),
        ]
        check_comparable(arms, sets_apply_to_each=False, starts_on=starts_on)
        return arms
    arms = []
    for ref in refs:
        scenario, path = resolve_scenario(ref, sets)
        arms.append(Arm(scenario.name, scenario, path, dict(sets)))
    for arm, label in zip(arms, _unique([a.label for a in arms]), strict=True):
        arm.label = label
    check_comparable(arms, sets_apply_to_each=True, starts_on=starts_on)
    return arms


def _same_assumptions(changed: Scenario, base: Scenario) -> bool:
    """Whether two scenarios differ only in how the run is made or called (a new name alone
    would compare the scenario with itself)."""
    from sim.whatif import NOT_ASSUMPTIONS

    return changed.model_copy(update={k: getattr(base, k) for k in NOT_ASSUMPTIONS}) == base


def check_comparable(
    arms: list[Arm],
    sets_apply_to_each: bool,
    starts_on: dt.date | None = None,
    command: str = "compare",
) -> None:
    """Refuse scenarios whose differences would mean nothing, before anything runs.

    A paired difference is only a number when both sides count the same thing: the same
    currency (dealsim converts none, so USD minus EUR is no amount at all) and the same
    simulated period (bookings "within the horizon" of 3 years minus those of 2 years, or
    month-by-month series that start on different dates, measure the calendar, not the change).

    Raises:
        UserError: naming every scenario with its currency, or with its period.
    """
    currencies = {arm.scenario.currency for arm in arms}
    if len(currencies) > 1:
        each = ", ".join(f"{arm.label} in {arm.scenario.currency}" for arm in arms)
        raise UserError(
            f"{command}: the scenarios count money in different currencies ({each}): a "
            "difference of their bookings would subtract one currency from another, and "
            "dealsim converts none. Compare scenarios of one currency, or run each on its own "
            "with dealsim run"
        )
    periods = {(starts_on or arm.scenario.start_date, arm.scenario.horizon_days) for arm in arms}
    if len(periods) > 1:
        each = ", ".join(
            f"{arm.label}: {_days(arm.scenario.horizon_days)} days from "
            f"{starts_on or arm.scenario.start_date}"
            for arm in arms
        )
        raise UserError(
            f"{command}: the scenarios simulate different periods ({each}): their bookings, "
            "shares and month-by-month series would cover different time, so their "
            "differences would not measure the change. "
            + _period_hint(arms, sets_apply_to_each, starts_on)
        )


def _days(value: float) -> str:
    return f"{value:g}"


def _period_hint(arms: list[Arm], sets_apply_to_each: bool, starts_on: dt.date | None) -> str:
    """How to compare over one period: the --set that makes every scenario's the same (not
    start_date when --as-of sets every arm's start)."""
    if not sets_apply_to_each:  # the change itself is the period: nothing to align
        return (
            "A change of start_date or horizon_days cannot be compared; run each with dealsim run"
        )
    first = arms[0].scenario
    sets = []
    if starts_on is None and len({arm.scenario.start_date for arm in arms}) > 1:
        sets.append(f"--set start_date={first.start_date}")
    if len({arm.scenario.horizon_days for arm in arms}) > 1:
        shortest = min(arm.scenario.horizon_days for arm in arms)
        sets.append(f"--set horizon_days={_days(shortest)}")
    return f"Compare them over one period: add {' '.join(sets)} (applied to each scenario)"


def compare_folder(arms: list[Arm], what_if: dict | None = None) -> Path:
    """``results/compare-<names>[-whatif-...]-<timestamp>`` (each scenario name once)."""
    from sim.results import default_output_dir
    from sim.stage_keys import name_slug
    from sim.whatif import folder_part

    names = "-".join(dict.fromkeys(name_slug(arm.scenario.name) for arm in arms))
    part = folder_part(what_if)
    return default_output_dir(f"compare-{names}-{part}" if part else f"compare-{names}")


def run_arms(
    arms: list[Arm],
    *,
    replications: int | None,
    seed: int | None,
    jobs: int | None,
    progress: Callable[[int], None] | None = None,
    command: list[str] | None = None,
    pipeline=None,
    engine: str = "auto",
    executor=None,
    swept: str | None = None,
) -> tuple[int, int]:
    """Run every arm in memory on the same seed and replications; returns (replications, seed).

    ``pipeline`` (a ``sim.pipeline.PipelineSource``) gives every arm the same day-0 deals;
    ``executor`` (a ``concurrent.futures`` executor, e.g. a Dask cluster's) runs the batches;
    ``swept``: the key a sweep's arms are the values of (a refusal names the point by it).

    ``progress`` is called with the number of replications done over all arms.
    """
    from sim.api import simulate
    from sim.run_cost import announced

    _check_arms(arms, replications, seed, pipeline)
    first = arms[0].scenario
    replications = first.replications if replications is None else replications
    seed = first.seed if seed is None else seed
    prepared = [_with_day0_deals(arm.scenario, pipeline) for arm in arms]  # each export read once
    _check_arms_cost(arms, prepared, replications, jobs, engine, executor, swept)
    with announced():  # said for all the arms at once, above
        for i, (arm, (scenario, initial)) in enumerate(zip(arms, prepared, strict=True)):
            done_before = i * replications
            arm.result = simulate(
                scenario,
                replications=replications,
                seed=seed,
                jobs=jobs,
                write=False,
                progress=(lambda done, b=done_before: progress(b + done)) if progress else None,
                command=command,
                initial=initial,
                engine=engine,
                executor=executor,
            )
    return replications, seed


def _with_day0_deals(scenario: Scenario, pipeline):
    """(scenario, day-0 deals) as an arm runs: moved to the export's day with its open deals
    when there is a --pipeline export, else the scenario as it is (and None)."""
    if pipeline is None:
        return scenario, None
    from sim.pipeline import apply_pipeline

    return apply_pipeline(scenario, pipeline)


def _check_arms_cost(
    arms: list[Arm], prepared: list, replications: int, jobs, engine, executor, swept: str | None
) -> None:
    """All the arms' runs against the run budget, as one command: each arm alone could pass
    while six of them, or forty values of a sweep, would run for hours unannounced. An arm
    over the budget alone is named: ``arm 'b'``, or ``sweep point KEY=VALUE`` of a sweep of
    ``swept``. ``prepared``: each arm's (scenario, day-0 deals), as it runs."""
    from sim.api import default_jobs_for
    from sim.model import compile_scenario
    from sim.run_cost import check_runs_cost

    models = [compile_scenario(scenario, initial) for scenario, initial in prepared]
    jobs = default_jobs_for(executor) if jobs is None else jobs
    what, fewer = f"{len(arms)} runs on the same seed", "fewer scenarios or values"
    if swept is None:
        names = [f"arm '{arm.label}'" for arm in arms]
    else:
        names = [f"sweep point {swept}={arm.label}" for arm in arms]
    check_runs_cost(models, replications, jobs, what, fewer, engine, names=names)


def _check_arms(arms: list[Arm], replications: int | None, seed: int | None, pipeline) -> None:
    """Before any arm runs: refuse a --set of an arm that its run would not follow (the shared
    seed or replications given otherwise, or a key the --pipeline export overrides)."""
    from sim.pipeline import check_sets_with_pipeline

    for arm in arms:
        check_same_as_set(arm.sets, {"replications": replications, "seed": seed})
        if pipeline is not None:
            check_sets_with_pipeline(arm.sets, arm.scenario, pipeline)


#: The keys that set the period simulated: runs that differ in them cannot be paired.
PERIOD_KEYS = ("start_date", "horizon_days")


def refuse_period_key(key: str, what: str) -> None:
    """Refuse to vary the period simulated across paired runs (``what`` says how): their
    differences would measure the calendar, not a change (see :func:`check_comparable`)."""
    normalized = ".".join(_key_parts(str(key)))
    if normalized in PERIOD_KEYS:
        raise UserError(
            f"{what}: {normalized} sets the period simulated, and runs of different periods "
            "count bookings over different time, so their differences would measure the "
            f"calendar, not the change; run each with dealsim run --set {normalized}=..."
        )


def refuse_shared_key(key: str, what: str) -> None:
    """Refuse a --set of :data:`SHARED_BY_ARMS` that would change one arm only (``what`` says
    how): every arm runs on one seed and replication count, so its label would show a value
    that never ran."""
    normalized = ".".join(_key_parts(str(key)))
    if normalized in SHARED_BY_ARMS:
        raise UserError(
            f"{what}: every run uses the same {normalized} (common random numbers); "
            f"give {SHARED_BY_ARMS[normalized]} to set it for all"
        )


# ---------------------------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """Scenarios run on common random numbers and their paired differences to the first one.

    Attributes:
        arms: the scenarios, each with its label and RunResult (``arm.result``).
        metrics: ``{name: {a, b, delta, ci_low, ci_high, se, n}}`` for the first two scenarios.
        comparisons: one entry per scenario after the first: ``{a, b, metrics,
            cumulative_bookings}``, the last a list of ``{period, a, b, delta, ci_low, ci_high,
            se, n}``: the paired difference of cumulative bookings at each month end.
        what_if: the what-if label of ``--set`` and ``--pipeline`` (:mod:`sim.whatif`), or None.
    """

    arms: list[Arm]
    replications: int
    seed: int
    level: float = LEVEL
    what_if: dict | None = None
    comparisons: list[dict] = field(init=False)

    def __post_init__(self) -> None:
        first = self.arms[0]
        self.comparisons = [
            {
                "a": first.label,
                "b": arm.label,
                "metrics": compare_runs(
                    first.result.per_replication, arm.result.per_replication, self.level
                ),
                "cumulative_bookings": paired_by_period(first.result, arm.result, self.level),
            }
            for arm in self.arms[1:]
        ]

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        return self.comparisons[0]["metrics"]

    @property
    def labels(self) -> list[str]:
        return [arm.label for arm in self.arms]

    @property
    def results(self) -> list:
        """The RunResult of each scenario (summary, per-replication arrays)."""
        return [arm.result for arm in self.arms]

    @property
    def currency(self) -> str:
        return self.arms[0].scenario.currency

    @property
    def warnings(self) -> list[str]:
        """What to know before reading the intervals (the table, comparison.json and its report
        say the same)."""
        few = few_replications_note(self.replications, " each")
        return [few] if few else []

    def to_dict(self) -> dict:
        """The content of comparison.json (deterministic for the same inputs)."""
        scenarios = []
        for arm in self.arms:
            per = arm.result.per_replication
            entry = arm.describe()
            entry["metrics"] = {
                m: describe_metric(per[m], self.level, METRICS[m][0]) for m in METRICS if m in per
            }
            scenarios.append(entry)
        out = {
            "scenarios": scenarios,
            "seed": self.seed,
            "replications": self.replications,
            "level": self.level,
            "currency": self.currency,
            "metrics": self.metrics,
            "comparisons": self.comparisons,
            "warnings": self.warnings,
        }
        if self.what_if:
            out["what_if"] = self.what_if
        return out

    def table(self, folder: Path | None = None) -> str:
        """The terminal table: metric, A, B, delta, 95% CI (one block per scenario after A)."""
        return comparison_table(self, folder)

    def write(
        self,
        folder: Path | str | None = None,
        *,
        force: bool = False,
        plots: bool = True,
        command: list[str] | None = None,
        unique: bool = False,
    ) -> Path:
        """Write comparison.json, manifest.json and the overlay plot, atomically."""
        target = Path(folder) if folder is not None else compare_folder(self.arms, self.what_if)
        # A default name is never taken over: the next free one is (unique).
        staged = atomic_folder(target, force, unique=unique or folder is None)
        with staged as tmp:
            write_json(tmp / COMPARISON_JSON, self.to_dict())
            if plots:
                from sim.compare_plots import compare_bookings
                from sim.whatif import short_label

                compare_bookings(
                    [(arm.label, arm.result.summary) for arm in self.arms],
                    tmp / COMPARE_PLOT,
                    self.caption(),
                    differences=[entry["cumulative_bookings"] for entry in self.comparisons],
                    level=self.level,
                    what_if=short_label(self.what_if),
                )
            write_json(tmp / MANIFEST, self.manifest(command))
        return staged.published

    def caption(self) -> str:
        """The figure's footer (the figure adds the what-if line under it)."""
        return (
            f"Scenarios {', '.join(self.labels)} - {self.replications} replications each, "
            f"seed {self.seed}, common random numbers"
        )

    def manifest(self, command: list[str] | None = None) -> dict:
        """Provenance (not deterministic): versions, command, time of each run."""
        return arms_manifest(self.arms, command, "label")


def arms_manifest(arms: list[Arm], command: list[str] | None, key: str) -> dict:
    """Provenance of a comparison or a sweep: versions, command, and each run's, under ``key``."""
    return {
        "dealsim_version": __version__,
        "command": command if command is not None else sys.argv,
        "runs": [
            {
                key: arm.label,
                "scenario_hash": arm.result.manifest.get("scenario_hash"),
                "wall_seconds": arm.result.manifest.get("wall_seconds"),
                "jobs": arm.result.manifest.get("jobs"),
                "engine": arm.result.manifest.get("engine"),
                "events": arm.result.manifest.get("events"),  # SimPy events (None: vectorized)
            }
            for arm in arms
        ],
        "created": dt.datetime.now().isoformat(timespec="seconds"),
    }


def compare(
    a: ScenarioRef,
    b: ScenarioRef = None,
    *more: ScenarioRef,
    replications: int | None = None,
    seed: int | None = None,
    jobs: int | None = None,
    sets: Mapping[str, object] | Sequence[str] | str | None = None,
    level: float = LEVEL,
    progress: Callable[[int], None] | None = None,
    command: list[str] | None = None,
    engine: str = "auto",
    executor=None,
) -> Comparison:
    """Run scenarios on common random numbers and compare each with the first (in memory).

    Args:
        a, b, more: scenarios (objects, bundled names or paths). ``b`` may be left out when
            ``sets`` is given: then ``a`` is compared with its changed self.
        replications, seed: the same for every scenario (default: those of ``a``).
        jobs: worker processes (default: all cores); results do not depend on it.
        sets: dotted keys to change, ``{"budget.funded_share": 0.5}`` or ``["k=v", ...]``.
        engine: ``auto``, ``simpy`` or ``vectorized`` (as ``simulate``).
        executor: where the replications run (see :func:`sim.simulate`), e.g. a Dask cluster.

    Returns:
        A Comparison; ``.metrics["bookings"]["delta"]`` etc., ``.to_dict()``, ``.write(dir)``.
    """
    if not 0 < level < 1:
        raise UserError(f"level: {level} must be between 0 and 1")
    refs = [ref for ref in (a, b, *more) if ref is not None]
    if a is None:
        refs.insert(0, None)
    from sim.whatif import what_if

    sets = normalize_sets(sets)
    arms = prepare_arms(refs, sets)
    replications, seed = run_arms(
        arms,
        replications=replications,
        seed=seed,
        jobs=jobs,
        progress=progress,
        command=command,
        engine=engine,
        executor=executor,
    )
    return Comparison(arms, replications, seed, level, what_if(sets))


# ---------------------------------------------------------------------------------------------
# Files and text
# ---------------------------------------------------------------------------------------------


def jsonable(value):
    """Dates (TOML values) as ISO text, so that ``sets`` and sweep values go into JSON."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return value


def write_json(path: Path, data: dict) -> None:
    from sim.aggregate import clean_for_json

    text = json.dumps(clean_for_json(jsonable(data)), indent=2) + "\n"
    path.write_text(text, encoding="utf-8")


def _compact(value: float, sign: bool = False) -> str:
    """12345678 -> '12.35M' (4 significant digits), with a sign for differences."""
    if value is None or not math.isfinite(value):
        return "-"
    return compact(value, 4, sign)


def format_value(kind: str, value: float | None, scale: Scale | None = None) -> str:
    """A metric's value for the terminal (shares in %, money compact, days with a decimal);
    ``scale``: how money is written (one per table row or column, :func:`sim.tables.scale_for`)."""
    if value is None or not math.isfinite(value):
        return "-"
    if kind == "share":
        return f"{100 * value:.1f}%"
    if kind == "money":
        return scale(value) if scale is not None else _compact(value)
    return f"{value:.1f}"


def format_delta(kind: str, value: float | None, scale: Scale | None = None) -> str:
    """A difference: percentage points for shares, signed."""
    if value is None or not math.isfinite(value):
        return "-"
    if kind == "share":
        return f"{100 * value:+.2f} pp"
    if kind == "money":
        return scale(value, sign=True) if scale is not None else _compact(value, sign=True)
    return f"{value:+.1f}"


def format_interval(
    kind: str, low: float | None, high: float | None, scale: Scale | None = None
) -> str:
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "-"
    if kind == "share":
        return f"[{100 * low:+.2f}, {100 * high:+.2f}] pp"
    return f"[{format_delta(kind, low, scale)}, {format_delta(kind, high, scale)}]"


def money_scale(values, digits: int = 4) -> Scale:
    """One way of writing the money of a table row or column (4 significant digits)."""
    return scale_for(values, digits)


def row_scale(kind: str, m: dict) -> Scale | None:
    """How a comparison row writes its money (A, B, the delta and its interval alike)."""
    if kind != "money":
        return None
    return money_scale([m["a"], m["b"], m["delta"], m["ci_low"], m["ci_high"]])


def render_table(rows: list[list[str]], right: set[int], text: set[int] | None = None) -> list[str]:
    """The rows (headings first) fitted to the terminal width (see :mod:`sim.tables`)."""
    return render(rows, right=right, text={0} if text is None else text)


def comparison_table(comparison: Comparison, folder: Path | None = None) -> str:
    """One block per scenario after the first: metric, A, B, delta, CI of the delta."""
    level = f"{100 * comparison.level:g}%"
    currency = comparison.currency
    lines = wrap(
        f"Comparison on common random numbers: {comparison.replications} replications each, "
        f"seed {comparison.seed}; delta = B - A, paired, with its {level} confidence interval",
        cap=None,
    )
    for warning in comparison.warnings:
        lines += wrap(f"Rough: {warning}.", cap=None)
    first = comparison.arms[0].label
    for entry in comparison.comparisons:
        short = max(len(first), len(entry["b"])) > 16
        head_a, head_b = ("A", "B") if short else (first, entry["b"])
        lines.append("")
        if short:
            lines += [f"A = {first}", f"B = {entry['b']}"]
        rows = [["metric", head_a, head_b, "delta", f"{level} CI"]]
        for name, m in entry["metrics"].items():
            kind, label = METRICS[name]
            scale = row_scale(kind, m)
            if kind == "money":
                label = f"{label} ({currency})"
            rows.append(
                [
                    label,
                    format_value(kind, m["a"], scale),
                    format_value(kind, m["b"], scale),
                    format_delta(kind, m["delta"], scale),
                    format_interval(kind, m["ci_low"], m["ci_high"], scale),
                ]
            )
        lines += render_table(rows, right={1, 2, 3})
    lines += [""] + wrap(
        "Bookings: won amount within the horizon per replication; shares: of all deals; "
        "won cycle: mean days from creation to win, over replications with a win.",
        cap=None,
    )
    if folder is not None:
        lines += ["", f"Results in {folder}"]
    return "\n".join(lines)
