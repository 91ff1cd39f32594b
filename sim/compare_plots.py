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
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402

try:  # the run figures' formatter, so that every figure writes money the same way
    from sim.plots import money_formatter
except ImportError:  # pragma: no cover - sim.plots is being rewritten

    def money_formatter(currency: str) -> FuncFormatter:
        """Axis labels like '1.2M EUR' or '350k EUR'."""

        def fmt(value, _pos):
            for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
                if abs(value) >= size:
                    return f"{value / size:.3g}{suffix} {currency}"
            return f"{value:.0f} {currency}"

        return FuncFormatter(fmt)


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
    """Overlaid bookings fan charts: by month (top) and cumulative (bottom), per scenario the
    median line and the P10-P90 band, one colour each."""
    currency = runs[0][1]["currency"]
    fig, (monthly, cumulative) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
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
    names = " vs ".join(label for label, _ in runs)
    monthly.set_title(f"Bookings by month - {names}", fontsize=13, loc="left")
    monthly.set_ylabel(f"Won amount per month ({currency})")
    cumulative.set_title("Cumulative bookings", fontsize=11, loc="left")
    cumulative.set_ylabel(f"Won amount since start ({currency})")
    for ax in (monthly, cumulative):
        ax.yaxis.set_major_formatter(money_formatter(currency))
        ax.set_ylim(bottom=0)
        _style(ax)
    cumulative.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 4, 7, 10)))
    cumulative.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
    handles, labels = monthly.get_legend_handles_labels()
    from matplotlib.patches import Patch

    handles.append(Patch(color="#888888", alpha=0.3, lw=0))
    labels.append("P10-P90 (shaded)")
    monthly.legend(handles, labels, loc="upper left", frameon=False, title="Median")
    return _save(fig, path, caption + "; lines median, shaded P10-P90 of replications")


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
