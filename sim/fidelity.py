"""Can the fitted scenario reproduce its own past? The fidelity check of ``fit`` and ``backtest``.

The fitted scenario is run over the history's own dates: from the day of its first row to
``as_of``, with the deals that were there at the first instant, and new deals arriving at the
rate the history had in each calendar month (``[inflow] by_month``), on the scenario's point
values (no parameter uncertainty: this checks the model, not the spread). Its deals are then
censored at ``as_of`` exactly as the history's are, and the two are compared by deal age (days
since a deal's first row): the cumulative incidence of won, lost and no decision, and the share
still open, by the Aalen-Johansen estimator (competing risks: a lost deal can no longer be won;
lifelines' ``AalenJohansenFitter``). The largest gap of each curve says at a glance whether the
model follows the history; the figure shows where it does not.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.atomic import atomic_file
from sim.crm import OUTCOMES
from sim.fit import FitResult
from sim.model import compile_scenario
from sim.scenario import scenario_from_dict

#: Deal ages compared: up to this quantile of the history's follow-up times (past it, few deals
#: are still watched and the curves say little).
AGE_QUANTILE = 0.95
GRID_POINTS = 200
CURVES = ("won", "lost", "no_decision", "open")


@dataclass
class FidelityCheck:
    """Observed and simulated curves on one grid of deal ages, and their largest gaps."""

    source: str
    start: dt.date
    as_of: str
    replications: int
    ages: np.ndarray
    observed: dict[str, np.ndarray]
    simulated: dict[str, np.ndarray]
    band: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    gaps: dict[str, tuple[float, float]] = field(default_factory=dict)  # curve -> (gap, at age)
    n_observed: int = 0
    n_simulated: int = 0

    @property
    def largest_gap(self) -> float:
        return max((g for g, _ in self.gaps.values()), default=math.nan)


def past_scenario(result: FitResult) -> dict:
    """The fitted scenario moved to the history's first day, its arrivals those of the history."""
    data = copy.deepcopy(result.scenario)
    start = result.window_start.date()
    end = result.as_of
    data["start_date"] = start
    seconds = (end - dt.datetime.combine(start, dt.time(0))).total_seconds()
    data["horizon_days"] = max(seconds / 86400.0, 1.0)
    data["deals"]["initial"] = dict(result.at_start)
    data["deals"].pop("seasonality", None)
    by_month = result.inflow.by_month() if result.inflow is not None else {}
    data["inflow"] = {"by_month": by_month}
    data.pop("uncertainty", None)
    return data


def check_fidelity(result: FitResult, replications: int = 10, seed: int = 1) -> FidelityCheck:
    """Simulate the history's past with the fitted scenario and compare (see the module doc)."""
    from sim.uncertainty import replication_records

    scenario = scenario_from_dict(past_scenario(result), source="fidelity check")
    model = compile_scenario(scenario)
    durations, events = [], []
    for rec in replication_records(model, seed, range(replications)):
        closed = rec.state >= model.won
        end = np.where(closed, rec.closed, model.horizon)
        durations.append(end - rec.created)
        events.append(np.where(closed, rec.state - model.won + 1, 0))
    sim_d = np.concatenate(durations) if durations else np.empty(0)
    sim_e = np.concatenate(events) if events else np.empty(0, int)
    obs_d = result.deal_end - result.deal_created
    code = {name: i + 1 for i, name in enumerate(OUTCOMES)}
    obs_e = np.array([code.get(o, 0) for o in result.deal_outcome])
    top = float(np.quantile(obs_d, AGE_QUANTILE)) if len(obs_d) else 1.0
    ages = np.linspace(0.0, max(top, 1.0), GRID_POINTS)
    observed, band = _curves(obs_d, obs_e, ages, with_band=True)
    simulated, _ = _curves(sim_d, sim_e, ages, with_band=False)
    check = FidelityCheck(
        source=result.source,
        start=scenario.start_date,
        as_of=result.as_of_text,
        replications=replications,
        ages=ages,
        observed=observed,
        simulated=simulated,
        band=band,
        n_observed=len(obs_d),
        n_simulated=len(sim_d),
    )
    for curve in observed:
        diff = np.abs(observed[curve] - simulated[curve])
        i = int(np.argmax(diff))
        check.gaps[curve] = (float(diff[i]), float(ages[i]))
    return check


