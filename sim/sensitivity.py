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

import csv
import io
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.atomic import atomic_folder
from sim.comparison import (
    LEVEL,
    METRICS,
    describe_metric,
    format_delta,
    format_interval,
    format_value,
    jsonable,
    normalize_sets,
    paired_metric,
    render_table,
    write_json,
)
from sim.errors import ScenarioError, UserError
from sim.model import Model, compile_scenario
from sim.overrides import ScenarioRef, apply_sets, format_sets, resolve_scenario, value_text
from sim.scenario import Scenario, _key_parts, _list_item, parse_override, scenario_hash

__all__ = [
    "METHODS",
    "SENSITIVITY_METRICS",
    "Factor",
    "Sensitivity",
    "parse_vary",
    "prepare_factors",
    "sensitivity",
]

METHODS = ("tornado", "sobol")
#: Metrics that can be analysed: the per-replication metrics of a comparison, and percentiles
#: of each replication's won cycles. Name -> (kind, label), as :data:`sim.comparison.METRICS`.
SENSITIVITY_METRICS: dict[str, tuple[str, str]] = {
    **{name: spec for name, spec in METRICS.items()},
    "cycle_p10": ("days", "won cycle P10 (days)"),
    "cycle_p50": ("days", "won cycle P50 (days)"),
    "cycle_p90": ("days", "won cycle P90 (days)"),
}
_CYCLE_PERCENTILES = {"cycle_p10": 10, "cycle_p50": 50, "cycle_p90": 90}

#: Sobol defaults: base samples N (a power of 2; N x (parameters + 2) points) and replications
#: per point (each point is the mean of its replications, on common random numbers).
DEFAULT_SAMPLES = 64
DEFAULT_SOBOL_REPLICATIONS = 20
#: Bootstrap resamples of SALib's analysis.
RESAMPLES = 1000
#: A Sobol interval wider than this (half-width, in index units) draws a warning.
WIDE_INTERVAL = 0.1

SENSITIVITY_JSON = "sensitivity.json"
SENSITIVITY_CSV = "sensitivity.csv"
SOBOL_POINTS_CSV = "sobol_points.csv"
TORNADO_PLOT = "tornado.png"
SOBOL_PLOT = "sobol.png"
MANIFEST = "manifest.json"


# ---------------------------------------------------------------------------------------------
# Parameters and their ranges
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Factor:
    """One parameter: a dotted ``--set`` key, its range, and the scenario's own value.

    ``integer`` factors (the scenario holds a whole number and both ends are whole) take whole
    values at the Sobol points.
    """

    key: str
    low: float
    high: float
    base: float
    integer: bool = False

    def value(self, x: float) -> float | int:
        """A sampled value as the scenario takes it (rounded for whole-number keys)."""
        return int(round(x)) if self.integer else float(x)

    def describe(self) -> dict:
        return {"key": self.key, "base": self.base, "low": self.low, "high": self.high}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_vary(text: str) -> tuple[str, float, float]:
    """``KEY=LOW..HIGH`` -> (key, low, high), the ends read as TOML numbers.

    Raises:
        UserError: no ``=`` or ``..``, ends that are not numbers, or LOW not below HIGH.
    """
    example = "e.g. --vary budget.funded_share=0.2..0.5"
    key, sep, raw = text.partition("=")
    key = key.strip()
    low_text, dots, high_text = raw.partition("..")
    if not sep or not key or not dots:
        raise UserError(f"--vary {text}: expected KEY=LOW..HIGH, {example}")
    ends = []
    for end in (low_text, high_text):
        value = parse_override(f"{key}={end.strip()}")[1] if end.strip() else None
        if not _is_number(value) or not math.isfinite(value):
            raise UserError(f"--vary {text}: {end.strip()!r} is not a number ({example})")
        ends.append(value)
    low, high = ends
    if not low < high:
        raise UserError(f"--vary {text}: LOW must be below HIGH")
    return key, low, high


