"""Sweeps: one run per value of a parameter, on common random numbers (``dealsim sweep``).

All points use the same seed and replication count, so the change from one value to the next is
measured replication by replication (a paired difference to the first point), and the curves
are smooth rather than jittered by sampling noise.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sim.atomic import atomic_folder
from sim.comparison import (
    LEVEL,
    MAIN_METRICS,
    METRICS,
    Arm,
    check_comparable,
    describe_metric,
    format_delta,
    format_value,
    jsonable,
    money_scale,
    normalize_sets,
    paired_metric,
    refuse_shared_key,
    render_table,
    run_arms,
    write_json,
)
from sim.errors import UserError
from sim.overrides import ScenarioRef, format_sets, parse_sweep_values, resolve_scenario, value_text
from sim.stats import FEW_REPLICATIONS, few_replications_note
from sim.tables import wrap
from sim.whatif import NOT_ASSUMPTIONS

__all__ = ["Sweep", "parse_sweep_options", "prepare_sweep", "sweep", "sweep_folder"]

SWEEP_JSON = "sweep.json"
SWEEP_CSV = "sweep.csv"
SWEEP_PLOT = "sweep.png"
MANIFEST = "manifest.json"

#: What each kind of metric can be: a t interval is cut there (the true mean lies inside, so
#: cutting loses no coverage), and the table says so.


def parse_sweep_options(texts: Sequence[str]) -> tuple[str, list[object], list[str], dict]:
    """Split ``--set`` options into the swept one (the one with several values) and the rest.

    Returns:
        (parameter, values, value texts, other sets).

    Raises:
        UserError: no option with several values, or more than one.
    """
    swept: list[tuple[str, list[object], list[str]]] = []
    others: list[str] = []
    for text in texts:
        key, values, labels = parse_sweep_values(text)
        if len(values) > 1:
            swept.append((key, values, labels))
        else:
            others.append(text)
    if not swept:
        raise UserError(
            "sweep: give one --set KEY=V1,V2,... with several values "
            "(e.g. --set budget.funded_share=0.2,0.35,0.5)"
        )
    if len(swept) > 1:
        keys = [key for key, _, _ in swept]
        twice = sorted({key for key in keys if keys.count(key) > 1})
        if twice:
            raise UserError(
                f"sweep: --set {twice[0]} given twice with several values: give its values "
                f"once (--set {twice[0]}=V1,V2,...)"
            )
        raise UserError(f"sweep: only one --set may list several values (got {', '.join(keys)})")
    key, values, labels = swept[0]
    return key, values, labels, normalize_sets(others)


@dataclass
class Sweep:
    """The runs of a sweep and their statistics.

    Attributes:
        parameter: the dotted key that was swept.
        arms: one per value (``arm.result`` is its RunResult).
        values, labels: the values and how they were written.
        points: ``[{value, label, metrics: {name: {mean, se, ci_low, ci_high, n, delta,
            delta_ci_low, delta_ci_high}}, bookings: {p10, p50, p90}, stall_days}]``.
        what_if: the label of the other ``--set`` options and ``--pipeline``
            (:mod:`sim.whatif`), or None when only the swept parameter changes.
    """

    parameter: str
    arms: list[Arm]
    values: list[object]
    labels: list[str]
    sets: dict[str, object]
    replications: int
    seed: int
    level: float = LEVEL
    what_if: dict | None = None
    points: list[dict] = field(init=False)

    def __post_init__(self) -> None:
        base = self.arms[0].result.per_replication
        self.points = []
        for value, label, arm in zip(self.values, self.labels, self.arms, strict=True):
            per = arm.result.per_replication
            metrics = {}
            for name in METRICS:
                stats = describe_metric(per[name], self.level, METRICS[name][0])
                diff = paired_metric(base[name], per[name], self.level)
                stats.update(
                    delta=diff["delta"],
                    delta_ci_low=diff["ci_low"],
                    delta_ci_high=diff["ci_high"],
                )
                metrics[name] = stats
            summary = arm.result.summary
            self.points.append(
                {
                    "value": value,
                    "label": label,
                    "metrics": metrics,
                    "bookings": {k: summary["bookings"][k] for k in ("p10", "p50", "p90")},
                    "stall_days": {c: s["mean"] for c, s in summary["stall_days"].items()},
                }
            )

    @property
    def warnings(self) -> list[str]:
        """What to know before reading the intervals."""
        n = self.replications
        if n >= FEW_REPLICATIONS:
            return []
        if n < 2:
            return ["one replication per value: there is no interval, only the run's figures"]
        return [few_replications_note(n, " per value")]

    @property
    def scenario_name(self) -> str:
        return self.arms[0].scenario.name

    @property
    def currency(self) -> str:
        return self.arms[0].scenario.currency

    def to_dict(self) -> dict:
        """The content of sweep.json (deterministic for the same inputs)."""
        first = self.arms[0]
        return {
            "scenario": {
                "name": first.scenario.name,
                "path": str(first.path) if first.path is not None else None,
            },
            "parameter": self.parameter,
            "values": jsonable(self.values),
            "sets": jsonable(self.sets),
            "seed": self.seed,
            "replications": self.replications,
            "level": self.level,
            "currency": self.currency,
            "points": jsonable(self.points),
            "warnings": self.warnings,
            **({"what_if": self.what_if} if self.what_if else {}),
        }

    def to_csv(self) -> str:
        """One row per value: each metric's mean, interval and paired delta to the first."""
        from sim.aggregate import clean_for_json

        fields = ("mean", "ci_low", "ci_high", "delta", "delta_ci_low", "delta_ci_high")
        causes = list(self.points[0]["stall_days"])
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            [
                "value",
                *(f"{m}_{f}" for m in METRICS for f in fields),
                "bookings_p10",
                "bookings_p50",
                "bookings_p90",
                *(f"stall_days_{c}" for c in causes),
            ]
        )
        for point in clean_for_json(self.points):
            m = point["metrics"]
            writer.writerow(
                [
                    point["label"],
                    *(_cell(m[name][f]) for name in METRICS for f in fields),
                    *(_cell(point["bookings"][k]) for k in ("p10", "p50", "p90")),
                    *(_cell(point["stall_days"][c]) for c in causes),
                ]
            )
        return out.getvalue()

    def caption(self) -> str:
        """The figure's footer (the figure adds the what-if line under it)."""
        rough = " (too few for reliable intervals)" if self.warnings else ""
        return (
            f"Scenario {self.scenario_name} - {self.replications} replications per "
            f"value{rough}, seed {self.seed}, common random numbers"
        )

    def table(self, folder: Path | None = None) -> str:
        return sweep_table(self, folder)

    def write(
        self,
        folder: Path | str | None = None,
        *,
        force: bool = False,
        plots: bool = True,
        command: list[str] | None = None,
        unique: bool = False,
    ) -> Path:
        """Write sweep.json, sweep.csv, sweep.png and manifest.json, atomically."""
        target = Path(folder) if folder is not None else self.folder()
        # A default name is never taken over: the next free one is (unique).
        staged = atomic_folder(target, force, unique=unique or folder is None)
        with staged as tmp:
            write_json(tmp / SWEEP_JSON, self.to_dict())
            (tmp / SWEEP_CSV).write_text(self.to_csv(), encoding="utf-8")
            if plots:
                from sim.compare_plots import sweep_figure
                from sim.whatif import short_label

                sweep_figure(
                    self.scenario_name,
                    self.parameter,
                    self.points,
                    tmp / SWEEP_PLOT,
                    self.caption(),
                    self.currency,
                    self.level,
                    what_if=short_label(self.what_if),
                )
            write_json(tmp / MANIFEST, self._manifest(command))
        return staged.published

    def folder(self) -> Path:
        """The default results folder of this sweep."""
        return sweep_folder(self.arms, self.parameter, self.what_if)

    def _manifest(self, command: list[str] | None) -> dict:
        from sim.comparison import arms_manifest

        return arms_manifest(self.arms, command, "value")


