"""A backtest's files and terminal table: ``backtest.json``, ``backtest.csv``, the figures.

``backtest.json``: the options, every cut-off (its forecast's percentiles per month and in
total, the actuals, the baselines, the scores, the deals still open at the end) and the scores
pooled over cut-offs. ``backtest.csv``: one row per cut-off, metric and period (``total`` or
``YYYY-MM``). The terminal table speaks to a planner: "the actual fell inside the 80% band in
5 of 7 cut-offs".
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from sim.aggregate import clean_for_json
from sim.atomic import atomic_folder
from sim.backtest import BASELINES, METRICS, Backtest
from sim.plural import counted
from sim.report import compact
from sim.stats import few_replications_note, p_text
from sim.tables import Scale, render, scale_for, wrap

JSON_FILE = "backtest.json"
CSV_FILE = "backtest.csv"
SCORE_KEYS = (
    "actual",
    "mean",
    "p10",
    "p25",
    "p50",
    "p75",
    "p90",
    "in50",
    "in80",
    "pit",
    "crps",
    "p50_error",
)
_WHAT = {"won_count": "Won deals", "won_value": "Won value"}


def to_dict(bt: Backtest) -> dict:
    """Everything a script needs, JSON-ready."""
    o = bt.options
    return clean_for_json(
        {
            "source": bt.source,
            "until": o.until.isoformat(),
            "months_ahead": o.months_ahead,
            "replications": o.replications,
            "seed": o.seed,
            "scenario": "fitted at each cut-off" if o.scenario is None else o.scenario.name,
            "parameter_uncertainty": o.parameter_uncertainty,
            "currency": bt.currency,
            "notes": bt.notes,
            "pooled": bt.pooled(),
            "cutoffs": [
                {
                    "cutoff": r.cutoff.isoformat(),
                    "until": r.until.isoformat(),
                    "open_deals": r.open_deals,
                    "parameter_uncertainty_used": r.parameter_uncertainty,
                    "still_open": {
                        "simulated": _quantiles(r.still_open_simulated),
                        "actual": r.still_open_actual,
                        "history_curve": (
                            r.still_open_history if math.isfinite(r.still_open_history) else None
                        ),
                    },
                    "fidelity_largest_gap": r.fidelity_gap,
                    "scores": r.scores,
                    "baselines": {
                        name: {m: v.tolist() if hasattr(v, "tolist") else v for m, v in b.items()}
                        for name, b in r.baselines.items()
                    },
                }
                for r in bt.results
            ],
        }
    )


def _quantiles(values) -> dict:
    import numpy as np

    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if not len(values):
        return {"p10": None, "p50": None, "p90": None}
    p10, p50, p90 = np.quantile(values, [0.1, 0.5, 0.9])
    return {"p10": float(p10), "p50": float(p50), "p90": float(p90)}


def to_csv(bt: Backtest) -> str:
    """One row per cut-off, metric and period."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    baseline_cols = [f"baseline_{b}" for b in BASELINES]
    writer.writerow(["cutoff", "until", "metric", "period", *SCORE_KEYS, *baseline_cols])
    for r in bt.results:
        for metric, s in r.scores.items():
            for period, row in [("total", s["total"]), *((m["period"], m) for m in s["months"])]:
                clean = clean_for_json(row)
                writer.writerow(
                    [
                        r.cutoff.isoformat(),
                        r.until.isoformat(),
                        metric,
                        period,
                        *(clean.get(k) for k in SCORE_KEYS),
                        *(clean.get(k, "") for k in baseline_cols),
                    ]
                )
    return out.getvalue()


def open_text(n: int) -> str:
    """The deals open at a cut-off, with thousands separators like the counts beside them."""
    return f"{n:,}"


def _num(value: float, metric: str) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return compact(value) if metric == "won_value" else f"{value:,.0f}"


