"""Figures of comparisons and sweeps, in the style of :mod:`sim.plots` (PNG, matplotlib Agg).

Kept apart from :mod:`sim.plots` (the figures of one run) so that the two can change
independently; the money axis formatter is shared when sim.plots offers it.
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
from matplotlib.ticker import PercentFormatter  # noqa: E402

from sim.plots import money_formatter  # every figure writes money the same way
from sim.report import compact

#: One colour per scenario (colour-blind friendly order: blue, orange, green, red, purple...).
PALETTE = ("#2b6cb0", "#dd6b20", "#2f855a", "#c53030", "#6b46c1", "#319795", "#b7791f")
CAPTION_COLOR = "#555555"
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


def _month_dates(periods: list[dict]) -> list[dt.date]:
    """Mid-month dates, so that lines and bands sit inside their month."""
    return [dt.date(int(p["period"][:4]), int(p["period"][5:7]), 15) for p in periods]


def _series(periods: list[dict], block: str, key: str) -> list[float]:
    return [(p.get(block) or {}).get(key) or 0.0 for p in periods]


def _style(ax) -> None:
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def _save(fig, path: Path, caption: str) -> Path:
    fig.text(0.01, 0.01, caption, fontsize=8, color=CAPTION_COLOR)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def compare_bookings(runs: list[tuple[str, dict]], path: Path, caption: str) -> Path:
    """Overlaid bookings fan charts: by month (top) and cumulative (middle), per scenario the
    median line and the P10-P90 band, one colour each; at the bottom, each later scenario's
    cumulative bookings minus the first one's, month by month."""
    from matplotlib.patches import Patch

    currency = runs[0][1]["currency"]
    fig, (monthly, cumulative, diff) = plt.subplots(
        3, 1, figsize=(10, 11), sharex=True, gridspec_kw={"height_ratios": [1, 1, 0.8]}
    )
    handles = []
    for i, (label, summary) in enumerate(runs):
        color = PALETTE[i % len(PALETTE)]
        periods = summary["periods"]
        dates = _month_dates(periods)
        for ax, block in ((monthly, "bookings"), (cumulative, "cumulative_bookings")):
            if not periods or block not in periods[0]:
                continue
            ax.fill_between(
                dates,
                _series(periods, block, "p10"),
                _series(periods, block, "p90"),
                color=color,
                alpha=0.15,
                lw=0,
            )
            ax.plot(dates, _series(periods, block, "p50"), color=color, lw=2, label=label)
        # the band in the scenario's own colour, with its median line across it
        handles.append(
            (
                (Patch(color=color, alpha=0.15, lw=0), plt.Line2D([], [], color=color, lw=2)),
                label,
            )
        )
    names = " vs ".join(label for label, _ in runs)
    monthly.set_title(f"Bookings by month - {names}", fontsize=13, loc="left", pad=22)
    monthly.text(
        0,
        1.02,
        "Line: median of replications; shaded band in the same colour: P10-P90 of replications",
        transform=monthly.transAxes,
        fontsize=9,
        color="#4a5568",
        va="bottom",
    )
    monthly.set_ylabel(f"Won amount per month ({currency})")
    cumulative.set_title("Cumulative bookings", fontsize=11, loc="left")
    cumulative.set_ylabel(f"Won amount since start ({currency})")
    for ax in (monthly, cumulative):
        ax.yaxis.set_major_formatter(money_formatter(currency))
        ax.set_ylim(bottom=0)
        _style(ax)
    _difference_panel(diff, runs, currency)
    diff.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 4, 7, 10)))
    diff.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
    monthly.legend(
        [h for h, _ in handles],
        [f"{label} (median, P10-P90)" for _, label in handles],
        handler_map={tuple: HandlerTuple(ndivide=1)},
        loc="upper left",
        frameon=False,
    )
    return _save(fig, path, caption + "; lines median, shaded P10-P90 of replications")


def _difference_panel(ax, runs: list[tuple[str, dict]], currency: str) -> None:
    """Cumulative bookings of each later scenario minus the first, per month.

    The summaries hold per-month percentiles, not each replication's months, so the paired
    spread cannot be drawn; the difference of means equals the mean of the paired differences
    (a mean is linear), so it is the solid line; the difference of medians is dashed."""
    base_label, base = runs[0]
    base_periods = {p["period"]: p for p in base["periods"]}
    for i, (label, summary) in enumerate(runs[1:], start=1):
        color = PALETTE[i % len(PALETTE)]
        periods = [p for p in summary["periods"] if p["period"] in base_periods]
        if not periods or "cumulative_bookings" not in periods[0]:
            continue
        ref = [base_periods[p["period"]] for p in periods]
        dates = _month_dates(periods)
        mean = [
            a - b
            for a, b in zip(
                _series(periods, "cumulative_bookings", "mean"),
                _series(ref, "cumulative_bookings", "mean"),
                strict=True,
            )
        ]
        median = [
            a - b
            for a, b in zip(
                _series(periods, "cumulative_bookings", "p50"),
                _series(ref, "cumulative_bookings", "p50"),
                strict=True,
            )
        ]
        ax.plot(
            dates, mean, color=color, lw=2.2, label=f"{label} - {base_label}: difference of means"
        )
        ax.plot(
            dates,
            median,
            color=color,
            lw=1.4,
            ls="--",
            label=f"{label} - {base_label}: difference of medians",
        )
        ax.annotate(
            _money_text(mean[-1], currency),
            (dates[-1], mean[-1]),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=9,
            color=color,
            fontweight="bold",
            va="center",
        )
    ax.axhline(0, color="#1a202c", lw=1)
    others = ", ".join(label for label, _ in runs[1:])
    ax.set_title(
        f"Difference in cumulative bookings: {others} minus {base_label}",
        fontsize=11,
        loc="left",
        pad=32,
    )
    ax.text(
        0,
        1.02,
        "Solid: difference of the means (= mean of the paired differences, same random "
        "numbers);\ndashed: difference of the medians. Per-month paired spreads are not kept "
        "in the run summaries.",
        transform=ax.transAxes,
        fontsize=8.5,
        color="#4a5568",
        va="bottom",
    )
    ax.set_ylabel(f"Minus {base_label} ({currency})")
    ax.yaxis.set_major_formatter(money_formatter(currency))
    ax.legend(loc="best", frameon=False, fontsize=8.5)
    _style(ax)