def sweep_folder(arms: list[Arm], parameter: str, what_if: dict | None = None) -> Path:
    """``results/sweep-<scenario>-<parameter>[-whatif-...]-<timestamp>``."""
    from sim.results import default_output_dir
    from sim.stage_keys import name_slug
    from sim.whatif import folder_part

    name = f"sweep-{name_slug(arms[0].scenario.name)}-{_slug(parameter)}"
    part = folder_part(what_if)
    return default_output_dir(f"{name}-{part}" if part else name)


def _cell(value) -> object:
    return "" if value is None else value


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text).strip("-")


def prepare_sweep(
    scenario: ScenarioRef,
    parameter: str,
    values: Sequence[object],
    labels: Sequence[str] | None = None,
    sets: Mapping[str, object] | None = None,
) -> list[Arm]:
    """Load and validate the scenario at every value before anything runs."""
    sets = dict(sets or {})
    values = list(values)
    if len(values) < 2:
        raise UserError(f"sweep: {parameter} needs at least two values")
    if parameter in sets:
        raise UserError(f"sweep: {parameter} is both swept and set with --set")
    refuse_shared_key(parameter, f"sweep: {parameter} cannot be swept")
    if parameter.strip() in NOT_ASSUMPTIONS:  # name, description: the points would be one
        raise UserError(
            f"sweep: {parameter.strip()} is a label, not an assumption: every point would run "
            "the same scenario; sweep a value that changes the deals (e.g. --set "
            "budget.funded_share=0.2,0.35,0.5)"
        )
    labels = list(labels) if labels is not None else [value_text(v) for v in values]
    for j, value in enumerate(values):  # each value runs once: a repeat is a typo, or a waste
        twice = next((i for i in range(j) if values[i] == value), None)
        if twice is not None:
            raise UserError(
                f"sweep: {parameter} takes the value {labels[twice]} twice ({labels[twice]} and "
                f"{labels[j]}); give each value once"
            )
    arms = []
    for value, label in zip(values, labels, strict=True):
        changed, path = resolve_scenario(scenario, {**sets, parameter: value})
        arms.append(Arm(label, changed, path, {**sets, parameter: value}))
    # The period and the currency, whichever key changes them; each point named by its --set.
    named = [replace(arm, label=f"{parameter}={arm.label}") for arm in arms]
    check_comparable(named, sets_apply_to_each=False, command="sweep")
    return arms


