"""Figures a planner would put in a deck: PNG files drawn with matplotlib from a summary.

Every figure reads only ``summary.json`` content, so ``dealsim plot DIR`` can redraw a results
folder without running anything again. Every figure is 16:9 (1920 x 1080 pixels, a slide), and
a what-if run (``summary["what_if"]``, see :mod:`sim.whatif`) says so under every title and in
every footer, so that a slide made from it cannot pass for the base case.
"""

from __future__ import annotations

import calendar
import datetime as dt
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only, no screen needed
# Every figure's text is plain: scenario names are any text, and a "$" in one ("Plan $5M") is
# shown as written, never read as mathematics. (Every figure module imports this one.)
matplotlib.rcParams["text.parse_math"] = False
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402

from sim.calendar import last_day  # noqa: E402
from sim.palette import DORMANT_COLOR, stage_colors  # noqa: E402
from sim.report import compact, money  # noqa: E402  (money: '14.3M EUR', '-' for none)
from sim.tables import scale_for  # noqa: E402
from sim.whatif import KEY as WHAT_IF_KEY  # noqa: E402
from sim.whatif import banner, short_label  # noqa: E402

BAND_COLOR = "#2b6cb0"
MEDIAN_COLOR = "#1a365d"
MEAN_COLOR = "#dd6b20"
TARGET_COLOR = "#c53030"
WHAT_IF_COLOR = "#c05621"
OUTCOME_COLORS = {"won": "#2f855a", "lost": "#c53030", "no_decision": "#718096"}
FORWARD_COLOR = "#2b6cb0"
EXIT_COLOR = "#a0aec0"
BACKWARD_COLOR = "#dd6b20"
REVIVED_COLOR = "#319795"
TITLE_SIZE = 14
#: 16:9, the shape of a slide, in inches; every figure is saved SLIDE_PIXELS wide.
SLIDE = (32 / 3, 6.0)
SLIDE_PIXELS = 1920
#: Height of a unit up over a unit across in the stage-flow diagram (its boxes' shape).
FLOW_ASPECT = 0.55
#: Days in a month, for cycle times also given in months (a year is 365.25 days).
MONTH_DAYS = 365.25 / 12

OUTCOMES = ("won", "lost", "no_decision")
STALL_LABELS = {
    "budget_wait": "Waiting for budget",
    "timing_wait": "Waiting for a good market moment",
    "dormant": "Dormant (doing without, for now)",
    "budget_rework": "Re-work after budget re-check",
    "group_change_rework": "Re-work after a decision-maker changed",
    "shock_rework": "Re-work after a market shock",
    "seller_wait": "Waiting for our own people",
}


def pretty(name: str) -> str:
    """A state name for people: 'no_decision' -> 'No decision'."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _short_money(value: float) -> str:
    """'1.2M', '350k', '999' (3 significant digits, never an exponent)."""
    return compact(value)


def money_formatter(currency: str | None = None) -> FuncFormatter:
    """Axis tick labels like '1.2M' or '350k' (with the currency if given)."""

    def fmt(value, _pos):
        if value == 0:
            return "0"
        return money(value, currency) if currency else _short_money(value)

    return FuncFormatter(fmt)


def _count(value: float) -> str:
    """A mean count for a label: '155', '20.7', '4.6', '0.23'."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.1f}"
    return f"{value:.2g}"


def caption(summary: dict) -> str:
    return (
        f"Scenario {summary['scenario']} - {summary['replications']} replications, "
        f"seed {summary['seed']}, start {summary['start_date']}, "
        f"horizon {summary['horizon_days']:g} days"
    )


def what_if_footer(label: str | None) -> str | None:
    """The footer line of a what-if figure (the whole label), or None for the base case."""
    return banner(label) if label else None


def what_if_tag(label: str | None) -> str | None:
    """The line under a what-if figure's title (the label cut for one line), or None."""
    return f"What-if, not the base case: {short_label({'label': label})}" if label else None


def footer(fig, caption_text: str, label: str | None) -> float:
    """The caption at the bottom left, and under it the what-if line in its colour.

    Returns the height (figure fraction) the footer takes, for ``tight_layout``'s rect.
    """
    lines = [(caption_text, "#555555", "normal")]
    if label:
        lines.append((what_if_footer(label), WHAT_IF_COLOR, "bold"))
    step = 0.022
    for i, (text, color, weight) in enumerate(reversed(lines)):
        fig.text(0.01, 0.01 + step * i, text, fontsize=8, color=color, fontweight=weight)
    return 0.015 + step * len(lines)


def _what_if_label(summary: dict) -> str | None:
    return (summary.get(WHAT_IF_KEY) or {}).get("label")


def _start(summary: dict) -> dt.date:
    return dt.date.fromisoformat(str(summary["start_date"])[:10])