def _curves(durations, events, ages, with_band: bool):
    """Aalen-Johansen cumulative incidence of each outcome seen, and the share still open."""
    from lifelines import AalenJohansenFitter

    curves: dict[str, np.ndarray] = {}
    band: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    present = sorted(set(np.unique(events).tolist()) - {0})
    total = np.zeros(len(ages))
    for k in present:
        name = OUTCOMES[k - 1]
        with warnings.catch_warnings():  # ties are jittered (seeded): lifelines warns about it
            warnings.simplefilter("ignore")
            fitter = AalenJohansenFitter(seed=0, calculate_variance=with_band)
            fitter.fit(durations, events, event_of_interest=k)
        curves[name] = _at(fitter.cumulative_density_, ages)
        total += curves[name]
        if with_band:
            ci = fitter.confidence_interval_
            a, b = (_at(ci.iloc[:, [j]], ages) for j in (0, 1))
            band[name] = (np.minimum(a, b), np.maximum(a, b))
    for name in ("won", "lost"):  # always drawn, even when the history has none
        curves.setdefault(name, np.zeros(len(ages)))
    curves["open"] = 1.0 - total
    return curves, band


def _at(frame, ages: np.ndarray) -> np.ndarray:
    """A right-continuous step function (a lifelines frame indexed by time) at given ages."""
    times = frame.index.to_numpy(float)
    values = np.nan_to_num(frame.iloc[:, 0].to_numpy(float), nan=0.0)
    values = np.maximum.accumulate(values) if len(values) else values
    j = np.searchsorted(times, ages, side="right") - 1
    return np.where(j >= 0, values[np.maximum(j, 0)], 0.0)


_LABELS = {"won": "won", "lost": "lost", "no_decision": "no decision", "open": "still open"}
_COLORS = {"won": "tab:green", "lost": "tab:red", "no_decision": "tab:gray", "open": "tab:blue"}


def fidelity_text(check: FidelityCheck) -> str:
    """Two lines for the terminal: what was compared and the largest gaps."""
    gaps = ", ".join(f"{_LABELS[c]} {g:.3f} (at day {a:.0f})" for c, (g, a) in check.gaps.items())
    return (
        f"Fidelity: the fitted scenario re-run over the history's own dates ({check.start} .. "
        f"{check.as_of}, its arrivals month by month, {check.replications} replications) "
        f"against the history, by deal age (Aalen-Johansen).\n"
        f"  Largest gap in the cumulative share: {gaps}"
    )


def plot_fidelity(check: FidelityCheck, path: Path | str) -> Path:
    """One figure: the history's curves (with their 95% band) and the simulated ones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for curve, obs in check.observed.items():
        color = _COLORS[curve]
        gap = check.gaps[curve][0]
        ax.plot(check.ages, obs, color=color, lw=1.8, label=f"{_LABELS[curve]}: history")
        if curve in check.band:
            lo, hi = check.band[curve]
            ax.fill_between(check.ages, lo, hi, color=color, alpha=0.15, lw=0)
        ax.plot(
            check.ages,
            check.simulated[curve],
            color=color,
            lw=1.4,
            ls="--",
            label=f"{_LABELS[curve]}: simulated (largest gap {gap:.2f})",
        )
    ax.set_xlim(0, check.ages[-1])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("deal age, days since its first row")
    ax.set_ylabel("share of deals")
    ax.set_title(
        f"Fitted scenario vs its own history ({Path(check.source).name}, to {check.as_of})",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path = Path(path)
    atomic_file(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path
