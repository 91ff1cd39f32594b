"""Figures of a sensitivity analysis: the tornado and the Sobol bars (PNG, matplotlib Agg).

Both answer a planner's question, "which assumption should we argue about?", so both put the
most influential parameter on top and write the ranges beside the names.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only, no screen needed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402

from sim.comparison import format_value  # noqa: E402
from sim.overrides import value_text  # noqa: E402
from sim.plain_names import plain_name  # noqa: E402
from sim.plots import SLIDE, SLIDE_PIXELS, money_formatter  # noqa: E402  (as every figure)
from sim.report import compact  # noqa: E402
from sim.sensitivity_text import index_text  # noqa: E402
from sim.sobol import index_noise, shown_share  # noqa: E402

if TYPE_CHECKING:
    from sim.sensitivity_analysis import Sensitivity

LOW_COLOR = "#2b6cb0"  # blue: the parameter at its low end
HIGH_COLOR = "#dd6b20"  # orange: at its high end
ALONE_COLOR = "#2b6cb0"
TOTAL_COLOR = "#90cdf4"
CAPTION_COLOR = "#555555"
NOTE_COLOR = "#4a5568"
WARNING_COLOR = "#c53030"


def _size(n_rows: int) -> tuple[float, float]:
    """A 16:9 slide, taller when there are many parameters to list."""
    return (SLIDE[0], max(SLIDE[1], 1.8 + 0.9 * n_rows))


def _style(ax) -> None:
    ax.grid(True, axis="x", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def _save(fig, path: Path, caption: str, warnings: list[str] = ()) -> Path:
    """Caption at the bottom, warnings (in red) above it, the axes above both."""
    lines = [caption]
    for warning in warnings:
        lines = textwrap.wrap("Warning: " + warning, 150) + lines
    inch = fig.get_figheight()
    line = 0.17 / inch  # one line of 8-point text, as a fraction of the figure's height
    for j, text in enumerate(reversed(lines)):
        color = CAPTION_COLOR if j == 0 else WARNING_COLOR
        fig.text(0.01, 0.01 + j * line, text, fontsize=8, color=color)
    fig.tight_layout(rect=(0, 0.015 + len(lines) * line, 1, 1))
    fig.savefig(path, dpi=SLIDE_PIXELS / fig.get_figwidth())  # 1920 pixels wide, as every figure
    plt.close(fig)
    return path


def _heading(ax, title: str, subtitle: str, legend: dict[str, str]) -> None:
    """Title, a line saying how to read the figure, and the legend of the bar colours."""
    subtitle = "\n".join(textwrap.wrap(subtitle, 95))
    lines = subtitle.count("\n") + 1 if subtitle else 0
    ax.set_title(title, fontsize=13, loc="left", pad=16 + 12 * lines)
    ax.text(0, 1.02, subtitle, transform=ax.transAxes, fontsize=9, color=NOTE_COLOR, va="bottom")
    handles = [Patch(color=color, label=label) for color, label in legend.items()]
    ax.legend(handles=handles, loc="lower right", frameon=False, fontsize=9)


def _axis_formatter(kind: str, currency: str):
    if kind == "money":  # the axis label names the currency: the ticks stay short
        return money_formatter()
    if kind == "share":
        return PercentFormatter(xmax=1.0, decimals=0)
    return FuncFormatter(lambda v, _pos: f"{v:g}")


def _delta_text(kind: str, delta: float) -> str:
    if not math.isfinite(delta):
        return "-"
    if kind == "share":
        return f"{100 * delta:+.1f} pts"
    if kind == "money":
        return compact(delta, 3, sign=True)
    return f"{delta:+.1f}"


def _name(row: dict, width: int = 34) -> str:
    """The parameter in plain words (wrapped if long), its key and its range, for a tick label:
    a slide is read by people who never opened the scenario file."""
    key = row["key"]
    plain = "\n".join(textwrap.wrap(plain_name(key), width))
    low, high, now = (value_text(row[k]) for k in ("low", "high", "base"))
    return f"{plain}\n{key}: {low} .. {high} (now {now})"


def tornado_figure(result: Sensitivity, path: Path) -> Path:
    """Horizontal bars from the base to the metric at each end of each parameter, the largest
    swing on top; whiskers are the paired intervals of each end's difference to the base."""
    rows = result.rows
    kind, base = result.kind, result.base["mean"]
    fig, ax = plt.subplots(figsize=_size(len(rows)))
    for i, row in enumerate(rows):
        y = len(rows) - 1 - i  # largest swing on top
        for end, color, offset in (("at_low", LOW_COLOR, 0.18), ("at_high", HIGH_COLOR, -0.18)):
            pair = row[end]
            if not math.isfinite(pair["delta"]):
                continue
            tip = base + pair["delta"]
            ax.barh(y + offset, pair["delta"], left=base, height=0.34, color=color, alpha=0.85)
            low, high = pair["ci_low"], pair["ci_high"]
            outer = tip  # where the label starts: past the whisker, on the bar's side
            if math.isfinite(low) and math.isfinite(high):
                ax.errorbar(
                    tip,
                    y + offset,
                    xerr=[[pair["delta"] - low], [high - pair["delta"]]],
                    fmt="none",
                    ecolor="#1a202c",
                    elinewidth=1,
                    capsize=3,
                )
                outer = base + (high if pair["delta"] >= 0 else low)
            value = row["low"] if end == "at_low" else row["high"]
            ax.annotate(
                f"{value_text(value)}: {_delta_text(kind, pair['delta'])}",
                (outer, y + offset),
                xytext=(6 if pair["delta"] >= 0 else -6, 0),
                textcoords="offset points",
                ha="left" if pair["delta"] >= 0 else "right",
                va="center",
                fontsize=8,
                color=color,
            )
    ax.axvline(base, color="#1a202c", lw=1)
    ax.set_yticks(range(len(rows)), [_name(r) for r in reversed(rows)], fontsize=9)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.xaxis.set_major_formatter(_axis_formatter(kind, result.currency))
    ax.set_xlabel(f"{result.metric_label}, mean per replication")
    ax.margins(x=0.22)  # room for the labels at the bar ends
    _style(ax)
    base_text = format_value(kind, base)  # as the terminal writes it (a formatter needs an axis)
    _heading(
        ax,
        f"Which assumption moves {result.metric_name} most",
        f"Each parameter at its low and its high value, the others as in the scenario (line: "
        f"{base_text}); whiskers: {100 * result.level:g}% paired intervals",
        {LOW_COLOR: "at its low value", HIGH_COLOR: "at its high value"},
    )
    return _save(fig, path, result.caption())