def _money_text(value: float, currency: str) -> str:
    """A difference for a label: '+1.2M' ('0' without a sign)."""
    return compact(value, sign=value != 0)


#: Panels of the sweep figure: metric, title, kind.
SWEEP_PANELS = (
    ("bookings", "Bookings within the horizon", "money"),
    ("won_share", "Won share of all deals", "share"),
    ("lost_share", "Lost share of all deals", "share"),
    ("no_decision_share", "No-decision share of all deals", "share"),
    ("cycle_days_won", "Won cycle time (days)", "days"),
)


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
) -> Path:
    """Each main metric against the swept value: mean with its confidence band; bookings also
    with the P10-P90 range of replications; the last panel: stall days per deal by cause."""
    values = [p["value"] for p in points]
    if _numeric(values):
        xs = [float(v) for v in values]
        ticks = None
    else:
        xs = list(range(len(values)))
        ticks = [p["label"] for p in points]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5))
    band = f"{100 * level:g}% CI of the mean"
    for ax, (metric, title, kind) in zip(axes.flat, SWEEP_PANELS, strict=False):
        scale = 100.0 if kind == "share" else 1.0
        stats = [p["metrics"][metric] for p in points]
        mean = [_nan(s["mean"]) * scale for s in stats]
        low = [_nan(s["ci_low"]) * scale for s in stats]
        high = [_nan(s["ci_high"]) * scale for s in stats]
        if metric == "bookings" and all("p10" in p.get("bookings", {}) for p in points):
            ax.fill_between(
                xs,
                [p["bookings"]["p10"] for p in points],
                [p["bookings"]["p90"] for p in points],
                color=PALETTE[0],
                alpha=0.10,
                lw=0,
                label="P10-P90 of replications",
            )
        ax.fill_between(xs, low, high, color=PALETTE[0], alpha=0.30, lw=0, label=band)
        ax.plot(xs, mean, color=PALETTE[0], lw=2, marker="o", label="Mean")
        ax.set_title(title, fontsize=11, loc="left")
        if kind == "money":
            ax.yaxis.set_major_formatter(money_formatter(currency))
            ax.set_ylabel(currency)
            ax.legend(loc="best", frameon=False, fontsize=8)
        elif kind == "share":
            ax.yaxis.set_major_formatter(PercentFormatter(decimals=None))
        elif kind == "days":
            ax.set_ylabel("days")
        _axis(ax, parameter, xs, ticks)
    _stall_panel(axes.flat[5], points, parameter, xs, ticks)
    fig.suptitle(f"{scenario}: sweep of {parameter}", fontsize=13, x=0.01, ha="left")
    return _save(fig, path, caption)


def _stall_panel(ax, points, parameter, xs, ticks) -> None:
    causes = [
        c
        for c in (points[0].get("stall_days") or {})
        if any((p["stall_days"].get(c) or 0) > 0 for p in points)
    ]
    for i, cause in enumerate(causes):
        ys = [_nan(p["stall_days"][cause]) for p in points]
        label = cause.replace("_", " ")
        color = CAUSE_COLORS.get(cause, PALETTE[i % len(PALETTE)])
        ax.plot(xs, ys, color=color, lw=1.8, marker="o", label=label)
    ax.set_title("Stall days per deal, by cause", fontsize=11, loc="left")
    ax.set_ylabel("days per deal")
    top = max(
        (_nan(p["stall_days"][c]) for p in points for c in causes if p["stall_days"][c]),
        default=1.0,
    )
    ax.set_ylim(0, 1.8 * top if math.isfinite(top) and top > 0 else 1.0)
    if causes:  # above the lines, in the headroom left by the y limit
        ax.legend(loc="upper right", frameon=False, fontsize=7.5, ncol=2)
    _axis(ax, parameter, xs, ticks)


def _axis(ax, parameter: str, xs: list[float], ticks: list[str] | None) -> None:
    if ticks is not None:
        ax.set_xticks(xs, [t if len(t) <= 18 else t[:17] + "..." for t in ticks], fontsize=8)
        ax.margins(x=0.15)
    ax.set_xlabel(parameter)
    _style(ax)


def _nan(value) -> float:
    return math.nan if value is None else float(value)
