"""New deals arrive as a Poisson process, with optional monthly seasonality."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from sim.engine import simulate_replication
from sim.model import compile_scenario
from sim.scenario import scenario_from_dict


def scenario(per_month: float, seasonality: list[float] | None = None) -> dict:
    deals: dict = {"arrivals_per_month": per_month, "amount": {"dist": "fixed", "value": 1}}
    if seasonality is not None:
        deals["seasonality"] = seasonality
    return {
        "name": "arrivals",
        "start_date": "2027-01-01",
        "horizon_days": 730.5,  # two years of 365.25 days
        "deals": deals,
        "stages": [{"name": "a", "duration": {"dist": "fixed", "value": 1}, "exits": {"won": 1.0}}],
    }


def test_the_number_of_arrivals_is_poisson_with_the_rate_of_the_file():
    model = compile_scenario(scenario_from_dict(scenario(per_month=10)))
    counts = np.array([simulate_replication(model, 7, r).n_deals for r in range(60)])
    expected = 10 * 24  # 24 months of 365.25 / 12 days
    se = math.sqrt(expected / len(counts))  # Poisson: variance = mean
    assert abs(counts.mean() - expected) < 4 * se
    assert abs(counts.mean() - 1.1 * expected) > 4 * se  # a 10% error would be caught
    # Poisson dispersion: the variance matches the mean (chi-square band at about 4 sigma)
    assert 0.4 < counts.var(ddof=1) / expected < 1.9


def test_seasonality_shapes_the_months():
    """No arrivals in the months with a zero multiplier; twice the rate in doubled months."""
    season = [2.0, 2.0, 2.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    model = compile_scenario(scenario_from_dict(scenario(per_month=10, seasonality=season)))
    start = dt.date(2027, 1, 1)
    months = []
    for r in range(40):
        rec = simulate_replication(model, 3, r)
        months += [(start + dt.timedelta(days=float(d))).month for d in rec.created]
    per_month = np.bincount(months, minlength=13)[1:] / (40 * 2)  # mean per calendar month
    assert per_month[3:6].sum() == 0  # April to June: nothing
    scale = 10 / (365.25 / 12) / np.mean(season)  # per day; multipliers average 1
    for m in range(3):  # January to March, doubled
        days = np.mean([(dt.date(y, m + 2, 1) - dt.date(y, m + 1, 1)).days for y in (2027, 2028)])
        expected = scale * season[m] * days
        se = math.sqrt(expected / (40 * 2))
        assert abs(per_month[m] - expected) < 4 * se
        assert abs(per_month[m] - expected / 2) > 4 * se  # the doubling is really there
