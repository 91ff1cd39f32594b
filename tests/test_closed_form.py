"""The engine against closed form: a continuous-time absorbing Markov chain.

With exponential stage times and no other mechanism, a deal is a continuous-time Markov chain,
so its outcome probabilities are B = (I - Q)^-1 R and its time to close is phase-type
(mean alpha (-T)^-1 1, k-th moment k! alpha (-T)^-k 1, CDF 1 - alpha exp(T t) 1).
Tolerances come from standard errors (reported by the run, or the asymptotic one of a sample
quantile), and each check also shows that a wrong expectation would fail it.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from scipy.linalg import expm
from scipy.optimize import brentq

from sim.api import simulate
from sim.scenario import scenario_from_dict

MONTH = 365.25 / 12
Z = 4.0  # standard errors allowed: a false alarm about once in 16,000 checks

# The example chain of issue 2: stage means in months, exit probabilities.
MEANS = {"d": 2.0, "e": 2.5, "n": 1.0}
EXITS = {
    "d": {"e": 0.6, "lost": 0.4},
    "e": {"d": 0.25, "n": 0.5, "lost": 0.25},
    "n": {"e": 0.2, "won": 0.6, "lost": 0.2},
}


def chain_scenario(deals: int, replications: int) -> dict:
    return {
        "name": "chain-test",
        "start_date": "2027-01-01",
        "horizon_days": 7305,  # 20 years: every deal closes
        "replications": replications,
        "seed": 11,
        "deals": {
            "initial": {"d": deals},
            "arrivals_per_month": 0,
            "amount": {"dist": "fixed", "value": 1},
        },
        "stages": [
            {
                "name": name,
                "duration": {"dist": "exponential", "mean": MEANS[name] * MONTH},
                "exits": EXITS[name],
            }
            for name in MEANS
        ],
    }


class PhaseType:
    """Closed-form results of the chain started in stage d (times in days)."""

    def __init__(self):
        names = list(MEANS)
        k = len(names)
        q = np.zeros((k, k))
        r = np.zeros((k, 2))  # won, lost
        for i, name in enumerate(names):
            for target, p in EXITS[name].items():
                if target in names:
                    q[i, names.index(target)] = p
                else:
                    r[i, ["won", "lost"].index(target)] = p
        self.absorption = np.linalg.solve(np.eye(k) - q, r)
        rates = np.array([1 / (MEANS[n] * MONTH) for n in names])
        self.t = rates[:, None] * (q - np.eye(k))
        self.alpha = np.eye(k)[0]
        self.exit_rates = -self.t @ np.ones(k)

    def moment(self, order: int) -> float:
        inv = np.linalg.inv(-self.t)
        return math.factorial(order) * self.alpha @ np.linalg.matrix_power(inv, order) @ np.ones(3)

    def cdf(self, x: float) -> float:
        return 1 - self.alpha @ expm(self.t * x) @ np.ones(3)

    def pdf(self, x: float) -> float:
        return self.alpha @ expm(self.t * x) @ self.exit_rates

    def quantile(self, p: float) -> float:
        return brentq(lambda x: self.cdf(x) - p, 0, 10_000)


@pytest.fixture(scope="module")
def theory() -> PhaseType:
    return PhaseType()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """8 replications of 5,000 deals: many deals, few replications."""
    folder = tmp_path_factory.mktemp("chain") / "out"
    scenario = scenario_from_dict(chain_scenario(deals=5000, replications=8))
    result = simulate(scenario, jobs=2, output=folder, plots=False)
    with open(folder / "deals.csv", newline="") as f:
        cycles = np.array([float(row["cycle_days"]) for row in csv.DictReader(f)])
    return result.summary, cycles


def within(estimate: float, expected: float, se: float) -> bool:
    return abs(estimate - expected) <= Z * se


def test_the_closed_form_itself_matches_the_issue(theory):
    """The numbers quoted in the issue, from our own closed-form code."""
    assert theory.absorption[0, 0] == pytest.approx(0.24)
    assert theory.moment(1) / MONTH == pytest.approx(4.8)
    variance = theory.moment(2) - theory.moment(1) ** 2
    assert variance / MONTH**2 == pytest.approx(20.2133, abs=1e-4)
    assert theory.quantile(0.5) / MONTH == pytest.approx(3.5447, abs=1e-4)


def test_absorption_probabilities(run, theory):
    summary, _ = run
    won, lost = summary["outcomes"]["won"], summary["outcomes"]["lost"]
    assert summary["outcomes"]["open"]["share"] == 0
    assert within(won["share"], theory.absorption[0, 0], won["share_se"])
    assert within(lost["share"], theory.absorption[0, 1], lost["share_se"])
    # A wrong oracle (P(won) = 0.26) would be rejected by the same tolerance.
    assert not within(won["share"], 0.26, won["share_se"])


def test_mean_time_to_absorption(run, theory):
    summary, _ = run
    closed = summary["cycle_days"]["closed"]
    assert closed["n"] == 40_000
    assert within(closed["mean"], theory.moment(1), closed["se"])
    assert not within(closed["mean"], 5.0 * MONTH, closed["se"])


def test_variance_of_time_to_absorption(run, theory):
    _, cycles = run
    n = len(cycles)
    m1, m2, m3, m4 = (theory.moment(k) for k in (1, 2, 3, 4))
    variance = m2 - m1**2
    central4 = m4 - 4 * m3 * m1 + 6 * m2 * m1**2 - 3 * m1**4
    se = math.sqrt((central4 - variance**2) / n)  # standard error of a sample variance
    assert within(cycles.var(ddof=1), variance, se)
    assert not within(cycles.var(ddof=1), 1.1 * variance, se)


@pytest.mark.parametrize("q", [10, 50, 90])
def test_percentiles_of_time_to_absorption(run, theory, q):
    summary, _ = run
    closed = summary["cycle_days"]["closed"]
    p = q / 100
    expected = theory.quantile(p)
    # Asymptotic standard error of a sample quantile, plus the histogram's resolution.
    se = math.sqrt(p * (1 - p) / closed["n"]) / theory.pdf(expected) + 1 / 16
    assert within(closed[f"p{q}"], expected, se)
    assert not within(closed[f"p{q}"], expected * 1.10, se)  # a 10% error is caught
