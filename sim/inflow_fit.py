"""How many new deals arrive, and how sure we are of it: the arrival part of ``dealsim fit``.

The history's arrivals are counted per calendar month (the first and last months partial, with
their exposure in months). From those counts:

* **Level**: recent months weigh more, by a half-life (default 3 months: a month three months
  before ``as_of`` counts half as much as the last one), so a run rate that has moved is followed;
  ``level = sum(w y) / sum(w E)`` (y arrivals, E exposure in months).
* **Drift tests**: a log-linear Poisson trend against a constant rate (likelihood ratio,
  chi-square with 1 degree of freedom), and the Pearson dispersion of the monthly counts around
  a constant rate (chi-square with M - 1): the report says whether the rate drifts or wanders.
* **How the rate wanders**: a local-level model, the log rate a random walk with sd ``q`` per
  month. ``q^2`` is the mean squared change between consecutive monthly rates, relative to their
  level, less the part Poisson noise explains (0 if noise explains it all), averaged with weights
  by the months' arrivals (a month of 5 deals says little about how the rate moves) and by the
  same recency weights as the level. With fewer than four full months it cannot be told and a
  stated default (0.10 a month) is used.
* **Uncertainty of the level** (for ``[uncertainty] arrivals_per_month``, a lognormal with its
  median at the level; ``cv`` is the sd of its log):
  ``cv^2 = Poisson variance of the weighted mean / level^2 + q^2 x lag``: the weighted months lag
  today's level, and a random walk moves by ``q^2`` per month (``lag`` sums, over the
  months between today and each bin, the squared share of the weight that lies before them).
  The walk itself goes on in the simulation (``arrivals_walk_sd = q``), so the rate can fall as
  well as rise over the horizon. A steady trend hides in the noise of month-to-month changes
  (5% a month is nothing beside the Poisson noise of a month of 100 deals), so when the trend
  test says p < 0.05, ``q`` is at least the trend per month, and the level's cv also holds the
  trend's lag over the weighted months (trend x their mean age): the forecast neither
  extrapolates the trend nor ignores it.
* **Seasonality**: with at least 24 full months, the 12 calendar-month multipliers (each month's
  arrivals over what the months' own levels predict, a chi-square test of the months against
  none); written to ``deals.seasonality`` when the test says p < 0.05.

Trends are not extrapolated into the forecast: a fitted trend line extended a year ahead is a
guess the history rarely supports; the random walk says what the history can tell (the rate is
about here, and moves about this much a month) and widens with the horizon.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats

from sim.calendar import DAYS_PER_MONTH
from sim.stats import p_text
from sim.uncertainty import walk_mean_factor, walk_range, walk_steps_over

#: Default half-life of the weights, in months.
HALF_LIFE_MONTHS = 3.0
#: Month-to-month sd of the log rate when the history is too short to tell.
DEFAULT_WALK_SD = 0.10
#: Fewer new deals than this in the history: the fitted arrival rate is said to be a guess.
FEW_ARRIVALS = 10
#: A trend test below this p-value widens the walk and the level (see the module doc).
TREND_P = 0.05
#: Full months needed to estimate the walk, and to estimate seasonality.
MIN_MONTHS_WALK = 4
MIN_MONTHS_SEASONALITY = 24
#: A walk sd above this (a month) gets a warning in the fit report: by a year it spans more
#: than x0.4-x2.4 of the level, and the forecast's band is mostly the walk.
WANDER_WARN_SD = 0.2


@dataclass
class InflowFit:
    """Monthly arrivals of a history and what they say about the rate."""

    months: list[str]  # YYYY-MM of each bin
    counts: np.ndarray  # arrivals per bin
    exposure: np.ndarray  # months of each bin (partial first and last)
    half_life: float
    level: float  # arrivals per month, recent months weighted
    level_cv: float
    walk_sd: float
    walk_estimated: bool
    walk_from_trend: bool = False  # raised to the drift per month (the trend test)
    trend_per_month: float = 0.0  # log-rate change per month (the fitted Poisson trend)
    trend_p: float = math.nan
    dispersion: float = math.nan  # Pearson chi-square / (M - 1) around a constant rate
    dispersion_p: float = math.nan
    seasonality: list[float] | None = None
    seasonality_p: float = math.nan
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def by_month(self) -> dict[str, float]:
        """Arrivals per month of each bin (partial bins scaled up): ``[inflow] by_month``."""
        return {
            m: float(y / e) if e > 0 else 0.0
            for m, y, e in zip(self.months, self.counts, self.exposure, strict=True)
        }

    def describe(self) -> str:
        """One paragraph for the fit report."""
        parts = [
            f"{self.level:.2f} per month (months weighted with a half-life of "
            f"{self.half_life:g} months; cv {self.level_cv:.2f})"
        ]
        if math.isfinite(self.trend_p):
            pct = 100 * math.expm1(self.trend_per_month)
            drifts = "drifts" if self.trend_p < 0.05 else "shows no clear trend"
            parts.append(f"the rate {drifts} ({pct:+.1f}% a month, {p_text(self.trend_p)})")
        if math.isfinite(self.dispersion_p):
            parts.append(
                f"months vary {self.dispersion:.1f}x as much as a constant Poisson rate would "
                f"({p_text(self.dispersion_p)})"
            )
        if self.walk_from_trend:
            walk = "as wide as the drift per month"
        else:
            walk = "estimated" if self.walk_estimated else "a default: too few months to tell"
        parts.append(f"random walk sd {self.walk_sd:.3f} a month ({walk})")
        return "; ".join(parts)


def month_bins(start: dt.datetime, end: dt.datetime) -> tuple[list[str], np.ndarray]:
    """Calendar months overlapping [start, end): labels and month-start instants (with end)."""
    labels, edges = [], [start]
    year, month = start.year, start.month
    while True:
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        nxt = dt.datetime(year, month, 1)
        if nxt >= end:
            edges.append(end)
            break
        edges.append(nxt)
    return labels, np.array(edges, dtype="datetime64[s]")


def fit_inflow(
    arrivals: Sequence[dt.datetime],
    start: dt.datetime,
    end: dt.datetime,
    half_life: float = HALF_LIFE_MONTHS,
) -> InflowFit:
    """Analyse the arrivals in [start, end) (see the module doc)."""
    labels, edges = month_bins(start, end)
    seconds = np.diff(edges).astype(float)
    exposure = seconds / 86400.0 / DAYS_PER_MONTH
    when = np.array(list(arrivals), dtype="datetime64[s]")
    counts = np.histogram(when.astype(float), bins=edges.astype(float))[0].astype(float)
    if len(when) and when.max() >= edges[-1]:  # the last edge is inclusive in np.histogram
        counts[-1] -= np.count_nonzero(when >= edges[-1])
    mid = (edges[:-1].astype(float) + seconds / 2) / 86400.0
    age = (edges[-1].astype(float) / 86400.0 - mid) / DAYS_PER_MONTH  # months before `end`
    w = 0.5 ** (age / half_life)
    exposure_w = float(np.sum(w * exposure))
    level = float(np.sum(w * counts) / exposure_w) if exposure_w > 0 else 0.0
    walk_sd, estimated = _walk_sd(counts, exposure, w)
    notes: list[str] = []
    if counts.sum() < FEW_ARRIVALS:
        months = float(exposure.sum())
        notes.append(
            f"arrivals: the rate rests on {int(counts.sum())} new deals in {months:.1f} months "
            "(the first deal starts the clock and is not counted): too few to estimate it; "
            "set deals.arrivals_per_month (and [uncertainty] arrivals_per_month) by hand"
        )
    # The level's relative variance: Poisson noise of the counts, and the walk's since the
    # months the level is weighed from (per unit walk variance, times walk_sd squared).
    lag_per_walk_var = _lag_variance(w * exposure, age)
    poisson_var = float(np.sum(w**2 * counts)) / exposure_w**2 if exposure_w > 0 else 0.0
    relative_poisson = poisson_var / level**2 if level**2 > 0 else 0.0
    cv2 = relative_poisson + lag_per_walk_var * walk_sd**2
    out = InflowFit(
        months=labels,
        counts=counts,
        exposure=exposure,
        half_life=half_life,
        level=level,
        level_cv=math.sqrt(cv2),
        walk_sd=walk_sd,
        walk_estimated=estimated,
        notes=notes,
    )
    _drift_tests(out)
    if out.trend_p < TREND_P:  # a steady drift the month-to-month changes hide in their noise
        if abs(out.trend_per_month) > out.walk_sd:
            out.walk_sd, out.walk_from_trend = abs(out.trend_per_month), True
        mean_age = float(np.sum(w * exposure * age) / exposure_w)
        lag = out.trend_per_month * mean_age
        out.level_cv = math.sqrt(relative_poisson + lag_per_walk_var * out.walk_sd**2 + lag**2)
    note = _walk_note(out)
    if note:
        out.notes.append(note)
    _seasonality(out)
    return out


def _walk_note(fit: InflowFit) -> str | None:
    """What the report says of the walk it writes, when it was not estimated from the months:
    the drift's, or the default (said once the trend test has had its say, so that the note
    names the number the file holds)."""
    if fit.walk_from_trend:
        return (
            f"arrivals: the rate drifts {math.expm1(fit.trend_per_month):+.1%} a month "
            f"({p_text(fit.trend_p)}): the month-to-month wander is taken at least as wide as that "
            f"drift, {fit.walk_sd:.3f} a month"
            + ("" if fit.walk_estimated else " (too few pairs of consecutive full months with "
               f"new deals, {MIN_MONTHS_WALK - 1} needed, to estimate it)")
        )  # fmt: skip
    if not fit.walk_estimated:
        return (
            f"arrivals: too few pairs of consecutive full months with new deals "
            f"({MIN_MONTHS_WALK - 1} needed): the month-to-month wander of the rate is not "
            f"estimated; a default of {DEFAULT_WALK_SD} a month is assumed"
        )
    return None


def _lag_variance(weights: np.ndarray, age: np.ndarray) -> float:
    """Variance, per unit of walk variance, of the weighted months' level against today's.

    Between a month and today the log rate moved by the walk's steps since; the weighted mean
    of the months carries each step in proportion to the weight of the months before it, so the
    variance is the sum over steps of (weight before the step / all the weight)^2, the steps
    being the months between the bins' middles and from the last middle to today.
    """
    total = float(weights.sum())
    if total <= 0:
        return 0.0
    order = np.argsort(age)  # the latest month first
    w, a = weights[order] / total, age[order]
    gaps = np.diff(np.r_[0.0, a])  # months from today to the latest middle, then between
    older = np.cumsum(w[::-1])[::-1]  # weight of this bin and all older ones
    return float(np.sum(gaps * older**2))


def _walk_sd(counts: np.ndarray, exposure: np.ndarray, recency: np.ndarray) -> tuple[float, bool]:
    """sd per month of a log-rate random walk, from consecutive (nearly) full months, weighted
    by their arrivals and by the recency weights of the later month of each pair."""
    later, excess, weight = _walk_terms(counts, exposure, recency)
    if len(later) < MIN_MONTHS_WALK - 1 or not weight.sum() > 0:  # no pair weighs anything
        return DEFAULT_WALK_SD, False
    return math.sqrt(max(float(np.average(excess, weights=weight)), 0.0)), True


def _walk_terms(
    counts: np.ndarray, exposure: np.ndarray, recency: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair of consecutive (nearly) full months: the later month's index, the squared
    relative change beyond Poisson noise, and the pair's weight in the walk's variance."""
    full = exposure >= 0.5
    rate = np.where(full, counts / np.maximum(exposure, 1e-9), np.nan)
    a, b = rate[:-1], rate[1:]
    ea, eb = exposure[:-1], exposure[1:]
    ok = np.isfinite(a) & np.isfinite(b) & (a + b > 0)
    a, b, ea, eb, later = a[ok], b[ok], ea[ok], eb[ok], recency[1:][ok]
    local = (a + b) / 2
    excess = ((b - a) ** 2 - (local / ea + local / eb)) / local**2
    weight = local * np.minimum(ea, eb) * later  # a month of few arrivals says little
    return np.flatnonzero(ok) + 1, excess, weight


