"""The board's figure of our own capacity: per team, how busy it was, how many deals queued for
it and how long they waited, month by month (from ``summary.json`` ``teams``)."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from sim.plots import (  # noqa: E402
    SLIDE,
    _what_if_label,
    caption,
    footer,
    heading,
    money,
    save,
    title_block,
)

BUSY_COLOR = "#2b6cb0"
OVERLOADED_COLOR = "#c53030"  # a month at 95% or more: deals queue for us
WAIT_COLOR = "#dd6b20"
QUEUE_COLOR = "#718096"


def team_file(name: str) -> str:
    """``team_presales.png``: a file name for a team, whatever its name's script."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "team"
    return f"team_{slug}.png"


def team_figures(summary: dict, folder: Path) -> list[Path]:
    """One figure per team of the run; none when the scenario has no team."""
    return [
        team_capacity(summary, name, Path(folder) / team_file(name))
        for name in (summary.get("teams") or {})
    ]


def _months(periods: list[dict]) -> list[dt.date]:
    return [dt.date(int(p["period"][:4]), int(p["period"][5:7]), 15) for p in periods]


def team_capacity(summary: dict, name: str, path: Path) -> Path:
    """Utilisation, waits and queue of one team by month, with its headcount changes."""
    team = summary["teams"][name]
    periods = team["periods"]
    months = _months(periods)
    label = _what_if_label(summary)
    fig, (busy_ax, wait_ax, queue_ax) = plt.subplots(
        3, 1, figsize=SLIDE, sharex=True, height_ratios=(1.2, 1, 0.8)
    )
    _busy_panel(busy_ax, months, periods, team, summary)
    _wait_panel(wait_ax, months, periods)
    _queue_panel(queue_ax, months, periods)
    queue_ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 4, 7, 10)))
    queue_ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
    cost = team["cost"]["mean"]
    subtitle = (
        f"{team['hours']['mean']:,.0f} hours per run, {money(cost, summary['currency'])}; "
        f"{_sale_text(summary)}; means over replications.\n"
        "Red: 95% or more of the people's time at work, so deals queue"
    )
    title = heading(
        f"Our {name}: how busy, and what it made deals wait", summary["scenario"], label
    )
    title_block(busy_ax, title, subtitle, label)
    for ax in (busy_ax, wait_ax, queue_ax):
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(True, axis="y", alpha=0.3)
    bottom = footer(fig, caption(summary), label)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    save(fig, path)
    return path


def _sale_text(summary: dict) -> str:
    """The cost of sale per won deal, or that there is none: with no deal won, the mean is null
    in summary.json (nan in a run's own summary), which no amount can show."""
    sale = summary["cost_of_sale"]["per_won_deal"]["mean"]
    if sale is None or not math.isfinite(sale):
        return "no deal won, so no cost of sale per won deal"
    return f"cost of sale per won deal (all teams) {money(sale, summary['currency'])}"


def _busy_panel(ax, months, periods, team, summary) -> None:
    values = [p["utilisation"] for p in periods]
    if all(v is None for v in values):  # unlimited people: nobody is ever "busy" in full
        ax.text(0.5, 0.5, "Unlimited people: no queue can form", transform=ax.transAxes,
                ha="center", va="center", color="#4a5568")  # fmt: skip
        ax.set_ylabel("Time at work")
        return
    shown = [v or 0.0 for v in values]
    colors = [OVERLOADED_COLOR if v >= 0.95 else BUSY_COLOR for v in shown]
    ax.bar(months, shown, width=24, color=colors, alpha=0.85)
    ax.axhline(1.0, color="#1a202c", linewidth=0.8)
    ax.set_ylim(0, 1.12)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylabel("Time at work\n(share of people's days)")
    start = dt.date.fromisoformat(str(summary["start_date"])[:10])
    for change in team["headcount"] if isinstance(team["headcount"], list) else []:
        day = start + dt.timedelta(days=change["from_day"])
        ax.axvline(day, color="#4a5568", linestyle="--", linewidth=0.8)
        people = change["people"]
        words = "1 person" if people == 1 else f"{people} people"
        ax.text(day, 1.06, f" {words}", fontsize=9, color="#2d3748",
                va="center")  # fmt: skip


def _wait_panel(ax, months, periods) -> None:
    p50 = [p["wait_p50"] for p in periods]
    p90 = [p["wait_p90"] for p in periods]
    points = [(m, a, b) for m, a, b in zip(months, p50, p90, strict=True) if a is not None]
    if points:
        dates, lows, highs = zip(*points, strict=True)
        ax.fill_between(dates, lows, highs, color=WAIT_COLOR, alpha=0.2, label="P50 to P90")
        ax.plot(dates, lows, color=WAIT_COLOR, marker="o", markersize=3, label="P50 (typical)")
        ax.legend(loc="upper right", frameon=False, fontsize=9)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("Days a deal waited\nfor a free person")


def _queue_panel(ax, months, periods) -> None:
    ax.bar(months, [p["queue_mean"] for p in periods], width=24, color=QUEUE_COLOR, alpha=0.8)
    ax.set_ylabel("Deals waiting\n(average)")
    ax.set_ylim(bottom=0)
