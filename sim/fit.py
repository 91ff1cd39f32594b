"""Calibrating a scenario from a CRM stage history (``dealsim fit``).

Per stage: the visits, the time each visit lasted, and where the deal went next. A deal still in
a stage at ``as_of`` has not finished its visit: its time there is *right-censored* (it lasted at
least this long). Dropping those visits would keep only the quick ones and bias every duration
down, badly so for long-cycle sales where the slow deals are exactly the open ones; so each
candidate family (exponential, lognormal, gamma, weibull) is fitted by maximum likelihood on the
censored likelihood (log-density of the finished visits plus log-survival of the open ones) and
the family with the lowest AIC is chosen.

Exit probabilities are the shares of the observed next states (forward, backward, dormant,
outcomes): a censored visit says nothing about where it will go. Arrivals per month are the deals
that entered the history after its first instant (a batch at the very first instant is the
pipeline that was already there when recording began), over the months from that instant to
``as_of``. The open deals at ``as_of`` become ``deals.initial`` (they start their stage afresh in
the simulation: ``--pipeline`` is the way to keep their age).

A stage whose visits are all still open has no observed exit: it cannot be fitted, so it is sent
to ``no_decision`` with an exponential duration whose mean is the total time observed in it (as if
one visit had just ended: a rough lower bound; at most a century, the longest a scenario allows),
and the report says so.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import shlex
import textwrap
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import optimize, special, stats

from sim.atomic import StagedFile, atomic_file, check_output_file, output_errors
from sim.calendar import DAYS_PER_MONTH
from sim.crm import HISTORY_READS_AS_PIPELINE, OUTCOMES, History, HistoryRow, outcome_of
from sim.distributions import Z90
from sim.empirical import parse_duration
from sim.errors import UserError
from sim.inflow_fit import HALF_LIFE_MONTHS, InflowFit, fit_inflow, wander_note
from sim.plural import counted
from sim.scenario import scenario_from_dict, toml_dumps
from sim.scenario_bounds import MAX_DAYS, MAX_WALK_SD
from sim.stage_keys import name_slug
from sim.tables import render, scale_for, terminal_width, wrap
from sim.uncertainty import walk_range, walk_steps_over

#: The largest log-sd of the fitted arrival level: a factor of about 13 at its p90.
FITTED_MAX_LOG_SD = 2.0
#: Candidate families, in the order of the report.
FAMILIES = ("exponential", "lognormal", "gamma", "weibull")
#: Suffix of a cure-rate (mixture) variant's name: ``lognormal+cure``.
CURE_SUFFIX = "+cure"
#: Reactivation mean of the ``[dormant]`` section added for stalled deals: a century, so that
#: they do not come back (about 1% would within a year).
STALLED_REACTIVATE_DAYS = 36500
#: Days in a month, as everywhere in dealsim (a year is 365.25 days).
MONTH_DAYS = 365.25 / 12
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
#: Default horizon of a fitted scenario.
HORIZON_DAYS = 365
#: How stage durations are chosen: the rule of ``choose_duration`` (auto), or one kind always.
DURATION_CHOICES = ("auto", "parametric", "empirical")
#: Name of the empirical candidate (Kaplan-Meier points with a fitted tail).
EMPIRICAL = "empirical"
#: The empirical curve is chosen when the best family strays from Kaplan-Meier by more than
#: max(GAP_FLOOR, GAP_KS / sqrt(finished visits)): the Kolmogorov-Smirnov 5% band (a gap the
#: sample's noise does not explain), and at least 3 points (smaller ones nobody sees).
GAP_FLOOR = 0.03
GAP_KS = 1.36
#: Points of the written empirical curve: one each time the curve has fallen this much.
EMPIRICAL_STEP = 0.01


@dataclass
class Candidate:
    """One model's maximum-likelihood fit: scenario parameters, log-likelihood and AIC.

    ``family`` is the key in the candidates (``lognormal`` or ``lognormal+cure``), ``base`` the
    duration family F; a cure variant has ``cure`` = pi, the share of visits that stall for good
    (the duration of the others is ``spec``). ``theta`` holds the optimiser's parameters (see
    ``_log_terms``; logit(pi) last for a cure variant), for standard errors.
    """

    family: str
    spec: dict
    loglik: float
    aic: float
    cure: float = 0.0
    base: str = ""
    theta: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.base:
            self.base = self.family.removesuffix(CURE_SUFFIX)

    @property
    def has_cure(self) -> bool:
        return self.family.endswith(CURE_SUFFIX)


@dataclass
class StageFit:
    """What the history says about one stage."""

    name: str
    label: str
    visits: int
    censored: int
    durations: np.ndarray = field(repr=False)  # days, finished and open visits
    observed: np.ndarray = field(repr=False)  # True where the visit finished
    exits: Counter = field(default_factory=Counter)
    candidates: dict[str, Candidate] = field(default_factory=dict)
    chosen: str = ""  # a key of candidates: "lognormal", "gamma+cure"...
    spec: dict = field(default_factory=dict)  # the duration F of the visits that end
    cure: float = 0.0  # share of the visits that never end on their own (cure variant chosen)
    median: float = math.nan  # of the time in stage, stalled visits included (inf: never)
    p90: float = math.nan
    km_median: float = math.nan  # Kaplan-Meier median (nan when the curve stays above 0.5)
    note: str = ""
    gaps: dict[str, float] = field(default_factory=dict)  # candidate -> largest gap to KM
    gap_limit: float = math.nan  # the rule's threshold for this stage
    log_time_se: float = math.nan  # se of the log of the chosen duration's typical time
    exits_weight: float = math.nan  # how many observed exits the exit shares are worth

    def exit_probabilities(self) -> dict[str, float]:
        """The scenario's exits, rounded to 6 decimals, summing exactly to 1.

        The shares of the observed exits; with a cure share pi, those are scaled by (1 - pi) and
        pi goes to ``dormant`` (the stalled visits leave the stage for dormant after F).
        """
        total = sum(self.exits.values())
        if total == 0:
            return {"no_decision": 1.0}
        shares = {k: (1 - self.cure) * v / total for k, v in self.exits.items()}
        if self.cure > 0:
            shares["dormant"] = shares.get("dormant", 0.0) + self.cure
        probs = {k: round(v, 6) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}
        top = next(iter(probs))
        probs[top] = round(1.0 - sum(v for k, v in probs.items() if k != top), 6)
        return probs


@dataclass
class FitResult:
    """A fitted history: per-stage fits, inflow, pipeline, and the scenario they make."""

    source: str
    as_of: dt.datetime  # the instant visits are censored at
    as_of_text: str  # as the user gave it
    stages: list[StageFit]
    arrivals_per_month: float
    arrivals: int
    window_start: dt.datetime
    initial: dict[str, int]
    deals: int
    rows: int
    amount: dict
    dormant: dict | None
    scenario: dict
    notes: list[str] = field(default_factory=list)
    dormant_comment: str = ""  # why [dormant] looks the way it does, when the fit added it
    inflow: InflowFit | None = None
    ignored_rows: int = 0  # rows dated after as_of (the history as known then leaves them out)
    ignored_deals: int = 0  # deals all of whose rows come after as_of
    currency: str | None = None
    uncertainty: dict | None = None  # the [uncertainty] section written
    amount_count: int = 0  # amounts the amount distribution was fitted on
    #: Per deal: entry into the history and the end of its record (days from the first row's
    #: midnight), and its outcome ("" while open at as_of); for the fidelity check.
    deal_created: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    deal_end: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    deal_outcome: list[str] = field(default_factory=list, repr=False)
    at_start: dict[str, int] = field(default_factory=dict)  # stages of the first instant's deals
    #: The history file also reads as an export of open deals (``run --pipeline`` takes it).
    reads_as_pipeline: bool = False
    #: How stage durations were chosen (``--durations``): one of ``DURATION_CHOICES``.
    durations: str = "auto"


# --------------------------------------------------------------------------------------------
# Maximum likelihood on right-censored durations
# --------------------------------------------------------------------------------------------


def _sig(x: float, digits: int = 6) -> float:
    """Round to significant digits, so that the TOML stays readable."""
    return float(f"{x:.{digits}g}")


def _log_terms(
    family: str, theta: np.ndarray, x: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """log f(x) of the finished visits and log S(c) of the open ones, for one family.

    theta holds log-parameters (the location mu for the lognormal): exponential (log mean),
    lognormal (mu, log sigma), gamma (log shape, log scale), weibull (log shape, log scale).
    """
    if family == "exponential":
        m = math.exp(theta[0])
        return -theta[0] - x / m, -c / m
    # scipy.special rather than scipy.stats: the same numbers without the argument checks, which
    # cost more than the arithmetic in the optimiser's thousands of calls.
    if family == "lognormal":
        mu, s = theta[0], math.exp(theta[1])
        lx = np.log(x)
        z = (lx - mu) / s
        log_f = -0.5 * z * z - math.log(s) - _HALF_LOG_2PI - lx
        return log_f, special.log_ndtr(-(np.log(c) - mu) / s)
    if family == "gamma":
        k, scale = math.exp(theta[0]), math.exp(theta[1])
        log_f = (k - 1) * np.log(x) - x / scale - special.gammaln(k) - k * theta[1]
        return log_f, np.log(special.gammaincc(k, c / scale))
    if family == "weibull":
        k, lam = math.exp(theta[0]), math.exp(theta[1])
        z = x / lam
        return math.log(k / lam) + (k - 1) * np.log(z) - z**k, -((c / lam) ** k)
    raise ValueError(family)  # pragma: no cover - guarded by the callers


def _neg_loglik(
    family: str, theta: np.ndarray, x: np.ndarray, c: np.ndarray, cure: bool = False
) -> float:
    """Minus the censored log-likelihood (see ``_log_terms`` for theta).

    With ``cure``, theta's last element is logit(pi), pi the share of visits that never end on
    their own: a finished visit contributes log((1 - pi) f(x)), an open one log(pi + (1 - pi)
    S(c)) (it may be a slow visit or a stalled one).
    """
    with np.errstate(all="ignore"):
        try:
            if cure:
                lf, ls = _log_terms(family, theta[:-1], x, c)
                log_pi, log_1m = special.log_expit(theta[-1]), special.log_expit(-theta[-1])
                ll = len(x) * log_1m + np.sum(lf) + np.sum(np.logaddexp(log_pi, log_1m + ls))
            else:
                lf, ls = _log_terms(family, theta, x, c)
                ll = np.sum(lf) + np.sum(ls)
        except (OverflowError, ValueError):
            return 1e300
    return -float(ll) if np.isfinite(ll) else 1e300


def _start(family: str, x: np.ndarray, mean: float) -> np.ndarray:
    """Starting values from the finished visits (the optimiser corrects for censoring)."""
    lx = np.log(x)
    sd = max(float(np.std(lx)), 0.1)
    if family == "lognormal":
        return np.array([float(np.mean(lx)) + 0.5 * sd, math.log(sd)])
    cv = max(float(np.std(x) / np.mean(x)), 0.1)
    if family == "gamma":
        k = 1 / cv**2
        return np.array([math.log(k), math.log(mean / k)])
    k = max(1.2 / sd, 0.2)  # weibull: sd of log x is about 1.28 / shape
    return np.array([math.log(k), math.log(mean / special.gamma(1 + 1 / k))])


def _to_spec(family: str, theta: np.ndarray) -> dict:
    """Fitted parameters in the scenario's vocabulary."""
    if family == "exponential":
        return {"dist": "exponential", "mean": _sig(math.exp(theta[0]))}
    if family == "lognormal":
        mu, s = theta[0], math.exp(theta[1])
        return {
            "dist": "lognormal",
            "median": _sig(math.exp(mu)),
            "p90": _sig(math.exp(mu + Z90 * s)),
        }
    if family == "gamma":
        k, scale = math.exp(theta[0]), math.exp(theta[1])
        return {"dist": "gamma", "mean": _sig(k * scale), "cv": _sig(1 / math.sqrt(k))}
    k, lam = math.exp(theta[0]), math.exp(theta[1])
    return {"dist": "weibull", "shape": _sig(k), "scale": _sig(lam)}


