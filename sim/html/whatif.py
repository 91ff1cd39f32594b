"""The reports of what-if folders: a comparison (``comparison.json``) and a sweep
(``sweep.json``).

Neither folder keeps its runs' monthly summaries, so their figures are the PNGs the command drew
(the same matplotlib code, sim.compare_plots), inlined; a folder made with ``--no-plots`` gets a
note instead. Numbers are written by the terminal's own formatters (sim.comparison, sim.sweeps).
"""

from __future__ import annotations

import math
from pathlib import Path

from sim.comparison import (
    COMPARE_PLOT,
    COMPARISON_JSON,
    MAIN_METRICS,
    METRICS,
    format_delta,
    format_interval,
    format_value,
    money_scale,
    row_scale,
)
from sim.comparison import MANIFEST as WHATIF_MANIFEST
from sim.errors import UserError
from sim.html.page import optional_json, png_figure, read_json, value_text
from sim.overrides import format_sets
from sim.overrides import value_text as set_text
from sim.sweeps import SWEEP_JSON, SWEEP_PLOT, _plus_minus, bookings_scales

#: What comparison.json and sweep.json both hold.
COMMON_KEYS = ("seed", "replications", "level", "currency")


def _level(data: dict) -> str:
    """The confidence level of every interval of the folder: '95%'."""
    return f"{100 * data['level']:g}%"


def _label(name: str, currency: str) -> str:
    kind, label = METRICS[name]
    label = label[:1].upper() + label[1:]
    return f"{label} ({currency})" if kind == "money" else label


def _clear(low, high) -> bool:
    """True when a paired interval excludes zero (the difference is more than noise)."""
    return (
        low is not None and high is not None and math.isfinite(low) and math.isfinite(high)
    ) and (low > 0 or high < 0)


def metric_rows(metrics: dict, currency: str) -> list[dict]:
    """One row per metric of a comparison: A, B, the paired delta and its interval."""
    rows = []
    for name, m in metrics.items():
        if name not in METRICS:
            continue
        kind = METRICS[name][0]
        scale = row_scale(kind, m)  # as the terminal's table writes the row
        rows.append(
            {
                "label": _label(name, currency),
                "a": format_value(kind, m["a"], scale),
                "b": format_value(kind, m["b"], scale),
                "delta": format_delta(kind, m["delta"], scale),
                "interval": format_interval(kind, m["ci_low"], m["ci_high"], scale),
                "beyond_noise": _clear(m["ci_low"], m["ci_high"]),
            }
        )
    return rows


def _range(stats: dict, scale) -> str:
    """A mean's confidence interval as values: '13.37M to 15.21M'."""
    low, high = (format_value("money", stats[k], scale) for k in ("ci_low", "ci_high"))
    return f"{low} to {high}"


def bookings_cards(entries: list[dict], scenarios: list[dict], currency: str) -> list[dict]:
    """Each scenario's mean bookings with its interval, all written with one scale: cards side
    by side with different decimals ('7.671M' next to '14.42M') read as different precision."""
    stats = [s["metrics"]["bookings"] for s in scenarios]
    scale = money_scale([s[k] for s in stats for k in ("mean", "ci_low", "ci_high")])
    return [
        {
            "key": f"scenarios.{i}.bookings",
            "label": e["label"],
            "value": b["mean"],
            "text": f"{format_value('money', b['mean'], scale)} {currency}",
            "interval": _range(b, scale),
        }
        for i, (e, b) in enumerate(zip(entries, stats, strict=True))
    ]


def _short_hash(text: str | None) -> str:
    return (text or "-")[:12]


def _scenario_of(entry: dict):
    """The scenario an entry of comparison.json ran, if its file still gives the same one."""
    from sim.overrides import resolve_scenario
    from sim.scenario import scenario_hash

    if not entry.get("path"):
        return None
    try:
        scenario, _ = resolve_scenario(Path(entry["path"]), entry.get("sets") or {})
    except UserError:
        return None
    return scenario if scenario_hash(scenario) == entry.get("scenario_hash") else None


def _flatten(data, prefix: str = "") -> dict[str, str]:
    """A scenario's data as dotted keys, stages and roles by name (as --set writes them)."""
    out: dict[str, str] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
    elif isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        for item in data:
            name = item.get("name") or item.get("role")
            rest = {k: v for k, v in item.items() if k not in ("name", "role")}
            out.update(_flatten(rest, f"{prefix}{name}."))
    else:
        out[prefix.rstrip(".")] = set_text(data)
    return out


