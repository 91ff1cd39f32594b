"""The rates behind sim.run_cost's time estimate, measured on this machine.

A run's time is modelled, per engine, as

    replications x (per replication + deals x (per deal + per deals.csv row, when written)
                    + (visits + events) x per visit)

on one core. This script times whole runs through the API (``simulate`` on one job, results
written to a temporary folder, no plots) of a few shapes chosen so that each term dominates in
one of them: many replications of 50 deals of one visit, the same with ten visits a deal (a
stage that loops on itself), 5,000 deals of one visit and of ten, and each of these with and without
deals.csv. It fits the four seconds by least squares (time per replication against the
estimate's own figures: sim.run_cost.estimate) and prints them with each run's fit.

How the constants of sim/run_cost.py were derived: run this on an idle machine (a sitting took
some 40 s), take the fitted seconds of each engine and set the module's constants to about twice
them (SECONDS_PER_*: the estimate errs long, for a busier or slower machine, as it did before).

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
SHAPES = [(50, 0.0, 6000, 1000), (50, 0.9, 2000, 100), (5000, 0.0, 60, 10), (5000, 0.9, 10, 2)]


def timed(data: dict, replications: int, engine: str, rows: bool) -> float:
    """Seconds of one run on one job (the best of two)."""
    best = float("inf")
    for _ in range(2):
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            simulate(
                scenario_from_dict(data), replications=replications, jobs=1, engine=engine,
                output=f"{folder}/out", plots=False, deals="csv" if rows else "none",
                progress=None, allow_large=True,
            )  # fmt: skip
            best = min(best, time.perf_counter() - started)
    return best


NAMES = ("replication", "rows' replication", "replication's step", "deal", "row", "visit")


def measure(engine: str) -> None:
    design, seconds, labels = [], [], []
    for deals, loop, vec_n, simpy_n in SHAPES:
        n = vec_n if engine == "vectorized" else simpy_n
        data = shape(deals, loop)
        cost = run_cost.estimate(compile_scenario(scenario_from_dict(data)), n)
        for rows in (True, False):
            t = timed(data, n, engine, rows)
            steps = cost.visits_per_deal + cost.events_per_deal
            design.append([1.0, float(rows), steps, cost.deals, cost.deals * rows, cost.work / n])
            seconds.append(t / n)
            labels.append(f"{deals} deals x {cost.visits_per_deal:.1f} visits, rows {rows}, n {n}")
    a, y = np.array(design), np.array(seconds)
    fit, *_ = np.linalg.lstsq(a / y[:, None], np.ones_like(y), rcond=None)  # relative errors
    print(f"{engine}: seconds on one core")
    for name, value in zip(NAMES, fit, strict=True):
        print(f"  per {name:<20} {value:.3g}")
    for label, row, measured in zip(labels, a, y, strict=True):
        print(f"  {label:<45} measured {measured * 1e3:8.3f} ms/rep, fit {row @ fit * 1e3:8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["vectorized", "simpy", "both"], default="both")
    args = parser.parse_args()
    for engine in ("vectorized", "simpy") if args.engine == "both" else (args.engine,):
        measure(engine)


if __name__ == "__main__":
    main()