def _f_quantile(family: str, theta: np.ndarray, q: float) -> float:
    """The q quantile of the duration family F at theta (no rounding: for derivatives)."""
    if family == "exponential":
        return -math.exp(theta[0]) * math.log1p(-q)
    if family == "lognormal":
        return math.exp(theta[0] + math.exp(theta[1]) * stats.norm.ppf(q))
    if family == "gamma":
        return float(stats.gamma.ppf(q, math.exp(theta[0]), scale=math.exp(theta[1])))
    return math.exp(theta[1]) * (-math.log1p(-q)) ** (1 / math.exp(theta[0]))


def _minimize(fun, starts: Iterable[np.ndarray]):
    best = None
    for start in starts:
        res = optimize.minimize(
            fun,
            start,
            method="Nelder-Mead",
            options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 4000 * len(start) // 2},
        )
        if best is None or res.fun < best.fun:
            best = res
    if best is None or not np.isfinite(best.fun) or best.fun >= 1e299:
        return None
    return best


def fit_durations(x: np.ndarray, c: np.ndarray, cure: bool = True) -> dict[str, Candidate]:
    """Every family's censored maximum-likelihood fit (x: finished visits, c: open ones; days).

    The exponential has a closed form (events / total time); the two-parameter families are
    fitted with Nelder-Mead on log-parameters, and need at least two distinct finished visits.

    With ``cure`` and some open visits, each family also gets a cure-rate variant
    (``<family>+cure``, one parameter more): a share pi of the visits never ends on its own, the
    others last F. pi is fitted on the logit scale (0 <= pi < 1) together with F's parameters,
    from the plain fit and from the Kaplan-Meier curve's last level. Without open visits pi's
    estimate is 0 and no variant is fitted.
    """
    x = np.asarray(x, float)
    c = np.asarray(c, float)
    total = float(x.sum() + c.sum())
    n = len(x)
    out: dict[str, Candidate] = {}
    mean = total / n
    ll = n * math.log(1 / mean) - total / mean
    out["exponential"] = Candidate(
        "exponential",
        {"dist": "exponential", "mean": _sig(mean)},
        ll,
        2 * 1 - 2 * ll,
        theta=np.array([math.log(mean)]),
    )
    plain = {"exponential": np.array([math.log(mean)])}
    if n >= 2 and np.ptp(x) > 0:
        for family in FAMILIES[1:]:
            first = _start(family, x, mean)
            best = _minimize(
                lambda t, f=family: _neg_loglik(f, t, x, c), (first, first + np.array([0.3, -0.3]))
            )
            if best is None:
                continue
            plain[family] = best.x
            try:
                spec = _to_spec(family, best.x)
                parse_duration(spec)
            except (ValueError, OverflowError):
                continue  # degenerate (e.g. p90 == median after rounding): not a candidate
            ll = -float(best.fun)
            out[family] = Candidate(family, spec, ll, 2 * 2 - 2 * ll, theta=best.x)
    if not cure or len(c) == 0 or n < 2:
        return out
    _, surv = kaplan_meier(np.r_[x, c], np.r_[np.ones(n, bool), np.zeros(len(c), bool)])
    tail = min(max(float(surv[-1]), 0.02), 0.9)  # the KM curve's last level: pi's first guess
    for family, theta in plain.items():
        starts = [np.r_[theta, special.logit(tail)], np.r_[theta, special.logit(0.01)]]
        best = _minimize(lambda t, f=family: _neg_loglik(f, t, x, c, cure=True), starts)
        if best is None:
            continue
        try:
            spec = _to_spec(family, best.x[:-1])
            parse_duration(spec)
        except (ValueError, OverflowError):
            continue
        ll = -float(best.fun)
        k = len(best.x)
        name = family + CURE_SUFFIX
        pi = float(special.expit(best.x[-1]))
        out[name] = Candidate(name, spec, ll, 2 * k - 2 * ll, _sig(pi, 4), family, best.x)
    return out


def standard_errors(cand: Candidate, x: np.ndarray, c: np.ndarray) -> dict[str, float]:
    """Asymptotic standard errors of a candidate's cure share and of F's median.

    From the observed information (the Hessian of minus the log-likelihood at the estimate, by
    central differences on the optimiser's parameters) and the delta method. Returns
    ``{"median": se, "cure": se}`` (``cure`` only for a cure variant); nan when the information
    is not invertible (e.g. pi at its bound 0).
    """
    x = np.asarray(x, float)
    c = np.asarray(c, float)
    theta = np.asarray(cand.theta, float)
    k = len(theta)

    def f(t: np.ndarray) -> float:
        return _neg_loglik(cand.base, t, x, c, cure=cand.has_cure)

    h = 1e-3
    hess = np.empty((k, k))
    eye = np.eye(k) * h
    for i in range(k):
        for j in range(i, k):
            hess[i, j] = hess[j, i] = (
                f(theta + eye[i] + eye[j])
                - f(theta + eye[i] - eye[j])
                - f(theta - eye[i] + eye[j])
                + f(theta - eye[i] - eye[j])
            ) / (4 * h * h)
    try:
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        cov = np.full((k, k), np.nan)

    def delta(g) -> float:
        grad = np.array([(g(theta + eye[i]) - g(theta - eye[i])) / (2 * h) for i in range(k)])
        var = float(grad @ cov @ grad)
        return math.sqrt(var) if var >= 0 else math.nan

    f_theta = (lambda t: t[:-1]) if cand.has_cure else (lambda t: t)
    out = {"median": delta(lambda t: _f_quantile(cand.base, f_theta(t), 0.5))}
    if cand.has_cure:
        out["cure"] = delta(lambda t: float(special.expit(t[-1])))
    return out