def _end(summary: dict) -> dt.date:
    return _start(summary) + dt.timedelta(days=float(summary["horizon_days"]))


def _month_dates(periods: list[dict]) -> list[dt.date]:
    """Mid-month dates, so bars and bands sit inside their month."""
    return [dt.date(int(p["period"][:4]), int(p["period"][5:7]), 15) for p in periods]


def _month_end(period: str, cap: dt.date | None = None) -> dt.date:
    year, month = int(period[:4]), int(period[5:7])
    day = dt.date(year, month, calendar.monthrange(year, month)[1])
    return min(day, cap) if cap else day


def _last_day(summary: dict) -> dt.date:
    """The last day simulated (``_end`` is the moment after it, where the axis stops)."""
    return last_day(_start(summary), float(summary["horizon_days"]))


def _month_end_dates(summary: dict) -> list[dt.date]:
    """The last day of each period (the last day simulated for a last, partial month)."""
    end = _last_day(summary)
    return [_month_end(p["period"], end) for p in summary["periods"]]


def _date_axis(ax, first: dt.date, last: dt.date) -> None:
    """Readable date ticks for spans from a few months to decades."""
    years = (last - first).days / 365.25
    if years <= 1.5:
        ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=range(1, 13, 2)))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
    elif years <= 4:
        ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 4, 7, 10)))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
        ax.xaxis.set_minor_locator(mdates.MonthLocator())
    elif years <= 10:
        ax.xaxis.set_major_locator(mdates.YearLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
        ax.xaxis.set_minor_locator(mdates.MonthLocator(bymonth=(1, 4, 7, 10)))
    else:
        ax.xaxis.set_major_locator(mdates.YearLocator(base=2))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
        ax.xaxis.set_minor_locator(mdates.YearLocator())
    ax.set_xlim(first, last)


def _window(summary: dict) -> tuple[dt.date, dt.date, str | None]:
    """The dates to show: the horizon, or less when nothing happens in its last part.

    Returns (first, last, note); the note says where the axis stops and why, or is None.
    """
    start, end = _start(summary), _end(summary)
    periods = summary.get("periods") or []
    active = [
        i
        for i, p in enumerate(periods)
        if ((p.get("bookings") or {}).get("p90") or 0) > 0
        or ((p.get("bookings") or {}).get("mean") or 0) > 0
        or sum(v or 0 for v in (p.get("open_by_stage") or {}).values()) >= 0.05
    ]
    if not active:
        return start, end, None
    last = _month_end(periods[active[-1]]["period"], _last_day(summary))
    if (last - start).days >= 0.6 * (end - start).days:
        return start, end, None
    shown = min(end, last + dt.timedelta(days=max(92, 0.15 * (last - start).days)))
    note = (
        f"Nothing happens after {last:%b %Y}, so the axis stops there "
        f"(horizon ends {_last_day(summary):%b %Y})"
    )
    return start, shown, note


def _join(*lines: str | None) -> str | None:
    text = "\n".join(line for line in lines if line)
    return text or None


def heading(title: str, name: str, label: str | None) -> str:
    """'Bookings by month - equipment', with ' (what-if)' when the run is one."""
    return f"{title} - {name}" + (" (what-if)" if label else "")


def title_block(ax, title: str, subtitle: str | None = None, label: str | None = None) -> None:
    """A left-aligned title, the what-if line under it in its colour, then the subtitle."""
    lines = subtitle.count("\n") + 1 if subtitle else 0
    ax.set_title(title, fontsize=TITLE_SIZE, loc="left", pad=8 + 14 * (lines + bool(label)))
    if subtitle:
        ax.text(
            0,
            1.02,
            subtitle,
            transform=ax.transAxes,
            fontsize=9.5,
            color="#4a5568",
            va="bottom",
        )
    if label:
        ax.annotate(
            what_if_tag(label),
            (0, 1.02),
            xycoords="axes fraction",
            xytext=(0, 14 * lines),
            textcoords="offset points",
            fontsize=10,
            fontweight="bold",
            color=WHAT_IF_COLOR,
            va="bottom",
        )


def _title(ax, summary: dict, title: str, subtitle: str | None = None) -> None:
    label = _what_if_label(summary)
    title_block(ax, heading(title, summary["scenario"], label), subtitle, label)


def _finish(fig, ax, summary: dict, path: Path, grid: bool = True) -> Path:
    if grid:
        ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    bottom = footer(fig, caption(summary), _what_if_label(summary))
    fig.tight_layout(rect=(0, bottom, 1, 1))
    save(fig, path)
    return path


def save(fig, path: Path) -> None:
    """Write the figure as a 1920-pixel-wide PNG (1920 x 1080 for a 16:9 figure) and close it."""
    fig.savefig(path, dpi=SLIDE_PIXELS / fig.get_figwidth())
    plt.close(fig)


def _quantiles(periods: list[dict], key: str) -> dict[str, list[float]]:
    return {
        k: [(p.get(key) or {}).get(k) or 0.0 for p in periods]
        for k in ("p10", "p25", "p50", "p75", "p90", "mean")
    }


def _fan(ax, dates, q: dict[str, list[float]]) -> None:
    ax.fill_between(dates, q["p10"], q["p90"], color=BAND_COLOR, alpha=0.18, lw=0)
    ax.fill_between(dates, q["p25"], q["p75"], color=BAND_COLOR, alpha=0.35, lw=0)
    ax.plot(dates, q["p50"], color=MEDIAN_COLOR, lw=2, label="Median")
    ax.plot(dates, q["mean"], color=MEAN_COLOR, lw=1.6, ls="--", label="Mean")


def _fan_legend(ax, loc: str = "upper left", extra: list | None = None) -> None:
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=BAND_COLOR, alpha=0.18, label="P10-P90 (8 in 10 runs)"),
        plt.Rectangle((0, 0), 1, 1, color=BAND_COLOR, alpha=0.45, label="P25-P75 (half the runs)"),
        Line2D([], [], color=MEDIAN_COLOR, lw=2, label="Median"),
        Line2D([], [], color=MEAN_COLOR, lw=1.6, ls="--", label="Mean"),
    ]
    ax.legend(handles=handles + (extra or []), loc=loc, frameon=True, framealpha=0.9, fontsize=9)


