"""The report of a backtest folder (``backtest.json``): would the forecast have been right?

For each cut-off, the forecast made from what was known then against what happened: the
coverage table (P10/P50/P90 against the actual, in the 50% and 80% bands, PIT), the scores
pooled over cut-offs against the sales team's baselines, the deals still open at the end, and
what such a backtest cannot tell.

The figures are redrawn as SVG by the functions that drew the folder's PNGs
(sim.backtest_plots), from what backtest.json keeps. Those functions read a
:class:`sim.backtest.Backtest`; :class:`BacktestFile` and :class:`CutoffFile` hold the same
fields, rebuilt from the JSON. The replications themselves are not in the folder, only their
percentiles per month: a fan chart needs just those, so the simulated values are given as a
21-member ensemble whose ``np.quantile`` at 10, 25, 50, 75 and 90% are exactly the stored
percentiles (members 2, 5, 10, 15 and 18 of 0..20; :func:`quantile_ensemble`). The check of the
last fit against its own history (``fidelity.png``) is not in the JSON: its PNG is inlined.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.backtest import BASELINES, METRICS
from sim.backtest_report import (
    JSON_FILE,
    _num,
    _verdict,
    amount_scale,
    open_text,
)
from sim.errors import UserError
from sim.html.page import nan_for_null, png_figure, read_json, svg_figure
from sim.html.whatif import _require
from sim.scores import QUANTILES
from sim.stats import p_text

KEYS = ("source", "until", "replications", "seed", "scenario", "pooled", "cutoffs")
WHAT = {"won_count": "Won deals", "won_value": "Won value"}
BASELINE_WORDS = {
    "weighted": "Weighted pipeline + run rate of new business",
    "run_rate": "Run rate (the three months before)",
}
FIDELITY_PNG = "fidelity.png"
STALLED_MORE = (
    "after the cut-off, old deals stalled more than the history up to it showed, so the "
    "simulation closes them too soon"
)
CLOSED_FASTER = (
    "after the cut-off, old deals closed faster than the history up to it showed, so the "
    "simulation keeps them open too long"
)

#: Where each stored percentile sits in the 21-member ensemble (np.quantile's linear rule puts
#: quantile q of n values at position q (n - 1): 2, 5, 10, 15 and 18 of 20).
ENSEMBLE_SIZE = 21
_POSITIONS = tuple(round(q * (ENSEMBLE_SIZE - 1)) for q in QUANTILES)


def quantile_ensemble(rows: list[dict]) -> np.ndarray:
    """(21, months) values whose percentiles per month are the stored P10, P25, P50, P75, P90.

    Each stored percentile fills the members from its position down to the previous one's, so
    the members are sorted and np.quantile at each level lands on a member equal to it.
    """
    out = np.empty((ENSEMBLE_SIZE, len(rows)))
    for m, row in enumerate(rows):
        start = 0
        for q, position in zip(QUANTILES, _POSITIONS, strict=True):
            out[start : position + 1, m] = row[f"p{round(100 * q)}"]
            start = position + 1
        out[start:, m] = row["p90"]
    return out


@dataclass
class CutoffFile:
    """One cut-off of backtest.json, with what sim.backtest_plots reads of a CutoffResult."""

    cutoff: dt.date
    until: dt.date
    open_deals: int
    months: list[str]
    scores: dict
    simulated: dict[str, np.ndarray]
    actual: dict[str, np.ndarray]
    baselines: dict
    still_open: dict
    fidelity_gap: float | None


@dataclass
class BacktestFile:
    """backtest.json, with what sim.backtest_plots reads of a Backtest."""

    results: list[CutoffFile]
    currency: str
    pooled_scores: dict

    def pooled(self) -> dict:
        return self.pooled_scores


def _cutoff(entry: dict, path: Path) -> CutoffFile:
    try:
        scores = nan_for_null(entry["scores"])
        metrics = [m for m in METRICS if m in scores]
        months = [row["period"] for row in scores[metrics[0]]["months"]]
        return CutoffFile(
            cutoff=dt.date.fromisoformat(entry["cutoff"]),
            until=dt.date.fromisoformat(entry["until"]),
            open_deals=entry["open_deals"],
            months=months,
            scores=scores,
            simulated={m: quantile_ensemble(scores[m]["months"]) for m in metrics},
            actual={m: np.array([row["actual"] for row in scores[m]["months"]]) for m in metrics},
            baselines=nan_for_null(entry["baselines"]),
            still_open=nan_for_null(entry.get("still_open") or {}),
            fidelity_gap=entry.get("fidelity_largest_gap"),
        )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise UserError(
            f"{path}: cut-off {entry.get('cutoff', '?')} is not as dealsim backtest writes it "
            f"({type(exc).__name__}: {exc})"
        ) from None


def backtest_of(data: dict, path: Path) -> BacktestFile:
    if not data["cutoffs"]:
        raise UserError(f"{path}: no cut-off in it")
    results = [_cutoff(entry, path) for entry in data["cutoffs"]]
    return BacktestFile(results, data.get("currency") or "", nan_for_null(data["pooled"]))


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def figures(bt: BacktestFile, folder: Path) -> dict:
    from sim.backtest_plots import fan_chart, pit_histogram, totals_chart

    value = " and won value" if "won_value" in bt.pooled_scores else ""
    return {
        "totals": svg_figure(
            lambda path: totals_chart(bt, path),
            "Every cut-off: the band and what happened",
            f"For each cut-off, the simulated P10-P90 of the won deals{value} after it (bar) and "
            "its P50 (tick), the actual (black dot inside the band, red cross outside) and the "
            "weighted pipeline's forecast (grey triangle).",
        ),
        "fans": [
            svg_figure(
                lambda path, r=r: fan_chart(r, path, bt.currency),
                f"Forecast made on {r.cutoff.isoformat()}, month by month",
                f"Won deals{value} in each month after the cut-off: the simulated P10-P90 (light) "
                "and P25-P75 (dark) bands and the P50 line, the actual (black dots), and the "
                "run rate of the three months before the cut-off (dashed).",
            )
            for r in bt.results
        ],
        "pit": svg_figure(
            lambda path: pit_histogram(bt, path),
            "Where the actuals fell in the forecasts (PIT)",
            "For a calibrated forecast the PIT values are uniform: the bars stay near the dashed "
            "line. A U shape means bands too narrow, a hump bands too wide, a slope a bias.",
        ),
        "fidelity": png_figure(
            folder / FIDELITY_PNG,
            "The last cut-off's fit against its own history",
            "The fitted scenario replayed against the history it was fitted to (--fidelity).",
        ),
    }


# ---------------------------------------------------------------------------------------------
# Tables and words
# ---------------------------------------------------------------------------------------------


def _error_pct(row: dict) -> str:
    """The P50's error as a share of the actual, as the terminal writes it: '+15%'."""
    err = row["p50_error"] / row["actual"] if row["actual"] else math.nan
    return f"{100 * err:+.0f}%" if math.isfinite(err) else "-"


