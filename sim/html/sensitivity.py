"""The report of a sensitivity folder (``sensitivity.json``, ``manifest.json``): which assumption
moves a metric most, as a tornado or as Sobol indices (``dealsim sensitivity``).

The figure is redrawn by the function that drew the folder's PNG (sim.sensitivity_plots, as
SVG), from a :class:`sim.sensitivity_analysis.Sensitivity` rebuilt from sensitivity.json: its
rows, base, warnings and the counts its caption gives. The per-replication values are not in the
folder; nothing on the page needs them. Tables use the terminal's cells (sim.sensitivity_text).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.comparison import format_delta, format_interval, format_value
from sim.errors import UserError
from sim.factors import Factor
from sim.html.page import Figure, nan_for_null, optional_json, read_json, svg_figure, value_text
from sim.html.whatif import _level, _require, _scenario_of, _short_hash
from sim.overrides import format_sets
from sim.overrides import value_text as set_text
from sim.plural import counted, verb
from sim.sensitivity_analysis import MANIFEST, SENSITIVITY_JSON, SENSITIVITY_METRICS, Sensitivity
from sim.sensitivity_text import (
    _covers_zero,
    _index_cell,
    _with_interval,
    index_text,
    raw_sum_words,
    row_cell,
    same_decimals,
    sum_note,
    tornado_scale,
)
from sim.sobol import _index, index_noise

#: What sensitivity.json holds whatever the method.
KEYS = ("method", "scenario", "metric", "seed", "replications", "level", "currency", "base")

#: Manifest entries shown under Provenance, in this order.
MANIFEST_LABELS = {
    "dealsim_version": "dealsim version",
    "command": "Command",
    "scenario_hash": "Scenario hash (SHA-256)",
    "points": "Points run",
    "replications_per_point": "Replications per point",
    "jobs": "Worker processes",
    "executor": "Where it ran",
    "wall_seconds": "Wall time (s)",
    "created": "Made",
}

HOW_TO_READ = {
    "tornado": (
        "Each parameter is set to the low and to the high end of its range, one at a time, the "
        "others as in the scenario; every point runs on the same seed and replications (common "
        "random numbers), so each change of the metric is a paired difference to the scenario as "
        "it is, replication by replication, with its {level} interval. The swing is the paired "
        "difference high - low. A tornado is cheap but sees one parameter at a time: parameters "
        "that matter only together are missed (the Sobol method sees them)."
    ),
    "sobol": (
        "Every parameter varies at once, uniform on its range, over a Saltelli design of points "
        "(SALib); a point's value is the metric's mean over its replications. S1 is the share of "
        "the spread (variance) of that value a parameter explains alone, ST its share with all "
        "its interactions; ST - S1 is what it does only together with others. Intervals: "
        "{level} bootstrap; they shrink as 1 / sqrt(samples)."
    ),
}


@dataclass(frozen=True)
class _Named:
    """The two things a Sensitivity's figure and caption read of its scenario."""

    name: str
    currency: str


def result_of(data: dict, path: Path) -> Sensitivity:
    """The Sensitivity that wrote ``data`` (sensitivity.json), with what its figure reads."""
    if data["metric"] not in SENSITIVITY_METRICS:
        raise UserError(f"{path}: metric {data['metric']!r} is not one dealsim analyses")
    rows = [
        {k: nan_for_null(v) if isinstance(v, dict) else v for k, v in row.items()}
        for row in data.get("factors") or []
    ]
    if not rows:
        raise UserError(f"{path}: no factors; was it written by dealsim sensitivity?")
    points = data.get("points") or 1 + 2 * len(rows)  # a tornado: the base, then both ends
    rest = _sobol_rest(data, rows) if data["method"] == "sobol" else None
    return Sensitivity(
        method=data["method"],
        metric=data["metric"],
        scenario=_Named(data["scenario"]["name"], data["currency"]),
        path=data["scenario"].get("path"),
        factors=[Factor(r["key"], r["low"], r["high"], r["base"]) for r in rows],
        sets=data.get("sets") or {},
        replications=data["replications"],
        seed=data["seed"],
        level=data["level"],
        rows=rows,
        base=nan_for_null(data["base"]),
        values=np.full((points, data["replications"]), np.nan),  # only their count is used
        samples=data.get("samples"),
        warnings=list(data.get("warnings") or []),
        rest=rest,
    )


