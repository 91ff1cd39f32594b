"""Scenario files: a full valid file loads, every kind of mistake gets one clear message."""

from __future__ import annotations

import copy
import datetime as dt
import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import durations  # tests/ is on sys.path

from sim import scenario as scen
from sim.errors import ScenarioError, UserError
from sim.scenario import (
    MAX_REPLICATIONS,
    Scenario,
    bundled_scenarios,
    dump_scenario_toml,
    find_scenario,
    load_scenario,
    parse_override,
    scenario_from_dict,
    scenario_hash,
    scenario_json_schema,
    toml_dumps,
)

FULL = Path(__file__).parent / "data" / "scenarios" / "full.toml"


@pytest.fixture
def full_data() -> dict[str, Any]:
    """The full valid scenario as a plain dict, to be broken by each test."""
    with FULL.open("rb") as fh:
        return tomllib.load(fh)


def write(tmp_path: Path, data: dict[str, Any], name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(toml_dumps(data), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return str(info.value)


# --------------------------------------------------------------------------------------------
# Valid files
# --------------------------------------------------------------------------------------------


def test_full_scenario_loads() -> None:
    s = load_scenario(FULL)
    assert s.name == "full-test"
    assert s.start_date == dt.date(2027, 1, 1)
    assert s.stage_names == ["need", "options", "concerns", "decision"]
    assert s.stage_index("concerns") == 2
    with pytest.raises(KeyError):
        s.stage_index("nope")
    assert s.stages[0].label == "Recognition of needs"
    assert s.stages[2].label == "Concerns"  # default from the name
    assert s.deals.initial == {"need": 40, "options": 25}
    assert s.deals.amount.support() == (350000.0, 450000.0)
    assert s.budget is not None and s.budget.recheck is not None
    assert s.budget.recheck.to == "concerns"
    assert [r.role for r in s.decision_group] == ["technologist", "cfo"]
    assert s.shocks is not None and s.shocks.to == "dormant"
    assert s.timing is not None and s.timing.indicator.volatility == 0.2


def test_defaults_and_iso_string_date(full_data: dict[str, Any]) -> None:
    minimal = {
        "name": "tiny",
        "start_date": "2027-03-01",
        "horizon_days": 30,
        "deals": {"amount": {"dist": "fixed", "value": 1}},
        "stages": [
            {"name": "only", "duration": {"dist": "exponential", "mean": 5}, "exits": {"won": 1}}
        ],
    }
    s = scenario_from_dict(minimal)
    assert s.start_date == dt.date(2027, 3, 1)
    assert (s.currency, s.replications, s.seed) == ("EUR", 500, 1)
    assert s.deals.initial == {} and s.deals.arrivals_per_month == 0
    assert s.dormant is None and s.decision_group == []


def test_models_are_frozen() -> None:
    s = load_scenario(FULL)
    with pytest.raises(ValueError):
        s.seed = 2  # type: ignore[misc]


def test_json_schema() -> None:
    schema = scenario_json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["title"] == "dealsim scenario"
    assert {"name", "start_date", "stages", "deals"} <= set(schema["required"])
    assert "timing" in schema["properties"]
    json.dumps(schema)  # serialisable


def test_dump_round_trip(tmp_path: Path) -> None:
    s = load_scenario(FULL)
    text = dump_scenario_toml(s)
    path = tmp_path / "again.toml"
    path.write_text(text, encoding="utf-8")
    again = load_scenario(path)
    assert again == s
    assert scenario_hash(again) == scenario_hash(s)
    assert dump_scenario_toml(again) == text


def test_hash_changes_with_content() -> None:
    s = load_scenario(FULL)
    other = s.model_copy(update={"seed": 2})
    assert len(scenario_hash(s)) == 64
    assert scenario_hash(other) != scenario_hash(s)


def test_toml_strings_are_escaped(full_data: dict[str, Any]) -> None:
    full_data["description"] = 'quote " backslash \\ tab \t newline \n del \x7f'
    s = scenario_from_dict(full_data)
    assert scenario_from_dict(tomllib.loads(dump_scenario_toml(s))) == s


# --------------------------------------------------------------------------------------------
# Finding files, overrides
# --------------------------------------------------------------------------------------------


def test_find_and_list_bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "bundled"
    folder.mkdir()
    (folder / "equipment.toml").write_text('name = "equipment"\ndescription = "Plant"\n')
    (folder / "saas.toml").write_text('name = "saas"\ndescription = "Software"\n')
    monkeypatch.setattr(scen, "bundled_scenarios_dir", lambda: folder)
    assert bundled_scenarios() == [
        ("equipment", "Plant", folder / "equipment.toml"),
        ("saas", "Software", folder / "saas.toml"),
    ]
    assert find_scenario(None) == folder / "equipment.toml"
    assert find_scenario("saas") == folder / "saas.toml"
    assert find_scenario(str(FULL)) == FULL
    assert find_scenario("elsewhere.toml") == Path("elsewhere.toml")
    with pytest.raises(ScenarioError, match=r"nope: .*bundled: equipment, saas"):
        find_scenario("nope")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    msg = load_error(path)
    assert msg.startswith(str(path)) and "no such file" in msg


def test_scenario_error_is_a_user_error() -> None:
    assert issubclass(ScenarioError, UserError)


def test_overrides(tmp_path: Path) -> None:
    s = load_scenario(
        FULL,
        {"stages.need.duration.median": 90, "replications": 50, "budget.recheck.probability": 0},
    )
    assert s.stages[0].duration.median == 90
    assert s.replications == 50
    assert s.budget is not None and s.budget.recheck is not None
    assert s.budget.recheck.probability == 0
    with pytest.raises(ScenarioError, match=r"--set stages\.nope\.label: no item 'nope'"):
        load_scenario(FULL, {"stages.nope.label": "x"})
    with pytest.raises(ScenarioError, match=r"full\.toml: .*\n  replications: "):
        load_scenario(FULL, {"replications": 1})


def test_parse_override() -> None:
    assert parse_override("horizon_days=365") == ("horizon_days", 365)
    assert parse_override("budget.gate = decision") == ("budget.gate", "decision")
    assert parse_override('deals.amount={dist="fixed", value=1}') == (
        "deals.amount",
        {"dist": "fixed", "value": 1},
    )
    with pytest.raises(ScenarioError, match="KEY=VALUE"):
        parse_override("novalue")


# --------------------------------------------------------------------------------------------
# Rejections: each names the file and the field
# --------------------------------------------------------------------------------------------


def test_toml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "syntax.toml"
    path.write_text('name = "x"\nhorizon_days = = 3\n', encoding="utf-8")
    msg = load_error(path)
    assert msg.startswith(f"{path}: TOML syntax error at line 2, column ")
    assert "(at line" not in msg


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets a dotted key (list items by index)."""

    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _rename(path: str, new: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[new] = node.pop(parts[-1])

    return mutate


def _never_ending(data: dict[str, Any]) -> None:
    for key in ("budget", "decision_group", "shocks", "timing"):
        data.pop(key)
    data["deals"]["initial"] = {}
    data["stages"] = [
        {"name": "a", "duration": {"dist": "fixed", "value": 1}, "exits": {"b": 1.0}},
        {"name": "b", "duration": {"dist": "fixed", "value": 1}, "exits": {"a": 0.5, "c": 0.5}},
        {"name": "c", "duration": {"dist": "fixed", "value": 1}, "exits": {"won": 1.0}},
        {"name": "d", "duration": {"dist": "fixed", "value": 1}, "exits": {"e": 1.0}},
        {"name": "e", "duration": {"dist": "fixed", "value": 1}, "exits": {"d": 1.0, "won": 0.0}},
    ]


def _duplicate_stage(data: dict[str, Any]) -> None:
    data["stages"].append(copy.deepcopy(data["stages"][0]))


def _drop_dormant(data: dict[str, Any]) -> None:
    data.pop("dormant")
    data["decision_group"][1]["on_change"]["to"] = "lost"
    data["shocks"]["to"] = "lost"
    data["stages"][2]["exits"] = {"decision": 0.75, "lost": 0.25}


REJECTIONS: dict[str, tuple[Callable[[dict[str, Any]], None], list[str]]] = {
    "unknown-top-level-key": (_set("horizon", 10), ["horizon: unknown key", "'horizon_days'"]),
    "unknown-nested-key": (
        _rename("stages.1.duration", "duraton"),
        ["stages.options.duraton: unknown key", "did you mean 'duration'"],
    ),
    "unknown-distribution-key": (
        _rename("deals.amount.high", "hgh"),
        ["deals.amount.hgh: unknown key", "deals.amount.high: required"],
    ),
    "exits-sum": (
        _set("stages.1.exits.lost", 0.3),
        ["stages.options.exits: probabilities must sum to 1, they sum to 1.1"],
    ),
    "negative-exit": (
        _set("stages.0.exits", {"options": 0.8, "dormant": 0.3, "lost": -0.1}),
        ["stages.need.exits.lost:", "greater than or equal to 0"],
    ),
    "exit-unknown-stage": (
        _set("stages.3.exits", {"wom": 0.7, "lost": 0.3}),
        ["stages.decision.exits: unknown target 'wom'", "won, lost, no_decision"],
    ),
    "never-ends": (_never_ending, ["stages: d, e can never end"]),
    "lognormal-p90-below-median": (
        _set("stages.0.duration", {"dist": "lognormal", "median": 120, "p90": 100}),
        ["stages.need.duration.p90: p90 must be greater than median"],
    ),
    "unknown-distribution": (
        _set("stages.0.duration", {"dist": "poisson", "mean": 3}),
        ["stages.need.duration:", "poisson"],
    ),
    "negative-duration": (
        _set("stages.2.duration", {"dist": "uniform", "low": -10, "high": 10}),
        ["stages.concerns.duration:", "negative"],
    ),
    "negative-amount": (
        _set("deals.amount", {"dist": "triangular", "low": -1, "mode": 5, "high": 10}),
        ["deals.amount:", "negative"],
    ),
    "duplicate-stage": (_duplicate_stage, ["stages.need:", "more than once"]),
    "stage-named-won": (_set("stages.3.name", "won"), ["stages.won.name: 'won' is reserved"]),
    "initial-unknown-stage": (
        _set("deals.initial", {"need": 1, "nede": 2}),
        ["deals.initial.nede: unknown stage 'nede'"],
    ),
    "negative-initial": (_set("deals.initial.need", -1), ["deals.initial.need:"]),
    "horizon-zero": (_set("horizon_days", 0), ["horizon_days: ", "greater than 0"]),
    "horizon-negative": (_set("horizon_days", -5.0), ["horizon_days: ", "greater than 0"]),
    "horizon-nan": (_set("horizon_days", float("nan")), ["horizon_days: ", "finite"]),
    "dormant-without-section": (
        _drop_dormant,
        ["dormant: stages.need.exits", "no [dormant] section"],
    ),
    "replications-1": (_set("replications", 1), ["replications: ", "greater than or equal to 2"]),
    "replications-huge": (
        _set("replications", 10**7),
        ["replications: ", f"less than or equal to {MAX_REPLICATIONS}"],
    ),
    "replications-string": (_set("replications", "500"), ["replications: "]),
    "month-13": (_set("budget.fiscal_year_start", "13-01"), ["budget.fiscal_year_start:", "13"]),
    "february-30": (
        _set("budget.fiscal_year_start", "02-30"),
        ["budget.fiscal_year_start:", "February has no day 30"],
    ),
    "february-29": (
        _set("budget.fiscal_year_start", "02-29"),
        ["budget.fiscal_year_start:", "does not exist every year"],
    ),
    "not-mm-dd": (_set("budget.fiscal_year_start", "1-1"), ["budget.fiscal_year_start:", "MM-DD"]),
    "gate-unknown": (_set("budget.gate", "sign"), ["budget.gate: unknown stage 'sign'"]),
    "recheck-after-gate": (
        _set("budget.gate", "options"),  # recheck.to stays "concerns", after the gate
        ["budget.recheck.to:", "'concerns' is not before it", "allowed (stages before the gate)"],
    ),
    "on-change-after-first-stage": (
        _set("decision_group.1.on_change.to", "decision"),
        ["decision_group.cfo.on_change.to: 'decision' comes after", "'concerns'"],
    ),
    "role-stage-unknown": (
        _set("decision_group.0.stages", ["need", "optoins"]),
        ["decision_group.technologist.stages: unknown stage(s) optoins"],
    ),
    "role-stages-duplicate": (
        _set("decision_group.0.stages", ["need", "need"]),
        ["decision_group.technologist.stages:", "more than once"],
    ),
    "shocks-to-later-stage": (
        _set("shocks.to", "decision"),
        ["shocks.to: 'decision' comes after from_stage 'concerns'"],
    ),
    "severity-outside-unit": (
        _set("shocks.severity", {"dist": "uniform", "low": 0.5, "high": 1.5}),
        ["shocks.severity:", "outside [0, 1]"],
    ),
    "severity-unbounded": (
        _set("shocks.severity", {"dist": "exponential", "mean": 0.3}),
        ["shocks.severity:", "outside [0, 1]"],
    ),
    "timing-stage-unknown": (_set("timing.stage", "wait"), ["timing.stage: unknown stage 'wait'"]),
    "bad-currency": (_set("currency", "euro"), ["currency:"]),
    "bad-name": (_set("name", "Full\tTest"), ["name:", "no control"]),
    "seasonality-length": (_set("deals.seasonality", [1.0] * 11), ["deals.seasonality:", "12"]),
    "probability-above-1": (_set("budget.funded_share", 1.5), ["budget.funded_share:"]),
    "string-number": (_set("shocks.rate_per_year", "0.5"), ["shocks.rate_per_year:"]),
    "missing-section": (lambda d: d.pop("deals"), ["deals: required key is missing"]),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_rejection_names_file_and_field(
    case: str, full_data: dict[str, Any], tmp_path: Path
) -> None:
    mutate, expected = REJECTIONS[case]
    mutate(full_data)
    path = write(tmp_path, full_data)
    msg = load_error(path)
    assert msg.startswith(f"{path}: invalid scenario")
    for fragment in expected:
        assert fragment in msg, f"{fragment!r} not in:\n{msg}"
    assert "errors.pydantic.dev" not in msg and "Value error" not in msg


def test_all_problems_reported_at_once(full_data: dict[str, Any], tmp_path: Path) -> None:
    full_data["horizon_days"] = 0
    full_data["replications"] = 1
    msg = load_error(write(tmp_path, full_data))
    assert "(2 problems)" in msg
    assert "\n  horizon_days: " in msg and "\n  replications: " in msg


def test_full_fixture_is_valid_before_mutation(full_data: dict[str, Any]) -> None:
    """Guards the rejection tests: each failure must come from its own mutation."""
    assert isinstance(scenario_from_dict(full_data), Scenario)


# --------------------------------------------------------------------------------------------
# Property: random valid scenarios load; a wrong exit sum always fails
# --------------------------------------------------------------------------------------------

pos = st.floats(min_value=0.5, max_value=1000.0, allow_nan=False, allow_infinity=False)


@st.composite
def scenario_dicts(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 5))
    names = [f"s{i}" for i in range(n)]
    use_dormant = draw(st.booleans())
    targets = [*names, "won", "lost", "no_decision", *(["dormant"] if use_dormant else [])]
    stages = []
    for i, name in enumerate(names):
        chosen = draw(st.lists(st.sampled_from(targets), max_size=4, unique=True))
        weights = {t: draw(st.floats(0.0, 1.0)) for t in chosen}
        # progress: the next stage, or an outcome from the last one, so every stage can end
        progress = names[i + 1] if i + 1 < n else draw(st.sampled_from(["won", "lost"]))
        weights[progress] = weights.get(progress, 0.0) + draw(st.floats(0.05, 1.0))
        total = sum(weights.values())
        stages.append(
            {
                "name": name,
                "duration": draw(durations(largest=1000.0)),
                "exits": {t: w / total for t, w in weights.items()},
            }
        )
    data: dict[str, Any] = {
        "name": "prop",
        "start_date": dt.date(2027, 1, 1),
        "horizon_days": draw(pos),
        "replications": draw(st.integers(2, MAX_REPLICATIONS)),
        "seed": draw(st.integers(0, 2**32)),
        "deals": {
            "initial": {name: draw(st.integers(0, 50)) for name in names},
            "arrivals_per_month": draw(st.floats(0.0, 50.0)),
            "amount": draw(durations(largest=1000.0)),
        },
        "stages": stages,
    }
    if use_dormant:
        data["dormant"] = {"reactivate_mean_days": draw(pos), "give_up_after_days": draw(pos)}
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario_dicts())
def test_random_valid_scenarios_load(data: dict[str, Any]) -> None:
    s = scenario_from_dict(data)
    assert scenario_from_dict(tomllib.loads(dump_scenario_toml(s))) == s


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario_dicts(), st.data())
def test_wrong_exit_sum_always_fails(data: dict[str, Any], pick: st.DataObject) -> None:
    stage = pick.draw(st.sampled_from(data["stages"]))
    target = pick.draw(st.sampled_from(sorted(stage["exits"])))
    delta = pick.draw(st.floats(1e-4, 0.5))
    stage["exits"][target] += delta
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, source="prop.toml")
    msg = str(info.value)
    assert msg.startswith("prop.toml: ")
    assert f"stages.{stage['name']}.exits: probabilities must sum to 1" in msg


def test_a_utf16_scenario_is_named_as_such(tmp_path: Path) -> None:
    """Saved as "Unicode" by a Windows editor: the byte-0 message did not say what to do."""
    path = tmp_path / "u16.toml"
    text = (Path(__file__).parents[1] / "scenarios" / "textbook.toml").read_text("utf-8")
    path.write_bytes(text.encode("utf-16"))
    with pytest.raises(ScenarioError, match="UTF-16 text; scenario files are UTF-8: save it"):
        load_scenario(path)
    path.write_bytes(b"\x80\x81 not text")
    with pytest.raises(ScenarioError, match="not UTF-8 text"):
        load_scenario(path)


def test_a_bound_of_a_minute_is_said_as_one() -> None:
    """pydantic's 'greater than or equal to 0.0006944444444444445' was a minute in days."""
    data = tomllib.loads((Path(__file__).parents[1] / "scenarios" / "equipment.toml").read_text())
    data["dormant"]["reactivate_mean_days"] = 0.0001
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, "e.toml")
    assert "greater than or equal to 0.0006944 (a minute, in days) (got 0.0001)" in str(info.value)
    assert "0.0006944444444444445" not in str(info.value)
