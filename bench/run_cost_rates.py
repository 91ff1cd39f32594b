"""The rates behind sim.run_cost's time estimate, measured on this machine.

A run's time is modelled, per engine, as

    replications x (per replication + per replication with deals.csv + steps x per step
                    + deals x (per deal + per deals.csv row, when written)
                    + mechanisms x (per mechanism's replication + deals x per mechanism's deal))
    + (visits + events) x per visit

on one core, where steps are a deal's expected visits and events (the vectorized planner's
steps) and mechanisms the stall mechanisms on (budget, decision group, shocks, timing). This
script times whole runs through the API (``simulate`` on one job, results written to a temporary
folder, no plots) of shapes chosen so that each term dominates in one of them: many replications
of 50 deals of one visit, the same with ten visits a deal (a stage that loops on itself), 5,000
deals of one visit and of ten, and bundled scenarios with no stall mechanism on (chain,
textbook, transactional) and with several (b2g-fire-safety, portfolio); each with and without
deals.csv. It fits the seconds by non-negative least squares on relative errors (time per
replication against the estimate's own figures: sim.run_cost.estimate) and prints them with
each run's fit.

How the constants of sim/run_cost.py were derived: run this on a quiet machine (each engine
takes some 15-20 s), take the fitted seconds of each engine and set SECONDS_PER to about twice
them, rounded (the estimate errs long, for a busier or slower machine). The SimPy engine with
teams is not fitted here: its seconds a visit were set so that bench/teams4.toml, timed whole,
is estimated about twice long.

Usage: PYTHONPATH=. python bench/run_cost_rates.py [--engine vectorized|simpy|both]
Nothing here is a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from sim import run_cost
from sim.api import simulate
from sim.model import compile_scenario
from sim.scenario import scenario_from_dict


def shape(deals: int, loop: float) -> dict:
    """One stage of ten days that loops on itself with probability ``loop``, ``deals`` at day 0."""
    return {
        "name": f"rates-{deals}-{loop}",
        "start_date": "2027-01-01",
        "horizon_days": 730,
        "deals": {
            "initial": {"work": deals},
            "arrivals_per_month": 0,
            "amount": {"dist": "uniform", "low": 1000, "high": 2000},
        },
        "stages": [
            {
                "name": "work",
                "duration": {"dist": "exponential", "mean": 10},
                "exits": {"work": loop, "won": (1 - loop) / 2, "lost": (1 - loop) / 2},
            }
        ],
    }


#: (deals, loop, replications on the vectorized engine, on SimPy)
SHAPES = [(50, 0.0, 4000, 600), (50, 0.9, 1000, 60), (5000, 0.0, 40, 6), (5000, 0.9, 6, 2)]
#: Bundled scenarios (no stall mechanism on, or several) and their replications, per engine.
BUNDLED = [
    ("chain", 150, 20),
    ("textbook", 600, 100),
    ("transactional", 600, 60),
    ("b2g-fire-safety", 200, 40),
    ("portfolio", 100, 12),
]


def timed(scenario, replications: int, engine: str, rows: bool) -> float:
    """Seconds of one run on one job (the best of two)."""
    best = float("inf")
    for _ in range(2):
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            simulate(
                scenario, replications=replications, jobs=1, engine=engine,
                output=f"{folder}/out", plots=False, deals="csv" if rows else "none",
                progress=None, allow_large=True,
            )  # fmt: skip
            best = min(best, time.perf_counter() - started)
    return best


NAMES = (
    "replication", "rows' replication", "replication's step", "deal", "row", "visit",
    "mechanism's replication", "mechanism's deal",
)  # fmt: skip


def measure(engine: str) -> None:
    from scipy.optimize import nnls

    from sim.scenario import load_scenario

    design, seconds, labels = [], [], []
    runs = [
        (scenario_from_dict(shape(d, loop)), vec_n, simpy_n) for d, loop, vec_n, simpy_n in SHAPES
    ]
    runs += [(load_scenario(name), vec_n, simpy_n) for name, vec_n, simpy_n in BUNDLED]
    for scenario, vec_n, simpy_n in runs:
        n = vec_n if engine == "vectorized" else simpy_n
        cost = run_cost.estimate(compile_scenario(scenario), n)
        m = cost.mechanisms
        for rows in (True, False):
            t = timed(scenario, n, engine, rows)
            steps = cost.visits_per_deal + cost.events_per_deal
            design.append([1.0, float(rows), steps, cost.deals, cost.deals * rows, cost.work / n,
                           m, m * cost.deals])  # fmt: skip
            seconds.append(t / n)
            shown = f"{cost.deals:.0f} deals x {cost.visits_per_deal:.1f} visits, {m} mech."
            labels.append(f"{scenario.name[:16]}: {shown}, rows {rows:d}, n {n}")
    a, y = np.array(design), np.array(seconds)
    fit, _ = nnls(a / y[:, None], np.ones_like(y))  # relative errors, no negative seconds
    print(f"{engine}: seconds on one core")
    for name, value in zip(NAMES, fit, strict=True):
        print(f"  per {name:<24} {value:.3g}")
    for label, row, measured in zip(labels, a, y, strict=True):
        print(f"  {label:<62} measured {measured * 1e3:8.3f} ms/rep, fit {row @ fit * 1e3:8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["vectorized", "simpy", "both"], default="both")
    args = parser.parse_args()
    for engine in ("vectorized", "simpy") if args.engine == "both" else (args.engine,):
        measure(engine)


if __name__ == "__main__":
    main()