def _pit(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "-"


def coverage_rows(bt: BacktestFile, metric: str) -> list[dict]:
    """The terminal's per cut-off table of one metric, as cells."""
    rows = []
    scale = amount_scale(bt.results, metric)  # as the terminal's table writes the amounts
    for r in bt.results:
        s = r.scores[metric]["total"]
        rows.append(
            {
                "cutoff": r.cutoff.isoformat(),
                "open": open_text(r.open_deals),
                "actual": scale(s["actual"]),
                "p10": scale(s["p10"]),
                "p50": scale(s["p50"]),
                "p90": scale(s["p90"]),
                "error": _error_pct(s),
                "in50": s["in50"],
                "in80": s["in80"],
                "pit": _pit(s["pit"]),
                "weighted": scale(s.get("baseline_weighted", math.nan)),
                "run_rate": scale(s.get("baseline_run_rate", math.nan)),
            }
        )
    return rows


def _skill(value: float) -> str:
    return f"{value:+.2f}" if math.isfinite(value) else "-"


def score_rows(pooled: dict, metric: str) -> list[dict]:
    """The simulation and each baseline: how far off on average, in total and by month, and the
    simulation's skill against each (1 - its CRPS / the baseline's error; > 0 is better)."""
    t, m = pooled["total"], pooled["months"]
    rows = [
        {
            "name": "This forecast (its P50)",
            "key": None,
            "total_error": _num(t["p50_mae"], metric),
            "total_skill": f"CRPS {_num(t['crps'], metric)}",
            "month_error": _num(m["p50_mae"], metric),
            "month_skill": f"CRPS {_num(m['crps'], metric)}",
        }
    ]
    for name in BASELINES:
        total = t["baselines"].get(name)
        month = m["baselines"].get(name)
        if total is None and month is None:
            continue
        rows.append(
            {
                "name": BASELINE_WORDS[name],
                "key": name,
                "total_error": _num(total["mae"], metric) if total else "-",
                "total_skill": _skill(total["skill"]) if total else "-",
                "skill_value": total["skill"] if total else None,
                "month_error": _num(month["mae"], metric) if month else "(totals only)",
                "month_skill": _skill(month["skill"]) if month else "-",
            }
        )
    return rows


def headline_cards(pooled: dict, metric: str) -> list[dict]:
    t = pooled["total"]
    n = t["n"]
    cards = [
        {
            "good": False,
            "bad": False,
            "key": f"pooled.{metric}.total.in80",
            "value": t["in80"],
            "text": f"{t['in80']} of {n}",
            "label": f"cut-offs whose actual fell inside the 80% band (expected {0.8 * n:.1f})",
        },
        {
            "good": False,
            "bad": False,
            "key": f"pooled.{metric}.total.in50",
            "value": t["in50"],
            "text": f"{t['in50']} of {n}",
            "label": f"inside the 50% band (expected {0.5 * n:.1f})",
        },
        {
            "good": False,
            "bad": math.isfinite(t["pit_ks_p"]) and t["pit_ks_p"] < 0.05,
            "key": f"pooled.{metric}.total.pit_ks_p",
            "value": t["pit_ks_p"],
            "text": p_text(t["pit_ks_p"]) if math.isfinite(t["pit_ks_p"]) else "-",
            "label": "PIT uniformity (Kolmogorov-Smirnov p; below 0.05 says not calibrated)",
        },
    ]
    for name, b in t["baselines"].items():
        cards.append(
            {
                "key": f"pooled.{metric}.total.baselines.{name}.skill",
                "value": b["skill"],
                "text": _skill(b["skill"]),
                "label": f"skill against the {BASELINE_WORDS[name].lower()} (> 0: better)",
                "good": math.isfinite(b["skill"]) and b["skill"] > 0,
                "bad": math.isfinite(b["skill"]) and b["skill"] < 0,
            }
        )
    return cards


def _share(value: float) -> str:
    return f"{100 * value:.0f}%" if math.isfinite(value) else "-"


def still_open_rows(bt: BacktestFile) -> list[dict]:
    """The deals open at each cut-off still open at the end: simulated band, what the history's
    own time-to-close curve says, and the actual."""
    rows = []
    for r in bt.results:
        sim, actual = r.still_open.get("simulated") or {}, r.still_open.get("actual", math.nan)
        p10, p50, p90 = (sim.get(k, math.nan) for k in ("p10", "p50", "p90"))
        if not math.isfinite(p50):
            continue
        if actual > p90:
            verdict, why = "more stayed open than simulated", STALLED_MORE
        elif actual < p10:
            verdict, why = "fewer stayed open than simulated", CLOSED_FASTER
        else:
            verdict, why = "inside the simulated band", ""
        gap = r.fidelity_gap
        rows.append(
            {
                "cutoff": r.cutoff.isoformat(),
                "simulated": f"{_share(p50)} ({100 * p10:.0f}-{_share(p90)})",  # as the terminal
                "history": _share(r.still_open.get("history_curve", math.nan)),
                "actual": _share(actual),
                "verdict": verdict,
                "outside": bool(why),
                "why": why,
                "fidelity": f"{gap:.3f}" if gap is not None and math.isfinite(gap) else "-",
            }
        )
    return rows


def _overlap(bt: BacktestFile) -> bool:
    """Do any two forecast windows (cut-off, end] overlap?"""
    results = sorted(bt.results, key=lambda r: r.cutoff)
    return any(b.cutoff < a.until for a, b in zip(results, results[1:], strict=False))


def limits(data: dict, bt: BacktestFile) -> list[str]:
    """What this backtest cannot tell, from its own numbers first, then what no backtest does."""
    out = list(data.get("notes") or [])
    n = len(bt.results)
    pooled = bt.pooled_scores
    first = next(iter(pooled.values()))["total"]
    if n > 1 and _overlap(bt):
        out.append(
            f"The {n} forecast windows overlap (they share months up to {data['until']}), so "
            "their errors are correlated: 'inside the band in k of "
            f"{n}' is not {n} independent trials, and the PIT test over them is only indicative."
        )
    elif n > 1:
        out.append(
            "The forecast windows do not overlap, but each later cut-off's fit has seen the "
            "earlier windows: the forecasts are closer to independent than overlapping ones, "
            "not fully."
        )
    tolerance = first.get("tolerance80", math.nan)
    if math.isfinite(tolerance) and n < 20:
        spread = tolerance * n
        out.append(
            f"With {n} cut-off{'s' if n != 1 else ''}, chance alone moves the 80% band's count "
            f"by about ±{spread:.1f} around the {0.8 * n:.1f} expected (two binomial standard "
            "errors): a coverage count this small can show a badly wrong forecast, not prove a "
            "good one."
        )
    for row in still_open_rows(bt):
        if row["outside"]:
            out.append(
                f"Of the deals open on {row['cutoff']}, {row['actual']} were still open at the "
                f"end; the simulation said {row['simulated']}: {row['why']}."
            )
    for metric, p in pooled.items():
        m = p["months"]
        low = 0.5 - m.get("tolerance50", math.nan)
        if math.isfinite(low) and m["coverage50"] < low:
            out.append(
                f"{WHAT[metric]} month by month fell inside the 50% band in "
                f"{_share(m['coverage50'])} of {m['n']} cut-off x month pairs, fewer than "
                "chance allows: the monthly actuals swing more than the bands, a rhythm the "
                "model does not know (a quarter-end push, say) or bands too narrow."
            )
    if "won_value" not in pooled:
        out.append("The history has no amounts: only the won count is scored, not the value.")
    if not data.get("parameter_uncertainty", True):
        out.append(
            "Parameter uncertainty was off (--no-parameter-uncertainty): the bands hold only "
            "the luck of the deals, as if every fitted number were known exactly."
        )
    if data["scenario"] == "fitted at each cut-off":
        out.append(
            "The fit draws a deal's outcome independently of how long it took, and a visit's "
            "length independently of when it began: a history whose quick deals win more, or "
            "whose deals stall more as time goes on, is only approximated."
        )
    out.append(
        "What the history cannot tell: a product launch, a price change, a new sales team, a "
        "market turning. Each forecast knows only what the history held at its cut-off."
    )
    return out


def _subtitle(data: dict, bt: BacktestFile) -> str:
    """The terminal's first line, less the source (the title has it)."""
    first, last = bt.results[0].cutoff, bt.results[-1].cutoff
    ahead = (
        f"{data['months_ahead']} months ahead"
        if data.get("months_ahead")
        else f"to {data['until']}"
    )
    scenario = data["scenario"]
    what = scenario if scenario == "fitted at each cut-off" else f"scenario {scenario}"
    used = any(c.get("parameter_uncertainty_used") for c in data["cutoffs"])
    n = len(bt.results)
    span = f"{first} .. {last}" if n > 1 else f"{first}"
    return (
        f"{n} cut-off{'s' if n != 1 else ''} {span}, each forecast {ahead} ({what}, "
        f"{data['replications']} replications, seed {data['seed']}, parameter uncertainty "
        f"{'on' if used else 'off'})"
    )


def metric_blocks(bt: BacktestFile, currency: str) -> list[dict]:
    blocks = []
    for metric in METRICS:
        if metric not in bt.pooled_scores:
            continue
        pooled = bt.pooled_scores[metric]
        unit = f" ({currency})" if metric == "won_value" and currency else ""
        blocks.append(
            {
                "metric": metric,
                "title": f"{WHAT[metric]}{unit}",
                "cards": headline_cards(pooled, metric),
                "verdict": [line.strip() for line in _verdict(pooled, metric)],
                "rows": coverage_rows(bt, metric),
                "scores": score_rows(pooled, metric),
            }
        )
    return blocks


def provenance(data: dict) -> list[tuple[str, str]]:
    return [
        ("History", str(data["source"])),
        ("Forecast to", str(data["until"])),
        ("Months ahead", str(data.get("months_ahead") or "all, to the end")),
        ("Scenario", str(data["scenario"])),
        ("Replications per cut-off", str(data["replications"])),
        ("Seed", str(data["seed"])),
        ("Parameter uncertainty", "on" if data.get("parameter_uncertainty", True) else "off"),
    ]


def read_backtest(folder: Path) -> dict:
    """The template context of a backtest folder's report."""
    folder = Path(folder)
    path = folder / JSON_FILE
    data = read_json(path)
    _require(data, KEYS, path)
    bt = backtest_of(data, path)
    if not bt.pooled_scores:
        raise UserError(f"{path}: no pooled scores; was it written by dealsim backtest?")
    currency = data.get("currency") or ""
    history = Path(str(data["source"])).name
    return {
        "title": f"Backtest of {history}",
        "history": history,
        "subtitle": _subtitle(data, bt),
        "blocks": metric_blocks(bt, currency),
        "figures": figures(bt, folder),
        "still_open": still_open_rows(bt),
        "limits": limits(data, bt),
        "provenance": provenance(data),
        "data": data,
    }


__all__ = ["BacktestFile", "CutoffFile", "quantile_ensemble", "read_backtest"]