def mixture_quantile(spec: Mapping, cure: float, q: float) -> float:
    """The q quantile of the time in stage when a share ``cure`` never leaves: where
    pi + (1 - pi) S(t) = 1 - q; infinite when q >= 1 - pi (the curve never gets that low)."""
    if q >= 1 - cure:
        return math.inf
    return parse_duration(dict(spec)).quantile(q / (1 - cure))


def kaplan_meier(durations: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival: the step function's times (with 0) and values after each step."""
    order = np.argsort(durations, kind="stable")
    t, e = durations[order], observed[order]
    times, surv = [0.0], [1.0]
    s = 1.0
    at_risk = len(t)
    i = 0
    while i < len(t):
        j = i
        while j < len(t) and t[j] == t[i]:
            j += 1
        events = int(e[i:j].sum())
        if events:
            s *= 1 - events / at_risk
            times.append(float(t[i]))
            surv.append(s)
        at_risk -= j - i
        i = j
    return np.array(times), np.array(surv)


# --------------------------------------------------------------------------------------------
# From history to fits
# --------------------------------------------------------------------------------------------


def _as_instant(as_of: dt.date | dt.datetime) -> dt.datetime:
    """A date means the end of that day (everything dated that day happened by then)."""
    if isinstance(as_of, dt.datetime):
        return as_of.replace(tzinfo=None)
    return dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(0))


def _days(a: dt.datetime, b: dt.datetime) -> float:
    return (b - a).total_seconds() / 86400.0


def _name_slug(text: str) -> str:
    """A scenario name from a file name in any script (``сделки-2017`` -> ``sdelki-2017``)."""
    return name_slug(text, "fitted")


def history_as_of(
    rows: list[HistoryRow],
    amounts: Mapping[str, float],
    instant: dt.datetime,
    inclusive: bool = False,
) -> tuple[list[HistoryRow], dict[str, float], int, int]:
    """The history as known at ``instant``: its rows before then, and the amounts known then.

    Rows from the instant on are left out (``inclusive``: rows at the instant itself are kept,
    for an as-of given as a date-time); a deal whose first row is later did not exist yet.
    Amounts: when the export gives amounts to deals still open at its end, the amount is the
    deal's value while open and is kept; when only closed deals have one (the Maven sample's
    ``close_value``), it was known at the close, so only deals closed by the instant keep it.

    Returns (rows, amounts, rows left out, deals left out).
    """
    kept = [r for r in rows if r.entered_at < instant or (inclusive and r.entered_at == instant)]
    deals_before = {r.deal_id for r in rows}
    deals_after = {r.deal_id for r in kept}
    last: dict[str, HistoryRow] = {}
    for r in rows:
        if r.deal_id not in last or r.entered_at >= last[r.deal_id].entered_at:
            last[r.deal_id] = r
    open_at_end = [d for d, r in last.items() if r.state not in OUTCOMES]
    value_while_open = any(d in amounts for d in open_at_end)
    if value_while_open or len(kept) == len(rows):
        known = {d: v for d, v in amounts.items() if d in deals_after}
    else:
        closed = {r.deal_id for r in kept if r.state in OUTCOMES}
        known = {d: v for d, v in amounts.items() if d in closed}
    return kept, known, len(rows) - len(kept), len(deals_before) - len(deals_after)


#: Days between the history's last row and --as-of past which the fit says so.
LATE_AS_OF_DAYS = 90
#: ... and past which it refuses: years without a row say nothing of the deals of --as-of
#: (the arrivals' rate, weighed towards the latest months, would be written as ~1e-50 a month).
TOO_LATE_AS_OF_DAYS = 5 * 366
#: The shortest --half-life, in months: a week. Shorter ones weigh the last days alone (and
#: below a few hours every month's weight is 0 in floating point).
MIN_HALF_LIFE_MONTHS = 0.25


def _note_a_late_as_of(rows: list, instant: dt.datetime, as_of, notes: list[str]) -> None:
    """Say when --as-of lies long after the history ends: every deal open then reads as still
    open, and the months since as months without a single new deal (the inflow fit sees them)."""
    last = max(r.entered_at for r in rows)
    days = (instant - last).days
    if days > TOO_LATE_AS_OF_DAYS:
        raise UserError(
            f"--as-of {as_of} is {days:,} days after the history's last row ({last:%Y-%m-%d}): "
            "a history that ends years before says nothing of the deals open or arriving then; "
            "give the day the file was exported"
        )
    if days > LATE_AS_OF_DAYS:
        notes.append(
            f"--as-of {as_of} is {days:,} days after the history's last row ({last:%Y-%m-%d}): "
            "those days read as days with no new deal and no move; is the export that old?"
        )