def normalize_vary(
    vary: Mapping[str, Sequence[float]] | Sequence[str] | str,
) -> list[tuple[str, float, float]]:
    """Accept ``{"k": (low, high)}``, ``["k=low..high", ...]`` or one ``"k=low..high"``."""
    if isinstance(vary, str):
        return [parse_vary(vary)]
    if isinstance(vary, Mapping):
        out = []
        for key, ends in vary.items():
            low, high = ends
            out.append(parse_vary(f"{key}={value_text(low)}..{value_text(high)}"))
        return out
    return [parse_vary(text) for text in vary]


def value_at(scenario: Scenario, key: str) -> Any:
    """The scenario's value at a dotted ``--set`` key (stages and roles by name).

    Raises:
        UserError: a key that names nothing in the scenario.
    """
    node: Any = scenario.model_dump(mode="python", exclude_none=True)
    parts = _key_parts(key)
    for pos, part in enumerate(parts):
        if isinstance(node, list):
            try:
                node = _list_item(node, part, parts[pos - 1] if pos else "", key)
            except ScenarioError as exc:
                raise UserError(str(exc).replace("--set", "--vary", 1)) from None
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            where = ".".join(parts[: pos + 1])
            raise UserError(
                f"--vary {key}: scenario {scenario.name!r} has no {where} (a range varies a "
                "value the scenario has)"
            )
    return node


def prepare_factors(
    scenario: Scenario, path: Path | None, vary: list[tuple[str, float, float]], sets: Mapping
) -> list[Factor]:
    """The parameters, each checked: a number in the scenario, and both ends valid scenarios.

    Raises:
        UserError / ScenarioError: no parameter, a key twice or also in ``--set``, a key that
            is not a number, or an end that the scenario does not accept (naming the key).
    """
    if not vary:
        raise UserError("sensitivity: give at least one --vary KEY=LOW..HIGH")
    keys = [key for key, _, _ in vary]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise UserError(f"sensitivity: --vary {', '.join(twice)} given more than once")
    both = sorted(set(keys) & set(sets))
    if both:
        raise UserError(f"sensitivity: {', '.join(both)} is both varied and set with --set")
    factors = []
    for key, low, high in vary:
        base = value_at(scenario, key)
        if not _is_number(base):
            shown = "a table" if isinstance(base, dict) else repr(base)
            raise UserError(
                f"--vary {key}: the scenario's value is {shown}, not a number: vary a number "
                "(e.g. stages.need.duration.median)"
            )
        for end in (low, high):
            _point(scenario, path, {key: end})  # validated now, named as the user wrote it
        integer = isinstance(base, int) and float(low).is_integer() and float(high).is_integer()
        factors.append(Factor(key, low, high, base, integer))
    return factors


def _point(scenario: Scenario, path: Path | None, sets: Mapping[str, object]) -> Scenario:
    """The scenario with keys changed, validated; errors name the file and the keys."""
    source = str(path) if path is not None else f"scenario {scenario.name!r}"
    try:
        return apply_sets(scenario, sets)
    except ScenarioError as exc:
        text = str(exc).replace(f"scenario {scenario.name!r}", source, 1)
        raise ScenarioError(text) from None


# ---------------------------------------------------------------------------------------------
# Running points (in workers)
# ---------------------------------------------------------------------------------------------


def metric_values(model: Model, seed: int, replications: range, metric: str) -> np.ndarray:
    """One metric of each replication of one point (runs in a worker process or on a cluster).

    A replication without a value (a cycle percentile when nothing was won) gives nan.
    """
    from sim.aggregate import Aggregate
    from sim.runner import outputs_of

    aggregate = Aggregate(model, len(replications))
    percentiles = []
    for output in outputs_of(model, seed, replications, record_events=False, with_rows=False):
        aggregate.add(output.vector, output.cycles)
        if metric in _CYCLE_PERCENTILES:
            won = output.cycles["won"]
            q = _CYCLE_PERCENTILES[metric]
            percentiles.append(float(np.percentile(won, q)) if len(won) else math.nan)
    if metric in _CYCLE_PERCENTILES:
        return np.array(percentiles)
    return np.asarray(aggregate.per_replication()[metric], dtype=float)


