"""``dealsim new``: a commented starter scenario under a new name, and names in any text."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import Result
from test_cli import assert_user_error, invoke  # tests/ on sys.path

from sim.errors import ScenarioError
from sim.results import default_output_dir
from sim.scenario import bundled_scenarios_dir, find_scenario, load_scenario, shown_path
from sim.stage_keys import name_slug
from sim.starter import starter_text

EQUIPMENT = bundled_scenarios_dir() / "equipment.toml"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def new(*args: object) -> Result:
    return invoke("new", *args)


def test_new_copies_equipment_with_its_comments_and_the_new_name(tmp_path):
    result = new("my-plan")
    assert result.exit_code == 0, result.output
    written = tmp_path / "my-plan.toml"
    text = written.read_text(encoding="utf-8")
    assert tomllib.loads(text)["name"] == "my-plan"
    original = EQUIPMENT.read_text(encoding="utf-8").splitlines()
    copied = text.splitlines()[2:]  # after the starter's own two header lines
    differ = [(a, b) for a, b in zip(original, copied, strict=True) if a != b]
    assert differ == [('name = "equipment"', 'name = "my-plan"')]
    assert result.output.count("\n") == 1
    assert "my-plan.toml" in result.output and "dealsim run my-plan.toml" in result.output
    assert str(bundled_scenarios_dir()) not in result.output


def test_the_written_file_validates():
    assert new("my-plan").exit_code == 0
    result = invoke("validate", "my-plan.toml")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK my-plan.toml: my-plan, 4 stages")


def test_a_name_in_any_script_gets_a_slug_file_and_keeps_its_text(tmp_path):
    result = new("Завод — план 2027")
    assert result.exit_code == 0, result.output
    written = tmp_path / "zavod-plan-2027.toml"
    assert load_scenario(written).name == "Завод — план 2027"
    assert "dealsim run zavod-plan-2027.toml" in result.output


def test_from_another_bundled_scenario_and_to_a_chosen_file(tmp_path):
    result = new("Q3 / what if", "--from", "erp", "-o", tmp_path / "q3.toml")
    assert result.exit_code == 0, result.output
    loaded = load_scenario(tmp_path / "q3.toml")
    assert loaded.name == "Q3 / what if"
    assert len(loaded.stages) == len(load_scenario("erp").stages)
    assert "from erp" in result.output


def test_from_a_file_keeps_one_header(tmp_path):
    assert new("first").exit_code == 0
    result = new("second", "--from", "first.toml")
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "second.toml").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# Starter scenario second, copied from first.toml by `dealsim new`."
    assert sum(line.startswith("# Starter scenario") for line in lines) == 1


def test_an_existing_file_is_refused_without_force(tmp_path):
    (tmp_path / "my-plan.toml").write_text("keep me", encoding="utf-8")
    assert_user_error(new("my-plan"), "my-plan.toml", "--force")
    assert (tmp_path / "my-plan.toml").read_text(encoding="utf-8") == "keep me"
    result = new("my-plan", "--force")
    assert result.exit_code == 0, result.output
    assert load_scenario(tmp_path / "my-plan.toml").name == "my-plan"


def test_a_bad_name_or_source_is_one_message_and_no_file(tmp_path):
    assert_user_error(new("tab\there"), "name:", "no control")
    assert_user_error(new("x", "--from", "nope"), "nope", "bundled:")
    assert list(tmp_path.iterdir()) == []


def test_a_source_without_a_top_level_name_line_is_refused():
    with pytest.raises(ScenarioError, match="no top-level"):
        starter_text('[deals]\nname = "x"\n', "new", "file.toml")


def test_a_trailing_comment_on_the_name_line_is_kept():
    text = starter_text('name = "old"  # keep this\n[deals]\n', "Новый", "f.toml")
    assert 'name = "Новый"  # keep this\n' in text


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("equipment", "equipment"),
        ("Завод — план 2027", "zavod-plan-2027"),
        ("Q3 / what if", "q3-what-if"),
        ("../../etc", "etc"),
        ("販売計画", "scenario"),
    ],
)
def test_results_folders_use_the_slug(name, slug):
    assert name_slug(name) == slug
    assert default_output_dir(name_slug(name)).name.startswith(f"{slug}-")


def test_a_run_of_a_named_scenario_writes_a_slug_folder(tmp_path):
    assert new("Завод — план 2027").exit_code == 0
    result = invoke("run", "zavod-plan-2027.toml", "-n", "2", "-j", "1", "--no-plots")
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "results").iterdir()
    assert folder.name.startswith("zavod-plan-2027-")


def test_a_bundled_scenario_is_shown_by_its_name():
    assert shown_path(find_scenario("equipment")) == "equipment"
    assert shown_path(Path("mine/equipment.toml")) == "mine/equipment.toml"
    result = invoke("validate", "equipment")
    assert result.output.startswith("OK equipment: equipment, 4 stages")
    bad = invoke("run", "equipment", "--set", "name=", "-n", "2")
    assert_user_error(bad, "equipment with --set name=")
    assert str(bundled_scenarios_dir()) not in bad.stderr


def test_figures_show_a_dollar_in_a_name_as_written():
    import matplotlib

    import sim.plots  # noqa: F401  (every figure module imports it)

    assert matplotlib.rcParams["text.parse_math"] is False


#: Paths of the repository a user who installed dealsim does not have: a starter that names
#: one sends them looking for it.
REPOSITORY_ONLY = ("DESIGN", "seed/", ".ru.txt", "bench/", "tests/")


@pytest.mark.parametrize("source", [p.stem for p in sorted(bundled_scenarios_dir().glob("*.toml"))])
def test_a_starter_names_no_file_the_user_does_not_have(tmp_path, source):
    """chain and portfolio pointed at bench/ (only in the repository, not in the package)."""
    result = new(f"my-{source}", "--from", source)
    assert result.exit_code == 0, result.output
    text = (tmp_path / f"my-{source}.toml").read_text(encoding="utf-8")
    named = [(n, line) for n, line in enumerate(text.splitlines(), 1)
             if any(p in line for p in REPOSITORY_ONLY)]  # fmt: skip
    assert named == []