def monthly_bookings(summary: dict) -> dict[str, list]:
    """What the monthly bookings figure draws: per month, the mean and the P10-P90 of runs.

    A month's bookings are a handful of big deals, so across runs they take a few discrete
    values (0, one deal, two deals...): the median jumps between 0 and one deal from one month
    to the next, which reads as a business that stops every other month. The mean is what the
    months add up to (the mean total), and P10-P90 says honestly how often a month books little.
    """
    periods = summary["periods"]
    q = _quantiles(periods, "bookings")
    return {
        "dates": _month_dates(periods),
        "mean": q["mean"],
        "p10": q["p10"],
        "p90": q["p90"],
        "p50": q["p50"],  # not drawn: only to say how often it is 0
        "deals_mean": [(p.get("won") or {}).get("mean") or 0.0 for p in periods],
    }


def total_line(total: dict, currency: str) -> str:
    """The bookings fan's line on the whole horizon, with one scale for its three amounts
    ('mean 14.0M EUR, ... between 11.0M EUR and 17.1M EUR', not '14M' beside '17.1M')."""
    mean, low, high = total["mean"], total.get("p10") or 0, total.get("p90") or 0
    said = scale_for([mean, low, high])
    return (
        f"Total over the horizon: mean {said(mean, unit=currency)}, "
        f"8 in 10 runs between {said(low, unit=currency)} and {said(high, unit=currency)}"
    )


def bookings_fan(summary: dict, path: Path) -> Path:
    """Bookings by month: the mean as bars, and whiskers over the P10-P90 of runs."""
    currency = summary["currency"]
    data = monthly_bookings(summary)
    dates = data["dates"]
    fig, ax = plt.subplots(figsize=SLIDE)
    ax.bar(
        dates,
        data["mean"],
        width=20,
        color=BAND_COLOR,
        alpha=0.85,
        label="Mean over runs (the months add up to the mean total)",
        zorder=2,
    )
    ax.vlines(
        dates,
        data["p10"],
        data["p90"],
        color=MEDIAN_COLOR,
        lw=1.6,
        label="8 in 10 runs booked between (P10-P90 of runs)",
        zorder=3,
    )
    for ends in ("p10", "p90"):
        ax.scatter(dates, data[ends], marker="_", s=60, color=MEDIAN_COLOR, lw=1.6, zorder=3)
    total = summary.get("bookings") or {}
    lines = []
    if total.get("mean") is not None:
        lines.append(total_line(total, currency))
    deals = data["deals_mean"]
    if any(deals):
        line = f"{_count(sum(deals) / len(deals))} won deals a month on average"
        zero = sum(1 for p, mean in zip(data["p50"], data["mean"], strict=True) if mean and not p)
        if zero:
            line += (
                f"; in {zero} of {len(deals)} months at least half the runs book nothing "
                "(a median of 0), so medians are not drawn"
            )
        lines.append(line)
    first, last, note = _window(summary)
    _title(ax, summary, "Bookings by month", _join(*lines, note))
    ax.set_ylabel(f"Won amount per month ({currency})")
    ax.yaxis.set_major_formatter(money_formatter())
    if dates:
        _date_axis(ax, first, last)
    ax.set_ylim(bottom=0, top=max(data["p90"] + data["mean"] + [1.0]) * 1.25)
    handles, names = ax.get_legend_handles_labels()
    order = sorted(range(len(names)), key=lambda i: not names[i].startswith("Mean"))
    ax.legend(
        [handles[i] for i in order],
        [names[i] for i in order],
        loc="best",
        frameon=True,
        framealpha=0.9,
        fontsize=9,
    )
    return _finish(fig, ax, summary, path)


