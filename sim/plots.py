"""Figures a planner would put in a deck: PNG files drawn with matplotlib from a summary.

Every figure reads only ``summary.json`` content, so ``dealsim plot DIR`` can redraw a results
folder without running anything again.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen needed
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

BAND_COLOR = "#2b6cb0"
MEDIAN_COLOR = "#1a365d"
MEAN_COLOR = "#dd6b20"


def money_formatter(currency: str) -> FuncFormatter:
    """Axis labels like '1.2M EUR' or '350k EUR'."""

    def fmt(value, _pos):
        for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= size:
                return f"{value / size:.3g}{suffix} {currency}"
        return f"{value:.0f} {currency}"

    return FuncFormatter(fmt)


def caption(summary: dict) -> str:
    return (
        f"Scenario {summary['scenario']} - {summary['replications']} replications, "
        f"seed {summary['seed']}, start {summary['start_date']}, "
        f"horizon {summary['horizon_days']:g} days"
    )


def _month_dates(periods: list[dict]) -> list[dt.date]:
    """Mid-month dates, so bars and bands sit inside their month."""
    return [dt.date(int(p["period"][:4]), int(p["period"][5:7]), 15) for p in periods]


def _finish(fig, ax, summary: dict, path: Path) -> Path:
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    fig.text(0.01, 0.01, caption(summary), fontsize=8, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def bookings_fan(summary: dict, path: Path) -> Path:
    """Bookings by month: P10-P90 and P25-P75 bands, median and mean."""
    periods = summary["periods"]
    dates = _month_dates(periods)
    get = {
        k: [p["bookings"][k] or 0.0 for p in periods]
        for k in ("p10", "p25", "p50", "p75", "p90", "mean")
    }
    fig, ax = plt.subplots(figsize=(10, 5.5))
    ax.fill_between(dates, get["p10"], get["p90"], color=BAND_COLOR, alpha=0.18, label="P10-P90")
    ax.fill_between(dates, get["p25"], get["p75"], color=BAND_COLOR, alpha=0.35, label="P25-P75")
    ax.plot(dates, get["p50"], color=MEDIAN_COLOR, lw=2, label="Median")
    ax.plot(dates, get["mean"], color=MEAN_COLOR, lw=1.5, ls="--", label="Mean")
    ax.set_title(f"Bookings by month - {summary['scenario']}", fontsize=13, loc="left")
    ax.set_ylabel(f"Won amount per month ({summary['currency']})")
    ax.yaxis.set_major_formatter(money_formatter(summary["currency"]))
    ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 4, 7, 10)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", frameon=False)
    return _finish(fig, ax, summary, path)


def draw_all(summary: dict, folder: Path) -> list[Path]:
    """Every figure for a results folder; returns the files written."""
    folder = Path(folder)
    return [bookings_fan(summary, folder / "bookings_fan.png")]
