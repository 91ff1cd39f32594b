"""Which assumption moves the forecast: tornado and Sobol sensitivity (``dealsim sensitivity``).

Each parameter is a ``--set`` key with a range (``budget.funded_share=0.2..0.5``; stages and
roles by name). Every point of the analysis is the scenario with some keys changed, run on the
same seed and replications, so all points meet the same clients, markets and dice wherever
they make the same decision (common random numbers, as in :mod:`sim.comparison`):

* ``tornado``: each parameter at its low and at its high value, the others at the scenario's.
  The change of the metric is a paired difference to the scenario as it is, replication by
  replication, with its 95% t interval (:func:`sim.comparison.paired_metric`); the *swing* is
  the paired difference high - low. Cheap (1 + 2 x parameters runs), one at a time: it does
  not see interactions.
* ``sobol``: first-order and total Sobol indices over the whole box of ranges (each parameter
  uniform on its range), with SALib's Saltelli sampling (a scrambled Sobol' sequence) and its
  analysis with bootstrap intervals. A point's value is the metric's mean over its
  replications. ``S1`` is the share of the variance of that value that the parameter explains
  alone, ``ST`` its share with all its interactions; ``ST - S1`` is what it does only together
  with others. The intervals shrink as 1/sqrt(samples): when they are too wide to rank the
  parameters a warning says how many samples would do.

The points are spread over the executor as (point, batch of replications) tasks, so a Dask
cluster (``--scheduler``) or the local processes (``-j``) run many points at once; the result
does not depend on which ran where.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.atomic import atomic_folder
from sim.comparison import (
    LEVEL,
    METRICS,
    describe_metric,
    jsonable,
    normalize_sets,
    paired_metric,
    refuse_period_key,
    refuse_shared_key,
    write_json,
)
from sim.errors import ScenarioError, UserError
from sim.factors import Factor, normalize_vary, point, prepare_factors
from sim.model import compile_scenario
from sim.overrides import ScenarioRef, check_same_as_set, format_sets, resolve_scenario
from sim.point_runs import evaluate_points
from sim.run_cost import announced, check_design_cost, check_runs_cost
from sim.scenario import Scenario, scenario_hash
from sim.sobol import (
    check_samples,
    recommended_samples,
    sobol_indices,
    sobol_problem,
    sobol_rest,
    sobol_rows,
    sobol_sample,
    sobol_warnings,
)
from sim.stats import few_replications_note

__all__ = [
    "METHODS",
    "SENSITIVITY_METRICS",
    "Plan",
    "Sensitivity",
    "plan_sensitivity",
    "run_plan",
    "sensitivity",
]

METHODS = ("tornado", "sobol")
#: Metrics that can be analysed: the per-replication metrics of a comparison, and percentiles
#: of each replication's won cycles. Name -> (kind, label), as :data:`sim.comparison.METRICS`.
SENSITIVITY_METRICS: dict[str, tuple[str, str]] = {
    **METRICS,
    "cycle_p10": ("days", "won cycle P10 (days)"),
    "cycle_p50": ("days", "won cycle P50 (days)"),
    "cycle_p90": ("days", "won cycle P90 (days)"),
}

#: Sobol defaults: base samples N (a power of 2; N x (parameters + 2) points) and replications
#: per point (each point is the mean of its replications, on common random numbers).
DEFAULT_SAMPLES = 64
DEFAULT_SOBOL_REPLICATIONS = 20

SENSITIVITY_JSON = "sensitivity.json"
SENSITIVITY_CSV = "sensitivity.csv"
SOBOL_POINTS_CSV = "sobol_points.csv"
TORNADO_PLOT = "tornado.png"
SOBOL_PLOT = "sobol.png"
MANIFEST = "manifest.json"


# ---------------------------------------------------------------------------------------------
# Tornado
# ---------------------------------------------------------------------------------------------


def tornado_rows(factors: list[Factor], values: np.ndarray, level: float) -> list[dict]:
    """One row per factor, largest swing first; ``values`` rows: base, then low and high of
    each factor in turn."""
    base = values[0]
    rows = []
    for j, factor in enumerate(factors):
        low, high = values[1 + 2 * j], values[2 + 2 * j]
        rows.append(
            {
                **factor.describe(),
                "at_low": paired_metric(base, low, level),
                "at_high": paired_metric(base, high, level),
                "swing": paired_metric(low, high, level),
            }
        )
    rows.sort(key=lambda r: -abs(r["swing"]["delta"]) if math.isfinite(r["swing"]["delta"]) else 0)
    return rows


# ---------------------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------------------


@dataclass
class Sensitivity:
    """A finished sensitivity analysis.

    Attributes:
        method: ``"tornado"`` or ``"sobol"``.
        rows: one per parameter, most influential first. Tornado: ``{key, base, low, high,
            at_low, at_high, swing}``, each of the last three a paired difference ``{a, b,
            delta, ci_low, ci_high, se, n}`` (at_low/at_high: to the base; swing: high - low).
            Sobol: ``{key, base, low, high, S1, ST, ST_minus_S1}`` with ``{value, ci_low,
            ci_high, half_width}``, or None when the metric does not vary (no indices).
        base: the metric over the replications of the scenario as it is (tornado), or over the
            Sobol points (mean and spread of the points' values).
        values: the metric of every replication at every point (points x replications).
        x: the Sobol points (points x parameters); None for a tornado.
        warnings: what to know before trusting the result (intervals too wide).
        rest: Sobol only, ``1 - sum of S1`` (the share left to interactions) with its
            interval; None when the metric does not vary.
    """

    method: str
    metric: str
    scenario: Scenario
    path: Path | None
    factors: list[Factor]
    sets: dict[str, object]
    replications: int
    seed: int
    level: float
    rows: list[dict]
    base: dict
    values: np.ndarray = field(repr=False)
    x: np.ndarray | None = field(default=None, repr=False)
    samples: int | None = None
    warnings: list[str] = field(default_factory=list)
    rest: dict | None = None
    manifest: dict = field(default_factory=dict, repr=False)

    @property
    def currency(self) -> str:
        return self.scenario.currency

    @property
    def kind(self) -> str:
        return SENSITIVITY_METRICS[self.metric][0]

    @property
    def metric_name(self) -> str:
        """The metric's label without its unit (for titles)."""
        return SENSITIVITY_METRICS[self.metric][1]

    @property
    def metric_label(self) -> str:
        kind, label = SENSITIVITY_METRICS[self.metric]
        return f"{label} ({self.currency})" if kind == "money" else label

    def to_dict(self) -> dict:
        """The content of sensitivity.json (deterministic for the same inputs)."""
        out = {
            "method": self.method,
            "scenario": {
                "name": self.scenario.name,
                "path": str(self.path) if self.path is not None else None,
                "scenario_hash": scenario_hash(self.scenario),
            },
            "metric": self.metric,
            "metric_label": self.metric_label,
            "sets": jsonable(self.sets),
            "seed": self.seed,
            "replications": self.replications,
            "level": self.level,
            "currency": self.currency,
            "base": self.base,
            "factors": self.rows,
            "warnings": self.warnings,
        }
        if self.method == "sobol":
            out["samples"] = self.samples
            out["points"] = len(self.values)
            varies = self.rest is not None  # else no indices: every one would be 0/0
            out["sum_S1"] = float(sum(r["S1"]["value"] for r in self.rows)) if varies else None
            out["one_minus_sum_S1"] = self.rest
            out["recommended_samples"] = recommended_samples(self.rows, self.rest, self.samples)
        return out

    def to_csv(self) -> str:
        """One row per parameter, most influential first."""
        from sim.aggregate import clean_for_json

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if self.method == "tornado":
            parts = ("at_low", "at_high", "swing")
            fields = ("b", "delta", "ci_low", "ci_high", "se")
            writer.writerow(
                ["key", "base", "low", "high", *(f"{p}_{f}" for p in parts for f in fields)]
            )
            for row in clean_for_json(self.rows):
                cells = [row[p][f] for p in parts for f in fields]
                writer.writerow([row["key"], row["base"], row["low"], row["high"], *cells])
        else:
            fields = ("value", "ci_low", "ci_high")
            names = ("S1", "ST", "ST_minus_S1")
            writer.writerow(
                ["key", "base", "low", "high", *(f"{i}_{f}" for i in names for f in fields)]
            )
            for row in clean_for_json(self.rows):  # empty cells: no indices (nothing varies)
                cells = [(row[i] or {}).get(f, "") for i in names for f in fields]
                writer.writerow([row["key"], row["base"], row["low"], row["high"], *cells])
        return out.getvalue()

    def points_csv(self) -> str:
        """Sobol only: every point's parameter values and its metric (mean of replications)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*(f.key for f in self.factors), f"{self.metric}_mean"])
        for x_row, value in zip(self.x, np.nanmean(self.values, axis=1), strict=True):
            cells = [f.value(v) for f, v in zip(self.factors, x_row, strict=True)]
            writer.writerow([*cells, repr(float(value))])
        return out.getvalue()

    def caption(self) -> str:
        others = f", with {format_sets(self.sets)}" if self.sets else ""
        if self.method == "tornado":
            return (
                f"Scenario {self.scenario.name}{others} - {self.replications} replications per "
                f"point, seed {self.seed}, common random numbers; whiskers: "
                f"{100 * self.level:g}% paired intervals"
            )
        return (
            f"Scenario {self.scenario.name}{others} - {len(self.values)} points "
            f"(SALib Saltelli design, N={self.samples}), {self.replications} replications "
            f"each, seed {self.seed}; whiskers: {100 * self.level:g}% bootstrap intervals"
        )

    def table(self, folder: Path | None = None) -> str:
        """The terminal table."""
        from sim.sensitivity_text import sobol_table, tornado_table

        lines = tornado_table(self) if self.method == "tornado" else sobol_table(self)
        from sim.tables import wrap

        lines += [line for w in self.warnings for line in wrap(f"Warning: {w}", cap=None)]
        if folder is not None:
            lines += ["", f"Results in {folder}"]
        return "\n".join(lines)

    def write(
        self,
        folder: Path | str | None = None,
        *,
        force: bool = False,
        plots: bool = True,
        command: list[str] | None = None,
    ) -> Path:
        """Write sensitivity.json, sensitivity.csv, the figure and manifest.json, atomically
        (a Sobol analysis also writes sobol_points.csv)."""
        target = Path(folder) if folder is not None else sensitivity_folder(self)
        with atomic_folder(target, force) as tmp:
            write_json(tmp / SENSITIVITY_JSON, self.to_dict())
            (tmp / SENSITIVITY_CSV).write_text(self.to_csv(), encoding="utf-8")
            if self.method == "sobol":
                (tmp / SOBOL_POINTS_CSV).write_text(self.points_csv(), encoding="utf-8")
            if plots:
                from sim.sensitivity_plots import sobol_figure, tornado_figure

                if self.method == "tornado":
                    tornado_figure(self, tmp / TORNADO_PLOT)
                else:
                    sobol_figure(self, tmp / SOBOL_PLOT)
            manifest = dict(self.manifest)
            if command is not None:  # else the command that ran it (set by run_plan)
                manifest["command"] = command
            write_json(tmp / MANIFEST, manifest)
        return target


def sensitivity_folder(result: Sensitivity) -> Path:
    """``results/sensitivity-<scenario>-<method>-<timestamp>``."""
    from sim.results import default_output_dir
    from sim.stage_keys import name_slug

    return default_output_dir(f"sensitivity-{name_slug(result.scenario.name)}-{result.method}")


# ---------------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------------


def sensitivity(
    scenario: ScenarioRef,
    vary: Mapping[str, Sequence[float]] | Sequence[str] | str,
    *,
    method: str = "tornado",
    metric: str = "bookings",
    replications: int | None = None,
    seed: int | None = None,
    jobs: int | None = None,
    samples: int = DEFAULT_SAMPLES,
    sets: Mapping[str, object] | Sequence[str] | str | None = None,
    level: float = LEVEL,
    progress: Callable[[int], None] | None = None,
    executor: Executor | None = None,
    command: list[str] | None = None,
) -> Sensitivity:
    """Which parameters move a metric: a tornado or Sobol indices, on common random numbers.

    Args:
        scenario: a Scenario, a bundled name or a path.
        vary: the parameters and their ranges: ``{"budget.funded_share": (0.2, 0.5)}`` or
            ``["budget.funded_share=0.2..0.5", ...]`` (keys as ``--set``).
        method: ``"tornado"`` (each parameter at its ends, paired intervals) or ``"sobol"``
            (indices over the whole box with SALib, bootstrap intervals).
        metric: one of :data:`SENSITIVITY_METRICS` (bookings, won_share, cycle_p50, ...).
        replications: per point (default: the scenario's for a tornado, at most
            :data:`DEFAULT_SOBOL_REPLICATIONS` for Sobol, whose points are many).
        samples: Sobol's base sample N, a power of 2: ``N x (parameters + 2)`` points.
        sets: other keys changed at every point.
        progress: called with the replications done over all points (of ``total_replications``).
        executor: where the points run (e.g. ``sim.cluster.connect(address)``); default local
            processes (``jobs``). Results do not depend on it.

    Returns:
        A Sensitivity: ``.rows``, ``.table()``, ``.to_dict()``, ``.write(dir)``.
    """
    if not 0 < level < 1:
        raise UserError(f"level: {level} must be between 0 and 1")
    plan = plan_sensitivity(
        scenario,
        vary,
        method,
        metric,
        replications,
        seed,
        samples,
        sets,
        jobs=jobs,
        executor=executor,
    )
    return run_plan(
        plan, level=level, jobs=jobs, progress=progress, executor=executor, command=command
    )


@dataclass
class Plan:
    """Everything checked and built before the first replication runs."""

    method: str
    metric: str
    scenario: Scenario
    path: Path | None
    factors: list[Factor]
    sets: dict[str, object]
    replications: int
    seed: int
    samples: int | None
    points: list[Scenario]
    x: np.ndarray | None
    #: The whole was announced before its points were built (a Sobol design, from its corners).
    announced: bool = False

    @property
    def total_replications(self) -> int:
        return len(self.points) * self.replications

    def point_names(self) -> list[str | None]:
        """What a refusal calls each point (None: the scenario itself, by its name)."""
        if self.method == "tornado":
            ends = [{f.key: end} for f in self.factors for end in (f.low, f.high)]
            return [None] + [f"the point where {_shown(changes)}" for changes in ends]
        return [f"the point where {_shown(_changes(self.factors, row))}" for row in self.x]


def _changes(factors: list[Factor], values) -> dict[str, float | int]:
    """The keys a point of a design changes, each to its value there."""
    return {f.key: f.value(v) for f, v in zip(factors, values, strict=True)}


def _shown(changes: dict[str, float | int]) -> str:
    """``a=2, b=0.25``: whole numbers whole (2000000, not 2e+06), others to 6 digits."""
    return ", ".join(
        f"{k}={v}" if isinstance(v, int) else f"{k}={v:.6g}" for k, v in changes.items()
    )


def plan_sensitivity(
    scenario: ScenarioRef,
    vary,
    method: str = "tornado",
    metric: str = "bookings",
    replications: int | None = None,
    seed: int | None = None,
    samples: int = DEFAULT_SAMPLES,
    sets=None,
    *,
    jobs: int | None = None,
    executor: Executor | None = None,
) -> Plan:
    """Check the options and validate every point (so a bad range fails before any run).

    A Sobol design's cost is checked first, from its corners (``jobs``, or else the workers of
    ``executor`` as :func:`run_plan` counts them: for how long it takes), so that a design too
    large to run is refused before its points are built and validated."""
    from sim.api import check_run_options, default_jobs_for

    if method not in METHODS:
        raise UserError(f"--method: {method!r} is not one of {', '.join(METHODS)}")
    if metric not in SENSITIVITY_METRICS:
        raise UserError(f"--metric: {metric!r} is not one of {', '.join(SENSITIVITY_METRICS)}")
    sets = normalize_sets(sets)
    check_same_as_set(sets, {"replications": replications, "seed": seed})
    base, path = resolve_scenario(scenario, sets)
    ranges = normalize_vary(vary)
    for key, _, _ in ranges:  # every point runs on one seed: varying it would change no run
        refuse_shared_key(key, f"sensitivity: --vary {key} cannot vary")
        refuse_period_key(key, f"sensitivity: --vary {key} cannot vary")
    factors = prepare_factors(base, path, ranges, sets)
    if replications is None:
        replications = base.replications
        if method == "sobol":
            replications = min(replications, DEFAULT_SOBOL_REPLICATIONS)
    seed = base.seed if seed is None else seed
    check_run_options(replications, seed, 1)
    if method == "tornado":
        points = [base]
        for f in factors:
            points += [point(base, path, {f.key: f.low}), point(base, path, {f.key: f.high})]
        return Plan(
            method, metric, base, path, factors, sets, replications, seed, None, points, None
        )
    check_samples(samples)
    runs = samples * (len(factors) + 2)
    jobs = default_jobs_for(executor) if jobs is None else jobs
    said = _check_design(base, path, factors, runs, replications, jobs)
    x = sobol_sample(factors, samples, seed)
    points = []
    for row in x:
        changes = _changes(factors, row)
        try:
            points.append(point(base, path, changes))
        except ScenarioError as exc:
            problems = str(exc).partition("\n")[2] or str(exc)
            raise UserError(
                "sobol: not every combination of the ranges is a valid scenario; at "
                f"{_shown(changes)}:\n"
                f"{problems}\nNarrow the ranges so that every combination is valid."
            ) from None
    return Plan(
        method, metric, base, path, factors, sets, replications, seed, samples, points, x, said
    )


#: What makes a sensitivity analysis smaller, when its points together are over the run budget.
FEWER_POINTS = "fewer points (--samples, --vary)"

#: Up to this many parameters a Sobol design's cost is bounded at every corner of its box
#: (2^k of them); beyond, at each parameter's ends and the two corners all-low and all-high.
ALL_CORNERS_UP_TO = 6


def _check_design(
    base: Scenario, path, factors: list[Factor], runs: int, replications: int, jobs: int
) -> bool:
    """The design's runs against the run budget, from the arithmetic: ``runs`` points, each
    bounded by the costliest of the box's corners (and the scenario itself), whose expected
    visits, deals and events bound those of the points inside in nearly every scenario (they
    grow or shrink with each parameter). Refuses (UserError) before the points are built, a
    corner over the budget alone by its values; True when it announced the whole."""
    import itertools

    ends = [(f.low, f.high) for f in factors]
    # Each point's values, and its name when it is not a corner (None: the corner where ...).
    if len(factors) <= ALL_CORNERS_UP_TO:
        corners = [(c, None) for c in itertools.product(*ends)]
    else:
        corners = [(tuple(e[0] for e in ends), None), (tuple(e[1] for e in ends), None)]
        at_base = [f.base for f in factors]
        for i, (f, pair) in enumerate(zip(factors, ends, strict=True)):
            for end in pair:
                name = f"the design's point where {_shown(_changes([f], [end]))} (the others "
                name += "as the scenario has them)"
                corners.append((tuple(at_base[:i] + [end] + at_base[i + 1 :]), name))
    models, names = [compile_scenario(base)], [None]
    for values, name in corners:
        changes = _changes(factors, values)
        try:
            scenario = point(base, path, changes)
        except ScenarioError:  # not a valid scenario: the points near it say so, one by one
            continue
        models.append(compile_scenario(scenario))
        names.append(name or f"the design's corner where {_shown(changes)}")
    what = f"{runs} points"
    return check_design_cost(models, runs, replications, jobs, what, FEWER_POINTS, names=names)


def run_plan(
    plan: Plan,
    *,
    level: float = LEVEL,
    jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
    executor: Executor | None = None,
    command: list[str] | None = None,
) -> Sensitivity:
    """Run every point and analyse them."""
    import time

    from sim.api import check_run_options, default_jobs_for

    jobs = default_jobs_for(executor) if jobs is None else jobs
    check_run_options(plan.replications, plan.seed, jobs)
    started = time.perf_counter()
    models = [compile_scenario(point) for point in plan.points]
    # Each point is a run of its own, and all of them one command: refused before any starts.
    with announced() if plan.announced else contextlib.nullcontext():  # said once, above
        what, names = f"{len(models)} points", plan.point_names()
        check_runs_cost(models, plan.replications, jobs, what, FEWER_POINTS, names=names)
    values = evaluate_points(
        models,
        plan.seed,
        plan.replications,
        plan.metric,
        jobs=jobs,
        executor=executor,
        progress=progress,
    )
    _check_defined(plan, values)
    common = dict(
        method=plan.method,
        metric=plan.metric,
        scenario=plan.scenario,
        path=plan.path,
        factors=plan.factors,
        sets=plan.sets,
        replications=plan.replications,
        seed=plan.seed,
        level=level,
        values=values,
    )
    if plan.method == "tornado":
        result = Sensitivity(
            **common,
            rows=tornado_rows(plan.factors, values, level),
            base=describe_metric(values[0], level),
        )
    else:
        y = np.nanmean(values, axis=1)
        indices = sobol_indices(sobol_problem(plan.factors), y, level, plan.seed)
        rows = sobol_rows(plan.factors, indices)
        result = Sensitivity(
            **common,
            rows=rows,
            base={
                "mean": float(y.mean()),
                "sd": float(y.std(ddof=1)),
                "min": float(y.min()),
                "max": float(y.max()),
            },
            x=plan.x,
            samples=plan.samples,
            warnings=sobol_warnings(rows, plan.samples, y, sobol_rest(indices)),
            rest=sobol_rest(indices),
        )
    # The same caveat as run, compare and sweep (terminal, sensitivity.json, figure), naming
    # only what a tornado or Sobol table prints: intervals, no P10-P90 or +-.
    few = few_replications_note(plan.replications, " per point", what="the intervals")
    if few:
        result.warnings.append(few)
    result.manifest = _manifest(plan, jobs, executor, time.perf_counter() - started, command)
    return result


def _check_defined(plan: Plan, values: np.ndarray) -> None:
    """Every point needs the metric in at least one replication (a cycle needs a won deal)."""
    empty = np.flatnonzero(~np.isfinite(values).any(axis=1))
    if len(empty):
        raise UserError(
            f"--metric {plan.metric}: no replication has a value at {len(empty)} of "
            f"{len(values)} points (no deal won there); choose another metric or more "
            "replications"
        )


def _manifest(plan: Plan, jobs: int, executor, wall: float, command) -> dict:
    import datetime as dt

    from sim import __version__
    from sim.cluster import describe_executor

    manifest = {
        "dealsim_version": __version__,
        "command": command if command is not None else sys.argv,
        "method": plan.method,
        "scenario_hash": scenario_hash(plan.scenario),
        "points": len(plan.points),
        "replications_per_point": plan.replications,
        "jobs": jobs,
        "wall_seconds": round(wall, 3),
        "created": dt.datetime.now().isoformat(timespec="seconds"),
    }
    if executor is not None:
        manifest["executor"] = describe_executor(executor)
    return manifest