def wander_note(fit: InflowFit, months: float) -> str | None:
    """A warning for the fit report when the walk is wide enough to dominate the forecast: how
    far it spreads the rate by the horizon, how far above the P50 that puts the mean, and which
    change of the history drives it most."""
    if not (fit.walk_estimated and fit.walk_sd > WANDER_WARN_SD):
        return None
    steps = walk_steps_over(months)
    low, high = walk_range(fit.walk_sd, steps)
    text = (
        f"arrivals: the rate wanders {fit.walk_sd:.3f} a month (a random walk of the log rate, "
        f"its median kept at the level): in the horizon's last month, 8 in 10 replications' "
        f"rate is within x{low:.2f}-x{high:.2f} of the level, and the mean rate is "
        f"x{walk_mean_factor(fit.walk_sd, steps):.2f} (read the P50, not the mean)"
    )
    recency = 0.5 ** (_age(fit) / fit.half_life)
    later, excess, weight = _walk_terms(fit.counts, fit.exposure, recency)
    share = np.clip(excess, 0, None) * weight
    if share.sum() > 0:  # the pair of months that carries most of the variance
        k = int(np.argmax(share))
        i = later[k]
        text += (
            f"; {100 * share[k] / share.sum():.0f}% of that wander is the change from "
            f"{fit.months[i - 1]} to {fit.months[i]} ({fit.counts[i - 1]:.0f} to "
            f"{fit.counts[i]:.0f} arrivals): if it is not the market moving (a change of "
            "process, a partial export), the bands are too wide; set "
            "[uncertainty] arrivals_walk_sd by hand"
        )
    return text


