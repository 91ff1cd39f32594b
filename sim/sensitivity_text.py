"""The terminal tables of a sensitivity analysis (``dealsim sensitivity``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.comparison import format_delta, format_interval, format_value, money_scale, render_table
from sim.overrides import value_text
from sim.sobol import MIN_CLAIM_SAMPLES, index_noise, recommended_samples, shown_share
from sim.tables import wrap

if TYPE_CHECKING:
    from sim.sensitivity_analysis import Sensitivity

__all__ = [
    "index_text",
    "noise_notes",
    "row_cell",
    "same_decimals",
    "sobol_table",
    "sum_note",
    "tornado_scale",
    "tornado_table",
]


def _with_interval(kind: str, pair: dict, scale=None) -> str:
    interval = format_interval(kind, pair["ci_low"], pair["ci_high"], scale)
    return f"{format_delta(kind, pair['delta'], scale)} {interval}"


def same_decimals(values: list) -> list[str]:
    """One parameter's base, low and high with the same decimals (0.35, 0.20, 0.50)."""
    texts = [value_text(v) for v in values]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return texts
    if not all(math.isfinite(v) for v in values) or any("e" in t for t in texts):
        return texts
    decimals = max(len(t.split(".")[1]) if "." in t else 0 for t in texts)
    return [f"{v:.{decimals}f}" for v in values]


def _covers_zero(pair: dict) -> bool:
    low, high = pair["ci_low"], pair["ci_high"]
    return math.isfinite(low) and math.isfinite(high) and low <= 0 <= high


def tornado_scale(result: Sensitivity):
    """One way of writing money for the whole tornado table: every delta, swing and interval."""
    pairs = [row[k] for row in result.rows for k in ("at_low", "at_high", "swing")]
    return money_scale([p[k] for p in pairs for k in ("delta", "ci_low", "ci_high")])


def tornado_table(result: Sensitivity) -> list[str]:
    kind, level = result.kind, f"{100 * result.level:g}%"
    base = result.base
    scale = tornado_scale(result)
    base_scale = money_scale([base["mean"], base["ci_low"], base["ci_high"]])
    lines = wrap(
        f"Tornado of {result.metric_label} on {result.scenario.name}: {result.replications} "
        f"replications per point, seed {result.seed}, common random numbers",
        cap=None,
    )
    lines += wrap(
        f"Base (the scenario as it is): {format_value(kind, base['mean'], base_scale)} ({level} "
        f"interval {format_value(kind, base['ci_low'], base_scale)} .. "
        f"{format_value(kind, base['ci_high'], base_scale)})",
        cap=None,
    )
    lines += wrap(
        f"Each parameter at its low and its high value, the others at the scenario's; delta = "
        f"paired difference to the base, with its {level} interval; swing = high - low.",
        cap=None,
    )
    lines.append("")
    rows = [["parameter", "base", "low", "delta at low", "high", "delta at high", "swing"]]
    for row in result.rows:
        swing = _with_interval(kind, row["swing"], scale)
        if _covers_zero(row["swing"]):
            swing += "  (within the noise)"
        base_text, low_text, high_text = same_decimals([row["base"], row["low"], row["high"]])
        rows.append(
            [
                row["key"],
                base_text,
                low_text,
                _with_interval(kind, row["at_low"], scale),
                high_text,
                _with_interval(kind, row["at_high"], scale),
                swing,
            ]
        )
    lines += render_table(rows, right={1, 2, 4})
    return lines


#: The mark of an S1 or ST estimate that cannot be a share as it stands (outside 0-1, or an ST
#: below its S1): shown clipped to 0-1, the note under the table giving the estimate.
NOISE_MARK = "*"


def index_text(index: dict, noise: str | None = None) -> str:
    """An index without its interval: the share it can show (clipped to 0-1) and ``*`` when
    the estimate is sampling noise; ``~0`` when its interval does not exclude zero."""
    mark = NOISE_MARK if noise else ""
    if index["ci_low"] > 0:
        return f"{shown_share(index['value']):.2f}{mark}"
    return f"~0{mark}"


def _index_cell(index: dict, noise: str | None = None) -> str:
    """An index with its interval; ``~0`` when the interval does not exclude zero (noise), so a
    negative or tiny estimate is never written as a confident figure; an estimate outside 0-1
    (or an ST below its S1) shown clipped and marked ``*`` (``noise``: why)."""
    interval = f"[{index['ci_low']:.2f}, {index['ci_high']:.2f}]"
    return f"{index_text(index, noise)} {interval}"


def row_cell(row: dict, name: str) -> str:
    """The S1 or ST cell of a row, with its noise mark."""
    return _index_cell(row[name], index_noise(row, name))


def noise_notes(result: Sensitivity) -> list[str]:
    """One note per marked estimate: what it was and why it is noise, with the one advice."""
    notes = [
        f"{NOISE_MARK} {name} of {row['key']}: {index_noise(row, name)}; more --samples "
        f"({_more_samples(result)})"
        for row in result.rows
        for name in ("S1", "ST")
        if index_noise(row, name)
    ]
    if notes and len(result.rows) == 1:
        notes.append(
            "With one parameter varied, S1 = ST = 1 by definition: the estimates show only how "
            "noisy the analysis is at this sample size"
        )
    return notes