def fit_history(
    rows: History | Iterable[HistoryRow],
    as_of: dt.date | dt.datetime,
    *,
    name: str | None = None,
    amounts: Mapping[str, float] | None = None,
    horizon_days: float = HORIZON_DAYS,
    labels: Mapping[str, str] | None = None,
    currency: str | None = None,
    durations: str = "auto",
    half_life: float = HALF_LIFE_MONTHS,
) -> FitResult:
    """Fit a scenario to a stage history.

    Args:
        rows: a ``History`` (from ``sim.crm.read_history``) or history rows.
        as_of: the export day (a date means the end of that day) or instant; visits still open
            then are censored. Rows dated later are left out (the history as known then) and
            counted in the report.
        name: scenario name (default: the history file's stem).
        amounts: deal amounts (default: the History's).
        horizon_days: horizon of the fitted scenario.
        labels: stage name -> display label (default: the CRM spelling).
        currency: the amounts' currency (default: the History's ``currency`` when the reader
            gives one; else the scenario's default, and the report says so).
        durations: ``auto`` (a family, or the Kaplan-Meier curve when none follows it: see
            ``choose_duration``), ``parametric`` or ``empirical``.
        half_life: months; the weight of the arrivals of a month halves every that many months
            before as_of.

    Raises:
        UserError: a history no scenario can be made of; a currency that contradicts the file.
    """
    if durations not in DURATION_CHOICES:
        raise UserError(f"--durations {durations}: one of {', '.join(DURATION_CHOICES)}")
    if not MIN_HALF_LIFE_MONTHS <= half_life < math.inf:  # inf: every month alike, say how
        raise UserError(
            f"--half-life {half_life:g}: must be a number of months from {MIN_HALF_LIFE_MONTHS:g} "
            "(a week) up (a long one, such as 1200, weighs every month nearly alike)"
        )
    history = rows if isinstance(rows, History) else None
    rows = list(history.rows if history is not None else rows)
    if not rows:
        raise UserError("the history has no rows")
    source = history.source if history is not None else "<history>"
    if amounts is None:
        amounts = history.amounts if history is not None else {}
    if name is None:
        name = Path(source).stem if history is not None else "fitted"
    currency = _currency(history, currency, source)
    # Every CRM spelling of the whole file (rows after as-of too): the fitted scenario's
    # [crm.stage_map] names them all, so that an export of the same CRM reads as a pipeline.
    if history is not None:
        spellings, undated = dict(history.stage_names), dict(history.undated)
    else:
        spellings, undated = {r.crm_stage: r.state for r in rows if r.crm_stage}, {}
    if labels is None:
        labels = {}
        for r in rows:
            if r.crm_stage:
                labels.setdefault(r.state, r.crm_stage)
    date_only = all(r.entered_at.time() == dt.time(0) for r in rows)
    floor = 0.5 if date_only else 1e-3  # a same-day move took "less than a day"
    instant = _as_instant(as_of)
    total_rows = len(rows)
    rows, amounts, ignored_rows, ignored_deals = history_as_of(
        rows, amounts, instant, inclusive=isinstance(as_of, dt.datetime)
    )
    if not rows:
        raise UserError(
            f"{source}: all {total_rows} rows are dated after --as-of {as_of}: nothing was known "
            "then"
        )

    per_deal: dict[str, list[HistoryRow]] = defaultdict(list)
    for r in rows:
        per_deal[r.deal_id].append(r)
    notes: list[str] = list(history.notes) if history is not None else []
    if ignored_rows:
        notes.append(
            f"{counted(ignored_rows, 'row')} dated after as-of {as_of} left out "
            f"({counted(ignored_deals, 'deal')} not created yet then): the history as known on "
            "that day"
        )
    _note_a_late_as_of(rows, instant, as_of, notes)
    durations_of: dict[str, list[float]] = defaultdict(list)
    observed: dict[str, list[bool]] = defaultdict(list)
    exits: dict[str, Counter] = defaultdict(Counter)
    nexts: dict[str, list[str | None]] = defaultdict(list)
    first_pos: dict[str, list[int]] = defaultdict(list)
    appearance: dict[str, int] = {}
    open_at: Counter = Counter()
    firsts: list[dt.datetime] = []
    outcome_first = 0
    for deal_rows in per_deal.values():
        deal_rows.sort(key=lambda r: r.entered_at)
        firsts.append(deal_rows[0].entered_at)
        if deal_rows[0].state in OUTCOMES:
            outcome_first += 1
        seen: set[str] = set()
        for pos, (cur, nxt) in enumerate(zip(deal_rows, [*deal_rows[1:], None], strict=True)):
            state = cur.state
            if state in OUTCOMES:
                break
            appearance.setdefault(state, len(appearance))
            if state not in seen:
                first_pos[state].append(pos)
                seen.add(state)
            end = nxt.entered_at if nxt is not None else instant
            durations_of[state].append(max(_days(cur.entered_at, end), floor))
            observed[state].append(nxt is not None)
            nexts[state].append(nxt.state if nxt is not None else None)
            if nxt is not None:
                exits[state][nxt.state] += 1
            else:
                open_at[state] += 1
    if outcome_first:
        notes.append(f"{outcome_first} deals whose first row is an outcome: no stage visit")

    stage_names = [s for s in appearance if s != "dormant"]
    if not stage_names:
        raise UserError(f"{source}: no deal ever was in a stage (only outcomes): nothing to fit")
    stage_names.sort(key=lambda s: (float(np.median(first_pos[s])), appearance[s]))

    fits = [
        _fit_stage(
            s, labels.get(s, s), durations_of[s], observed[s], exits[s], durations, floor, notes
        )
        for s in stage_names
    ]

    dormant = _fit_dormant(durations_of, nexts, exits, stage_names, notes)
    dormant, dormant_comment = _stalled_to_dormant(fits, dormant, notes)
    if "dormant" in open_at:
        notes.append(
            f"{open_at['dormant']} deals dormant at as_of: not in deals.initial (a scenario's "
            "initial deals start in a stage)"
        )
        del open_at["dormant"]

    t0 = min(firsts)
    arrival_times = [t for t in firsts if t > t0]
    inflow = fit_inflow(arrival_times, t0, instant, half_life)
    notes.extend(inflow.notes)
    wander = wander_note(inflow, horizon_days / DAYS_PER_MONTH)
    if wander:
        notes.append(wander)
    at_start = len(firsts) - len(arrival_times)
    if at_start > 1:
        notes.append(
            f"{at_start} deals entered at the history's first instant ({t0:%Y-%m-%d %H:%M}): "
            "counted as the pipeline already there, not as arrivals"
        )
    amount = _amount_spec(amounts, notes)
    initial = {s: open_at[s] for s in stage_names if open_at[s]}
    created, ended, outcome = _deal_records(per_deal, t0, instant)
    first_states = Counter(r[0].state for r in per_deal.values() if r[0].entered_at == t0)
    as_of_date = as_of.date() if isinstance(as_of, dt.datetime) else as_of
    uncertainty = _uncertainty_section(fits, inflow, amounts, amount)
    stage_map = crm_stage_map(spellings, undated, stage_names, dormant is not None, notes)
    scenario = _scenario_dict(
        _name_slug(name),
        source,
        as_of_date,
        horizon_days,
        fits,
        initial,
        inflow,
        amount,
        dormant,
        currency,
        uncertainty,
        stage_map,
    )
    try:
        scenario_from_dict(scenario, source=f"scenario fitted from {source}")
    except UserError as exc:
        raise UserError(f"{source}: the fitted scenario is not valid:\n{exc}") from None
    return FitResult(
        source=source,
        as_of=instant,
        as_of_text=str(as_of) if not isinstance(as_of, dt.datetime) else f"{as_of:%Y-%m-%d %H:%M}",
        stages=fits,
        arrivals_per_month=inflow.level,
        arrivals=len(arrival_times),
        window_start=t0,
        initial=initial,
        deals=len(per_deal),
        rows=len(rows),
        amount=amount,
        dormant=dormant,
        scenario=scenario,
        notes=notes,
        dormant_comment=dormant_comment,
        inflow=inflow,
        ignored_rows=ignored_rows,
        ignored_deals=ignored_deals,
        currency=currency,
        uncertainty=uncertainty,
        amount_count=sum(1 for v in amounts.values() if v > 0 and math.isfinite(v)),
        deal_created=created,
        deal_end=ended,
        deal_outcome=outcome,
        at_start={s: first_states[s] for s in stage_names if first_states[s]},
        # The file itself is the day's pipeline only if it holds nothing dated after as-of
        # (read as a pipeline, a later row is refused, and a deal closed later reads closed).
        reads_as_pipeline=history is not None
        and history.format in HISTORY_READS_AS_PIPELINE
        and not ignored_rows,
        durations=durations,
    )


def _deal_records(per_deal, t0: dt.datetime, instant: dt.datetime):
    """Each deal's first row, last row (or as_of while open) and outcome, in days from t0's
    midnight (day 0 of a simulation started on t0's date)."""
    origin = dt.datetime.combine(t0.date(), dt.time(0))
    created, ended, outcome = [], [], []
    for deal_rows in per_deal.values():
        last = deal_rows[-1]
        closed = last.state in OUTCOMES
        created.append(_days(origin, deal_rows[0].entered_at))
        ended.append(_days(origin, last.entered_at if closed else instant))
        outcome.append(last.state if closed else "")
    return np.array(created), np.array(ended), outcome


def require_currency(history: History, given: str | None) -> None:
    """Refuse a history whose amounts name no currency when ``--currency`` is not given.

    The fitted scenario would otherwise leave ``currency`` out, and every run of it would
    report those amounts in the scenario default (EUR), whatever they are.

    Raises:
        UserError: amounts, no currency in the file, no ``--currency``.
    """
    if given is not None or history.currency is not None:
        return
    if any(v > 0 and math.isfinite(v) for v in history.amounts.values()):
        raise UserError(
            f"{history.source}: its amounts name no currency (no currency column, no code or "
            "symbol in them): give it with --currency CODE (e.g. --currency USD), or the fitted "
            "scenario would report them as EUR"
        )


def _currency(history: History | None, given: str | None, source: str) -> str | None:
    """The amounts' currency: what the history reader found in the file, or ``--currency``.

    A reader that knows the file's currency exposes it as ``History.currency``; a ``--currency``
    that contradicts it is an error rather than a silent relabelling.
    """
    found = getattr(history, "currency", None) if history is not None else None
    if given is not None:
        given = given.strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", given):
            raise UserError(f"--currency {given}: not a three-letter currency code (e.g. EUR)")
        if found and found != given:
            raise UserError(
                f"{source}: the amounts are in {found}, not in --currency {given} (convert them "
                "with --fx, or drop --currency)"
            )
    return found or given


def _fit_stage(name, label, durations, observed, exits, choice, floor, notes) -> StageFit:
    """One stage: candidates, the chosen duration, its Kaplan-Meier gaps and uncertainty."""
    d = np.array(durations)
    o = np.array(observed, bool)
    fit = StageFit(
        name=name,
        label=label,
        visits=len(d),
        censored=int((~o).sum()),
        durations=d,
        observed=o,
        exits=exits,
    )
    if not o.any():
        fit.chosen = "exponential"
        mean = _within_a_century(float(d.sum()), f"stage {name}: the mean duration", notes)
        fit.spec = {"dist": "exponential", "mean": _sig(mean)}
        fit.note = (
            f"all {len(d)} visits still open at as_of: no exit observed; sent to "
            "no_decision, duration a rough lower bound (mean = total time observed)"
        )
        notes.append(f"stage {name}: {fit.note}")
        fit.log_time_se = 1.0  # one pseudo-event: a factor e either way
        fit.exits_weight = 1.0
    else:
        fit.candidates = fit_durations(d[o], d[~o])
        best = min(fit.candidates.values(), key=lambda c: c.aic)
        fit.chosen, fit.spec, fit.cure = best.family, best.spec, best.cure
        choose_duration(fit, choice, notes)
        fit.log_time_se = _log_time_se(fit)
        fit.exits_weight = _exits_weight(fit)
    fit.median = mixture_quantile(fit.spec, fit.cure, 0.5)
    fit.p90 = mixture_quantile(fit.spec, fit.cure, 0.9)
    t, surv = kaplan_meier(d, o)
    if surv[-1] <= 0.5:
        fit.km_median = float(t[np.argmax(surv <= 0.5)])
        gap = abs(fit.median - fit.km_median)
        if int(o.sum()) >= 100 and gap > 0.2 * fit.km_median + 2 * floor:
            notes.append(
                f"stage {name}: the fitted median ({fit.median:.1f} days) is far from the "
                f"Kaplan-Meier median ({fit.km_median:.1f}): {_why_far(fit, surv)}; see the plot"
            )
    return fit