def _target_labels(by_period: list[dict], end: dt.date) -> list[tuple[dt.date, float]]:
    """(quarter-end date, probability), thinned to at most about 12 labels."""
    points = [(_month_end(b["period"], end), b.get("probability") or 0.0) for b in by_period]
    if len(points) <= 12:
        return points
    year_ends = [(d, p) for d, p in points if d.month == 12 or d == points[-1][0]]
    step = max(1, -(-len(year_ends) // 12))
    kept = year_ends[::step]
    if year_ends and kept[-1] != year_ends[-1]:
        if len(kept) > 1 and step > 1:
            kept.pop()  # keep the last year end, not two labels crowded together
        kept.append(year_ends[-1])
    return kept


def cumulative_bookings(summary: dict, path: Path) -> Path:
    """Cumulative bookings fan; with a target, the chance of having reached it by quarter end."""
    periods = summary["periods"]
    currency = summary["currency"]
    start = _start(summary)
    dates = [start] + _month_end_dates(summary)
    q = {k: [0.0] + v for k, v in _quantiles(periods, "cumulative_bookings").items()}
    fig, ax = plt.subplots(figsize=SLIDE)
    _fan(ax, dates, q)
    target = summary.get("target")
    top = max(q["p90"] + q["mean"] + [1.0])
    extra = []
    subtitle = "Won amount since the start of the horizon"
    if target:
        amount = float(target["amount"])
        top = max(top, amount)
        ax.axhline(amount, color=TARGET_COLOR, lw=1.4, ls=":")
        extra.append(
            Line2D(
                [],
                [],
                color=TARGET_COLOR,
                lw=1.4,
                ls=":",
                label=f"Target {money(amount, currency)}",
            )
        )
        by_period = target.get("by_period") or []
        labels = _target_labels(by_period, _last_day(summary))
        every = "quarter end" if len(labels) == len(by_period) else "year end"
        last = _window(summary)[1]
        labels = [(day, prob) for day, prob in labels if day <= last]
        for day, prob in labels:
            ax.plot([day], [amount], marker="o", ms=4, color=TARGET_COLOR)
            ax.annotate(
                f"{prob:.0%}",
                (day, amount),
                xytext=(0, 6),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=8.5,
                fontweight="bold",
                color=TARGET_COLOR,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            )
        subtitle = f"Labels on the target line: chance of having reached the target by each {every}"
        if by_period:
            final = by_period[-1].get("probability") or 0.0
            subtitle += f" ({final:.0%} by the end of the horizon)"
    first, last, note = _window(summary)
    _title(ax, summary, "Cumulative bookings", _join(subtitle, note))
    ax.set_ylabel(f"Cumulative won amount ({currency})")
    ax.yaxis.set_major_formatter(money_formatter())
    _date_axis(ax, first, last)
    ax.set_xlim(first, last + (last - first) * 0.03)  # room for the last label
    ax.set_ylim(bottom=0, top=top * 1.12)
    _fan_legend(ax, loc="lower right", extra=extra)
    return _finish(fig, ax, summary, path)


def _stage_order(summary: dict) -> list[str]:
    """Stage names in order (dormant excluded), from the summary only."""
    names: list[str] = []
    for period in summary.get("periods") or []:
        for name in period.get("open_by_stage") or {}:
            if name != "dormant" and name not in names:
                names.append(name)
    for src, moves in (summary.get("flows") or {}).items():
        for name in [src, *moves]:
            if name not in names and name not in ("dormant", *OUTCOMES):
                names.append(name)
    return names


def pipeline_by_stage(summary: dict, path: Path) -> Path:
    """Open pipeline by stage over time: stacked mean counts, dormant last in grey."""
    periods = summary["periods"]
    stages = _stage_order(summary)
    dates = _month_end_dates(summary)
    series = {s: [(p.get("open_by_stage") or {}).get(s) or 0.0 for p in periods] for s in stages}
    dormant = [(p.get("open_by_stage") or {}).get("dormant") or 0.0 for p in periods]
    colors = stage_colors(len(stages))  # distinct hues: neighbouring bands never look alike
    labels = [pretty(s) for s in stages]
    values = [series[s] for s in stages]
    if any(dormant):
        labels.append("Dormant")
        values.append(dormant)
        colors.append(DORMANT_COLOR)
    fig, ax = plt.subplots(figsize=SLIDE)
    if dates and values:
        ax.stackplot(dates, values, labels=labels, colors=colors, alpha=0.9, lw=0.3, ec="white")
        _date_axis(ax, dates[0], min(dates[-1], _window(summary)[1]))
        handles, names = ax.get_legend_handles_labels()
        ax.legend(
            handles[::-1],
            names[::-1],
            loc="upper left",
            bbox_to_anchor=(1.01, 1),
            frameon=False,
            title="Stage (top to bottom)",
            fontsize=9,
        )
    _title(
        ax,
        summary,
        "Open pipeline by stage",
        _join("Mean number of open deals in each stage at each month end", _window(summary)[2]),
    )
    ax.set_ylabel("Open deals (mean count)")
    ax.set_ylim(bottom=0)
    return _finish(fig, ax, summary, path)


def cycle_times(summary: dict, path: Path) -> Path:
    """Cycle-time distribution by outcome (share of deals per bin), medians marked.

    Always in days, whatever the horizon, as in the terminal and every other figure, so that
    the slides of two scenarios read on one scale; the medians are also given in months."""
    cycles = summary.get("cycle_days") or {}
    longest = 0.0
    for outcome in OUTCOMES:
        hist = (cycles.get(outcome) or {}).get("histogram") or {}
        counts = hist.get("counts") or []
        total, seen, bins = sum(counts), 0, 0
        for bins, count in enumerate(counts, start=1):  # noqa: B007
            seen += count
            if total and seen >= 0.995 * total:
                break
        longest = max(longest, bins * float(hist.get("bin_days") or 0))
    fig, ax = plt.subplots(figsize=SLIDE)
    drawn = 0
    for outcome in OUTCOMES:
        stats = cycles.get(outcome) or {}
        hist = stats.get("histogram") or {}
        counts = hist.get("counts") or []
        total = sum(counts)
        if not total:
            continue
        width = float(hist["bin_days"])
        edges = [i * width for i in range(len(counts) + 1)]
        shares = [c / total for c in counts]
        color = OUTCOME_COLORS[outcome]
        median = stats.get("p50")
        label = pretty(outcome)
        if median is not None:
            label += f" - median {median:.0f} days ({median / MONTH_DAYS:.1f} months)"
        ax.stairs(shares, edges, color=color, lw=2, label=label)
        ax.stairs(shares, edges, color=color, alpha=0.12, fill=True)
        if median is not None:
            ax.axvline(median, color=color, lw=1.3, ls="--")
        drawn += 1
    if not drawn:
        ax.text(
            0.5,
            0.5,
            "No deal closed within the horizon",
            transform=ax.transAxes,
            ha="center",
            fontsize=12,
            color="#4a5568",
        )
    else:
        ax.legend(loc="upper right", frameon=True, framealpha=0.9, fontsize=9.5)
        ax.set_xlim(0, longest)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
    ax.set_ylim(bottom=0)
    bin_days = next(
        (
            (cycles.get(o) or {}).get("histogram", {}).get("bin_days")
            for o in OUTCOMES
            if (cycles.get(o) or {}).get("histogram")
        ),
        None,
    )
    bins = f" per {bin_days:g}-day bin" if bin_days else ""
    ax.set_ylabel(f"Share of the outcome's deals{bins}")
    ax.set_xlabel("Cycle time, creation to close (days)")
    _title(
        ax,
        summary,
        "Cycle time by outcome",
        "Deals closed within the horizon (still-open deals not included); dashed lines: medians",
    )
    return _finish(fig, ax, summary, path)


def _flow_states(summary: dict) -> list[str]:
    flows = summary.get("flows") or {}
    seen = {s for src, moves in flows.items() for s in [src, *moves]}
    states = _stage_order(summary)
    # won right after the last stage, so the main line runs straight into it
    if "won" in seen:
        states.append("won")
    if "dormant" in seen:
        states.append("dormant")
    states += [o for o in ("lost", "no_decision") if o in seen]
    return states


def _arc(
    ax,
    x0: float,
    x1: float,
    y: float,
    height: float,
    color,
    width: float,
    label: str,
    ellipse: bool = False,
):
    """An arc from (x0, y) to (x1, y) peaking at y + height, labelled at its peak.

    Quadratic by default; ``ellipse`` draws a half ellipse instead, which leaves and enters the
    boxes vertically: half ellipses of one aspect ratio over nested spans never cross.
    """
    mid = (x0 + x1) / 2
    if ellipse:
        theta = np.linspace(np.pi, 0, 48) if x1 > x0 else np.linspace(0, np.pi, 48)
        half = abs(x1 - x0) / 2
        points = np.column_stack([mid + half * np.cos(theta), y + height * np.sin(theta)])
        path = MplPath(points)
    else:
        path = MplPath([(x0, y), (mid, y + 2 * height), (x1, y)], [1, 3, 3])
    head = 3 + width * 0.9
    patch = FancyArrowPatch(
        path=path,
        arrowstyle=f"-|>,head_length={head / 10:.2f},head_width={head / 16:.2f}",
        mutation_scale=10,
        color=color,
        lw=width,
        alpha=0.85,
        shrinkA=0,
        shrinkB=0,
        zorder=2,
    )
    ax.add_patch(patch)
    ax.text(
        mid,
        y + height,
        label,
        ha="center",
        va="center",
        fontsize=8.5,
        color=color,
        fontweight="bold",
        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.9},
        zorder=4,
    )


def _ports(arcs: list[tuple[int, int]], inner: float, outer: float) -> list[tuple[float, float]]:
    """Where each arc (from node a to node b, all on one side of the boxes) meets its two boxes.

    At each box, arcs heading left attach on the left half and arcs heading right on the right
    half, the longer ones nearer the middle (inside the shorter ones' ends): nested arcs then
    stay nested instead of crossing, and arcs sharing a box never meet at one point.
    """
    ends: dict[int, list[tuple[int, int, int]]] = {}  # node -> (other node, arc, 0|1 for a|b)
    for k, (a, b) in enumerate(arcs):
        ends.setdefault(a, []).append((b, k, 0))
        ends.setdefault(b, []).append((a, k, 1))
    out = [[0.0, 0.0] for _ in arcs]
    for node, items in ends.items():
        for sign in (-1, 1):
            # farthest other end first: it gets the port nearest the middle of the box
            group = sorted(
                (it for it in items if (it[0] - node) * sign > 0),
                key=lambda it: (-abs(it[0] - node), it[1]),
            )
            m = len(group)
            for j, (_, k, end) in enumerate(group):
                offset = (inner + outer) / 2 if m == 1 else inner + (outer - inner) * j / (m - 1)
                out[k][end] = node + sign * offset
    return [(x0, x1) for x0, x1 in out]


def _exit_stubs(ax, x: float, y: float, moves: dict, biggest: float) -> float:
    """Short labelled arrows up from a box for its exits to lost and no decision.

    Returns the height of the top of the labels."""
    exits = [(o, moves.get(o) or 0.0) for o in ("lost", "no_decision")]
    exits = [(o, v) for o, v in exits if v]
    stub = 0.2
    for i, (outcome, value) in enumerate(exits):
        dx = 0.0 if len(exits) == 1 else (-0.06 if i == 0 else 0.06)
        ax.add_patch(
            FancyArrowPatch(
                (x + dx, y),
                (x + dx, y + stub),
                arrowstyle="-|>,head_length=0.35,head_width=0.22",
                mutation_scale=10,
                color=OUTCOME_COLORS[outcome],
                lw=1.2 + 4 * value / biggest,
                shrinkA=0,
                shrinkB=0,
                zorder=2,
            )
        )
    # the labels stacked above the stubs, lost at the bottom (the left stub)
    for i, (outcome, value) in enumerate(exits):
        name = "lost" if outcome == "lost" else "no decision"
        ax.text(
            x,
            y + stub + 0.03 + 0.17 * i,
            f"{name} {_count(value)}",
            ha="center",
            va="bottom",
            fontsize=8.5,
            color=OUTCOME_COLORS[outcome],
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.9},
            zorder=4,
        )
    return y + stub + 0.03 + 0.17 * len(exits) if exits else y


