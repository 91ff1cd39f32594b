"""Scores of a probabilistic forecast against what happened, and of a point forecast beside it.

For one forecast (the simulated values of a quantity, one per replication) and its actual:

* P10, P25, P50, P75, P90, and whether the actual lies inside the 50% (P25-P75) and the 80%
  (P10-P90) intervals (bounds included);
* the PIT value, where the actual falls in the simulated distribution. Counts are discrete, so
  the PIT is *randomised* (a uniform between the share of simulations below the actual and the
  share at or below it), which makes it exactly uniform for a calibrated forecast; the uniform
  is drawn from a generator seeded by the caller, so scores are reproducible;
* the CRPS (continuous ranked probability score, in the quantity's unit; lower is better), from
  ``scoringrules.crps_ensemble``; for a point forecast the CRPS is its absolute error, so a skill
  score against a baseline is ``1 - CRPS / |baseline error|``;
* the error of the P50 (P50 - actual).

Pooled over many forecasts: interval coverage with its binomial tolerance, a Kolmogorov-Smirnov
test of the PIT values against the uniform, mean CRPS and the skill against each baseline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90)


def crps(samples: np.ndarray, actual: float) -> float:
    """CRPS of an ensemble (scoringrules' default estimator) for one actual."""
    import scoringrules

    return float(scoringrules.crps_ensemble(float(actual), np.asarray(samples, float)))


def randomized_pit(samples: np.ndarray, actual: float, u: float) -> float:
    """Where the actual falls in the simulations: a point between F(actual-) and F(actual)."""
    samples = np.asarray(samples, float)
    below = float(np.mean(samples < actual))
    at_or_below = float(np.mean(samples <= actual))
    return below + u * (at_or_below - below)


def score(samples: np.ndarray, actual: float, u: float) -> dict:
    """Every score of one forecast (see the module doc); ``u`` is the PIT's uniform."""
    samples = np.asarray(samples, float)
    p10, p25, p50, p75, p90 = (float(q) for q in np.quantile(samples, QUANTILES))
    return {
        "actual": float(actual),
        "mean": float(samples.mean()),
        "p10": p10,
        "p25": p25,
        "p50": p50,
        "p75": p75,
        "p90": p90,
        "in50": bool(p25 <= actual <= p75),
        "in80": bool(p10 <= actual <= p90),
        "pit": randomized_pit(samples, actual, u),
        "crps": crps(samples, actual),
        "p50_error": p50 - float(actual),
    }


def coverage_tolerance(nominal: float, n: int, z: float = 2.0) -> float:
    """z binomial standard errors of a coverage rate over n independent forecasts."""
    return z * math.sqrt(nominal * (1 - nominal) / n) if n else math.nan


def pit_uniformity_p(pits: Sequence[float]) -> float:
    """Kolmogorov-Smirnov p-value of the PIT values against the uniform on [0, 1]."""
    pits = np.asarray(pits, float)
    if len(pits) < 2:
        return math.nan
    return float(stats.kstest(pits, "uniform").pvalue)


def pooled(rows: Sequence[Mapping], baselines: Sequence[str] = ()) -> dict:
    """Scores pooled over forecasts (rows from ``score``, each with ``baseline_<name>`` values).

    Skill against a baseline: ``1 - mean CRPS / mean |baseline - actual|`` (1 perfect, 0 as good
    as the baseline, negative worse).
    """
    n = len(rows)
    if n == 0:
        return {"n": 0}
    actual = np.array([r["actual"] for r in rows])
    in50 = sum(r["in50"] for r in rows)
    in80 = sum(r["in80"] for r in rows)
    mean_crps = float(np.mean([r["crps"] for r in rows]))
    out = {
        "n": n,
        "in50": in50,
        "in80": in80,
        "coverage50": in50 / n,
        "coverage80": in80 / n,
        "tolerance50": coverage_tolerance(0.5, n),
        "tolerance80": coverage_tolerance(0.8, n),
        "pit_ks_p": pit_uniformity_p([r["pit"] for r in rows]),
        "crps": mean_crps,
        "p50_mae": float(np.mean([abs(r["p50_error"]) for r in rows])),
        "p50_bias": float(np.mean([r["p50_error"] for r in rows])),
        "actual_mean": float(actual.mean()),
        "baselines": {},
    }
    for name in baselines:
        values = [r.get(f"baseline_{name}") for r in rows]
        if any(v is None or not math.isfinite(v) for v in values):
            continue
        mae = float(np.mean(np.abs(np.array(values) - actual)))
        out["baselines"][name] = {
            "mae": mae,
            "skill": 1 - mean_crps / mae if mae > 0 else math.nan,
        }
    return out
