"""A small generated stage history and a planner's scenario for it, for the backtest tests
(test_backtest_window.py, test_backtest_plots.py): one deal a day through 2020 in one stage
"work", won or lost after an exponential time; its first close in January, its last row on
2020-12-31. Fast to backtest with the scenario (no fit)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from sim.scenario import Scenario, scenario_from_dict

FIRST, LAST = dt.date(2020, 1, 1), dt.date(2020, 12, 31)
SCENARIO = {
    "name": "plan",
    "start_date": FIRST,
    "horizon_days": 365,
    "deals": {"arrivals_per_month": 30, "amount": {"dist": "fixed", "value": 1000}},
    "stages": [
        {
            "name": "work",
            "duration": {"dist": "exponential", "mean": 40},
            "exits": {"won": 0.4, "lost": 0.6},
        }
    ],
    "uncertainty": {"enabled": False},
}


def write_history(path: Path) -> Path:
    """Write the history as a plain CSV (deal_id, stage, entered_at, amount)."""
    rng = np.random.default_rng(3)
    lines = ["deal_id,stage,entered_at,amount"]
    for i in range((LAST - FIRST).days + 1):
        created = FIRST + dt.timedelta(days=i)
        lines.append(f"D{i},work,{created},1000")
        closed = created + dt.timedelta(days=int(rng.exponential(40)) + 1)
        if closed <= LAST:
            lines.append(f"D{i},{'won' if rng.random() < 0.4 else 'lost'},{closed},1000")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def plan_scenario() -> Scenario:
    return scenario_from_dict(SCENARIO)
