"""Sobol indices with SALib: its Saltelli design (a scrambled Sobol' sequence) and its analysis.

We do not write our own scheme: SALib samples ``N x (parameters + 2)`` points (no second-order
indices) and estimates first-order (S1) and total (ST) indices with bootstrap intervals. This
module adapts its interface to our parameters, handles a metric that does not move, and says
when the intervals are too wide to rank the parameters.

What the reader concludes about interactions rests on differences of those estimates: a
parameter's ``ST - S1`` (what it does only together with others) and ``1 - sum of S1`` (the
share left to interactions). Their intervals come from SALib's own bootstrap resamples (the
same resampled base samples give S1, ST and their differences), so a claim is made only when
its interval excludes zero.
"""

from __future__ import annotations

import math

import numpy as np

from sim.errors import UserError
from sim.factors import Factor

__all__ = [
    "MIN_CLAIM_SAMPLES",
    "RESAMPLES",
    "WIDE_INTERVAL",
    "check_samples",
    "does_not_vary",
    "estimate_text",
    "index_noise",
    "recommended_samples",
    "samples_for",
    "shown_share",
    "sobol_indices",
    "sobol_problem",
    "sobol_rest",
    "sobol_rows",
    "sobol_sample",
    "sobol_warnings",
]

#: Bootstrap resamples of SALib's analysis.
RESAMPLES = 1000
#: A Sobol interval wider than this (half-width, in index units) draws a warning.
WIDE_INTERVAL = 0.1
#: Fewer base samples than this are too few for a bootstrap to tell an interaction from noise
#: (on additive test functions, 8 gave a false "acting together" one time in ten; 16 never).
MIN_CLAIM_SAMPLES = 16
#: A spread of the metric over the points below this share of its size is float rounding, not
#: variance: its indices would be 0/0 (or rounding noise divided by rounding noise).
ROUNDING = 1e-9


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


def does_not_vary(y: np.ndarray) -> bool:
    """The metric is the same at every point, up to float rounding: there is no variance to
    apportion, so there are no indices."""
    y = np.asarray(y, dtype=float)
    return float(np.ptp(y)) <= ROUNDING * float(np.abs(y).max())


def sobol_indices(
    problem: dict, y: np.ndarray, level: float, seed: int
) -> dict[str, np.ndarray] | None:
    """First-order and total indices with bootstrap interval half-widths (SALib's analysis),
    and the half-widths of ``ST - S1`` per parameter and of ``1 - sum of S1`` (``rest``) over
    the same bootstrap resamples; None when the metric does not vary (every index is 0/0).
    """
    from SALib.analyze import sobol as sobol_analysis
    from scipy.stats import norm

    if does_not_vary(y):
        return None
    found = sobol_analysis.analyze(
        problem,
        np.asarray(y, dtype=float),
        calc_second_order=False,
        num_resamples=RESAMPLES,
        conf_level=level,
        seed=seed + 1,  # SALib takes a seed of 0 as "no seed"
        keep_resamples=True,  # the resampled S1 and ST, for the intervals of their differences
    )
    out = {k: np.asarray(found[k], dtype=float) for k in ("S1", "S1_conf", "ST", "ST_conf")}
    s1_all, st_all = found["S1_conf_all"], found["ST_conf_all"]  # resamples x parameters
    z = norm.ppf(0.5 + level / 2)  # SALib's normal bootstrap interval, for the differences too
    out["together"] = out["ST"] - out["S1"]
    out["together_conf"] = z * np.std(st_all - s1_all, axis=0, ddof=1)
    out["rest"] = np.array(1.0 - out["S1"].sum())
    out["rest_conf"] = np.array(z * np.std(1.0 - s1_all.sum(axis=1), ddof=1))
    return out


def _index(value: float, conf: float) -> dict[str, float]:
    return {"value": value, "ci_low": value - conf, "ci_high": value + conf, "half_width": conf}


def shown_share(value: float) -> float:
    """An index as a share can show: the estimate clipped to [0, 1] (the raw one stays in
    sensitivity.json, and :func:`index_noise` says when the two differ)."""
    return min(max(value, 0.0), 1.0)


def estimate_text(value: float) -> str:
    """A raw estimate in the notes: two decimals, or two significant digits when those would
    round it to 0 (a tiny negative estimate read "-0.00" would say nothing)."""
    return f"{value:.2f}" if abs(value) >= 0.005 or value == 0 else f"{value:.2g}"


def index_noise(row: dict, name: str) -> str | None:
    """Why an estimate of S1 or ST cannot be the share it estimates, or None: a share of
    variance lies in 0-1 and ST >= S1 always, so an estimate outside them is sampling noise.
    The tables mark every such estimate ``*`` (one below 0 is shown ``~0*``)."""
    value = row[name]["value"]
    if not 0.0 <= value <= 1.0:
        return f"estimate {estimate_text(value)}: outside 0-1, sampling noise"
    if name == "ST" and value < row["S1"]["value"]:
        s1 = estimate_text(row["S1"]["value"])
        return f"estimate {estimate_text(value)} below its S1 ({s1}): sampling noise"
    return None