def stage_flows(summary: dict, path: Path) -> Path:
    """Mean moves per replication between states: forward arcs above, backward arcs below,
    exits to lost / no decision as short labelled stubs up from the box they leave."""
    flows = summary.get("flows") or {}
    states = _flow_states(summary)
    pos = {s: i for i, s in enumerate(states)}
    stages = set(_stage_order(summary))
    biggest = max((v for moves in flows.values() for v in moves.values()), default=0.0) or 1.0
    width = max(SLIDE[0], 1.45 * len(states) + 2)
    fig, ax = plt.subplots(figsize=(width, width * 9 / 16))
    box_w, box_h = 0.62, 0.5
    inflow = {o: sum((m.get(o) or 0.0) for m in flows.values()) for o in OUTCOMES}
    top = bottom = 0.0
    kinds = set()
    for state, x in pos.items():
        if state in stages:
            face, edge = "#ebf4ff", FORWARD_COLOR
        elif state == "dormant":
            face, edge = "#edf2f7", "#718096"
        else:
            face, edge = "white", OUTCOME_COLORS[state]
        ax.add_patch(
            FancyBboxPatch(
                (x - box_w / 2, -box_h / 2),
                box_w,
                box_h,
                boxstyle="round,pad=0.02",
                fc=face,
                ec=edge,
                lw=1.8,
                zorder=3,
            )
        )
        restarts = (flows.get(state) or {}).get(state) or 0.0
        note, note_color = None, BACKWARD_COLOR
        if restarts:
            note = f"restarted {_count(restarts)}"
        elif state in OUTCOMES and inflow[state]:
            note, note_color = f"{_count(inflow[state])} in all", edge
        if note:
            ax.text(
                x,
                -0.12,
                note,
                ha="center",
                va="center",
                fontsize=7.5,
                color=note_color,
                fontweight="bold",
                zorder=5,
            )
        ax.text(
            x,
            0.07 if note else 0,
            pretty(state),
            ha="center",
            va="center",
            fontsize=10 if len(pretty(state)) <= 10 else 8.5,
            fontweight="bold",
            zorder=5,
            wrap=True,
        )
        moves = flows.get(state) or {}
        if state not in OUTCOMES and any(moves.get(o) for o in ("lost", "no_decision")):
            kinds.update(o for o in ("lost", "no_decision") if moves.get(o))
            top = max(top, _exit_stubs(ax, x, box_h / 2, moves, biggest))
    above, below = [], []  # (src, dst, value, colour) of the arcs on each side
    for src, moves in flows.items():
        for dst, value in moves.items():
            if not value or src not in pos or dst not in pos:
                continue
            if src == dst:  # labelled inside the box
                kinds.add("restart")
                continue
            if dst in ("lost", "no_decision"):  # stubs, drawn with the boxes
                continue
            xs, xd = pos[src], pos[dst]
            width = 0.8 + 9 * value / biggest
            backward = dst == "dormant" or (dst in stages and src in stages and xd < xs)
            revived = src == "dormant" and dst in stages
            if backward:
                below.append((src, dst, value, BACKWARD_COLOR))
                kinds.add("backward")
            elif revived:
                above.append((src, dst, value, REVIVED_COLOR))
                kinds.add("revived")
            elif xd - xs == 1 and (dst in stages or (dst == "won" and src in stages)):
                # the main line: a straight arrow between neighbouring boxes
                kinds.add("forward")
                ax.add_patch(
                    FancyArrowPatch(
                        (xs + box_w / 2, -0.03),
                        (xd - box_w / 2, -0.03),
                        arrowstyle="-|>,head_length=0.6,head_width=0.4",
                        mutation_scale=10 + width,
                        color=FORWARD_COLOR,
                        lw=width,
                        shrinkA=1,
                        shrinkB=1,
                        zorder=2,
                    )
                )
                ax.text(
                    (xs + xd) / 2,
                    0.12,
                    _count(value),
                    ha="center",
                    va="bottom",
                    fontsize=8.5,
                    color=FORWARD_COLOR,
                    fontweight="bold",
                    zorder=4,
                )
            else:
                above.append((src, dst, value, FORWARD_COLOR))
                kinds.add("forward")
    # above, the box centres hold the exit stubs, so arcs attach nearer the box corners
    for side, arcs, inner, y, sign in (
        ("above", above, 0.24, box_h / 2, 1),
        ("below", below, 0.05, -box_h / 2, -1),
    ):
        ports = _ports([(pos[s], pos[d]) for s, d, _, _ in arcs], inner, box_w / 2 - 0.03)
        for (_, _, value, color), (x0, x1) in zip(arcs, ports, strict=True):
            if side == "above":  # few arcs: slanted ends keep clear of the exit labels
                height = 0.3 + 0.5 * abs(x1 - x0)
            else:  # many arcs: half ellipses of one shape, so nested spans never cross
                height = 0.55 * abs(x1 - x0)
            width = 0.8 + 9 * value / biggest
            label = _count(value)
            _arc(ax, x0, x1, y, sign * height, color, width, label, ellipse=side == "below")
            if side == "above":
                top = max(top, y + height)
            else:
                bottom = min(bottom, y - height)
    legend = {
        "forward": (FORWARD_COLOR, "Forward: to a later stage or won"),
        "backward": (BACKWARD_COLOR, "Backward (below): to an earlier stage or dormant"),
        "revived": (REVIVED_COLOR, "Revived from dormant"),
        "lost": (OUTCOME_COLORS["lost"], "Exit to lost: short arrow up from the state left"),
        "no_decision": (OUTCOME_COLORS["no_decision"], "Exit to no decision: likewise"),
    }
    handles = [
        Line2D([], [], color=c, lw=4, label=text)
        for kind, (c, text) in legend.items()
        if kind in kinds
    ]
    if "restart" in kinds:
        handles.append(
            Line2D([], [], color="none", label="'restarted N': began the same stage again")
        )
    if handles:
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.01),
            ncol=min(len(handles), 3),
            frameon=False,
            fontsize=9,
        )
    if not flows:
        ax.text(0, 1, "No moves recorded", ha="center", fontsize=12, color="#4a5568")
    # the limits hold the drawing; the 16:9 frame adds room above and below (or on the sides),
    # never stretching it: a unit up is FLOW_ASPECT of a unit across, whatever the arcs
    ax.set_xlim(-0.6, max(len(states) - 0.4, 0.6), auto=True)
    ax.set_ylim(bottom - 0.35, top + 0.25, auto=True)
    ax.set_aspect(FLOW_ASPECT, adjustable="datalim")
    ax.axis("off")
    _title(
        ax,
        summary,
        "Stage flows",
        "Mean moves per replication between states; arrow width proportional to the number; "
        "outcome boxes: total arriving",
    )
    return _finish(fig, ax, summary, path, grid=False)