def table(bt: Backtest, folder: Path | None = None) -> str:
    """The terminal report: per cut-off totals, then the pooled verdicts in words."""
    o = bt.options
    first, last = bt.results[0], bt.results[-1]
    ahead = f"{o.months_ahead} months ahead" if o.months_ahead else f"to {o.until}"
    what = "fitted at each cut-off" if o.scenario is None else f"scenario {o.scenario.name}"
    unc = "on" if any(r.parameter_uncertainty for r in bt.results) else "off"
    lines = wrap(
        f"Backtest of {bt.source}: {counted(len(bt.results), 'cut-off')} "
        f"{first.cutoff} .. {last.cutoff}, "
        f"each forecast {ahead} ({what}, {o.replications} replications, seed {o.seed}, "
        f"parameter uncertainty {unc})",
        cap=None,
    )
    few = few_replications_note(o.replications, " per cut-off")
    if few:
        lines += wrap(f"Rough: {few}.", cap=None)
    for n in bt.notes:
        lines += wrap(f"Note: {n}", subsequent="  ", cap=None)
    pooled = bt.pooled()
    for metric in METRICS:
        if metric not in pooled:
            continue
        unit = f" ({bt.currency})" if metric == "won_value" and bt.currency else ""
        lines += ["", *wrap(f"{_WHAT[metric]}{unit}, total from the day after each cut-off")]
        scale = amount_scale(bt.results, metric)
        table = [
            [
                "cut-off", "open", "actual", "P10", "P50", "P90", "P50 err", "in 80%", "PIT",
                "weighted", "run rate",
            ]
        ]  # fmt: skip
        for r in bt.results:
            s = r.scores[metric]["total"]
            err = s["p50_error"] / s["actual"] if s["actual"] else math.nan
            table.append(
                [
                    r.cutoff.isoformat(),
                    open_text(r.open_deals),
                    scale(s["actual"]),
                    scale(s["p10"]),
                    scale(s["p50"]),
                    scale(s["p90"]),
                    f"{100 * err:+.0f}%" if math.isfinite(err) else "-",
                    "yes" if s["in80"] else "no",
                    f"{s['pit']:.2f}",
                    scale(s["baseline_weighted"]),
                    scale(s["baseline_run_rate"]),
                ]
            )
        lines += render(table, right=set(range(1, 11)), text=())
        for line in _verdict(pooled[metric], metric):
            lines += wrap(line.strip(), indent="  ", subsequent="    ", cap=None)
    lines += [
        "",
        *wrap(
            "Deals open at each cut-off still open at the end: simulated P50 (P10-P90), what "
            "the history's own time-to-close curve says, and the actual"
        ),
    ]
    for r in bt.results:
        q = _quantiles(r.still_open_simulated)
        if q["p50"] is None:
            continue
        lines += wrap(
            f"{r.cutoff}: {100 * q['p50']:.0f}% ({100 * q['p10']:.0f}-{100 * q['p90']:.0f}%)"
            f", history {100 * r.still_open_history:.0f}%, actual {100 * r.still_open_actual:.0f}%"
            + (f"   fidelity gap {r.fidelity_gap:.3f}" if math.isfinite(r.fidelity_gap) else ""),
            indent="  ",
            subsequent="    ",
        )
    if folder is not None:
        lines += ["", f"Results in {folder}"]
    return "\n".join(lines)


#: The amounts of a cut-off's row, written alike in the table of a metric.
AMOUNTS = ("actual", "p10", "p50", "p90", "baseline_weighted", "baseline_run_rate")


def amount_scale(results, metric: str) -> Scale:
    """How a metric's table writes its amounts (the terminal's and the report's): counts
    whole (with thousands separators), money with one suffix and precision for the table."""
    if metric == "won_value":
        totals = [r.scores[metric]["total"] for r in results]
        return scale_for([t.get(k) for t in totals for k in AMOUNTS], digits=3)
    return _Count()


class _Count(Scale):
    def __call__(self, value, sign=False, unit=""):
        return _num(value, "won_count")


def _verdict(p: dict, metric: str) -> list[str]:
    t, m = p["total"], p["months"]
    lines = [
        f"  The actual fell inside the 80% band in {t['in80']} of {counted(t['n'], 'cut-off')} "
        "(expected "
        f"{0.8 * t['n']:.1f}) and inside the 50% band in {t['in50']} of {t['n']}; "
        + (
            f"PIT uniformity {p_text(t['pit_ks_p'])} (Kolmogorov-Smirnov)."
            if math.isfinite(t["pit_ks_p"])
            else "PIT uniformity not tested (it needs two cut-offs or more)."
        ),
        f"  Mean CRPS {_num(t['crps'], metric)}; P50 off by {_num(t['p50_mae'], metric)} on "
        f"average (bias {_num(t['p50_bias'], metric)}).",
    ]
    for name, b in t["baselines"].items():
        lines.append(
            f"  Baseline {name}: off by {_num(b['mae'], metric)} on average; skill of the "
            f"simulation against it {b['skill']:+.2f} (1 - CRPS / its error; > 0 is better)."
        )
    lines.append(
        f"  By month ({m['n']} cut-off x month pairs): inside 80% in {m['in80']} "
        f"({100 * m['coverage80']:.0f}%), inside 50% in {m['in50']} ({100 * m['coverage50']:.0f}%)"
        + (
            f"; skill against the run rate {m['baselines']['run_rate']['skill']:+.2f}"
            if "run_rate" in m["baselines"]
            else ""
        )
        + "."
    )
    return lines


def write(
    bt: Backtest,
    folder: Path,
    force: bool = False,
    plots: bool = True,
    command: list[str] | None = None,
) -> list[Path]:
    """Write the folder atomically (with a manifest.json of provenance, as every results
    folder); returns the figures drawn."""
    from sim.api import provenance

    drawn: list[Path] = []
    with atomic_folder(Path(folder), force) as tmp:
        (tmp / JSON_FILE).write_text(json.dumps(to_dict(bt), indent=2) + "\n", encoding="utf-8")
        manifest = json.dumps(provenance(command), indent=2) + "\n"
        (tmp / "manifest.json").write_text(manifest, encoding="utf-8")
        (tmp / CSV_FILE).write_text(to_csv(bt), encoding="utf-8")
        if plots:
            from sim.backtest_plots import draw_backtest

            drawn = [Path(folder) / p.name for p in draw_backtest(bt, tmp)]
    return drawn
