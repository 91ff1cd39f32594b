"""Figures of comparisons and sweeps, in the style of :mod:`sim.plots` (PNG, matplotlib Agg).

Kept apart from :mod:`sim.plots` (the figures of one run) so that the two can change
independently; both share the slide size, the title block, the footer and the money format.
The intervals drawn are the paired ones the tables print (:mod:`sim.comparison`,
:mod:`sim.sweeps`): on common random numbers a difference is measured replication by
replication, and its interval is far narrower than the two runs' spreads would suggest.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen needed
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.legend_handler import HandlerTuple  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402

from sim.plain_names import is_share, plain_name  # noqa: E402
from sim.plots import (  # noqa: E402  # every figure writes money, titles and footers alike
    _month_dates,
    _month_end_dates,
    _start,
    footer,
    heading,
    money_formatter,
    save,
    what_if_tag,
)
from sim.report import compact  # noqa: E402
from sim.tables import scale_for  # noqa: E402

#: One colour per scenario (colour-blind friendly order: blue, orange, green, red, purple...).
PALETTE = ("#2b6cb0", "#dd6b20", "#2f855a", "#c53030", "#6b46c1", "#319795", "#b7791f")
SUBTITLE_COLOR = "#4a5568"
#: 16:9 for figures of several panels: bigger than sim.plots.SLIDE, so that panels have room.
PANELS = (40 / 3, 7.5)
#: Stall causes in a few words, for the small legend of the sweep's last panel.
CAUSE_SHORT = {
    "budget_wait": "budget wait",
    "timing_wait": "timing wait",
    "dormant": "dormant",
    "budget_rework": "re-work: budget",
    "group_change_rework": "re-work: people",
    "shock_rework": "re-work: shock",
}
#: A fixed colour per stall cause, so that the same cause looks the same in every sweep.
CAUSE_COLORS = {
    "budget_wait": "#dd6b20",
    "timing_wait": "#2f855a",
    "dormant": "#718096",
    "budget_rework": "#c53030",
    "group_change_rework": "#6b46c1",
    "shock_rework": "#319795",
    "seller_wait": "#b7791f",
}


def _series(periods: list[dict], block: str, key: str) -> list[float]:
    return [(p.get(block) or {}).get(key) or 0.0 for p in periods]


def _style(ax) -> None:
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def _header(fig, title: str, subtitle: str | None, label: str | None) -> float:
    """The figure's title, its what-if line and its subtitle at the top left.

    Returns the top of the space left for the panels (figure fraction), for tight_layout."""
    fig.text(0.01, 0.985, title, fontsize=14, va="top")
    y = 0.985 - 0.045
    for text, color, weight, size in (
        (what_if_tag(label), "#c05621", "bold", 10),
        (subtitle, SUBTITLE_COLOR, "normal", 9.5),
    ):
        if text:
            fig.text(0.01, y, text, fontsize=size, color=color, fontweight=weight, va="top")
            y -= 0.032 * (text.count("\n") + 1)
    return y - 0.005


def _finish(fig, path: Path, caption: str, label: str | None, top: float) -> Path:
    bottom = footer(fig, caption, label)
    fig.tight_layout(rect=(0, bottom, 1, top))
    save(fig, path)
    return path


def _signed_money(value: float, _pos=None) -> str:
    """A difference for a label or a tick: '+1.2M' ('0' without a sign)."""
    return compact(value, sign=value != 0)


# ---------------------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------------------


def difference_series(summary: dict, differences: list[dict]) -> dict[str, list]:
    """What the difference panel draws for one scenario against the first: per month end, the
    paired mean difference of cumulative bookings and its interval, from day 0 (exactly 0).

    ``differences`` is the ``cumulative_bookings`` list of a comparison entry
    (:func:`sim.comparison.paired_by_period`); ``summary`` is the first scenario's, for dates.
    """
    periods = [p["period"] for p in summary["periods"]]
    ends = dict(zip(periods, _month_end_dates(summary), strict=True))
    rows = [d for d in differences if d["period"] in ends]
    return {
        "dates": [_start(summary)] + [ends[d["period"]] for d in rows],
        "delta": [0.0] + [d["delta"] for d in rows],
        "ci_low": [0.0] + [d["ci_low"] for d in rows],
        "ci_high": [0.0] + [d["ci_high"] for d in rows],
    }


def compare_bookings(
    runs: list[tuple[str, dict]],
    path: Path,
    caption: str,
    *,
    differences: list[list[dict]],
    level: float = 0.95,
    what_if: str | None = None,
) -> Path:
    """Bookings of scenarios run on common random numbers, and what each change is worth.

    Left: each scenario's mean bookings by month (top), and its cumulative bookings, mean and
    P10-P90 of runs (bottom). Right: each later scenario's cumulative bookings minus the first
    one's, the paired mean difference with its paired interval (``differences``, one list per
    later scenario, as :func:`sim.comparison.paired_by_period` gives), month by month; at the
    horizon it is the bookings line of the comparison table.
    """
    currency = runs[0][1]["currency"]
    fig = plt.figure(figsize=PANELS)
    grid = fig.add_gridspec(2, 2, width_ratios=(1, 1.05))
    monthly = fig.add_subplot(grid[0, 0])
    cumulative = fig.add_subplot(grid[1, 0], sharex=monthly)
    diff = fig.add_subplot(grid[:, 1], sharex=monthly)
    handles = []
    for i, (label, summary) in enumerate(runs):
        color = PALETTE[i % len(PALETTE)]
        periods = summary["periods"]
        monthly.step(
            _month_dates(periods), _series(periods, "bookings", "mean"), where="mid", color=color
        )
        ends = [_start(summary), *_month_end_dates(summary)]
        low, high = (_series(periods, "cumulative_bookings", k) for k in ("p10", "p90"))
        cumulative.fill_between(ends, [0.0, *low], [0.0, *high], color=color, alpha=0.15, lw=0)
        mean = [0.0, *_series(periods, "cumulative_bookings", "mean")]
        cumulative.plot(ends, mean, color=color, lw=2)
        band = Patch(color=color, alpha=0.15, lw=0)
        handles.append(((band, plt.Line2D([], [], color=color, lw=2)), label))
    monthly.set_title("Bookings by month: mean over runs", fontsize=11, loc="left")
    monthly.set_ylabel(f"Won per month ({currency})")
    # short enough to end inside its panel: tight_layout leaves the gap between the columns
    # for the tick labels, and a longer title ran into the right panel's "Difference" label
    cumulative.set_title("Cumulative bookings: mean and P10-P90 of runs", fontsize=11, loc="left")
    cumulative.set_ylabel(f"Won since the start ({currency})")
    for ax in (monthly, cumulative):
        ax.yaxis.set_major_formatter(money_formatter(currency))
        ax.set_ylim(bottom=0)
        _style(ax)
    monthly.legend(
        [h for h, _ in handles],
        [label for _, label in handles],
        handler_map={tuple: HandlerTuple(ndivide=1)},
        loc="upper left",
        frameon=False,
        fontsize=9,
    )
    _difference_panel(diff, runs, differences, currency, level)
    _panel_dates(diff, runs)
    plt.setp(monthly.get_xticklabels(), visible=False)
    names = " vs ".join(label for label, _ in runs)
    title = heading("Bookings", names, what_if)
    subtitle = (
        "Every scenario on the same seed and random numbers (common random numbers): "
        "the differences are paired, replication by replication"
    )
    top = _header(fig, title, subtitle, what_if)
    return _finish(fig, path, caption, what_if, top)


def _panel_dates(ax, runs) -> None:
    """Date ticks for half-width panels (shared by all): few, and each year written once."""
    first = min(_start(summary) for _, summary in runs)
    last = max(_month_end_dates(summary)[-1] for _, summary in runs)
    locator = mdates.AutoDateLocator(minticks=4, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlim(first, last + dt.timedelta(days=1))


def end_label(delta: float, low: float, high: float) -> str:
    """The horizon's difference and its interval, '+9.6M\n[+8.3M, +10.9M]': one scale for the
    three, so that they have the same decimals (each its own gave '+9.6M [+8.33M, +10.9M]')."""
    scale = scale_for([delta, low, high])
    return f"{scale(delta, sign=True)}\n[{scale(low, sign=True)}, {scale(high, sign=True)}]"


def _difference_panel(ax, runs, differences, currency: str, level: float) -> None:
    """Cumulative bookings of each later scenario minus the first: paired mean and interval."""
    base_label, base = runs[0]
    for i, ((label, _), rows) in enumerate(zip(runs[1:], differences, strict=True), start=1):
        color = PALETTE[i % len(PALETTE)]
        data = difference_series(base, rows)
        ax.fill_between(
            data["dates"],
            data["ci_low"],
            data["ci_high"],
            color=color,
            alpha=0.25,
            lw=0,
            label=f"{label}: {100 * level:g}% interval (paired)",
        )
        ax.plot(data["dates"], data["delta"], color=color, lw=2.2, label=f"{label}: mean")
        if len(data["dates"]) > 1:
            ax.annotate(
                end_label(data["delta"][-1], data["ci_low"][-1], data["ci_high"][-1]),
                (data["dates"][-1], data["delta"][-1]),
                xytext=(5, 0),
                textcoords="offset points",
                fontsize=9,
                color=color,
                fontweight="bold",
                va="center",
            )
    ax.axhline(0, color="#1a202c", lw=1)
    ax.set_title(
        f"Difference in cumulative bookings, minus {base_label}", fontsize=11, loc="left", pad=20
    )
    # Every scenario simulates the same months (sim.comparison.check_comparable), so the last
    # point is the horizon's total.
    ax.text(
        0,
        1.01,
        f"Line: mean of the paired differences; band: its {100 * level:g}% interval; "
        "at the end: the horizon's total, as in the table",
        transform=ax.transAxes,
        fontsize=8.5,
        color=SUBTITLE_COLOR,
        va="bottom",
    )
    ax.set_ylabel(f"Difference ({currency})")
    ax.yaxis.set_major_formatter(FuncFormatter(_signed_money))
    ax.margins(x=0.02)
    legend = ax.legend(loc="upper left", frameon=False, fontsize=8.5)
    _legend_strip(ax, len(legend.get_texts()))
    _style(ax)


#: Height of one legend row of the difference panel, and the strip's padding, in fractions of
#: the panel's height (8.5-point text in a panel about 5 inches tall).
LEGEND_ROW = 0.045
LEGEND_PAD = 0.03


def _legend_strip(ax, rows: int) -> None:
    """Raise the top of the y axis so that the legend (upper left) has a strip of its own.

    The lines, bands and the 0 line all lie at or below the data's highest point (every
    difference starts at 0), so a strip above it is empty whatever the sign: a fixed corner put
    the legend on the 0 line and the mean when bookings fell, and "best" finds no free corner
    when the band fills the panel.
    """
    low, high = ax.dataLim.y0, ax.dataLim.y1
    span = (high - low) or max(abs(high), 1.0)
    margin = 0.05 * span  # matplotlib's own default margin, kept below and above the data
    strip = min(0.5, LEGEND_PAD + LEGEND_ROW * rows)  # of the panel's height
    top = high + margin + (span + 2 * margin) * strip / (1 - strip)
    ax.set_ylim(low - margin, top)


# ---------------------------------------------------------------------------------------------
# sweep
# ---------------------------------------------------------------------------------------------

#: Panels of the sweep figure: metric, title, kind.
SWEEP_PANELS = (
    ("bookings", "Bookings within the horizon", "money"),
    ("won_share", "Won share of all deals", "share"),
    ("lost_share", "Lost share of all deals", "share"),
    ("no_decision_share", "No-decision share of all deals", "share"),
    ("cycle_days_won", "Won cycle time (days)", "days"),
)


def sweep_panel(points: list[dict], metric: str) -> dict[str, list[float]]:
    """What a sweep panel draws: each value's paired change from the first value, with the
    paired interval the sweep table prints, and the means (the level) at each value."""
    stats = [p["metrics"][metric] for p in points]
    return {
        "delta": [_nan(s["delta"]) for s in stats],
        "ci_low": [_nan(s["delta_ci_low"]) for s in stats],
        "ci_high": [_nan(s["delta_ci_high"]) for s in stats],
        "mean": [_nan(s["mean"]) for s in stats],
    }


def _numeric(values: list) -> bool:
    return all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )


def sweep_figure(
    scenario: str,
    parameter: str,
    points: list[dict],
    path: Path,
    caption: str,
    currency: str,
    level: float = 0.95,
    *,
    what_if: str | None = None,
) -> Path:
    """Each main metric against the swept value, as the change from the first value.

    The line is the paired change (the sweep table's delta), the band its paired interval, so
    the reference value sits at 0 with no width; the right axis reads the same line as the
    level (the first value's mean plus the change). Bookings also get the P10-P90 of runs. The
    last panel: stall days per deal by cause. The x axis names the parameter in plain words
    (:mod:`sim.plain_names`), in percent when it is a share.
    """
    values = [p["value"] for p in points]
    numeric = _numeric(values)
    xs = [float(v) for v in values] if numeric else list(range(len(values)))
    ticks = None if numeric else [p["label"] for p in points]
    share_x = numeric and is_share(parameter)
    shown = [f"{100 * float(v):g}%" for v in values] if share_x else [p["label"] for p in points]
    reference = shown[0]
    fig, axes = plt.subplots(2, 3, figsize=PANELS, sharex=True)
    for ax, (metric, title, kind) in zip(axes.flat, SWEEP_PANELS, strict=False):
        _sweep_panel(ax, points, metric, kind, xs, currency, level)
        ax.set_title(title, fontsize=11, loc="left")
    _stall_panel(axes.flat[5], points, xs)
    for ax in axes.flat[:5]:
        ax.set_ylabel(f"change from {reference}", fontsize=9)
    for ax in axes.flat:
        _x_axis(ax, xs, ticks, share_x)
    for ax in axes[1]:
        ax.set_xlabel(plain_name(parameter))
    name = plain_name(parameter)
    if name[1:2].islower():  # 'Funded share' -> 'funded share', but 'P90 time' stays
        name = name[0].lower() + name[1:]
    title = heading(f"Sweep of {name}", scenario, what_if)
    subtitle = (
        f"--set {parameter}={','.join(p['label'] for p in points)}. Left axes: the change from "
        f"{reference}, paired on the same random numbers; band: its {100 * level:g}% interval.\n"
        f"Right axes: the same line read as the level (the mean at {reference} plus the change)."
    )
    top = _header(fig, title, subtitle, what_if)
    return _finish(fig, path, caption, what_if, top)


def _sweep_panel(ax, points, metric: str, kind: str, xs, currency: str, level: float) -> None:
    """One metric: the paired change and its interval; the level on a right axis."""
    data = sweep_panel(points, metric)
    scale = 100.0 if kind == "share" else 1.0  # shares in percentage points
    reference = data["mean"][0] * scale

    def scaled(key: str) -> list[float]:
        return [v * scale for v in data[key]]

    if metric == "bookings" and all("p10" in p.get("bookings", {}) for p in points):
        ax.fill_between(
            xs,
            [p["bookings"]["p10"] - data["mean"][0] for p in points],
            [p["bookings"]["p90"] - data["mean"][0] for p in points],
            color=PALETTE[0],
            alpha=0.10,
            lw=0,
            label="8 in 10 runs (P10-P90)",
        )
    ax.fill_between(
        xs,
        scaled("ci_low"),
        scaled("ci_high"),
        color=PALETTE[0],
        alpha=0.30,
        lw=0,
        label=f"{100 * level:g}% interval of the change (paired)",
    )
    ax.plot(xs, scaled("delta"), color=PALETTE[0], lw=2, marker="o", label="Mean change")
    ax.axhline(0, color="#1a202c", lw=0.8)
    if math.isfinite(reference):
        level_axis = ax.secondary_yaxis(
            "right", functions=(lambda y: y + reference, lambda y: y - reference)
        )
        level_axis.tick_params(labelsize=8, colors=SUBTITLE_COLOR)
        level_axis.set_ylabel("level", fontsize=8, color=SUBTITLE_COLOR)
    else:
        level_axis = None
    if kind == "money":
        ax.yaxis.set_major_formatter(FuncFormatter(_signed_money))
        if level_axis is not None:
            level_axis.yaxis.set_major_formatter(money_formatter(currency))
        ax.legend(loc="best", frameon=False, fontsize=8)
    elif kind == "share":
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+.3g} pp" if v else "0"))
        if level_axis is not None:
            level_axis.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}%"))
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+.3g}" if v else "0"))
    _style(ax)


def _stall_panel(ax, points, xs) -> None:
    causes = [
        c
        for c in (points[0].get("stall_days") or {})
        if any((p["stall_days"].get(c) or 0) > 0 for p in points)
    ]
    for i, cause in enumerate(causes):
        ys = [_nan(p["stall_days"][cause]) for p in points]
        label = CAUSE_SHORT.get(cause, cause.replace("_", " "))
        color = CAUSE_COLORS.get(cause, PALETTE[i % len(PALETTE)])
        ax.plot(xs, ys, color=color, lw=1.8, marker="o", label=label)
    ax.set_title("Stall days per deal, by cause (mean)", fontsize=11, loc="left")
    ax.set_ylabel("days per deal")
    top = max(
        (_nan(p["stall_days"][c]) for p in points for c in causes if p["stall_days"][c]),
        default=1.0,
    )
    ax.set_ylim(0, 1.9 * top if math.isfinite(top) and top > 0 else 1.0)
    if causes:  # above the lines, in the headroom left by the y limit
        ax.legend(loc="upper right", frameon=False, fontsize=7, ncol=2)
    _style(ax)


def _x_axis(ax, xs: list[float], ticks: list[str] | None, share: bool) -> None:
    if ticks is not None:
        ax.set_xticks(xs, [t if len(t) <= 18 else t[:17] + "..." for t in ticks], fontsize=8)
        ax.margins(x=0.15)
    elif share:
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
    ax.tick_params(labelbottom=True)


def _nan(value) -> float:
    return math.nan if value is None else float(value)