def sweep(
    scenario: ScenarioRef,
    parameter: str,
    values: Sequence[object] | None = None,
    *,
    replications: int | None = None,
    seed: int | None = None,
    jobs: int | None = None,
    sets: Mapping[str, object] | Sequence[str] | str | None = None,
    level: float = LEVEL,
    progress: Callable[[int], None] | None = None,
    command: list[str] | None = None,
    labels: Sequence[str] | None = None,
    engine: str = "auto",
    executor=None,
) -> Sweep:
    """Run a scenario once per value of ``parameter`` on the same seed (in memory).

    Args:
        scenario: a Scenario, a bundled name or a path.
        parameter: a dotted key (``"budget.funded_share"``), or ``"KEY=V1,V2,..."`` with
            ``values`` left out.
        values: the values to try, in order; the first is the reference of the deltas.
        sets: other keys changed at every point.
        engine: ``auto``, ``simpy`` or ``vectorized`` (as ``simulate``).
        executor: where the replications run (see :func:`sim.simulate`), e.g. a Dask cluster.

    Returns:
        A Sweep: ``.points``, ``.to_dict()``, ``.to_csv()``, ``.write(dir)``.
    """
    if not 0 < level < 1:
        raise UserError(f"level: {level} must be between 0 and 1")
    from sim.whatif import what_if

    if values is None:
        parameter, values, labels = parse_sweep_values(parameter)
    sets = normalize_sets(sets)
    arms = prepare_sweep(scenario, parameter, values, labels, sets)
    replications, seed = run_arms(
        arms,
        replications=replications,
        seed=seed,
        jobs=jobs,
        progress=progress,
        command=command,
        engine=engine,
        executor=executor,
        swept=parameter,
    )
    return Sweep(
        parameter,
        arms,
        list(values),
        [arm.label for arm in arms],
        sets,
        replications,
        seed,
        level,
        what_if(sets),
    )