def stall_causes(summary: dict, path: Path) -> Path:
    """Where the time went: stall days per deal by cause, with the share of deals touched."""
    days = summary.get("stall_days") or {}
    counts = summary.get("stall_counts") or {}
    causes = [c for c in STALL_LABELS if c in days] + [c for c in days if c not in STALL_LABELS]
    value = {c: (days[c] or {}).get("mean") or 0.0 for c in causes}
    fig, ax = plt.subplots(figsize=SLIDE)
    _title(
        ax,
        summary,
        "Where the time went",
        "Stalled days per deal by cause (mean over all deals; whiskers: 95% interval)",
    )
    if not any(value.values()):
        ax.text(
            0.5,
            0.5,
            "No stall mechanisms in this scenario:\n"
            "deals spend their time only on working through their stages.",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=13,
            color="#4a5568",
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.spines[["left", "bottom"]].set_visible(False)
        return _finish(fig, ax, summary, path, grid=False)
    causes.sort(key=lambda c: value[c])  # barh draws bottom-up: largest on top
    ys = list(range(len(causes)))
    vals = [value[c] for c in causes]
    errs = [1.96 * ((days[c] or {}).get("se") or 0.0) for c in causes]
    colors = [
        "#cbd5e0" if not value[c] else (DORMANT_COLOR if c == "dormant" else BAND_COLOR)
        for c in causes
    ]
    ax.barh(ys, vals, xerr=errs, color=colors, height=0.6, error_kw={"lw": 1, "ecolor": "#4a5568"})
    biggest = max(vals)
    ax.text(
        1.02,
        1.0,
        "Deals touched",
        transform=ax.transAxes,
        fontsize=9.5,
        fontweight="bold",
        va="bottom",
        color="#2d3748",
    )
    for y, cause, err in zip(ys, causes, errs, strict=True):
        stats = counts.get(cause) or {}
        grey = not value[cause]
        ax.text(
            value[cause] + err + biggest * 0.015,
            y,
            "none in this scenario" if grey else f"{value[cause]:.1f} days",
            va="center",
            fontsize=9.5,
            fontweight="normal" if grey else "bold",
            color="#a0aec0" if grey else "#2d3748",
        )
        touched = stats.get("touched_share") or 0.0
        share = f"{touched:.0%}" if touched >= 0.01 or not touched else f"{touched:.1%}"
        ended = stats.get("ended_share") or 0.0
        if ended >= 0.0005:
            share += f"\n({ended:.1%} ended by it)"
        ax.text(
            1.02,
            y,
            "-" if grey else share,
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize=9.5,
            color="#a0aec0" if grey else "#2d3748",
        )
    ax.set_yticks(ys)
    ax.set_yticklabels([STALL_LABELS.get(c, pretty(c)) for c in causes], fontsize=10)
    for tick, cause in zip(ax.get_yticklabels(), causes, strict=True):
        if not value[cause]:
            tick.set_color("#a0aec0")
    ax.set_xlim(0, biggest * 1.25)
    ax.set_xlabel("Stalled days per deal (mean)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return _finish(fig, ax, summary, path, grid=False)


FIGURES = {
    "bookings_fan.png": bookings_fan,
    "cumulative_bookings.png": cumulative_bookings,
    "pipeline_by_stage.png": pipeline_by_stage,
    "cycle_times.png": cycle_times,
    "stage_flows.png": stage_flows,
    "stall_causes.png": stall_causes,
}


def draw_all(summary: dict, folder: Path) -> list[Path]:
    """Every figure for a results folder; returns the files written."""
    from sim.team_plots import team_figures

    folder = Path(folder)
    return [
        *(draw(summary, folder / name) for name, draw in FIGURES.items()),
        *team_figures(summary, folder),
    ]
