"""Text a person reads on the terminal: short, aligned, with the uncertainty shown."""

from __future__ import annotations

import calendar
import datetime as dt
import math
from pathlib import Path

from sim.calendar import last_day
from sim.plural import counted
from sim.stats import few_replications_note
from sim.tables import MONEY_SUFFIXES, nobreak, render, scale_for, wrap

OUTCOME_LABELS = {"won": "Won", "lost": "Lost", "no_decision": "No decision", "open": "Still open"}


def compact(value: float, digits: int = 3, sign: bool = False) -> str:
    """12345678 -> '12.3M', 350000 -> '350k', 999 -> '999', 2e12 -> '2T': how every amount is
    written.

    Args:
        digits: significant digits.
        sign: always show the sign (for differences).
    """
    plus = "+" if sign else ""
    for size, suffix in MONEY_SUFFIXES:
        if abs(value) >= size * (1 - 0.5 * 10**-digits):  # 999,999 is '1M', not '1e+03k'
            text = f"{value / size:{plus}.{digits}g}"
            return (text if "e" not in text else f"{value / size:{plus}.0f}") + suffix
    text = f"{value:{plus}.{digits}g}"
    return text if "e" not in text else f"{value:{plus}.0f}"


def money(value: float | None, currency: str) -> str:
    """350000 -> '350k EUR'; 12.3e6 -> '12.3M EUR'."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{compact(value)} {currency}"


def _num(value: float | None, fmt: str = ".0f") -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return format(value, fmt)


def target_when(period: str, summary: dict) -> str:
    """'the end of 2028-09', or '2028-12-30 (the horizon's end)' when the horizon stops before
    that month's last day (the chance is then of reaching the target by the last day simulated).
    """
    start = dt.date.fromisoformat(str(summary["start_date"])[:10])
    end = last_day(start, float(summary["horizon_days"]))
    year, month = int(period[:4]), int(period[5:7])
    if (year, month) == (end.year, end.month) and end.day < calendar.monthrange(year, month)[1]:
        return f"{end.isoformat()} (the horizon's end)"
    return f"the end of {period}"


def _chance(row: dict, replications: int) -> str:
    """The chance of reaching the target by one period, as one text (the HTML report's)."""
    return " ".join(_chance_cells(row, replications))


def _chance_cells(row: dict, replications: int) -> list[str]:
    """A probability with its uncertainty; at 0 or 1 the standard error says nothing, so give
    the exact one-sided 95% bound instead (Clopper-Pearson, 1 - 0.05 ** (1 / replications):
    the rule of three's 3 / replications for many, but below 100% for few: 63.2% for 3)."""
    p = row["probability"]
    bound = 100 * (1 - 0.05 ** (1 / replications))
    if p == 0:
        return [f"{0:.1f}%", f"(below {bound:.1f}% at 95% confidence)"]
    if p == 1:
        return [f"{100:.1f}%", f"(above {100 - bound:.1f}% at 95% confidence)"]
    return [f"{100 * p:.1f}%", f"+- {100 * row['se']:.1f}"]


def stall_table_wanted(scenario) -> bool:
    """The stall table is worth printing only when the scenario has a cause of stalls
    (a budget cycle, decision-group changes, shocks, market timing or dormant deals)."""
    return any(
        (
            scenario.budget is not None,
            bool(scenario.decision_group),
            scenario.shocks is not None,
            scenario.timing is not None,
            scenario.dormant is not None,
        )
    )


def run_summary(summary: dict, folder: Path | None) -> str:
    """The terminal summary of a run: outcomes, cycle times, bookings, where the files are."""
    cur = summary["currency"]
    lines = wrap(
        f"{summary['scenario']}: {counted(summary['replications'], 'replication')}, "
        f"seed {summary['seed']}, "
        f"{summary['deals']['mean']:.1f} deals per replication, "
        f"horizon {summary['horizon_days']:g} days from {summary['start_date']}",
        cap=None,
    )
    few = few_replications_note(summary["replications"])
    if few:
        lines += wrap(f"Rough: {few}.", cap=None)
    lines += ["", "Outcomes (share of all deals, +- standard error)"]
    rows = []
    for key, label in OUTCOME_LABELS.items():
        o = summary["outcomes"][key]
        rows.append(
            [
                label,
                f"{100 * o['share']:.1f}%",
                f"+- {100 * (o['share_se'] or 0):.1f}",
                f"({o['count_mean']:.1f} per replication)",
            ]
        )
    lines += render(rows, right={1}, text={0, 3}, header=False)
    lines.append("")
    rows = [["Cycle time, days (creation to close)", "P10", "P50", "P90", "mean"]]
    for key in ("won", "lost", "no_decision", "closed"):
        c = summary["cycle_days"][key]
        label = OUTCOME_LABELS.get(key, "All closed")
        rows.append([label] + [_num(c[q]) for q in ("p10", "p50", "p90", "mean")])
    lines += render(rows, right={1, 2, 3, 4}, head_indent=0)
    b = bookings_texts(summary)
    lines += ["", f"Bookings within the horizon ({cur})"]
    lines += wrap(
        "   ".join(nobreak(f"{q.upper()} {b[q]}") for q in ("p10", "p50", "p90"))
        + "   "
        + nobreak(f"mean {b['mean']} +- {b['se']}"),
        indent="  ",
        cap=None,
    )
    won = summary.get("totals", {}).get("won_count")
    if won:
        lines += wrap(
            "Deals won within the horizon: "
            + "   ".join(nobreak(f"{q.upper()} {_num(won[q])}") for q in ("p10", "p50", "p90"))
            + "   "
            + nobreak(f"mean {_num(won['mean'], '.1f')}"),
            subsequent="  ",
            cap=None,
        )
    unc = summary.get("parameter_uncertainty")
    if unc is not None:
        lines += wrap(
            "Parameter uncertainty: "
            + (
                f"on (each replication draws its own {', '.join(unc['drawn'])})"
                if unc["used"]
                else "off (every replication on the scenario's values)"
            ),
            subsequent="  ",
            cap=None,
        )
    if "target" in summary:
        t = summary["target"]
        lines += ["", f"Chance of reaching {money(t['amount'], cur)} in bookings"]
        rows = [
            [
                f"by {target_when(row['period'], summary)}:",
                *_chance_cells(row, summary["replications"]),
            ]
            for row in t["by_period"]
        ]
        lines += render(rows, right={1}, text={2}, header=False)
    lines += team_lines(summary)
    if folder is not None:
        lines += ["", f"Results in {folder}"]
    return "\n".join(lines)


def team_lines(summary: dict) -> list[str]:
    """Our own people: how busy each team was, how long deals waited, what the work cost."""
    teams = summary.get("teams")
    if not teams:
        return []
    cur = summary["currency"]
    hours, cost = team_scales(summary)
    rows = [["Our teams", "busy", "waited", "wait P50", "wait P90", "hours/run", "cost/run"]]
    for name, team in teams.items():
        wait = team["wait_days"]
        rows.append(
            [
                name,
                _pct(team["utilisation"]),
                _pct(team["waited_share"]),
                f"{_num(wait['p50'], '.1f')} d",
                f"{_num(wait['p90'], '.1f')} d",
                hours(team["hours"]["mean"]),
                cost(team["cost"]["mean"], unit=cur),
            ]
        )
    lines = ["", *render(rows, right=set(range(1, 7)), head_indent=0)]
    sale = cost_of_sale_texts(summary)
    lines += wrap(
        f"Cost of sale per won deal: {sale['per_won']} counting every hour, "
        f"{sale['own']} counting the won deals' own",
        indent="  ",
        subsequent="    ",
        cap=None,
    )
    return lines


def bookings_texts(summary: dict) -> dict[str, str]:
    """The bookings' P10, P50, P90 and mean with one scale (13.1M, 14.9M, 17.1M, 15.0M: not
    15M), and the mean's standard error on its own: the terminal's and the report's."""
    b, cur = summary["bookings"], summary["currency"]
    scale = scale_for([b[q] for q in ("p10", "p50", "p90", "mean")])
    texts = {q: scale(b[q], unit=cur) for q in ("p10", "p50", "p90", "mean")}
    return {**texts, "se": money(b["se"], cur)}


def cost_of_sale_texts(summary: dict) -> dict[str, str]:
    """The cost of sale per won deal, counting every hour and the won deals' own, with one
    scale (22.3k beside 6.6k, not 22k beside 6.47k); the total's mean and 8 in 10 range with
    another; a standard error on its own."""
    cur, sale = summary["currency"], summary["cost_of_sale"]
    per_won, own, total = sale["per_won_deal"], sale["per_won_deal_own_hours"], sale["total"]
    each = scale_for([per_won["mean"], own["mean"]])
    whole = scale_for([total[k] for k in ("mean", "p10", "p90")])
    return {
        "per_won": each(per_won["mean"], unit=cur),
        "own": each(own["mean"], unit=cur),
        "per_won_se": money(per_won["se"], cur),
        **{f"total_{k}": whole(total[k], unit=cur) for k in ("mean", "p10", "p90")},
    }


def team_scales(summary: dict):
    """How the team table writes hours and cost: one :class:`sim.tables.Scale` per column."""
    teams = summary.get("teams") or {}
    return (
        scale_for([t["hours"]["mean"] for t in teams.values()]),
        scale_for([t["cost"]["mean"] for t in teams.values()]),
    )


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.0f}%"