def _within_a_century(days: float, what: str, notes: list[str]) -> float:
    """A time the history makes longer than a scenario may say (``MAX_DAYS``), capped there and
    said: the fitted scenario must validate, and a century already reads as "never"."""
    if days <= MAX_DAYS:
        return days
    notes.append(
        f"{what} would be {days:,.0f} days, from the time observed with (almost) no event: "
        f"capped at {MAX_DAYS:,.0f} (a century, the longest a scenario allows)"
    )
    return MAX_DAYS


def _why_far(fit: StageFit, surv: np.ndarray) -> str:
    if fit.cure:
        return (
            f"even with a cure share ({fit.cure:.1%} stalled; the Kaplan-Meier curve ends at "
            f"{surv[-1]:.0%}), no family follows the curve's shape"
        )
    return (
        f"none of the families fits this stage well (the Kaplan-Meier curve ends at {surv[-1]:.0%}"
        + (": some deals seem to stall for good)" if surv[-1] > 0.05 else ")")
    )


def choose_duration(fit: StageFit, choice: str, notes: list[str]) -> None:
    """Measure every candidate's largest gap to the Kaplan-Meier curve, and apply the rule.

    The rule (``auto``): keep the AIC's family unless its survival curve strays from the
    Kaplan-Meier curve by more than ``max(GAP_FLOOR, GAP_KS / sqrt(finished visits))``
    anywhere in the observed range; then use the empirical curve (``empirical_spec``).
    ``parametric`` and ``empirical`` force one kind.
    """
    d, o = fit.durations, fit.observed
    for key, cand in fit.candidates.items():
        fit.gaps[key] = km_gap(cand.spec, cand.cure, d, o)
    empirical = empirical_spec(d, o)
    fit.gaps[EMPIRICAL] = km_gap(empirical, 0.0, d, o)
    events = int(o.sum())
    fit.gap_limit = max(GAP_FLOOR, GAP_KS / math.sqrt(events))
    best = fit.chosen
    if choice == "parametric" or (choice == "auto" and fit.gaps[best] <= fit.gap_limit):
        return
    fit.chosen, fit.spec, fit.cure = EMPIRICAL, empirical, 0.0
    if choice == "auto":
        notes.append(
            f"stage {fit.name}: the best family ({best}) strays {fit.gaps[best]:.3f} from the "
            f"Kaplan-Meier curve (limit max({GAP_FLOOR}, {GAP_KS}/sqrt({events})) = "
            f"{fit.gap_limit:.3f}): the empirical curve is used (gap {fit.gaps[EMPIRICAL]:.3f})"
            + _tail_words(empirical, d, o)
        )
    if _tail_capped(empirical, d, o):
        notes.append(f"stage {fit.name}: " + _tail_cap_words(empirical, d, o, choice))


def _tail_capped(spec: dict, d: np.ndarray, o: np.ndarray) -> bool:
    """Whether the written tail is shorter than the (rounded) time at risk it comes from."""
    return spec.get("tail_mean") is not None and _sig(tail_exposure(d, o)) > spec["tail_mean"]


def _tail_words(spec: dict, d: np.ndarray, o: np.ndarray) -> str:
    if spec.get("tail_mean") is None:
        return ""
    last = spec["days"][-1]
    why = (
        "capped, see below"
        if _tail_capped(spec, d, o)
        else "the time at risk observed past that day, as if one more visit had ended"
    )
    return (
        f"; past day {last:g}, where {spec['survival'][-1]:.0%} are still in the stage and no "
        f"visit was seen ending ({int(np.count_nonzero(d > last)):,} open visits watched past "
        f"it), they leave at a constant rate: mean {spec['tail_mean']:,.0f} days more ({why})"
    )


def _yearly_exit_share(tail_mean: float) -> float:
    return -math.expm1(-365.25 / tail_mean)


def _tail_cap_words(spec: dict, d: np.ndarray, o: np.ndarray, choice: str) -> str:
    """Why the written tail is shorter than the time at risk, and what that changes; why the
    curve was written at all (``choice``: ``auto`` chose it over the AIC's family, or
    ``--durations empirical`` asked for it)."""
    exposure = tail_exposure(d, o)
    why = (
        "--durations empirical asks for it"
        if choice == "empirical"
        else "the family the AIC chose strays from it more than the sample's noise explains"
    )
    return (
        f"the empirical tail's mean would be {exposure:,.0f} days (the open visits' time at "
        f"risk past day {spec['days'][-1]:g}, as if one more had ended there): capped at "
        f"{spec['tail_mean']:,.0f} days, so that a visit left in the tail ends on average within "
        f"a century ({MAX_DAYS:,.0f} days, the longest duration a scenario allows) of entering "
        f"the stage. {_yearly_exit_share(spec['tail_mean']):.1%} of those visits leave in a "
        f'year instead of {_yearly_exit_share(exposure):.2%}: read the tail as "these deals do '
        'not close". (A cure share would say so too, as visits that never end; the curve was '
        f"written because {why}.)"
    )


def empirical_spec(d: np.ndarray, o: np.ndarray) -> dict:
    """The Kaplan-Meier curve as an ``empirical`` duration, with a fitted tail.

    Points: the curve's steps, thinned to one each time it has fallen ``EMPIRICAL_STEP`` (and
    its last step). Tail: past the last finished visit the curve says nothing, but the visits
    still open there were watched for a while; their time at risk past that day, divided by one
    event (the history saw none), is the mean of an exponential tail: the longer open visits
    were watched without ending, the longer the tail; capped so that a tail visit ends on
    average within ``MAX_DAYS`` of entering the stage (see ``_tail_cap_words``).
    """
    t, s = kaplan_meier(d, o)
    keep = [0]
    for j in range(1, len(t)):
        if s[keep[-1]] - s[j] >= EMPIRICAL_STEP or j == len(t) - 1:
            keep.append(j)
    days = [_sig(float(t[j])) for j in keep]
    survival = [round(float(s[j]), 6) for j in keep]
    spec: dict = {"dist": "empirical", "days": days, "survival": survival}
    if survival[-1] > 0:
        exposure = tail_exposure(d, o)
        tail = exposure if exposure > 0 else max(float(t[-1]), 1.0)
        # A tail visit ends on average at the last day plus the tail's mean: within the longest
        # duration a scenario allows, so that the fitted scenario always validates. Past it the
        # history (some visits watched for months, none ending) says "never", not "in 300
        # years", and a century already means hardly any exits within any horizon.
        cap = math.floor(MAX_DAYS - days[-1])
        spec["tail_mean"] = float(min(_sig(tail), cap)) if cap >= 1 else _sig(tail)
    return spec


def tail_exposure(d: np.ndarray, o: np.ndarray) -> float:
    """Days the open visits were watched past the last finished one: the empirical tail's mean
    before its cap (as if one more visit had ended; 0 without a visit past that day)."""
    if not o.any():
        return 0.0
    return float(np.sum(np.maximum(d - float(d[o].max()), 0.0)))


def km_gap(spec: Mapping, cure: float, d: np.ndarray, o: np.ndarray) -> float:
    """Largest distance between a model's survival (with a cure share) and the Kaplan-Meier
    curve, at each of the curve's steps and at the longest visit observed.

    The curve is compared where it is defined, after each step: a smooth curve through the
    steps has no gap, however coarse the days (a date-only history closes many visits on the
    same day).
    """
    t, s = kaplan_meier(d, o)
    dist = parse_duration(dict(spec))
    at = np.r_[t[1:], float(d.max())]
    model = cure + (1 - cure) * (1 - np.asarray(dist.cdf(at), float))
    return float(np.abs(model - np.r_[s[1:], s[-1]]).max())