def differences(scenarios: list) -> list[dict]:
    """The keys whose values differ between the scenarios, with each one's value."""
    flat = [
        _flatten(s.model_dump(mode="json", by_alias=True, exclude_none=True)) for s in scenarios
    ]
    keys: list[str] = []
    for f in flat:
        keys += [k for k in f if k not in keys]
    rows = []
    for key in keys:
        if key in ("name", "description"):
            continue
        values = [f.get(key, "(not set)") for f in flat]
        if len(set(values)) > 1:
            rows.append({"key": key, "cells": values})
    return rows


def scenario_entries(data: dict) -> tuple[list[dict], list | None]:
    """Each scenario's identity, and the scenarios themselves when every file still matches."""
    entries, loaded = [], []
    for entry in data["scenarios"]:
        scenario = _scenario_of(entry)
        loaded.append(scenario)
        entries.append(
            {
                "label": entry["label"],
                "name": entry["name"],
                "path": entry.get("path") or "-",
                "sets": format_sets(entry.get("sets") or {}) or "-",
                "hash": _short_hash(entry.get("scenario_hash")),
                "description": scenario.description if scenario is not None else None,
            }
        )
    return entries, loaded if all(s is not None for s in loaded) else None


def whatif_provenance(data: dict, manifest: dict, key: str) -> list[tuple[str, str]]:
    rows = [
        ("Seed", str(data["seed"])),
        ("Replications", f"{data['replications']} per scenario"),
        ("Confidence level", _level(data)),
    ]
    if data.get("what_if"):  # the change every scenario shares, as the banner says it
        rows.append(("What-if (not the base case)", str(data["what_if"]["label"])))
    if manifest:
        rows += [
            ("dealsim version", str(manifest.get("dealsim_version", "-"))),
            ("Command", value_text(manifest.get("command", "-"))),
            ("Made", str(manifest.get("created", "-"))),
        ]
        for run in manifest.get("runs") or []:
            rows.append(
                (
                    f"Run {run.get(key)}",
                    f"scenario hash {run.get('scenario_hash')}, {run.get('wall_seconds')} s "
                    f"on {_workers(run.get('jobs'))}{_events(run)}",
                )
            )
    return rows


def _events(run: dict) -> str:
    """', 9,188 SimPy events' for a run of the SimPy engine (older manifests do not say)."""
    events = run.get("events")
    return f", {events:,} SimPy events" if isinstance(events, int) else ""


def _workers(jobs) -> str:
    return "1 worker process" if jobs == 1 else f"{jobs} worker processes"


def _manifest(folder: Path) -> dict:
    return optional_json(folder / WHATIF_MANIFEST)


def _bookings_sentence(comparison: dict, currency: str, level: str) -> dict:
    """'recession books 8.957M EUR less than equipment (paired 95% interval ...)', its numbers."""
    b = comparison["metrics"]["bookings"]
    delta = b["delta"]
    if delta is None or not math.isfinite(delta):
        return {"text": "No bookings difference could be measured.", **b}
    if delta == 0:
        text = (
            f"{comparison['b']} books exactly what {comparison['a']} books, replication by "
            "replication."
        )
        return {"text": text, **b}
    word = "more" if delta > 0 else "less"
    noise = "more than the noise" if _clear(b["ci_low"], b["ci_high"]) else "within the noise"
    scale = row_scale("money", b)  # the table's bookings row: the same digits in both
    text = (
        f"{comparison['b']} books {format_value('money', abs(delta), scale)} {currency} {word} "
        f"than {comparison['a']} within the horizon (paired {level} interval of the difference "
        f"{format_interval('money', b['ci_low'], b['ci_high'], scale)} {currency}): {noise}."
    )
    return {"text": text, **b}


def figure_caption(level: str) -> str:
    """What compare_bookings.png draws (sim.compare_plots.compare_bookings), panel by panel."""
    return (
        "Left, top: each scenario's mean bookings by month. Left, bottom: its mean cumulative "
        "bookings, with the P10-P90 band of runs. Right: each later scenario's cumulative "
        f"bookings minus the first one's, the mean of the paired differences with its {level} "
        "paired interval."
    )


def read_compare(folder: Path) -> dict:
    """The template context of a comparison folder's report."""
    folder = Path(folder)
    data = read_json(folder / COMPARISON_JSON)
    _require(data, ("scenarios", "comparisons", *COMMON_KEYS), folder / COMPARISON_JSON)
    currency, level = data["currency"], _level(data)
    entries, scenarios = scenario_entries(data)
    labels = [e["label"] for e in entries]
    blocks = [
        {
            "a": c["a"],
            "b": c["b"],
            "headline": _bookings_sentence(c, currency, level),
            "rows": metric_rows(c["metrics"], currency),
        }
        for c in data["comparisons"]
    ]
    return {
        "title": "Comparison: " + " vs ".join(labels),
        "subtitle": (
            f"{data['replications']} replications each on seed {data['seed']}, common random "
            "numbers: every difference is paired, replication by replication"
        ),
        "currency": currency,
        "level": level,
        "entries": entries,
        "cards": bookings_cards(entries, data["scenarios"], currency),
        "blocks": blocks,
        "warnings": list(data.get("warnings") or []),  # older folders have none
        "differences": differences(scenarios) if scenarios else None,
        "figure": png_figure(folder / COMPARE_PLOT, "Bookings side by side", figure_caption(level)),
        "provenance": whatif_provenance(data, _manifest(folder), "label"),
        "data": data,
    }