def _age(fit: InflowFit) -> np.ndarray:
    """Months from each bin's middle to the end of the history (bins laid end to end)."""
    ends = np.cumsum(fit.exposure[::-1])[::-1]  # months from each bin's start to the end
    return ends - fit.exposure / 2


def _drift_tests(fit: InflowFit) -> None:
    """Poisson trend (likelihood ratio) and dispersion (Pearson) against a constant rate."""
    y, e = fit.counts, fit.exposure
    keep = e > 0
    y, e = y[keep], e[keep]
    if len(y) < 3 or y.sum() == 0:
        return
    t = np.cumsum(e) - e / 2  # months from the start, at each bin's middle
    t = t - t.mean()
    rate0 = y.sum() / e.sum()

    def neg(theta: np.ndarray) -> float:
        return -_poisson_loglik(y, e * np.exp(theta[0] + theta[1] * t))

    res = optimize.minimize(neg, np.array([math.log(rate0), 0.0]), method="BFGS")
    lr = max(2 * (-float(res.fun) - _poisson_loglik(y, rate0 * e)), 0.0)
    fit.trend_per_month = float(res.x[1])
    fit.trend_p = float(stats.chi2.sf(lr, 1))
    expected = rate0 * e
    pearson = float(np.sum((y - expected) ** 2 / expected))
    dof = len(y) - 1
    fit.dispersion = pearson / dof
    fit.dispersion_p = float(stats.chi2.sf(pearson, dof))


