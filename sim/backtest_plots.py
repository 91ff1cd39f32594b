"""Figures of a backtest: a fan chart per cut-off, the totals of all cut-offs, the PIT histogram.

* ``fan_<cut-off>.png``: won deals and won value by month after the cut-off, the simulated
  P10-P90 and P25-P75 bands and P50, the actual drawn over them, the run-rate baseline dashed;
* ``totals.png``: for every cut-off, the P10-P90 bar and P50 of the total won after it, the
  actual (a planner sees at once how often the bar caught it), and the two baselines the table
  compares against: the weighted pipeline (triangles) and the run rate (squares, dashed);
* ``pit.png``: where the actuals fell in the simulated distributions (a calibrated forecast
  gives a flat histogram; a U shape means bands too narrow, a hump too wide, a slope a bias);
* ``fidelity.png``: the last cut-off's fit against its own history, when it was checked.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sim.backtest import METRICS, Backtest, CutoffResult
from sim.plots import money_formatter
from sim.plural import counted
from sim.stats import p_text

_TITLES = {"won_count": "won deals", "won_value": "won value"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fan_chart(r: CutoffResult, path: Path, currency: str = "") -> Path:
    plt = _plt()
    metrics = [m for m in METRICS if m in r.scores]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.6), squeeze=False)
    x = np.arange(len(r.months))
    for ax, metric in zip(axes[0], metrics, strict=True):
        sims = r.simulated[metric]
        q = np.quantile(sims, [0.1, 0.25, 0.5, 0.75, 0.9], axis=0)
        ax.fill_between(x, q[0], q[4], color="tab:blue", alpha=0.18, lw=0, label="P10-P90")
        ax.fill_between(x, q[1], q[3], color="tab:blue", alpha=0.3, lw=0, label="P25-P75")
        ax.plot(x, q[2], color="tab:blue", lw=1.5, label="P50")
        ax.plot(x, r.baselines["run_rate"][metric], color="tab:gray", ls="--", lw=1,
                label="run rate (3 months before)")  # fmt: skip
        ax.plot(x, r.actual[metric], "o-", color="black", ms=4, lw=1, label="actual")
        ax.set_xticks(x, r.months, rotation=45, ha="right", fontsize=7)
        unit = f" ({currency})" if metric == "won_value" and currency else ""
        ax.set_title(f"{_TITLES[metric]}{unit} per month", fontsize=10)
        if metric == "won_value":  # 1.2M, not a 1e6 offset
            ax.yaxis.set_major_formatter(money_formatter())
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="best")
    fig.suptitle(
        f"Forecast made on {r.cutoff} ({counted(r.open_deals, 'deal')} open then)", fontsize=11
    )
    fig.tight_layout()
    return _save(fig, path)


def totals_chart(bt: Backtest, path: Path) -> Path:
    return _save(totals_figure(bt), path)


def totals_figure(bt: Backtest):
    """The figure of ``totals.png`` (apart, so a test can read what it draws)."""
    plt = _plt()
    metrics = [m for m in METRICS if all(m in r.scores for r in bt.results)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.8), squeeze=False)
    x = np.arange(len(bt.results))
    labels = [r.cutoff.isoformat() for r in bt.results]
    for ax, metric in zip(axes[0], metrics, strict=True):
        rows = [r.scores[metric]["total"] for r in bt.results]
        p10, p50, p90 = (np.array([s[k] for s in rows]) for k in ("p10", "p50", "p90"))
        actual = np.array([s["actual"] for s in rows])
        inside = np.array([s["in80"] for s in rows])
        ax.vlines(x, p10, p90, color="tab:blue", lw=6, alpha=0.35, label="P10-P90")
        ax.plot(x, p50, "_", color="tab:blue", ms=14, mew=2, label="P50")
        ax.plot(x[inside], actual[inside], "o", color="black", ms=5, label="actual, inside")
        ax.plot(x[~inside], actual[~inside], "x", color="tab:red", ms=7, mew=2,
                label="actual, outside")  # fmt: skip
        weighted = np.array([s["baseline_weighted"] for s in rows])
        ax.plot(x, weighted, "^", color="tab:gray", ms=5, label="weighted pipeline + run rate")
        # the table's other baseline; dashed as in the fan charts, to tell it from the weighted
        run_rate = np.array([s["baseline_run_rate"] for s in rows])
        ax.plot(x, run_rate, "s--", color="tab:gray", ms=4, lw=1,
                label="run rate (3 months before)")  # fmt: skip
        ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
        unit = f" ({bt.currency})" if metric == "won_value" and bt.currency else ""
        ax.set_title(f"total {_TITLES[metric]}{unit} after each cut-off", fontsize=10)
        if metric == "won_value":
            ax.yaxis.set_major_formatter(money_formatter())
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def pit_histogram(bt: Backtest, path: Path) -> Path:
    plt = _plt()
    pooled = bt.pooled()
    metrics = [m for m in METRICS if m in pooled]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.4), squeeze=False)
    bins = np.linspace(0, 1, 11)
    for ax, metric in zip(axes[0], metrics, strict=True):
        months = [m["pit"] for r in bt.results for m in r.scores[metric]["months"]]
        totals = [r.scores[metric]["total"]["pit"] for r in bt.results]
        ax.hist(months, bins=bins, density=True, color="tab:blue", alpha=0.5,
                label=f"months ({len(months)})")  # fmt: skip
        ax.hist(totals, bins=bins, density=True, histtype="step", color="black", lw=1.5,
                label=f"totals ({len(totals)})")  # fmt: skip
        ax.axhline(1.0, color="tab:gray", ls="--", lw=1, label="calibrated")
        p = pooled[metric]["months"]["pit_ks_p"]
        tested = f"KS {p_text(p)}" if math.isfinite(p) else "not tested"
        ax.set_title(f"PIT of {_TITLES[metric]} (months: {tested})", fontsize=10)
        ax.set_xlabel("where the actual fell in the simulated distribution")
        ax.set_xlim(0, 1)
        ax.legend(fontsize=7, loc="upper center")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def draw_backtest(bt: Backtest, folder: Path) -> list[Path]:
    """Every figure of the backtest into ``folder``."""
    folder = Path(folder)
    paths = [fan_chart(r, folder / f"fan_{r.cutoff}.png", bt.currency) for r in bt.results]
    paths.append(totals_chart(bt, folder / "totals.png"))
    paths.append(pit_histogram(bt, folder / "pit.png"))
    last = bt.results[-1]
    if last.fidelity is not None:
        from sim.fidelity import plot_fidelity

        paths.append(plot_fidelity(last.fidelity, folder / "fidelity.png"))
    return paths


def _save(fig, path: Path) -> Path:
    plt = _plt()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