def _sobol_rest(data: dict, rows: list[dict]) -> dict | None:
    """``1 - sum of S1`` with its interval; None when nothing varied (no indices). A folder
    written before these intervals were kept gets conservative ones (the half-width of a sum or
    difference is at most the sum of the half-widths), so no claim is stronger than it was."""
    if data.get("sum_S1") is None or any(r.get("S1") is None for r in rows):
        return None
    if data.get("one_minus_sum_S1") is not None:
        return nan_for_null(data["one_minus_sum_S1"])
    for r in rows:
        if r.get("ST_minus_S1") is None:
            together = r["ST"]["value"] - r["S1"]["value"]
            r["ST_minus_S1"] = _index(together, r["S1"]["half_width"] + r["ST"]["half_width"])
    return _index(1 - data["sum_S1"], sum(r["S1"]["half_width"] for r in rows))


def figure(result: Sensitivity) -> Figure:
    from sim.sensitivity_plots import sobol_figure, tornado_figure

    if result.method == "tornado":
        return svg_figure(
            lambda path: tornado_figure(result, path),
            f"Which assumption moves {result.metric_name} most",
            "Each bar runs from the scenario as it is (the vertical line) to the metric with one "
            "parameter at its low end (blue) or its high end (orange); whiskers: the paired "
            "intervals of those differences. The largest swing is on top.",
        )
    return svg_figure(
        lambda path: sobol_figure(result, path),
        f"What drives the spread of {result.metric_name}",
        "Per parameter, its share of the variance alone (S1, dark) and with its interactions "
        "(ST, light), with bootstrap intervals; the largest on top.",
    )


def tornado_rows(result: Sensitivity) -> list[dict]:
    """The terminal's tornado table as cells; ``beyond_noise`` when the swing excludes zero."""
    kind = result.kind
    scale = tornado_scale(result)  # as the terminal's table writes money
    rows = []
    for row in result.rows:
        base, low, high = same_decimals([row["base"], row["low"], row["high"]])
        rows.append(
            {
                "key": row["key"],
                "base": base,
                "low": low,
                "high": high,
                "at_low": _with_interval(kind, row["at_low"], scale),
                "at_high": _with_interval(kind, row["at_high"], scale),
                "swing": _with_interval(kind, row["swing"], scale),
                "swing_delta": row["swing"]["delta"],
                "swing_text": format_delta(kind, row["swing"]["delta"], scale),
                "swing_interval": format_interval(
                    kind, row["swing"]["ci_low"], row["swing"]["ci_high"], scale
                ),
                "beyond_noise": _beyond_noise(row["swing"]),
            }
        )
    return rows


def _beyond_noise(pair: dict) -> bool:
    """The paired interval is finite and excludes zero."""
    low, high = pair["ci_low"], pair["ci_high"]
    return math.isfinite(low) and math.isfinite(high) and not _covers_zero(pair)


def sobol_rows(result: Sensitivity) -> list[dict]:
    if result.rest is None:  # the metric did not vary: no indices to show
        return []
    return [
        {
            "key": row["key"],
            "base": set_text(row["base"]),
            "range": f"{set_text(row['low'])}..{set_text(row['high'])}",
            "s1": row_cell(row, "S1"),
            "st": row_cell(row, "ST"),
            "st_text": index_text(row["ST"], index_noise(row, "ST")),
            "st_noise": index_noise(row, "ST"),
            "st_value": row["ST"]["value"],
            "st_interval": f"[{row['ST']['ci_low']:.2f}, {row['ST']['ci_high']:.2f}]",
            "together": _index_cell(row["ST_minus_S1"]),
        }
        for row in result.rows
    ]


def _value(result: Sensitivity, value: float) -> str:
    """A value of the metric as the terminal writes it, with the currency for money."""
    text = format_value(result.kind, value)
    return f"{text} {result.currency}" if result.kind == "money" and text != "-" else text