def _half(stats: dict) -> float | None:
    low, high = stats["ci_low"], stats["ci_high"]
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return None
    return (high - low) / 2


def _plus_minus(kind: str, stats: dict, scale=None) -> str:
    mean = stats["mean"]
    if mean is None or not math.isfinite(mean):
        return "-"
    text = format_value(kind, mean, scale)
    half = _half(stats)
    if half is None:
        return text
    if stats.get("ci_cut"):  # no longer symmetric: the interval itself
        low, high = (format_value(kind, stats[k], scale) for k in ("ci_low", "ci_high"))
        return f"{text} [{low}, {high}]"
    if kind == "share":
        return f"{text} +-{100 * half:.1f}"
    return f"{text} +-{format_value(kind, half, scale)}"


def bookings_scales(points: list[dict]):
    """How a sweep table writes money: one scale for the bookings column (means and
    half-widths), one for the paired deltas and their intervals."""
    bookings = [p["metrics"]["bookings"] for p in points]
    level = money_scale([v for b in bookings for v in (b["mean"], _half(b))])
    delta = money_scale(
        [b.get(k) for b in bookings[1:] for k in ("delta", "delta_ci_low", "delta_ci_high")]
    )
    return level, delta


def sweep_table(result: Sweep, folder: Path | None = None) -> str:
    """One row per value: main metrics as mean +- CI half-width, and the paired bookings delta."""
    level = f"{100 * result.level:g}%"
    cur = result.currency
    others = f" with {format_sets(result.sets)}" if result.sets else ""
    lines = wrap(
        f"Sweep of {result.parameter} on {result.scenario_name}{others}: "
        f"{result.replications} replications per value, seed {result.seed}, "
        f"common random numbers",
        cap=None,
    )
    lines += wrap(
        f"Mean +- half-width of its {level} confidence interval ([low, high]: the interval "
        "cut at what the metric can be, e.g. no bookings below 0); delta = paired difference "
        "to the first value",
        cap=None,
    )
    lines.append("")
    heads = [result.parameter, f"bookings ({cur})", "delta bookings", f"{level} CI"]
    heads += [METRICS[m][1] for m in MAIN_METRICS if m != "bookings"]
    rows = [heads]
    level_scale, delta_scale = bookings_scales(result.points)
    for point in result.points:
        m = point["metrics"]
        b = m["bookings"]
        delta = format_delta("money", b["delta"], delta_scale)
        ci = "-"
        if point is result.points[0]:
            delta, ci = "(reference)", ""
        elif b["delta_ci_low"] is not None and math.isfinite(b["delta_ci_low"]):
            low = format_delta("money", b["delta_ci_low"], delta_scale)
            ci = f"[{low}, {format_delta('money', b['delta_ci_high'], delta_scale)}]"
        row = [
            point["label"],
            _plus_minus("money", b, level_scale),
            delta,
            ci,
        ]
        row += [_plus_minus(METRICS[n][0], m[n]) for n in MAIN_METRICS if n != "bookings"]
        rows.append(row)

    lines += render_table(rows, right=set(range(1, len(heads))))
    lines += [line for w in result.warnings for line in wrap(f"Warning: {w}", cap=None)]
    if folder is not None:
        lines += ["", f"Results in {folder}"]
    return "\n".join(lines)
