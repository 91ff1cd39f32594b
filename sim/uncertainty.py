"""Parameter uncertainty: each replication draws its own parameter set, once, from keyed streams.

A scenario estimated from a few thousand deals is not known exactly, and a forecast that takes it
as certain gives bands that hold only the Monte Carlo noise (issue 10: the Maven backtest's
+-3%). The ``[uncertainty]`` section says how sure the parameters are; for replication ``r``,
:func:`replication_model` draws

* the arrival level: ``deals.arrivals_per_month x draw / median`` of ``arrivals_per_month``;
* the arrival path: with ``arrivals_walk_sd``, a log-rate random walk by calendar month without
  drift (``exp(W_k)``: the rate is as likely to end above its level as below, the median path
  stays at the level), so a run rate can fall as well as rise within a replication;
* per stage: a factor on every duration (``duration_scale``) and exit probabilities from a
  Dirichlet around the file's (``exits_weight`` = how many observed exits they are worth);
* a factor on every drawn deal amount (``amount_scale``; a CRM deal keeps its own amount).

Every draw is an inverse transform of a uniform from the stream
``(replication, Purpose.PARAMETERS, Group.MARKET, key of the parameter's name)``: the same
replication gets the same parameter quantiles whichever worker runs it and in any scenario that
has the same parameter (common random numbers for ``compare``), and adding a parameter to the
section does not move the others' draws.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import numpy as np

from sim.distributions import Z90
from sim.distributions import sc as special  # scipy.special, imported on first use
from sim.engine import ReplicationRecords, simulate_replications
from sim.model import Model
from sim.randomness import Group, Purpose, Streams, name_key
from sim.scenario import Scenario


class Scaled:
    """A distribution times a positive factor: ``ppf(u) = factor x base.ppf(u)``.

    Quacks like :class:`sim.distributions.Distribution` for the engine (``ppf``, ``cdf``) and
    for reports (``mean``, ``quantile``, ``support``, ``describe``).
    """

    def __init__(self, base, factor: float):
        self.base = base
        self.factor = float(factor)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.factor * self.base.ppf(u)

    def ppf_shared(self, uniforms) -> np.ndarray:
        return self.factor * self.base.ppf_shared(uniforms)

    def cdf(self, x):
        return self.base.cdf(np.asarray(x, float) / self.factor)

    def mean(self) -> float:
        return self.factor * self.base.mean()

    def quantile(self, p: float) -> float:
        return self.factor * self.base.quantile(p)

    def support(self) -> tuple[float, float]:
        lo, hi = self.base.support()
        return self.factor * lo, self.factor * hi

    def describe(self) -> str:
        return f"{self.factor:.4g} x {self.base.describe()}"


def drawn_parameters(scenario: Scenario) -> list[str]:
    """The parameters each replication draws (empty: every replication uses the file's values)."""
    u = scenario.uncertainty
    if u is None or not u.enabled:
        return []
    names = []
    if u.arrivals_per_month is not None:
        names.append("arrivals_per_month")
    if u.arrivals_walk_sd > 0:
        names.append("arrivals_walk_sd")
    if u.amount_scale is not None:
        names.append("amount_scale")
    for stage, su in u.stages.items():
        if su.duration_scale is not None:
            names.append(f"stages.{stage}.duration_scale")
        if su.exits_weight is not None:
            names.append(f"stages.{stage}.exits_weight")
    return names


def uncertainty_summary(scenario: Scenario) -> dict:
    """What ``summary.json`` says about it: on or off, and which parameters were drawn."""
    drawn = drawn_parameters(scenario)
    return {"used": bool(drawn), "drawn": drawn}


def _uniform(streams: Streams, key: str, size: int | None = None):
    rng = streams.generator(Purpose.PARAMETERS, Group.MARKET, name_key(key))
    return rng.random() if size is None else rng.random(size)


def replication_model(model: Model, seed: int, replication: int) -> Model:
    """The model with replication ``replication``'s own parameter set (see the module doc)."""
    u = model.scenario.uncertainty
    if not drawn_parameters(model.scenario):
        return model
    streams = Streams(seed, replication)
    changes: dict = {}
    level = 1.0
    if u.arrivals_per_month is not None:
        dist = u.arrivals_per_month
        draw = float(dist.ppf(np.asarray(_uniform(streams, "arrivals_per_month"))))
        level = draw / dist.quantile(0.5)
    if level != 1.0 or u.arrivals_walk_sd > 0:
        by_day = _arrival_path(model, streams, level, u.arrivals_walk_sd)
        changes["arrival_rate_by_day"] = by_day
        changes["arrivals_per_day"] = float(by_day.mean())
    if u.amount_scale is not None:
        factor = float(u.amount_scale.ppf(np.asarray(_uniform(streams, "amount_scale"))))
        changes["amount"] = Scaled(model.amount, factor)
    durations = list(model.durations)
    cumulative = model.exit_cumulative.copy()
    for s, name in enumerate(model.stage_names):
        su = u.stages.get(name)
        if su is None:
            continue
        if su.duration_scale is not None:
            draw = _uniform(streams, f"stages.{name}.duration_scale")
            durations[s] = Scaled(durations[s], float(su.duration_scale.ppf(np.asarray(draw))))
        if su.exits_weight is not None:
            cumulative[s] = _dirichlet_cumulative(model, streams, s, su.exits_weight)
    changes["durations"] = durations
    changes["exit_cumulative"] = cumulative
    return dataclasses.replace(model, **changes)


def walk_range(walk_sd: float, months: float, z: float = Z90) -> tuple[float, float]:
    """The walk's factor on the rate after ``months`` steps: its (P10, P90) for ``z = Z90``.

    The log factor is normal with mean 0 and sd ``walk_sd sqrt(months)``: the median path stays
    at the level, and the mean factor is ``exp(walk_sd^2 months / 2)``."""
    spread = walk_sd * math.sqrt(months)
    return math.exp(-z * spread), math.exp(z * spread)


def walk_steps_over(months: float) -> int:
    """The walk's steps by the last month of a horizon of ``months``: one a month after the
    first, which is at the drawn level (see :func:`_arrival_path`)."""
    return max(math.ceil(months - 1e-9) - 1, 1)


def walk_mean_factor(walk_sd: float, months: float) -> float:
    """The mean of the walk's factor after ``months`` steps (a lognormal's mean)."""
    return math.exp(walk_sd**2 * months / 2)


def _arrival_path(model: Model, streams: Streams, level: float, walk_sd: float) -> np.ndarray:
    """Arrivals per day for each whole day: the model's rate x level x the month's walk factor."""
    n_days = int(np.ceil(model.horizon)) + 1
    days = np.arange(n_days, dtype=float)
    base = model.arrival_rate_by_day
    if base is None:
        base = np.full(n_days, model.arrivals_per_day)
        if model.seasonality is not None:
            months = np.array([model.calendar.date_of(d).month for d in days]) - 1
            base = base * model.seasonality[months]
    rate = base * level
    if walk_sd > 0:
        period = np.minimum(model.calendar.period_index(days), model.calendar.n_periods - 1)
        steps = walk_sd * special.ndtri(
            _uniform(streams, "arrivals_walk", model.calendar.n_periods)
        )
        steps[0] = 0.0  # the first month is at the drawn level
        walk = np.exp(np.cumsum(steps))
        rate = rate * walk[period]
    return rate


def _dirichlet_cumulative(model: Model, streams: Streams, s: int, weight: float) -> np.ndarray:
    """Stage s's cumulative exit probabilities drawn from Dirichlet(weight x p).

    Each target's gamma(weight x p_k) is the inverse transform of its own keyed uniform, so a
    target's draw does not depend on which other targets the stage has.
    """
    probs = np.diff(np.r_[0.0, model.exit_cumulative[s]])
    names = model.state_names()
    stage = model.stage_names[s]
    gammas = np.zeros_like(probs)
    for k in np.flatnonzero(probs > 0):
        u = _uniform(streams, f"stages.{stage}.exits.{names[k]}")
        gammas[k] = special.gammaincinv(weight * probs[k], u)
    total = gammas.sum()
    if not total > 0:  # every shape tiny and every draw 0: keep the file's shares
        return model.exit_cumulative[s]
    cumulative = np.cumsum(gammas / total)
    cumulative[-1] = 1.0
    return cumulative


def replication_records(
    model: Model,
    seed: int,
    replications: range,
    record_events: bool = False,
    engine: str = "auto",
) -> Iterator[ReplicationRecords]:
    """The engine's records of the replications, each with its own parameter set when the
    scenario has parameter uncertainty (the engine then runs one replication at a time)."""
    if not drawn_parameters(model.scenario):
        yield from simulate_replications(model, seed, replications, record_events, engine)
        return
    for r in replications:
        own = replication_model(model, seed, r)
        yield from simulate_replications(own, seed, range(r, r + 1), record_events, engine)
