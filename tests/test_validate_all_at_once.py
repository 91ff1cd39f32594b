"""``dealsim validate``: every problem it can find in one run (field problems and the checks
across the file together), each named by one path style, the one ``--set`` takes."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.cli import cli
from sim.errors import ScenarioError
from sim.scenario import apply_overrides, bundled_scenarios, scenario_from_dict, toml_dumps
from sim.scenario_partial import WAITING


def equipment() -> dict:
    path = next(p for name, _, p in bundled_scenarios() if name == "equipment")
    return tomllib.loads(path.read_text(encoding="utf-8"))


def broken_file(tmp_path: Path, changes: dict) -> Path:
    path = tmp_path / "broken.toml"
    path.write_text(toml_dumps(apply_overrides(equipment(), changes)), encoding="utf-8")
    return path


def problem_lines(message: str) -> list[str]:
    return [line.strip() for line in message.splitlines()[1:]]


#: Field problems (a typo, a bad number, a bad role and team) and whole-file ones at once.
MIXED = {
    "stages.market.labl": "Monitoring",  # unknown key
    "horizon_days": -5,
    'decision_group."general director".tenure_mean_days': -3,
    "team.presales.priority": "biggest",
    "stages.contract.exits.moment": 0.18,  # exits sum to 1.1: a whole-file check
    "budget.gate": "contrct",  # a stage name used as a target
    "shocks.from_stage": "momnt",
}


def test_field_and_whole_file_problems_come_in_one_run(tmp_path):
    path = broken_file(tmp_path, MIXED)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = problem_lines(result.stderr)
    assert result.stderr.startswith(f"Error: {path}: invalid scenario (7 problems):")
    for needle in [
        "stages.market.labl: unknown key",
        "horizon_days: ",
        'decision_group."general director".tenure_mean_days: ',
        "team.presales.priority: ",
        "stages.contract.exits: probabilities must sum to 1, they sum to 1.1",
        "budget.gate: unknown stage 'contrct'",
        "shocks.from_stage: unknown stage 'momnt'",
    ]:
        assert any(line.startswith(needle) for line in lines), (needle, result.stderr)
    assert WAITING not in result.stderr


def test_run_on_the_same_file_shows_the_same_problems(tmp_path):
    path = broken_file(tmp_path, MIXED)
    validated = CliRunner().invoke(cli, ["validate", str(path)])
    ran = CliRunner().invoke(cli, ["run", str(path), "-n", 2, "-o", str(tmp_path / "out")])
    assert ran.exit_code == 2 and ran.stderr == validated.stderr
    assert not (tmp_path / "out").exists()


def test_a_check_about_a_part_left_out_is_not_reported():
    # The negative exit is the problem; the sum without it (0.98) is not one of the file's.
    data = apply_overrides(equipment(), {"stages.need.exits.lost": -0.02, "budget.gate": "x"})
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(data, "broken.toml")
    lines = problem_lines(str(err.value))
    assert lines[0].startswith("stages.need.exits.lost: ")
    assert lines[1].startswith("budget.gate: unknown stage 'x'")
    assert len(lines) == 2, lines


def test_when_the_checks_across_the_file_cannot_run_the_message_says_so():
    # A stage's duration cannot be left out: every whole-file check reads the stages.
    change = {"stages.moment.duration.p90": 20, "budget.gate": "contrct"}
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(apply_overrides(equipment(), change), "broken.toml")
    lines = problem_lines(str(err.value))
    assert lines[0].startswith("stages.moment.duration.p90: p90 must be greater than median")
    assert lines[-1] == WAITING and len(lines) == 2


#: set key, bad value, the path the message prints, a good value at that path. Field checks
#: (pydantic's) and whole-file checks (ours) print the same style: dotted TOML keys, list items
#: by a unique name (quoted when it has a space), the keys that --set takes.
ONE_PATH_STYLE = [
    ('decision_group."general director".tenure_mean_days', -3, None, 1826),
    ('decision_group."general director".on_change.to', "contract2", None, "dormant"),
    ("team.presales.work.market.effort_hours", 5, None, {"dist": "fixed", "value": 8}),
    ("team.presales.work.market.stage", "nowhere", "team.presales.work.nowhere.stage", "market"),
    (
        "team.legal.changes",
        [{"date": "2026-12-01", "headcount": 2}],  # before start_date: a whole-file check
        "team.legal.changes.0.date",
        dt.date(2027, 6, 1),
    ),
    ("crm.stage_map", {"Closed Won": "wn"}, 'crm.stage_map."Closed Won"', "won"),
]


@pytest.mark.parametrize(("key", "bad", "printed", "good"), ONE_PATH_STYLE)
def test_every_path_is_the_set_key_of_the_broken_part(key, bad, printed, good):
    data = apply_overrides(equipment(), {key: bad})
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(data, "broken.toml")
    paths = [line.split(": ", 1)[0] for line in problem_lines(str(err.value))]
    assert paths[0] == (printed or key), str(err.value)
    scenario_from_dict(apply_overrides(data, {paths[0]: good}))  # --set takes it and fixes it


def test_the_list_item_path_style_is_an_index_when_a_name_cannot_tell():
    data = equipment()
    data["stages"].append(dict(data["stages"][0]))  # two stages named "need"
    data["stages"][-1]["duration"] = 5
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(data, "broken.toml")
    assert re.search(r"^  stages\.4\.duration: ", str(err.value), re.M), str(err.value)


def test_a_value_of_a_plain_union_is_named_by_its_key_alone():
    """headcount is a count or "unlimited": pydantic's member tags are not keys of the file."""
    args = ["run", "equipment", "--set", "team.presales.headcount=-1", "-n", "2", "-o", "unused"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "team.presales.headcount: Input should be greater than or equal to 0" in result.output
    assert "constrained-int" not in result.output and "literal[" not in result.output


def test_a_field_of_a_role_the_file_does_not_have_is_one_clear_message():
    result = CliRunner().invoke(
        cli, ["run", "textbook", "--set", "decision_group.cfo.tenure_mean_days=100", "-n", "2"]
    )
    assert result.exit_code == 2
    assert "the scenario has no decision_group entries" in result.output
    assert '[[decision_group]] table with role = "cfo"' in result.output
    assert "valid list" not in result.output
