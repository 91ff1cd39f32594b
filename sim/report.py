"""Text a person reads on the terminal: short, aligned, with the uncertainty shown."""

from __future__ import annotations

import math
from pathlib import Path

OUTCOME_LABELS = {"won": "Won", "lost": "Lost", "no_decision": "No decision", "open": "Still open"}


def compact(value: float, digits: int = 3, sign: bool = False) -> str:
    """12345678 -> '12.3M', 350000 -> '350k', 999 -> '999': how every amount is written.

    Args:
        digits: significant digits.
        sign: always show the sign (for differences).
    """
    plus = "+" if sign else ""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
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


def _chance(row: dict, replications: int) -> str:
    """A probability with its uncertainty; at 0 or 1 the standard error says nothing, so give
    the one-sided 95% bound instead (the rule of three: 3 / replications)."""
    p = row["probability"]
    bound = 100 * min(1.0, 3 / replications)
    if p == 0:
        return f"{0:5.1f}%   (below {bound:.1f}% at 95% confidence)"
    if p == 1:
        return f"{100:5.1f}%   (above {100 - bound:.1f}% at 95% confidence)"
    return f"{100 * p:5.1f}% +- {100 * row['se']:.1f}"


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
    lines = [
        f"{summary['scenario']}: {summary['replications']} replications, seed {summary['seed']}, "
        f"{summary['deals']['mean']:.1f} deals per replication, "
        f"horizon {summary['horizon_days']:g} days from {summary['start_date']}",
        "",
        "Outcomes (share of all deals, +- standard error)",
    ]
    for key, label in OUTCOME_LABELS.items():
        o = summary["outcomes"][key]
        lines.append(
            f"  {label:<12} {100 * o['share']:5.1f}% +- {100 * (o['share_se'] or 0):.1f}"
            f"   ({o['count_mean']:.1f} per replication)"
        )
    lines += ["", "Cycle time, days (creation to close)       P10     P50     P90    mean"]
    for key in ("won", "lost", "no_decision", "closed"):
        c = summary["cycle_days"][key]
        label = OUTCOME_LABELS.get(key, "All closed")
        lines.append(
            f"  {label:<40} {_num(c['p10']):>6}  {_num(c['p50']):>6}  {_num(c['p90']):>6}  "
            f"{_num(c['mean']):>6}"
        )
    b = summary["bookings"]
    lines += [
        "",
        f"Bookings within the horizon ({cur})",
        f"  P10 {money(b['p10'], cur)}   P50 {money(b['p50'], cur)}   P90 {money(b['p90'], cur)}"
        f"   mean {money(b['mean'], cur)} +- {money(b['se'], cur)}",
    ]
    won = summary.get("totals", {}).get("won_count")
    if won:
        lines.append(
            f"Deals won within the horizon: P10 {_num(won['p10'])}   P50 {_num(won['p50'])}   "
            f"P90 {_num(won['p90'])}   mean {_num(won['mean'], '.1f')}"
        )
    unc = summary.get("parameter_uncertainty")
    if unc is not None:
        lines.append(
            "Parameter uncertainty: "
            + (
                f"on (each replication draws its own {', '.join(unc['drawn'])})"
                if unc["used"]
                else "off (every replication on the scenario's values)"
            )
        )
    if "target" in summary:
        t = summary["target"]
        lines += ["", f"Chance of reaching {money(t['amount'], cur)} in bookings"]
        for row in t["by_period"]:
            lines.append(
                f"  by the end of {row['period']}: {_chance(row, summary['replications'])}"
            )
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
    lines = [
        "",
        "Our teams                 busy   waited   wait P50   wait P90   hours/run   cost/run",
    ]
    for name, team in teams.items():
        busy = team["utilisation"]
        wait = team["wait_days"]
        lines.append(
            f"  {name[:22]:<22} {_pct(busy):>6}   {_pct(team['waited_share']):>6}"
            f"   {_num(wait['p50'], '.1f'):>6} d   {_num(wait['p90'], '.1f'):>6} d"
            f"   {compact(team['hours']['mean']):>9}   {money(team['cost']['mean'], cur):>8}"
        )
    sale = summary["cost_of_sale"]
    per_won, own = sale["per_won_deal"], sale["per_won_deal_own_hours"]
    lines.append(
        f"  Cost of sale per won deal: {money(per_won['mean'], cur)} counting every hour, "
        f"{money(own['mean'], cur)} counting the won deals' own"
    )
    return lines


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.0f}%"