def tornado_headline(result: Sensitivity) -> dict:
    kind, level, base = result.kind, f"{100 * result.level:g}%", result.base
    rows = tornado_rows(result)
    top = rows[0]
    quiet = [r["key"] for r in rows if not r["beyond_noise"]]
    lead = (
        f"{len(rows) - len(quiet)} of {counted(len(rows), 'parameter')} "
        f"{verb(len(rows) - len(quiet), 'moves', 'move')} {result.metric_name} beyond "
        f"the noise (the {level} interval of the swing excludes zero)"
        + (f"; within the noise: {', '.join(quiet)}." if quiet else ".")
    )
    return {
        "cards": [
            {
                "key": "base.mean",
                "value": base["mean"],
                "text": _value(result, base["mean"]),
                "label": f"{result.metric_label} with the scenario as it is ({level} interval "
                f"{format_value(kind, base['ci_low'])} .. {format_value(kind, base['ci_high'])})",
            },
            {
                "key": "factors.0.swing.delta",
                "value": top["swing_delta"],
                "text": top["swing_text"] + (f" {result.currency}" if kind == "money" else ""),
                "label": f"the largest swing: {top['key']} from {top['low']} to {top['high']} "
                f"(now {top['base']}); {level} interval {top['swing_interval']}",
            },
        ],
        "lead": lead,
    }


def sobol_headline(result: Sensitivity) -> dict:
    kind, base = result.kind, result.base
    if result.rest is None:
        return {
            "cards": [],
            "lead": f"{result.metric_label} is {_value(result, base['mean'])} at every point: "
            "it does not vary over the ranges given, so there are no Sobol indices.",
        }
    top = sobol_rows(result)[0]
    total = sum(r["S1"]["value"] for r in result.rows)
    note = sum_note(result)
    return {
        "cards": [
            {
                "key": "factors.0.ST.value",
                "value": top["st_value"],
                "text": top["st_text"],  # as the terminal's table writes it
                "label": f"the largest total index (ST): {top['key']} over {top['range']} "
                f"(interval {top['st_interval']})"
                + (f"; * {top['st_noise']}: more --samples" if top["st_noise"] else ""),
            },
            {
                "key": "base.mean",
                "value": base["mean"],
                "text": _value(result, base["mean"]),
                "label": f"{result.metric_label} on average over the {len(result.values)} points, "
                f"from {format_value(kind, base['min'])} to {format_value(kind, base['max'])}",
            },
            {
                "key": "sum_S1",
                "value": total,
                "text": f"{total:.2f}",
                "label": f"sum of the S1{raw_sum_words(result)}: {note}",
            },
        ],
        "lead": "",
    }


def scenario_section(data: dict) -> dict:
    """The base scenario's identity, and its plain words when its file still gives it."""
    from sim.html.scenario_words import describe

    entry = {**data["scenario"], "sets": data.get("sets") or {}}
    scenario = _scenario_of(entry)
    return {
        "facts": [
            ("Scenario", entry["name"]),
            ("Scenario file", entry.get("path") or "-"),
            ("Changed at every point (--set)", format_sets(entry["sets"]) or "-"),
            ("Scenario hash", _short_hash(entry.get("scenario_hash"))),
        ],
        "words": describe(scenario) if scenario is not None else None,
    }


def provenance(data: dict, manifest: dict) -> list[tuple[str, str]]:
    from sim.html.run import _executor_text

    rows = [
        ("Method", data["method"]),
        ("Metric", data.get("metric_label") or data["metric"]),
        ("Seed", str(data["seed"])),
        ("Confidence level", _level(data)),
    ]
    if data["method"] == "sobol":
        rows.append(("Base samples (N)", str(data.get("samples"))))
    for key, label in MANIFEST_LABELS.items():
        if manifest.get(key) is not None:
            text = _executor_text if key == "executor" else value_text
            rows.append((label, text(manifest[key])))
    return rows


def read_sensitivity(folder: Path) -> dict:
    """The template context of a sensitivity folder's report."""
    folder = Path(folder)
    path = folder / SENSITIVITY_JSON
    data = read_json(path)
    _require(data, KEYS, path)
    result = result_of(data, path)
    manifest = optional_json(folder / MANIFEST)
    tornado = result.method == "tornado"
    method = "Tornado" if tornado else "Sobol indices"
    return {
        "title": f"{method} of {result.metric_name}: {result.scenario.name}",
        "subtitle": result.caption(),
        "method": result.method,
        "metric_label": result.metric_label,
        "headline": tornado_headline(result) if tornado else sobol_headline(result),
        "warnings": result.warnings,
        "how_to_read": HOW_TO_READ[result.method].format(level=_level(data)),
        "figure": figure(result),
        "rows": tornado_rows(result) if tornado else sobol_rows(result),
        "level": _level(data),
        "scenario": scenario_section(data),
        "provenance": provenance(data, manifest),
        "data": data,
    }