def _log_time_se(fit: StageFit) -> float:
    """Standard error of the log of the stage's typical time, for ``duration_scale``.

    A family: the delta-method se of F's median (observed information). The empirical curve:
    Greenwood's se of the survival midway down the observed curve, turned into time by the
    curve's own slope there (a flat stretch of the curve makes the time uncertain).
    Never below the exponential's 1/sqrt(finished visits).
    """
    d, o = fit.durations, fit.observed
    floor = 1 / math.sqrt(max(int(o.sum()), 1))
    if fit.chosen == EMPIRICAL:
        se = _km_log_time_se(d, o)
    else:
        cand = fit.candidates[fit.chosen]
        se_median = standard_errors(cand, d[o], d[~o])["median"]
        se = se_median / parse_duration(cand.spec).quantile(0.5)
    return max(se, floor) if math.isfinite(se) else floor


def _km_log_time_se(d: np.ndarray, o: np.ndarray) -> float:
    times, events = np.unique(d[o], return_counts=True)
    at_risk = np.array([np.count_nonzero(d >= x) for x in times], float)
    surv = np.cumprod(1 - events / at_risk)
    level = (1 + surv[-1]) / 2
    j = int(np.argmax(surv <= level))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = events[: j + 1] / (at_risk[: j + 1] * (at_risk[: j + 1] - events[: j + 1]))
    se_s = float(surv[j] * math.sqrt(np.sum(terms[np.isfinite(terms)])))
    curve = parse_duration(empirical_spec(d, o))
    lo = curve.quantile(min(max(1 - (level + se_s), 0.0), 1.0))
    hi = curve.quantile(min(max(1 - (level - se_s), 0.0), 1 - 1e-9))
    mid = curve.quantile(1 - level)
    return (hi - lo) / 2 / mid if mid > 0 else math.nan


def _exits_weight(fit: StageFit) -> float:
    """How many observed exits the exit shares are worth: their number, or fewer when a cure
    share (estimated less surely than a count) is among them."""
    n = float(sum(fit.exits.values()))
    if not fit.cure:
        return n
    cand = fit.candidates[fit.chosen]
    se = standard_errors(cand, fit.durations[fit.observed], fit.durations[~fit.observed])["cure"]
    if not (math.isfinite(se) and se > 0):
        return n
    return max(min(n, fit.cure * (1 - fit.cure) / se**2 - 1), 1.0)


def _uncertainty_section(fits, inflow: InflowFit, amounts, amount: dict) -> dict:
    """``[uncertainty]``: what the history says about how sure each parameter is.

    A posterior, not a bootstrap: the arrival level is a lognormal with its median at the level
    and the log-sd of ``sim.inflow_fit`` (Poisson error, lag of the weighted months, wander);
    each stage's
    duration scale a lognormal with median 1 and the se of its log typical time; its exits a
    Dirichlet worth its observed exits (the posterior of multinomial shares); the amounts a
    lognormal factor with the se of the log mean amount.
    """
    out: dict = {}
    if inflow.level > 0:  # median at the level: as likely above it as below
        # A log-sd past FITTED_MAX_LOG_SD says "hardly known" (a few months of data): kept
        # there, within the bounds a scenario must keep (sim.scenario_bounds).
        p90 = inflow.level * math.exp(Z90 * min(max(inflow.level_cv, 1e-3), FITTED_MAX_LOG_SD))
        out["arrivals_per_month"] = {
            "dist": "lognormal",
            "median": _sig(inflow.level),
            "p90": _sig(p90),
        }
    out["arrivals_walk_sd"] = _sig(min(inflow.walk_sd, MAX_WALK_SD), 4)
    values = np.array([v for v in amounts.values() if v > 0 and math.isfinite(v)], float)
    if amount.get("dist") != "fixed" and len(values) >= 2:
        se = float(np.std(values, ddof=1) / (values.mean() * math.sqrt(len(values))))
        out["amount_scale"] = _unit_lognormal(se)
    out["stages"] = {
        f.name: {
            "duration_scale": _unit_lognormal(f.log_time_se),
            "exits_weight": _sig(f.exits_weight, 4),
        }
        for f in fits
    }
    return out


def _unit_lognormal(log_se: float) -> dict:
    """A factor with median 1 and the given sd of its log."""
    return {"dist": "lognormal", "median": 1, "p90": _sig(math.exp(Z90 * max(log_se, 1e-4)), 5)}


def _stalled_to_dormant(
    fits: list[StageFit], dormant: dict | None, notes: list[str]
) -> tuple[dict | None, str]:
    """Where the stalled share of a cure variant goes: ``dormant``, never to come back.

    Without a ``[dormant]`` in the history, one is added: reactivation a century away (the
    stalled deals stay stalled) and give-up after the largest open age observed in the stalled
    stages, so that a stalled deal stays open at least as long as any deal the history shows
    still open, and then ends as no_decision instead of staying open for ever. With a
    ``[dormant]`` fitted from the history, the stalled deals join it (and may reactivate at its
    rate). Returns the section and the comment that explains it in the TOML.
    """
    stalled = [f for f in fits if f.cure > 0]
    for f in stalled:
        notes.append(
            f"stage {f.name}: {f.cure:.1%} of the visits stall for good ({f.chosen} chosen by "
            f"AIC): in the scenario they leave after the stage's duration for dormant, the "
            f"observed exits are scaled by {1 - f.cure:.4g}, and a deal open in the stage at "
            "as_of has stalled the likelier the longer it has sat there (stalled_share)"
        )
    if not stalled:
        return dormant, ""
    if dormant is not None:
        notes.append(
            "dormant: the stalled share joins the dormant deals of the history, with their "
            "reactivation rate (the history cannot tell the two apart)"
        )
        return dormant, ""
    oldest = max(stalled, key=lambda f: float(f.durations[~f.observed].max()))
    age = float(oldest.durations[~oldest.observed].max())
    give_up = max(math.ceil(age), 1)
    comment = (
        f"Added by the fit for the stalled share of {', '.join(f.name for f in stalled)}: "
        f"reactivate_mean_days = {STALLED_REACTIVATE_DAYS} (a century: stalled deals do not come "
        f"back); give_up_after_days = {give_up}, the largest open age observed (a visit to "
        f"{oldest.name!r} open for {age:.0f} days at as-of): the history shows stalled deals "
        "still open that long and says nothing of later, so they stay open at least that long "
        "(after their stage time) and then end as no_decision rather than never."
    )
    notes.append("dormant: " + comment[0].lower() + comment[1:])
    return {
        "reactivate_mean_days": STALLED_REACTIVATE_DAYS,
        "give_up_after_days": give_up,
    }, comment


def _fit_dormant(durations, nexts, exits, stage_names, notes) -> dict | None:
    """``[dormant]`` from the dormant spells: reactivation is exponential, competing with give-up.

    Reactivations are the events; give-ups and spells still open are censored for it. The
    give-up time is the median length of the spells that ended in no_decision.
    """
    used = "dormant" in durations or any("dormant" in e for e in exits.values())
    if not used:
        return None
    d = np.array(durations.get("dormant", []), float)
    nxt = list(nexts.get("dormant", []))
    reactivations = sum(1 for x in nxt if x is not None and x not in OUTCOMES)
    total = float(d.sum())
    if reactivations:
        mean = total / reactivations
    else:
        mean = max(total, 365.0)
        notes.append("dormant: no reactivation observed; reactivate_mean_days is a guess")
    mean = _within_a_century(mean, "dormant: reactivate_mean_days", notes)
    gave_up = [float(t) for t, x in zip(d, nxt, strict=True) if x == "no_decision"]
    if gave_up:
        give_up = float(np.median(gave_up))
    else:
        give_up = max(float(d.max()) * 2 if len(d) else 730.0, 1.0)
        notes.append("dormant: no give-up observed; give_up_after_days = twice the longest spell")
    if any(x is not None and x != stage_names[0] and x not in OUTCOMES for x in nxt):
        notes.append(
            f"dormant: some deals left dormant for a stage other than {stage_names[0]!r}; "
            "the scenario reactivates into the first stage"
        )
    return {"reactivate_mean_days": _sig(mean), "give_up_after_days": _sig(give_up)}


def _amount_spec(amounts: Mapping[str, float], notes: list[str]) -> dict:
    """Deal amounts: a lognormal through the median and P90 of the positive amounts."""
    values = np.array([v for v in amounts.values() if v > 0 and math.isfinite(v)], float)
    if len(values) == 0:
        notes.append("no amounts in the history: deals.amount = fixed 1 (counts, not money)")
        return {"dist": "fixed", "value": 1}
    median, p90 = (float(np.quantile(values, q)) for q in (0.5, 0.9))
    if len(values) < 10 or not p90 > median * 1.0001:
        return {"dist": "fixed", "value": _sig(median)}
    return {"dist": "lognormal", "median": _sig(median), "p90": _sig(p90)}