def _more_samples(result: Sensitivity) -> str:
    """The one --samples advice of the analysis (:func:`sim.sobol.recommended_samples`)."""
    return f"--samples {recommended_samples(result.rows, result.rest, result.samples)}"


def _too_few(result: Sensitivity) -> str | None:
    """Below MIN_CLAIM_SAMPLES base samples the bootstrap cannot tell interactions from noise."""
    if result.samples >= MIN_CLAIM_SAMPLES:
        return None
    return (
        f"N={result.samples} base samples are too few to tell interactions from noise; use "
        f"more samples ({_more_samples(result)})"
    )


def sum_note(result: Sensitivity) -> str:
    """What the sum of S1 says about interactions: a claim only when ``1 - sum`` is beyond its
    interval (and the samples are enough for that interval to mean it)."""
    rest = result.rest
    interval = f"[{rest['ci_low']:.2f}, {rest['ci_high']:.2f}]"
    left = f"1 - sum = {rest['value']:.2f} {interval}"
    too_few = _too_few(result)
    if too_few:
        return f"{left}; {too_few}"
    if rest["ci_low"] > 0:
        return f"the rest, {left}, comes from parameters acting together"
    if rest["ci_high"] < 0:  # the estimates' error, not a property of the model
        return (
            f"above 1 beyond its interval ({left}), which only the estimates' error can give: "
            f"use more samples ({_more_samples(result)})"
        )
    return (
        f"the share left to interactions, {left}, is not distinguishable from zero at this "
        f"sample size; use more samples ({_more_samples(result)}) to tell"
    )


def raw_sum_words(result: Sensitivity) -> str:
    """What the sum of S1 adds up when the table shows an S1 clipped: the raw estimates (the
    ones ``1 - sum`` and its interval are of), not the column as it reads; '' otherwise."""
    if all(shown_share(r["S1"]["value"]) == r["S1"]["value"] for r in result.rows):
        return ""
    return f" of the raw estimates (those marked {NOISE_MARK} before clipping)"


def together_note(result: Sensitivity) -> str:
    """Which parameters act together with others beyond the noise (``ST - S1`` above 0)."""
    too_few = _too_few(result)
    if too_few:
        return f"What each parameter does only together with others (ST - S1): {too_few}"
    found = [r for r in result.rows if r["ST_minus_S1"]["ci_low"] > 0]
    if found:
        return "Acting together with others beyond the noise (ST - S1): " + ", ".join(
            f"{r['key']} {_index_cell(r['ST_minus_S1'])}" for r in found
        )
    return (
        "No parameter's ST - S1 (what it does only together with others) is distinguishable "
        f"from zero at this sample size; use more samples ({_more_samples(result)}) "
        "to tell"
    )


def sobol_table(result: Sensitivity) -> list[str]:
    level = f"{100 * result.level:g}%"
    kind = result.kind
    scale = money_scale([result.base[k] for k in ("mean", "min", "max")])
    lines = wrap(
        f"Sobol indices of {result.metric_label} on {result.scenario.name}: "
        f"{len(result.values)} points (N={result.samples}), {result.replications} "
        f"replications each, seed {result.seed}, common random numbers",
        cap=None,
    )
    if result.rest is None:  # no variance: every index would be 0/0 (the warning says so)
        value = format_value(kind, result.base["mean"], scale)
        return lines + wrap(f"Over the points the metric is {value} at every point.", cap=None)
    lines += wrap(
        f"Over the points the metric averages {format_value(kind, result.base['mean'], scale)} "
        f"and spreads from {format_value(kind, result.base['min'], scale)} to "
        f"{format_value(kind, result.base['max'], scale)}.",
        cap=None,
    )
    lines += wrap(
        "S1: share of that spread (variance) a parameter explains alone; ST: with its "
        f"interactions; [{level} bootstrap interval]; ~0: the interval does not exclude zero "
        "(not distinguishable from zero at this sample size).",
        cap=None,
    )
    lines.append("")
    rows = [["parameter", "range", "S1 (alone)", "ST (total)"]]
    for row in result.rows:
        rows.append(
            [
                row["key"],
                f"{value_text(row['low'])}..{value_text(row['high'])}",
                row_cell(row, "S1"),
                row_cell(row, "ST"),
            ]
        )
    lines += render_table(rows, right=set(), text={0, 1})
    total = sum(r["S1"]["value"] for r in result.rows)
    notes = noise_notes(result)
    if notes:
        lines += ["", *(line for note in notes for line in wrap(f"{note}.", cap=None))]
    sum_line = f"Sum of S1{raw_sum_words(result)}: {total:.2f}; {sum_note(result)}."
    lines += ["", *wrap(sum_line, cap=None)]
    lines += wrap(f"{together_note(result)}.", cap=None)
    return lines