def _tasks(models: list[Model], replications: int, jobs: int) -> list[tuple[int, range]]:
    """(point, batch) pairs: few points are split into batches to keep every worker busy,
    many points run whole (a batch of whole planning blocks is the fastest unit)."""
    from sim.engine import replications_per_plan
    from sim.runner import batches

    per_point_jobs = max(1, math.ceil(jobs / len(models)))
    return [
        (i, batch)
        for i, model in enumerate(models)
        for batch in batches(replications, per_point_jobs, replications_per_plan(model))
    ]


def evaluate_points(
    models: list[Model],
    seed: int,
    replications: int,
    metric: str,
    *,
    jobs: int = 1,
    executor: Executor | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """The metric of every replication at every point: a (points, replications) array.

    Tasks go to ``executor`` (a Dask cluster's) or, with ``jobs`` > 1, to local processes;
    ``progress`` is called with the replications done, in the order the workers finish them.
    """
    values = np.full((len(models), replications), np.nan)
    done = 0
    if executor is None and jobs <= 1:
        for i, model in enumerate(models):
            values[i] = metric_values(model, seed, range(replications), metric)
            done += replications
            if progress is not None:
                progress(done)
        return values
    own = executor is None
    pool = ProcessPoolExecutor(max_workers=jobs) if own else executor
    pending = iter(_tasks(models, replications, jobs))
    running: dict = {}
    window = 4 * max(jobs, 1)  # enough in flight to keep the workers busy, memory bounded
    try:

        def top_up() -> None:
            while len(running) < window:
                task = next(pending, None)
                if task is None:
                    return
                i, batch = task
                running[pool.submit(metric_values, models[i], seed, batch, metric)] = task

        top_up()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                i, batch = running.pop(future)
                values[i, batch.start : batch.stop] = future.result()
                done += len(batch)
                if progress is not None:
                    progress(done)
            top_up()
    finally:
        for future in running:
            future.cancel()
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    return values


# ---------------------------------------------------------------------------------------------
# The analyses
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


def sobol_problem(factors: list[Factor]) -> dict:
    """SALib's problem definition: names and bounds."""
    return {
        "num_vars": len(factors),
        "names": [f.key for f in factors],
        "bounds": [[float(f.low), float(f.high)] for f in factors],
    }


def sobol_sample(factors: list[Factor], samples: int, seed: int) -> np.ndarray:
    """SALib's Saltelli design: ``samples x (parameters + 2)`` rows, whole-number keys rounded."""
    from SALib.sample import sobol as sobol_sampling

    x = sobol_sampling.sample(
        sobol_problem(factors), samples, calc_second_order=False, scramble=True, seed=seed
    )
    for j, factor in enumerate(factors):
        if factor.integer:
            x[:, j] = np.round(x[:, j])
    return x


def sobol_indices(problem: dict, y: np.ndarray, level: float, seed: int) -> dict[str, np.ndarray]:
    """First-order and total indices with bootstrap interval half-widths (SALib's analysis).

    A metric that does not move at all has every index 0 (SALib would divide by zero).
    """
    from SALib.analyze import sobol as sobol_analysis

    d = problem["num_vars"]
    if np.ptp(y) == 0:
        zeros = np.zeros(d)
        return {"S1": zeros, "S1_conf": zeros, "ST": zeros, "ST_conf": zeros}
    found = sobol_analysis.analyze(
        problem,
        np.asarray(y, dtype=float),
        calc_second_order=False,
        num_resamples=RESAMPLES,
        conf_level=level,
        seed=seed + 1,  # SALib takes a seed of 0 as "no seed"
    )
    return {k: np.asarray(found[k], dtype=float) for k in ("S1", "S1_conf", "ST", "ST_conf")}


def _index(value: float, conf: float) -> dict[str, float]:
    return {"value": value, "ci_low": value - conf, "ci_high": value + conf, "half_width": conf}


def sobol_rows(factors: list[Factor], indices: dict[str, np.ndarray]) -> list[dict]:
    """One row per factor, largest total index first."""
    rows = [
        {
            **factor.describe(),
            "S1": _index(float(indices["S1"][j]), float(indices["S1_conf"][j])),
            "ST": _index(float(indices["ST"][j]), float(indices["ST_conf"][j])),
        }
        for j, factor in enumerate(factors)
    ]
    rows.sort(key=lambda r: -r["ST"]["value"])
    return rows


def samples_for(half_width: float, samples: int, target: float = WIDE_INTERVAL) -> int:
    """The power of 2 of samples whose intervals should be about ``target`` wide (1/sqrt(N))."""
    needed = samples * (half_width / target) ** 2
    return int(2 ** math.ceil(math.log2(max(needed, samples * 2))))


def sobol_warnings(rows: list[dict], samples: int, y: np.ndarray) -> list[str]:
    """What the reader must know before trusting the ranking."""
    out = []
    if np.ptp(y) == 0:
        out.append("the metric is the same at every point: over these ranges nothing moves it")
        return out
    widest = max(max(r["S1"]["half_width"], r["ST"]["half_width"]) for r in rows)
    if widest > WIDE_INTERVAL:
        out.append(
            f"the intervals are too wide for --samples {samples}: up to +-{widest:.2f}, so "
            f"indices closer than that are not told apart; about --samples "
            f"{samples_for(widest, samples)} would bring them to +-{WIDE_INTERVAL:g}"
        )
    return out


def _check_power_of_two(samples: int) -> None:
    if samples < 4 or samples & (samples - 1):
        below = 2 ** max(2, int(math.log2(max(samples, 1))))
        raise UserError(
            f"--samples: {samples} must be a power of 2 of at least 4 (Sobol' sequences "
            f"balance only then), e.g. {below} or {2 * below}"
        )


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
            Sobol: ``{key, base, low, high, S1, ST}`` with ``{value, ci_low, ci_high,
            half_width}``.
        base: the metric over the replications of the scenario as it is (tornado), or over the
            Sobol points (mean and spread of the points' values).
        values: the metric of every replication at every point (points x replications).
        x: the Sobol points (points x parameters); None for a tornado.
        warnings: what to know before trusting the result (intervals too wide).
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
            out["sum_S1"] = float(sum(r["S1"]["value"] for r in self.rows))
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
            writer.writerow(
                ["key", "base", "low", "high", *(f"{i}_{f}" for i in ("S1", "ST") for f in fields)]
            )
            for row in clean_for_json(self.rows):
                cells = [row[i][f] for i in ("S1", "ST") for f in fields]
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
        lines = tornado_table(self) if self.method == "tornado" else sobol_table(self)
        lines += [f"Warning: {w}" for w in self.warnings]
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
            manifest["command"] = command if command is not None else sys.argv
            write_json(tmp / MANIFEST, manifest)
        return target


def sensitivity_folder(result: Sensitivity) -> Path:
    """``results/sensitivity-<scenario>-<method>-<timestamp>``."""
    from sim.results import default_output_dir

    return default_output_dir(f"sensitivity-{result.scenario.name}-{result.method}")


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


def _value_cell(value: float) -> str:
    return value_text(value)


def _with_interval(kind: str, pair: dict) -> str:
    interval = format_interval(kind, pair["ci_low"], pair["ci_high"])
    return f"{format_delta(kind, pair['delta'])} {interval}"


def _covers_zero(pair: dict) -> bool:
    low, high = pair["ci_low"], pair["ci_high"]
    return math.isfinite(low) and math.isfinite(high) and low <= 0 <= high


def tornado_table(result: Sensitivity) -> list[str]:
    kind, level = result.kind, f"{100 * result.level:g}%"
    base = result.base
    lines = [
        f"Tornado of {result.metric_label} on {result.scenario.name}: {result.replications} "
        f"replications per point, seed {result.seed}, common random numbers",
        f"Base (the scenario as it is): {format_value(kind, base['mean'])} "
        f"{format_interval(kind, base['ci_low'], base['ci_high']).replace('+', '')}".rstrip(),
        f"Each parameter at its low and its high value, the others at the scenario's; delta = "
        f"paired difference to the base, with its {level} interval; swing = high - low.",
        "",
    ]
    rows = [["parameter", "base", "low", "delta at low", "high", "delta at high", "swing"]]
    for row in result.rows:
        swing = _with_interval(kind, row["swing"])
        if _covers_zero(row["swing"]):
            swing += "  (within the noise)"
        rows.append(
            [
                row["key"],
                _value_cell(row["base"]),
                _value_cell(row["low"]),
                _with_interval(kind, row["at_low"]),
                _value_cell(row["high"]),
                _with_interval(kind, row["at_high"]),
                swing,
            ]
        )
    lines += render_table(rows, right={1, 2, 4})
    return lines


def _index_cell(index: dict) -> str:
    return f"{index['value']:.2f} [{index['ci_low']:.2f}, {index['ci_high']:.2f}]"


def sobol_table(result: Sensitivity) -> list[str]:
    level = f"{100 * result.level:g}%"
    kind = result.kind
    lines = [
        f"Sobol indices of {result.metric_label} on {result.scenario.name}: "
        f"{len(result.values)} points (N={result.samples}), {result.replications} "
        f"replications each, seed {result.seed}, common random numbers",
        f"Over the points the metric averages {format_value(kind, result.base['mean'])} and "
        f"spreads from {format_value(kind, result.base['min'])} to "
        f"{format_value(kind, result.base['max'])}.",
        "S1: share of that spread (variance) a parameter explains alone; ST: with its "
        f"interactions; [{level} bootstrap interval].",
        "",
    ]
    rows = [["parameter", "range", "S1 (alone)", "ST (total)"]]
    for row in result.rows:
        rows.append(
            [
                row["key"],
                f"{_value_cell(row['low'])}..{_value_cell(row['high'])}",
                _index_cell(row["S1"]),
                _index_cell(row["ST"]),
            ]
        )
    lines += render_table(rows, right=set())
    total = sum(r["S1"]["value"] for r in result.rows)
    if total <= 1:
        note = f"the rest ({1 - total:.2f}) comes from parameters acting together."
    else:  # the estimates' noise, not a property of the model
        note = "above 1, which only the estimates' noise can give: take more samples."
    lines += ["", f"Sum of S1: {total:.2f}; {note}"]
    return lines


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
    plan = plan_sensitivity(scenario, vary, method, metric, replications, seed, samples, sets)
    if not 0 < level < 1:
        raise UserError(f"level: {level} must be between 0 and 1")
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

    @property
    def total_replications(self) -> int:
        return len(self.points) * self.replications


def plan_sensitivity(
    scenario: ScenarioRef,
    vary,
    method: str = "tornado",
    metric: str = "bookings",
    replications: int | None = None,
    seed: int | None = None,
    samples: int = DEFAULT_SAMPLES,
    sets=None,
) -> Plan:
    """Check the options and validate every point (so a bad range fails before any run)."""
    from sim.api import check_run_options

    if method not in METHODS:
        raise UserError(f"--method: {method!r} is not one of {', '.join(METHODS)}")
    if metric not in SENSITIVITY_METRICS:
        raise UserError(f"--metric: {metric!r} is not one of {', '.join(SENSITIVITY_METRICS)}")
    sets = normalize_sets(sets)
    base, path = resolve_scenario(scenario, sets)
    factors = prepare_factors(base, path, normalize_vary(vary), sets)
    if replications is None:
        replications = base.replications
        if method == "sobol":
            replications = min(replications, DEFAULT_SOBOL_REPLICATIONS)
    seed = base.seed if seed is None else seed
    check_run_options(replications, seed, 1)
    if method == "tornado":
        points = [base]
        for f in factors:
            points += [_point(base, path, {f.key: f.low}), _point(base, path, {f.key: f.high})]
        return Plan(
            method, metric, base, path, factors, sets, replications, seed, None, points, None
        )
    _check_power_of_two(samples)
    x = sobol_sample(factors, samples, seed)
    points = []
    for row in x:
        changes = {f.key: f.value(v) for f, v in zip(factors, row, strict=True)}
        try:
            points.append(_point(base, path, changes))
        except ScenarioError as exc:
            raise UserError(
                f"sobol: the point {format_sets(changes)} is not a valid scenario ({exc}); "
                "narrow the ranges so that every combination is valid"
            ) from None
    return Plan(method, metric, base, path, factors, sets, replications, seed, samples, points, x)


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
            warnings=sobol_warnings(rows, plan.samples, y),
        )
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