def crm_stage_map(
    spellings: Mapping[str, str],
    undated: Mapping[str, int],
    stages: list[str],
    has_dormant: bool,
    notes: list[str],
) -> dict[str, str]:
    """The fitted scenario's ``[crm.stage_map]``: each CRM stage spelling -> the state it became.

    Without it ``run --pipeline`` on an export of the same CRM knows a stage only by its key or
    label: a spelling the fit renamed, merged or sent to an outcome (``--stage-map``,
    ``--outcome``) and one the reader left out for having no dates (Maven's Prospecting) were
    unknown stages there. A stage with no dates goes to the first stage, where its deals start
    when they do; a spelling whose state the scenario lacks is left out, and ``notes`` say so
    (the terminal and the TOML's comments).
    """
    allowed = {*stages, *OUTCOMES, *(["dormant"] if has_dormant else [])}
    out: dict[str, str] = {}
    for crm, state in spellings.items():
        if state in allowed:
            out[crm] = state
        else:
            why = "no [dormant] section was fitted" if state == "dormant" else "no visit by as-of"
            notes.append(
                f"[crm.stage_map] leaves out {crm!r}: its state {state!r} is not in the fitted "
                f"scenario ({why}); a pipeline with deals there needs an entry for it"
            )
    for crm, count in undated.items():
        if crm in out or crm in spellings:
            continue
        target = outcome_of(crm)
        if target in OUTCOMES:
            out[crm] = target
            continue
        out[crm] = stages[0]
        notes.append(
            f"[crm.stage_map] sends {crm!r} ({count} deals with no dates, not fitted) to "
            f"{stages[0]!r}, the first stage: run --pipeline starts them there, as new deals"
        )
    return out


def _scenario_dict(
    name,
    source,
    as_of,
    horizon,
    fits,
    initial,
    inflow,
    amount,
    dormant,
    currency,
    uncertainty,
    stage_map,
) -> dict:
    data: dict = {
        "name": name,
        "description": f"Fitted by dealsim fit from {Path(source).name} as of {as_of}",
        "start_date": as_of,
        "horizon_days": horizon,
    }
    if currency:
        data["currency"] = currency
    data["deals"] = {
        "initial": initial,
        "arrivals_per_month": _sig(inflow.level),
        "amount": amount,
    }
    if inflow.seasonality is not None:
        data["deals"]["seasonality"] = inflow.seasonality
    data["stages"] = [_stage_entry(f) for f in fits]
    if dormant is not None:
        data["dormant"] = dormant
    data["uncertainty"] = uncertainty
    if stage_map:
        data["crm"] = {"stage_map": stage_map}
    return data


def _stage_entry(fit: StageFit) -> dict:
    """A fitted stage as the scenario writes it; a cure share as ``stalled_share``, so that a
    deal imported old into the stage is as likely to have stalled as the fit says."""
    exits = fit.exit_probabilities()
    entry = {"name": fit.name, "label": fit.label, "duration": fit.spec, "exits": exits}
    if fit.cure > 0:
        entry["stalled_share"] = min(round(fit.cure, 6), exits.get("dormant", 0.0))
    return entry


# --------------------------------------------------------------------------------------------
# Report, plot, files
# --------------------------------------------------------------------------------------------


def _fmt_days(x: float) -> str:
    if not math.isfinite(x):
        return "never" if x > 0 else "-"
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def describe_spec(spec: Mapping) -> str:
    """``lognormal(median 45, p90 160)``."""
    return parse_duration(dict(spec)).describe()


def describe_model(spec: Mapping, cure: float = 0.0) -> str:
    """``gamma(mean 57, cv 1.1) + cure 14.3%``."""
    return describe_spec(spec) + (f" + cure {cure:.1%}" if cure else "")


def describe_median(spec: Mapping) -> float:
    return parse_duration(dict(spec)).quantile(0.5)


def fresh_start(result: FitResult, out: Path | str | None = None) -> tuple[str, str]:
    """What ``deals.initial`` leaves out (the open deals' ages), and the command that keeps it.

    The scenario's day-0 deals are counts by stage: each starts its stage afresh, whereas the
    history shows them a while in it already (an old deal has less time left, or has stalled).
    ``run --pipeline`` gives each open deal its age and amount. Returns (sentence, command);
    empty strings when no deal is open at as-of.
    """
    ages = np.concatenate([f.durations[~f.observed] for f in result.stages if f.censored] or [[]])
    if not len(ages):
        return "", ""
    day = result.scenario["start_date"]
    scenario = shlex.quote(str(out)) if out is not None else "<this file>"
    export = shlex.quote(result.source) if result.reads_as_pipeline else "<open-deals.csv>"
    words = (
        f"Deals.initial starts the {len(ages):,} deals open at as-of at day 0 of their stage, as "
        f"new deals, although they had been in it a median {float(np.median(ages)):,.0f} days "
        "(a scenario holds counts, not ages); to start each with its age and its amount, run"
        + ("" if result.reads_as_pipeline else f" with an export of the deals open on {day}")
        + ":"
    )
    return words, f"dealsim run {scenario} --pipeline {export} --as-of {day}"


def _command_lines(command: str) -> list[str]:
    """A shell command for the terminal: wrapped at spaces with ``\\`` continuations, so that
    it fits and still runs when copied."""
    lines = wrap(command, terminal_width() - 2, indent="    ", subsequent="      ")
    return [line + " \\" for line in lines[:-1]] + lines[-1:]


def fit_report(result: FitResult, out: Path | str | None = None) -> str:
    """Per stage: visits, censored, chosen distribution, median, P90, exits; then the notes.

    ``out``: where the scenario was written, for the ``run --pipeline`` command it gives.
    """
    fresh, command = fresh_start(result, out)
    lines = [
        f"Fit of {result.source} as of {result.as_of_text}: {counted(result.deals, 'deal')}, "
        f"{counted(result.rows, 'row')}",
        f"Arrivals: {counted(result.arrivals, 'deal')} entered {result.window_start:%Y-%m-%d} .. "
        f"{result.as_of_text}: "
        + (result.inflow.describe() if result.inflow else f"{result.arrivals_per_month:.2f}/month"),
        "Open at as-of: " + (", ".join(f"{k} {v}" for k, v in result.initial.items()) or "none"),
        *([f"  {fresh}"] if fresh else []),
        f"Amount: {describe_spec(result.amount)} (from {result.amount_count} amounts"
        + (f", {result.currency})" if result.currency else "; currency unknown: --currency)"),
    ]
    if result.ignored_rows:
        lines.append(
            f"Left out: {counted(result.ignored_rows, 'row')} dated after as-of "
            f"({counted(result.ignored_deals, 'deal')} created later)"
        )
    if result.uncertainty:
        lines.append(
            "Parameter uncertainty written to [uncertainty]: " + _uncertainty_words(result)
        )
    lines = [w for line in lines for w in wrap(line, subsequent="  ", cap=None)]
    if command:  # under the sentence that ends "run:" (Open at as-of, before Amount)
        at = next(i for i, line in enumerate(lines) if line.startswith("Amount: "))
        lines[at:at] = _command_lines(command)
    lines.append("")
    # one precision per column of days: the largest value with 3 significant digits
    days = {
        key: scale_for([getattr(f, key) for f in result.stages], digits=3, suffix=False)
        for key in ("median", "p90", "km_median")
    }

    def fmt(key: str, x: float) -> str:
        if not math.isfinite(x):
            return "never" if x > 0 and key != "km_median" else "-"
        return days[key](x)

    table = [["stage", "visits", "censored", "median", "P90", "KM med", "chosen"]]
    notes = []
    for f in result.stages:
        table.append(
            [
                f.name,
                f"{f.visits}",
                f"{f.censored}",
                fmt("median", f.median),
                fmt("p90", f.p90),
                fmt("km_median", f.km_median),
                describe_model(f.spec, f.cure),
            ]
        )
        extra = []
        if f.cure:
            extra.append(
                f"cure: {f.cure:.1%} of the visits never end on their own "
                f"(-> dormant); the others last {describe_spec(f.spec)}, median "
                f"{_fmt_days(describe_median(f.spec))}; median and P90 above are of all visits "
                f"(never: the share still in stage stays above 50% / 10%)"
            )
        if f.candidates:
            aics = ", ".join(
                f"{c.family} {c.aic:,.1f}" + (" *" if c.family == f.chosen else "")
                for c in f.candidates.values()
            )
            extra.append(f"AIC: {aics}")
        if f.gaps:
            gaps = ", ".join(
                f"{k} {v:.3f}" + (" *" if k == f.chosen else "") for k, v in f.gaps.items()
            )
            extra.append(f"largest gap to Kaplan-Meier (limit {f.gap_limit:.3f}): {gaps}")
        total = sum(f.exits.values())
        ex = (
            ", ".join(f"{k} {v / total:.1%} ({v})" for k, v in f.exits.most_common())
            or "none observed -> no_decision"
        )
        extra.append(f"exits: {ex}")
        if f.cure:
            scen = ", ".join(f"{k} {v:.1%}" for k, v in f.exit_probabilities().items())
            extra.append(f"scenario exits: {scen}")
        notes.append(extra)
    lines += render(table, right={1, 2, 3, 4, 5}, text={0, 6}, indent=0, notes=notes)
    if result.dormant:
        lines += wrap(
            f"dormant: reactivate_mean_days {result.dormant['reactivate_mean_days']:g}, "
            f"give_up_after_days {result.dormant['give_up_after_days']:g}",
            subsequent="  ",
            cap=None,
        )
    if result.notes:
        lines.append("")
        for n in result.notes:
            lines += wrap(f"Note: {n}", subsequent="  ", cap=None)
    return "\n".join(lines)


