"""Scenario data and helpers shared by the what-if tests (--set, compare, sweep)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from click.testing import CliRunner

from sim.cli import cli
from sim.scenario import toml_dumps


def small_scenario_data() -> dict:
    """Two stages and every mechanism that --set paths reach (budget, a role, shocks)."""
    return {
        "name": "small",
        "start_date": dt.date(2027, 1, 1),
        "horizon_days": 365,
        "currency": "EUR",
        "replications": 10,
        "seed": 3,
        "deals": {
            "initial": {"need": 10, "decide": 6},
            "arrivals_per_month": 4.0,
            "amount": {"dist": "uniform", "low": 1000, "high": 2000},
        },
        "stages": [
            {
                "name": "need",
                "duration": {"dist": "lognormal", "median": 30, "p90": 90},
                "exits": {"decide": 0.7, "dormant": 0.1, "lost": 0.2},
            },
            {
                "name": "decide",
                "duration": {"dist": "exponential", "mean": 20},
                "exits": {"won": 0.5, "lost": 0.3, "no_decision": 0.2},
            },
        ],
        "dormant": {"reactivate_mean_days": 120, "give_up_after_days": 200},
        "budget": {
            "fiscal_year_start": "07-01",
            "gate": "decide",
            "funded_share": 0.4,
            "release_lag_days": 10,
            "recheck": {"to": "need", "probability": 0.2},
        },
        "decision_group": [
            {
                "role": "cfo",
                "tenure_mean_days": 400,
                "stages": ["decide"],
                "on_change": {"to": "need", "probability": 0.5},
            }
        ],
        "shocks": {
            "rate_per_year": 1.0,
            "severity": {"dist": "uniform", "low": 0.2, "high": 1.0},
            "from_stage": "decide",
            "reset_probability": 0.5,
            "to": "dormant",
        },
    }


def write_small_file(folder: Path) -> Path:
    """The small scenario as a TOML file in ``folder``."""
    path = folder / "small.toml"
    path.write_text(toml_dumps(small_scenario_data()), encoding="utf-8")
    return path


def invoke(*args: object):
    """The dealsim CLI through click's test runner, arguments as strings."""
    return CliRunner().invoke(cli, [str(a) for a in args])