def _poisson_loglik(y: np.ndarray, mu: np.ndarray) -> float:
    """Poisson log-likelihood without the log y! terms (they cancel in a ratio)."""
    return float(np.sum(y * np.log(np.maximum(mu, 1e-300)) - mu))


def _seasonality(fit: InflowFit) -> None:
    """Calendar-month multipliers, from 24 full months on (see the module doc)."""
    # A full month is a whole calendar month (February's 28 days included), not 30.44 days.
    whole = np.array([calendar.monthrange(int(m[:4]), int(m[5:]))[1] for m in fit.months])
    full = fit.exposure * DAYS_PER_MONTH >= whole - 1e-6
    if np.count_nonzero(full) < MIN_MONTHS_SEASONALITY:
        return
    y, e = fit.counts[full], fit.exposure[full]
    months = np.array([int(m[5:]) - 1 for m, f in zip(fit.months, full, strict=True) if f])
    # Each month's expectation from its own neighbourhood: a centred 12-month moving level of
    # the rate (arrivals per 30.44 days), times the month's own length.
    kernel = np.ones(12) / 12
    level = np.convolve(y / e, kernel, mode="same")
    edge = np.convolve(np.ones_like(y), kernel, mode="same")
    level = level / edge
    ratio_sum = np.bincount(months, y, minlength=12)
    expected = np.bincount(months, level * e, minlength=12)
    if np.any(expected <= 0):
        return
    chi2 = float(np.sum((ratio_sum - expected) ** 2 / expected))
    fit.seasonality_p = float(stats.chi2.sf(chi2, 11))
    multipliers = ratio_sum / expected
    if fit.seasonality_p < 0.05:
        fit.seasonality = [round(float(m / multipliers.mean()), 4) for m in multipliers]