def _uncertainty_words(result: FitResult) -> str:
    u = result.uncertainty or {}
    parts = []
    arrivals = u.get("arrivals_per_month")
    if arrivals:
        parts.append(
            f"arrival level P10-P90 {arrivals['median'] ** 2 / arrivals['p90']:,.1f}-"
            f"{arrivals['p90']:,.1f} a month"
        )
    if u.get("arrivals_walk_sd"):
        months = result.scenario["horizon_days"] / DAYS_PER_MONTH
        low, high = walk_range(u["arrivals_walk_sd"], walk_steps_over(months))
        parts.append(
            f"a monthly random walk of sd {u['arrivals_walk_sd']:.3f} (median kept: in the "
            f"horizon's last month the rate P10-P90 x{low:.2f}-x{high:.2f} of the level)"
        )
    for name, su in u.get("stages", {}).items():
        p90 = su["duration_scale"]["p90"]
        parts.append(
            f"{name} durations x P10-P90 {1 / p90:.3f}-{p90:.3f}, exits worth "
            f"{su['exits_weight']:,.0f} observed"
        )
    return "; ".join(parts) + " (each replication draws its own; --no-parameter-uncertainty)"


def plot_fit(result: FitResult, path: Path) -> Path:
    """One PNG, a panel per stage: Kaplan-Meier survival of the visits against the fitted one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(result.stages)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    width = 4.6 * cols if cols > 1 else 7.0  # one panel: room for the legend's long labels
    fig, axes = plt.subplots(rows, cols, figsize=(width, 3.6 * rows), squeeze=False)
    for ax, f in zip(axes.flat, result.stages, strict=False):
        t, s = kaplan_meier(f.durations, f.observed)
        ax.step(t, s, where="post", color="black", lw=1.4, label="Kaplan-Meier (censored)")
        done = np.sort(f.durations[f.observed])
        if len(done):
            ax.step(
                np.r_[0, done],
                np.r_[1, 1 - np.arange(1, len(done) + 1) / len(done)],
                where="post",
                color="tab:red",
                lw=1,
                ls=":",
                label="finished visits only (biased)",
            )
        dist = parse_duration(f.spec)
        longest = float(f.durations.max())  # a long tail is not drawn past 1.5x the data
        top = max(
            float(np.quantile(f.durations, 0.99)),
            *(min(q, 1.5 * longest) for q in (f.p90, f.median) if math.isfinite(q)),
        )
        top *= 1.1
        grid = np.linspace(0, top, 300)
        surv = f.cure + (1 - f.cure) * (1 - dist.cdf(grid))
        gap = f" (gap {f.gaps[f.chosen]:.2f})" if f.chosen in f.gaps else ""
        label = describe_model(f.spec, f.cure) + gap
        ax.plot(grid, surv, color="tab:blue", lw=1.6, label=label)
        if f.chosen == EMPIRICAL and f.candidates:  # the best family, for comparison
            best = min(f.candidates.values(), key=lambda c: c.aic)
            other = best.cure + (1 - best.cure) * (1 - parse_duration(best.spec).cdf(grid))
            ax.plot(
                grid,
                other,
                color="tab:gray",
                lw=1,
                ls="--",
                label=f"best family: {describe_model(best.spec, best.cure)} "
                f"(gap {f.gaps[best.family]:.2f})",
            )
        if f.cure:
            ax.axhline(f.cure, color="tab:blue", lw=0.8, ls="--", label="stalled for good")
        ax.set_xlim(0, top)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{f.label}: {f.visits} visits, {f.censored} open", fontsize=10)
        ax.set_xlabel("days in stage")
        ax.set_ylabel("still in stage")
        ax.legend(fontsize=7, loc="center right")  # curves fall from the top left corner
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(f"Stage durations: fit vs Kaplan-Meier ({Path(result.source).name})")
    fig.tight_layout()
    path = Path(path)
    atomic_file(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


def scenario_toml(result: FitResult, out: Path | str | None = None) -> str:
    """The fitted scenario as TOML, with the fit's notes as comments on top (``out``: the
    file's own path, for the ``run --pipeline`` command of the day-0 deals)."""
    fresh, command = fresh_start(result, out)
    head = [
        f"# Fitted by `dealsim fit` from {result.source} as of {result.as_of_text}.",
        *(f"# {line}" for line in textwrap.wrap(fresh, 96, break_on_hyphens=False)),
        *([f"#   {command}"] if command else []),
        *_durations_header(result),
        "# [uncertainty]: how sure the history makes each parameter; every replication draws its",
        "# own set from it (dealsim run --no-parameter-uncertainty, or enabled = false: the values",
        "# above for all).",
    ]
    head += [f"# Note: {n}" for n in result.notes]
    body = toml_dumps(result.scenario)
    if result.dormant_comment:
        wrapped = textwrap.wrap(result.dormant_comment, 96)
        comment = "".join(f"# {line}\n" for line in wrapped)
        body = re.sub(r"^\[dormant\]$", lambda m: comment + m.group(0), body, count=1, flags=re.M)
    return "\n".join(head) + "\n" + body


def _durations_header(result: FitResult) -> list[str]:
    """The header's lines on how the stage durations were chosen: what ``--durations`` asked."""
    if result.durations == "parametric":
        return [
            "# Durations: censored maximum likelihood, the family with the lowest AIC (each also",
            "# with a cure share: visits that never end on their own, sent to dormant) for every",
            "# stage, as --durations parametric asked, even where it strays from the Kaplan-Meier",
            "# curve; exits: observed shares.",
        ]
    if result.durations == "empirical":
        lines = [
            "# Durations: each stage's Kaplan-Meier curve itself (empirical; open visits",
            "# censored), with an exponential tail fitted past its last finished visit, as",
            "# --durations empirical asked; exits: observed shares.",
        ]
        if any(f.chosen != EMPIRICAL for f in result.stages):
            lines.append("# A stage no visit was seen to leave has no curve: see its note.")
        return lines
    return [
        "# Durations: censored maximum likelihood, family chosen by AIC (each also with a cure",
        "# share: visits that never end on their own, sent to dormant), or the Kaplan-Meier curve",
        "# itself (empirical) when no family follows it; exits: observed shares.",
    ]


def fit_picture_path(out: Path | str) -> Path:
    """Where ``write_fit`` puts the figure of a fit written to ``out``: ``<stem>-fit.png``."""
    out = Path(out)
    return out.with_name(f"{out.stem}-fit.png")


def fidelity_picture_path(out: Path | str) -> Path:
    """Where fit draws its check against the history, for a fit written to ``out``."""
    out = Path(out)
    return out.with_name(f"{out.stem}-fidelity.png")


def write_fit(
    result: FitResult, out: Path | str, plot: bool = True, force: bool = False
) -> tuple[Path, Path | None]:
    """Write the scenario TOML and ``<stem>-fit.png`` next to it; returns both paths.

    Neither file replaces an existing one unless ``force`` (checked first, and again when they
    are published); both are written whole under temporary names, the picture published first
    and removed again if the scenario cannot be.

    Raises:
        OutputError: a path that cannot be written, or exists without ``force``.
    """
    out = Path(out)
    png = fit_picture_path(out) if plot else None
    for path in (out, png):
        if path is not None:
            check_output_file(path, force)
    text = scenario_toml(result, out)
    toml_file = StagedFile(out, replace=force)
    png_file = StagedFile(png, replace=force) if png is not None else None
    staged = [f for f in (png_file, toml_file) if f is not None]
    published: list[Path] = []
    try:
        with output_errors(out):
            toml_file.open().write_text(text, encoding="utf-8")
        if png_file is not None:
            plot_fit(result, png_file.open())
        for file in staged:
            published.append(file.publish())
    except BaseException:
        for file in staged:
            file.discard()
        if not force:  # what this call created alone, not a file it replaced
            for path in published:
                path.unlink(missing_ok=True)
        raise
    return out, png