def sobol_figure(result: Sensitivity, path: Path) -> Path:
    """Per parameter, the first-order and total Sobol indices as bars with their bootstrap
    intervals; the largest total index on top. An index whose interval does not exclude zero
    is labelled ~0; a metric that does not vary gets no bars (every index would be 0/0)."""
    rows = result.rows
    fig, ax = plt.subplots(figsize=_size(len(rows)))
    if result.rest is None:
        return _no_variance_figure(fig, ax, result, path)
    for i, row in enumerate(rows):
        y = len(rows) - 1 - i
        for name, color, offset in (("S1", ALONE_COLOR, 0.18), ("ST", TOTAL_COLOR, -0.18)):
            index = row[name]
            ax.barh(y + offset, shown_share(index["value"]), height=0.34, color=color)
            ax.errorbar(
                index["value"],
                y + offset,
                xerr=index["half_width"],
                fmt="none",
                ecolor="#1a202c",
                elinewidth=1,
                capsize=3,
            )
            ax.annotate(
                index_text(index, index_noise(row, name)),  # as the table
                (max(index["ci_high"], index["value"]), y + offset),
                xytext=(5, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
    ax.set_yticks(range(len(rows)), [_name(r) for r in reversed(rows)], fontsize=9)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    widest = max((r[n]["ci_high"] for r in rows for n in ("S1", "ST")), default=1.0)
    lowest = min((r[n]["ci_low"] for r in rows for n in ("S1", "ST")), default=0.0)
    ax.set_xlim(min(0.0, lowest - 0.03), max(1.05, widest + 0.08))
    ax.axvline(0, color="#1a202c", lw=1)
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_xlabel(f"share of the variance of {result.metric_label} across the points")
    _style(ax)
    _heading(
        ax,
        f"What drives the spread of {result.metric_name}: Sobol indices",
        "Dark: the parameter alone (S1); light: with its interactions (ST); whiskers: "
        f"{100 * result.level:g}% bootstrap intervals",
        {ALONE_COLOR: "alone (first order, S1)", TOTAL_COLOR: "with interactions (total, ST)"},
    )
    return _save(fig, path, result.caption(), result.warnings)


def _no_variance_figure(fig, ax, result: Sensitivity, path: Path) -> Path:
    """No bars: the metric is the same at every point, so there is nothing to apportion."""
    value = format_value(result.kind, result.base["mean"])
    ax.text(
        0.5,
        0.5,
        f"{result.metric_label} is {value} at every point:\nit does not vary over the ranges "
        "given, so there are no Sobol indices",
        ha="center",
        va="center",
        fontsize=14,
        transform=ax.transAxes,
    )
    ax.set_axis_off()
    ax.set_title(f"What drives the spread of {result.metric_name}: nothing", loc="left")
    return _save(fig, path, result.caption(), result.warnings)
