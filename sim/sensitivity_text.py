"""The terminal tables of a sensitivity analysis (``dealsim sensitivity``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.comparison import format_delta, format_interval, format_value, render_table
from sim.overrides import value_text

if TYPE_CHECKING:
    from sim.sensitivity_analysis import Sensitivity

__all__ = ["sobol_table", "tornado_table"]


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
        f"Base (the scenario as it is): {format_value(kind, base['mean'])} ({level} interval "
        f"{format_value(kind, base['ci_low'])} .. {format_value(kind, base['ci_high'])})",
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
                value_text(row["base"]),
                value_text(row["low"]),
                _with_interval(kind, row["at_low"]),
                value_text(row["high"]),
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
                f"{value_text(row['low'])}..{value_text(row['high'])}",
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
