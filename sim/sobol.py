"""Sobol indices with SALib: its Saltelli design (a scrambled Sobol' sequence) and its analysis.

We do not write our own scheme: SALib samples ``N x (parameters + 2)`` points (no second-order
indices) and estimates first-order (S1) and total (ST) indices with bootstrap intervals. This
module adapts its interface to our parameters, handles a metric that does not move, and says
when the intervals are too wide to rank the parameters.
"""

from __future__ import annotations

import math

import numpy as np

from sim.errors import UserError
from sim.factors import Factor

__all__ = [
    "RESAMPLES",
    "WIDE_INTERVAL",
    "check_samples",
    "samples_for",
    "sobol_indices",
    "sobol_problem",
    "sobol_rows",
    "sobol_sample",
    "sobol_warnings",
]

#: Bootstrap resamples of SALib's analysis.
RESAMPLES = 1000
#: A Sobol interval wider than this (half-width, in index units) draws a warning.
WIDE_INTERVAL = 0.1


def sobol_problem(factors: list[Factor]) -> dict:
    """SALib's problem definition: names and bounds."""
    return {
        "num_vars": len(factors),
        "names": [f.key for f in factors],
        "bounds": [[float(f.low), float(f.high)] for f in factors],
    }


def sobol_sample(factors: list[Factor], samples: int, seed: int) -> np.ndarray:
    """SALib's Saltelli design: ``samples x (parameters + 2)`` rows, whole-number keys rounded."""
    from SALib.sample import sobol as sobol_sampling

    x = sobol_sampling.sample(
        sobol_problem(factors), samples, calc_second_order=False, scramble=True, seed=seed
    )
    for j, factor in enumerate(factors):
        if factor.integer:
            x[:, j] = np.round(x[:, j])
    return x


def sobol_indices(problem: dict, y: np.ndarray, level: float, seed: int) -> dict[str, np.ndarray]:
    """First-order and total indices with bootstrap interval half-widths (SALib's analysis).

    A metric that does not move at all has every index 0 (SALib would divide by zero).
    """
    from SALib.analyze import sobol as sobol_analysis

    d = problem["num_vars"]
    if np.ptp(y) == 0:
        zeros = np.zeros(d)
        return {"S1": zeros, "S1_conf": zeros, "ST": zeros, "ST_conf": zeros}
    found = sobol_analysis.analyze(
        problem,
        np.asarray(y, dtype=float),
        calc_second_order=False,
        num_resamples=RESAMPLES,
        conf_level=level,
        seed=seed + 1,  # SALib takes a seed of 0 as "no seed"
    )
    return {k: np.asarray(found[k], dtype=float) for k in ("S1", "S1_conf", "ST", "ST_conf")}


def _index(value: float, conf: float) -> dict[str, float]:
    return {"value": value, "ci_low": value - conf, "ci_high": value + conf, "half_width": conf}


def sobol_rows(factors: list[Factor], indices: dict[str, np.ndarray]) -> list[dict]:
    """One row per factor, largest total index first."""
    rows = [
        {
            **factor.describe(),
            "S1": _index(float(indices["S1"][j]), float(indices["S1_conf"][j])),
            "ST": _index(float(indices["ST"][j]), float(indices["ST_conf"][j])),
        }
        for j, factor in enumerate(factors)
    ]
    rows.sort(key=lambda r: -r["ST"]["value"])
    return rows


def samples_for(half_width: float, samples: int, target: float = WIDE_INTERVAL) -> int:
    """The power of 2 of samples whose intervals should be about ``target`` wide (1/sqrt(N))."""
    needed = samples * (half_width / target) ** 2
    return int(2 ** math.ceil(math.log2(max(needed, samples * 2))))


def sobol_warnings(rows: list[dict], samples: int, y: np.ndarray) -> list[str]:
    """What the reader must know before trusting the ranking."""
    out = []
    if np.ptp(y) == 0:
        out.append("the metric is the same at every point: over these ranges nothing moves it")
        return out
    widest = max(max(r["S1"]["half_width"], r["ST"]["half_width"]) for r in rows)
    if widest > WIDE_INTERVAL:
        out.append(
            f"the intervals are too wide for --samples {samples}: up to +-{widest:.2f}, so "
            f"indices closer than that are not told apart; about --samples "
            f"{samples_for(widest, samples)} would bring them to +-{WIDE_INTERVAL:g}"
        )
    return out


def check_samples(samples: int) -> None:
    if samples < 4 or samples & (samples - 1):
        below = 2 ** max(2, int(math.log2(max(samples, 1))))
        raise UserError(
            f"--samples: {samples} must be a power of 2 of at least 4 (Sobol' sequences "
            f"balance only then), e.g. {below} or {2 * below}"
        )