def _require(data: dict, keys: tuple[str, ...], path: Path) -> None:
    missing = [k for k in keys if k not in data]
    if missing:
        raise UserError(f"{path}: missing {', '.join(missing)}; was it written by dealsim?")


def _pm(kind: str, stats: dict, scale=None) -> str:
    """The sweep table's 'mean +-half-width', with the sign set as on paper: '12.7M ± 1.06M'."""
    return _plus_minus(kind, stats, scale).replace(" +-", " ± ")


def sweep_rows(points: list[dict], currency: str) -> list[dict]:
    """One row per value: each main metric as mean ± half-width, and the paired bookings delta."""
    rows = []
    level, delta = bookings_scales(points)  # as the terminal's table writes money
    for i, point in enumerate(points):
        m = point["metrics"]
        b = m["bookings"]
        rows.append(
            {
                "label": point["label"],
                "cells": [
                    _pm(METRICS[name][0], m[name], level if name == "bookings" else None)
                    for name in MAIN_METRICS
                ],
                "mean": format_value("money", b["mean"], level),
                "delta": "(reference)" if i == 0 else format_delta("money", b["delta"], delta),
                "interval": ""
                if i == 0
                else format_interval("money", b["delta_ci_low"], b["delta_ci_high"], delta),
                "beyond_noise": i > 0 and _clear(b["delta_ci_low"], b["delta_ci_high"]),
                "bookings": b["mean"],
            }
        )
    return rows


def stall_table(points: list[dict]) -> dict:
    from sim.explain import CAUSE_LABELS

    causes = [
        cause
        for cause in points[0].get("stall_days") or {}
        if any(p["stall_days"].get(cause) for p in points)
    ]
    return {
        "columns": [CAUSE_LABELS.get(c, c) for c in causes],
        "rows": [(p["label"], [p["stall_days"].get(c) for c in causes]) for p in points],
    }


def sweep_cards(rows: list[dict], best: dict, parameter: str, currency: str) -> list[dict]:
    """The headline: bookings at the first value, the highest, and the last value."""
    shown = [rows[0], *([best] if best is not rows[0] and best is not rows[-1] else []), rows[-1]]
    cards = []
    for row in shown:
        label = f"{parameter} = {row['label']}"
        if row is best:
            label += " (highest bookings)"
        if row is not rows[0]:
            label += f"; paired difference to {rows[0]['label']}: {row['delta']} {row['interval']}"
        text = f"{row['mean']} {currency}"
        cards.append({"text": text, "value": row["bookings"], "label": label, "good": row is best})
    return cards


def read_sweep(folder: Path) -> dict:
    """The template context of a sweep folder's report."""
    folder = Path(folder)
    data = read_json(folder / SWEEP_JSON)
    _require(data, ("scenario", "parameter", "points", *COMMON_KEYS), folder / SWEEP_JSON)
    currency, level = data["currency"], _level(data)
    points = data["points"]
    rows = sweep_rows(points, currency)
    best = max(rows, key=lambda r: r["bookings"] if r["bookings"] is not None else -math.inf)
    others = format_sets(data.get("sets") or {})
    return {
        "title": f"Sweep of {data['parameter']}: {data['scenario']['name']}",
        "subtitle": (
            f"{len(points)} values, {data['replications']} replications each on seed "
            f"{data['seed']}, common random numbers"
            + (f"; every run also with {others}" if others else "")
        ),
        "currency": currency,
        "level": level,
        "parameter": data["parameter"],
        "scenario_name": data["scenario"]["name"],
        "scenario_path": data["scenario"].get("path") or "-",
        "heads": [_label(name, currency) for name in MAIN_METRICS],
        "rows": rows,
        "warnings": list(data.get("warnings") or []),
        "first": rows[0],
        "cards": sweep_cards(rows, best, data["parameter"], currency),
        "stalls": stall_table(points),
        "figure": png_figure(
            folder / SWEEP_PLOT,
            f"Each metric against {data['parameter']}",
            f"Each metric's change from the first value, paired on the same random numbers, with "
            f"its {level} interval (the right axis reads it as the level); bookings also with the "
            "P10-P90 range of replications; last panel: stalled days per deal by cause.",
        ),
        "provenance": whatif_provenance(data, _manifest(folder), "value"),
        "data": data,
    }
