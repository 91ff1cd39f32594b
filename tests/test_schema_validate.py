"""The published JSON Schema (``dealsim schema``) and ``dealsim validate`` agree.

Every bundled scenario passes both; each wrong variant below fails both. The wrong ones are
those a schema can see (types, ranges, patterns, lengths, unknown keys); what only the whole
file can tell (exits that sum to 1, stage names used as targets) is validate's alone.

One difference cannot be written in JSON Schema: a JSON number 500.0 is an "integer" to it,
while validate (as TOML does) tells 500.0 from 500; no case below depends on it.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib

import pytest

jsonschema = pytest.importorskip("jsonschema")

from sim.errors import ScenarioError  # noqa: E402
from sim.scenario import (  # noqa: E402
    apply_overrides,
    bundled_scenarios,
    scenario_from_dict,
    scenario_json_schema,
)


@pytest.fixture(scope="module")
def validator():
    schema = scenario_json_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def as_json(data):
    """Scenario data as an editor's TOML-to-JSON bridge gives it: dates as ISO strings."""
    if isinstance(data, dict):
        return {k: as_json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [as_json(v) for v in data]
    if isinstance(data, dt.date):
        return data.isoformat()
    return data


def validate_accepts(data) -> bool:
    try:
        scenario_from_dict(data)
    except ScenarioError:
        return False
    return True


def schema_accepts(validator, data) -> bool:
    return validator.is_valid(as_json(data))


def equipment() -> dict:
    path = next(p for name, _, p in bundled_scenarios() if name == "equipment")
    return tomllib.loads(path.read_text())


def test_the_schema_is_plain_json_schema():
    text = json.dumps(scenario_json_schema())
    assert "discriminator" not in text  # OpenAPI only
    assert scenario_json_schema()["$schema"].endswith("2020-12/schema")


@pytest.mark.parametrize("name", [name for name, _, _ in bundled_scenarios()])
def test_every_bundled_scenario_passes_both(validator, name):
    path = next(p for n, _, p in bundled_scenarios() if n == name)
    data = tomllib.loads(path.read_text())
    assert validate_accepts(data)
    errors = [e.message for e in validator.iter_errors(as_json(data))]
    assert errors == []


WRONG = [
    {"replications": 1},
    {"replications": 2.5},
    {"replications": "500"},
    {"replications": True},
    {"replications": 10**6},
    {"seed": -1},
    {"seed": 1.5},
    {"start_date": "2027-02-30"},
    {"start_date": "0001-01-01"},
    {"start_date": "9999-01-01"},
    {"start_date": "2027-01-01T00:00:00"},
    {"start_date": "20270101"},
    {"start_date": 20270101},
    {"start_date": dt.datetime(2027, 1, 1, 12, 0)},
    {"budget.fiscal_year_start": "02-29"},
    {"budget.fiscal_year_start": "04-31"},
    {"budget.fiscal_year_start": "13-01"},
    {"budget.fiscal_year_start": "4-1"},
    {"deals.seasonality": [1.0] * 11},
    {"deals.seasonality": [1.0] * 13},
    {"deals.seasonality": [1.0] * 11 + [-1.0]},
    {"horizon_days": 0},
    {"horizon_days": 1e308},
    {"horizon_days": "730"},
    {"deals.initial.need": -1},
    {"deals.initial.need": 1.5},
    {"deals.arrivals_per_month": 1e9},
    {"deals.amount": {"dist": "gamma", "mean": 30, "cv": 1e-200}},
    {"deals.amount": {"dist": "triangular", "low": 0, "mode": 0, "high": 1e308}},
    {"deals.amount": {"dist": "normal", "mean": 1}},
    {"deals.amount": {"dist": "fixed"}},
    {"shocks.rate_per_year": 1e6},
    {"shocks.reset_probability": 1.5},
    {"timing.max_wait_days": 1e308},
    {"decision_group.0.tenure_mean_days": 1e-9},
    {"name": "tab\there"},
    {"name": "new\nline"},
    {"name": "   "},
    {"name": ""},
    {"name": "x" * 201},
    {"currency": "eur"},
    {"colour": "blue"},
    {"team.0.changes": [{"date": "2027-06-31", "headcount": 3}]},
    {"team.0.hours_per_week": 200},
]


@pytest.mark.parametrize("change", WRONG, ids=[repr(c) for c in WRONG])
def test_each_wrong_value_fails_both(validator, change):
    data = apply_overrides(equipment(), change)
    assert not validate_accepts(data)
    assert not schema_accepts(validator, data)


RIGHT = [
    {"start_date": "2027-03-15"},
    {"start_date": dt.date(1900, 1, 1)},
    {"start_date": dt.date(2199, 12, 31)},
    {"budget.fiscal_year_start": "02-28"},
    {"budget.fiscal_year_start": "12-31"},
    {"budget.fiscal_year_start": "04-30"},
    {"deals.seasonality": [1.0] * 12},
    {"replications": 100_000},
    {"horizon_days": 36_525},
    {"name": "Завод — план 2027"},
    {"name": "Q3 / what if"},
    {"name": "x" * 200},
]


@pytest.mark.parametrize("change", RIGHT, ids=[repr(c) for c in RIGHT])
def test_each_right_value_passes_both(validator, change):
    data = apply_overrides(equipment(), change)
    assert validate_accepts(data)
    assert schema_accepts(validator, data)


def test_a_missing_key_fails_both(validator):
    data = equipment()
    del data["name"]
    assert not validate_accepts(data)
    assert not schema_accepts(validator, data)