def _flag(rows: list[dict]) -> list[dict]:
    """Each S1 and ST with the share it can show and its noise status (None, or the reason)."""
    for row in rows:
        for name in ("S1", "ST"):
            row[name]["shown"] = shown_share(row[name]["value"])
            row[name]["noise"] = index_noise(row, name)
    return rows


def sobol_rows(factors: list[Factor], indices: dict[str, np.ndarray] | None) -> list[dict]:
    """One row per factor, largest total index first: ``S1``, ``ST`` and ``ST_minus_S1`` (what
    it does only together with others), each ``{value, ci_low, ci_high, half_width}``; all
    None when the metric does not vary (no indices)."""
    if indices is None:
        return [{**f.describe(), "S1": None, "ST": None, "ST_minus_S1": None} for f in factors]
    rows = [
        {
            **factor.describe(),
            "S1": _index(float(indices["S1"][j]), float(indices["S1_conf"][j])),
            "ST": _index(float(indices["ST"][j]), float(indices["ST_conf"][j])),
            "ST_minus_S1": _index(
                float(indices["together"][j]), float(indices["together_conf"][j])
            ),
        }
        for j, factor in enumerate(factors)
    ]
    rows.sort(key=lambda r: -r["ST"]["value"])
    return _flag(rows)


def sobol_rest(indices: dict[str, np.ndarray] | None) -> dict | None:
    """``1 - sum of S1``, the share left to interactions, with its interval (None: no indices)."""
    if indices is None:
        return None
    return _index(float(indices["rest"]), float(indices["rest_conf"]))


def samples_for(half_width: float, samples: int, target: float = WIDE_INTERVAL) -> int:
    """The power of 2 of samples whose intervals should be about ``target`` wide (1/sqrt(N))."""
    needed = samples * (half_width / target) ** 2
    return int(2 ** math.ceil(math.log2(max(needed, samples * 2))))


def recommended_samples(rows: list[dict], rest: dict | None, samples: int) -> int | None:
    """The one --samples the command advises (table notes, warnings, figure, report): the power
    of 2 that brings the widest interval of every S1, ST, ST - S1 and 1 - sum of S1 to about
    +-WIDE_INTERVAL, at least twice the samples run (None: no indices)."""
    if rest is None or not rows or rows[0]["S1"] is None:
        return None
    widths = [r[n]["half_width"] for r in rows for n in ("S1", "ST", "ST_minus_S1")]
    widest = max([rest["half_width"], *widths])
    return samples_for(widest, samples)


def sobol_warnings(
    rows: list[dict], samples: int, y: np.ndarray, rest: dict | None = None
) -> list[str]:
    """What the reader must know before trusting the ranking."""
    out = []
    if does_not_vary(y):
        out.append(
            "the metric is the same at every point: over these ranges nothing moves it, so "
            "there is no spread to apportion and no index to show"
        )
        return out
    widest = max(max(r["S1"]["half_width"], r["ST"]["half_width"]) for r in rows)
    advised = recommended_samples(rows, rest, samples) or samples_for(widest, samples)
    if widest > WIDE_INTERVAL:
        out.append(
            f"the intervals are too wide for --samples {samples}: up to +-{widest:.2f}, so "
            f"indices closer than that are not told apart; about --samples "
            f"{advised} would bring them to +-{WIDE_INTERVAL:g}"
        )
    noisy = [
        f"{n} of {r['key']}" for r in rows for n in ("S1", "ST") if index_noise(r, n) is not None
    ]
    if noisy:
        out.append(
            f"{', '.join(noisy)}: an estimate outside 0-1 or an ST below its S1, which only "
            f"sampling noise at --samples {samples} can give (shown clipped to 0-1 and marked "
            f"*); use more samples (about --samples {advised})"
        )
    below = sorted({r["key"] for r in rows for n in ("S1", "ST") if r[n]["ci_high"] < 0})
    if below:  # an index is a share of variance: below zero is the estimator's error
        out.append(
            f"{', '.join(below)}: an index below zero beyond its interval, which only the "
            f"estimator's error at --samples {samples} can give; read it as ~0 and use more "
            "samples"
        )
    return out


#: The largest --samples: the design's cost is weighed from its corners before its points are
#: built, but a design within the run budget still has every point built, validated and held
#: in memory before the first run (some thousand points a second), and intervals
#: 1/sqrt(32768) of the spread are finer than any ranking needs.
MAX_SAMPLES = 2**15


def check_samples(samples: int) -> None:
    if samples > MAX_SAMPLES:
        raise UserError(
            f"--samples: {samples} is more than {MAX_SAMPLES} (the intervals shrink as "
            "1/sqrt(samples): a tenth as many already ranks what the design can rank)"
        )
    if samples < 4 or samples & (samples - 1):
        below = 2 ** max(2, int(math.log2(max(samples, 1))))
        raise UserError(
            f"--samples: {samples} must be a power of 2 of at least 4 (Sobol' sequences "
            f"balance only then), e.g. {below} or {2 * below}"
        )
