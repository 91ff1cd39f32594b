"""Percentiles, standard errors and paired differences over replications.

Replications are the independent units of a Monte Carlo run: a standard error is always computed
across replications (deals inside one replication share its shocks and market, so they are not
independent). Pooled per-deal quantities (a cycle time) use the ratio estimator across
replications for their mean, and a fixed-resolution histogram for their percentiles, so that
memory does not grow with the number of replications and the result does not depend on the
order in which workers finish.
"""

from __future__ import annotations

import math

import numpy as np

PERCENTILES = (10, 50, 90)
FAN_PERCENTILES = (10, 25, 50, 75, 90)  # for the bands of a fan chart


#: Fewer replications than this make every percentile, +- and interval rough: one threshold and
#: one sentence for every command that reports them (run, its report, compare, sweep,
#: sensitivity, weighted).
FEW_REPLICATIONS = 10


#: What the caveat calls rough unless told otherwise: what run, compare and sweep print.
SPREADS = "the P10-P90, +- and intervals"


def few_replications_note(replications: int, per: str = "", what: str = SPREADS) -> str | None:
    """The caveat of a figure over fewer than FEW_REPLICATIONS replications (None at or above
    it). ``per``: what each count is of, e.g. " per point" or " per value"; ``what``: the
    figures the output prints that so few runs make rough (an output without percentiles
    should not name them)."""
    if replications >= FEW_REPLICATIONS:
        return None
    return (
        f"only {replications} replication{'s' if replications != 1 else ''}{per}: {what} are "
        f"rough on so few runs; use -n {FEW_REPLICATIONS} or more before relying on them"
    )


#: Below this a p-value is written "p < 0.001": a test gives no p of exactly 0, and "p = 0.0"
#: or "p = 3.1e-09" claims a precision the few months or cut-offs it rests on do not have.
SMALL_P = 0.001


def p_text(p: float) -> str:
    """'p = 0.41', or 'p < 0.001' below SMALL_P: a test's p-value as every output writes it.
    Rounded first as the JSON files hold it (6 significant digits), so that a report, which
    reads the file, cannot round 0.4049996 (terminal '0.40') up to 0.405 ('0.41'); two
    significant digits kept, zeros too ('0.50')."""
    p = float(f"{p:.6g}")
    if p < SMALL_P:
        return f"p < {SMALL_P:g}"
    return f"p = {p:#.2g}"


def mean_and_se(values: np.ndarray) -> tuple[float, float]:
    """Mean of per-replication values and its standard error (sample sd / sqrt(R))."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = float(values.mean())
    se = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return mean, se


def ratio_mean_and_se(sums: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """Pooled mean sum(sums)/sum(counts) over replications, with its delta-method standard error.

    Each replication contributes a total (say, of cycle days) and a count (of closed deals);
    replications with no deals still count.
    SE = sd(sum_r - mean * count_r) / (mean count * sqrt(R)).
    """
    sums = np.asarray(sums, dtype=float)
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    if total == 0:
        return math.nan, math.nan
    mean = float(sums.sum() / total)
    n = len(sums)
    if n < 2:
        return mean, math.nan
    residual = sums - mean * counts
    se = float(residual.std(ddof=1) / (counts.mean() * math.sqrt(n)))
    return mean, se


def percentiles(values: np.ndarray, qs=PERCENTILES) -> dict[str, float]:
    """``{"p10": ..., "p50": ..., "p90": ...}`` of per-replication values (linear interpolation)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return {f"p{q}": math.nan for q in qs}
    found = np.percentile(values, qs)
    return {f"p{q}": float(v) for q, v in zip(qs, found, strict=True)}


def describe(values: np.ndarray, qs=PERCENTILES) -> dict[str, float]:
    """mean, se and percentiles (p10, p50, p90 by default) of per-replication values."""
    mean, se = mean_and_se(values)
    return {"mean": mean, "se": se, **percentiles(values, qs)}


class PooledQuantiles:
    """Percentiles of values pooled over all replications, in constant memory.

    Values are counted in bins of ``resolution`` days from 0 to ``upper``; percentiles are
    interpolated inside a bin, so they are exact to within ``resolution``. Exact zeros (a deal
    served without waiting) are counted apart, as the point they are: interpolated into the
    first bin, a median of "no wait" read as a fraction of a day. Counts are integers, so the
    result is the same whatever order replications are added in.

    ``counts[0]`` holds the zeros, ``counts[1 + k]`` the values in bin k.
    """

    def __init__(self, upper: float, resolution: float = 1 / 16):
        self.resolution = resolution
        self.n_bins = int(math.ceil(upper / resolution)) + 1
        self.counts = np.zeros(self.n_bins + 1, dtype=np.int64)

    def add(self, values: np.ndarray) -> None:
        self.add_counts(self.bin_counts(values))

    def bin_counts(self, values: np.ndarray) -> np.ndarray:
        """The values' counts (zeros first, then per bin), up to the largest bin they reach
        (most replications fill a small part of the range): what ``add_counts`` takes, from
        wherever it was counted."""
        values = np.asarray(values)
        bins = (values / self.resolution).astype(np.int64)
        np.minimum(bins, self.n_bins - 1, out=bins)
        np.maximum(bins, 0, out=bins)
        bins += values != 0  # a zero is counted at 0, bin k at 1 + k
        return np.bincount(bins)

    def add_counts(self, counts: np.ndarray) -> None:
        """Add counts (``bin_counts`` of some values, counted here or in a worker)."""
        self.counts[: len(counts)] += counts

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def quantile(self, q: float) -> float:
        """The q-quantile (q in [0, 1]): 0 while the zeros reach it, else interpolated within
        its bin."""
        total = self.n
        if total == 0:
            return math.nan
        cumulative = np.cumsum(self.counts)
        target = q * total
        b = int(np.searchsorted(cumulative, target, side="left"))
        if b == 0:  # within the zeros
            return 0.0
        b = min(b, self.n_bins)
        before = cumulative[b - 1]
        inside = self.counts[b]
        fraction = (target - before) / inside if inside else 0.0
        return float((b - 1 + fraction) * self.resolution)

    def percentiles(self, qs=PERCENTILES) -> dict[str, float]:
        return {f"p{q}": self.quantile(q / 100) for q in qs}

    def histogram(self, bin_days: int) -> dict:
        """Counts in coarser bins of ``bin_days`` days (for a picture of the distribution)."""
        per_bin = max(1, int(round(bin_days / self.resolution)))
        n_bins = -(-self.n_bins // per_bin)
        padded = np.zeros(n_bins * per_bin, dtype=np.int64)
        padded[: self.n_bins] = self.counts[1:]
        padded[0] += self.counts[0]  # the zeros are in the first bin's days
        counts = padded.reshape(n_bins, per_bin).sum(axis=1)
        last = int(np.flatnonzero(counts).max()) + 1 if counts.any() else 0
        return {"bin_days": bin_days, "counts": counts[:last].tolist()}


def paired_difference(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Mean of b - a over paired replications with a t confidence interval.

    Pairing (the same seed and random numbers in both scenarios) removes the noise the two
    scenarios share, which is why the interval is much narrower than two independent runs give.
    """
    from scipy.stats import t

    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    mean, se = mean_and_se(diff)
    if not math.isfinite(se):
        return {"delta": mean, "ci_low": math.nan, "ci_high": math.nan, "se": se}
    half = float(t.ppf(0.5 + level / 2, len(diff) - 1)) * se
    return {"delta": mean, "ci_low": mean - half, "ci_high": mean + half, "se": se}
