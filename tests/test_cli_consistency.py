"""One spelling, one default and one meaning per option, on every command of the CLI.

The checks walk the Click group, so a command added later with a different spelling fails here.
"""

from __future__ import annotations

import json

import click
import pytest

from sim.cli import cli, main
from sim.cli_options import FOLDER_HELP, JOBS_HELP
from sim.runner import default_jobs

COMMANDS = sorted(cli.commands.items())
# Commands that write a results folder; the others write one file (or print).
FOLDER_COMMANDS = {"run", "compare", "sweep", "sensitivity", "backtest"}


def _options(command: click.Command) -> dict[str, click.Option]:
    return {
        opt: param
        for param in command.params
        if isinstance(param, click.Option)
        for opt in param.opts
    }


@pytest.mark.parametrize("name,command", COMMANDS)
def test_every_command_takes_quiet_and_verbose(name, command):
    options = _options(command)
    assert {"-q", "--quiet", "-v", "--verbose"} <= set(options), name


@pytest.mark.parametrize("name,command", COMMANDS)
def test_one_spelling_for_skipping_figures(name, command):
    options = _options(command)
    assert "--no-plot" not in options, f"{name}: spell it --no-plots"
    assert "--no-figures" not in options, f"{name}: spell it --no-plots"


@pytest.mark.parametrize("name,command", COMMANDS)
def test_jobs_has_one_default_and_one_check(name, command):
    jobs = _options(command).get("-j")
    if jobs is None:
        return
    assert jobs.opts == ["-j", "--jobs"], name
    unset = getattr(click.core, "UNSET", None)  # click 8.3 marks "no default" so
    assert jobs.default in (None, unset), f"{name}: -j defaults to all cores"
    assert jobs.help == JOBS_HELP, name
    assert isinstance(jobs.type, click.IntRange) and jobs.type.min == 1, name


@pytest.mark.parametrize("name,command", COMMANDS)
def test_output_means_a_folder_or_a_file_by_kind_of_command(name, command):
    output = _options(command).get("-o")
    if output is None:
        return
    assert output.opts == ["-o", "--output"], name
    if name in FOLDER_COMMANDS:
        assert output.help == FOLDER_HELP, name
    else:
        assert "file" in output.help.lower(), f"{name}: -o names a file; say so"


@pytest.mark.parametrize("name,command", COMMANDS)
def test_force_and_as_of_and_json_are_spelled_alike(name, command):
    options = _options(command)
    for spelling in ("--overwrite", "--replace", "--asof", "--as_of", "--output-json"):
        assert spelling not in options, f"{name}: {spelling}"
    if "--force" in options:
        assert options["--force"].is_flag, name
    if "--json" in options:
        assert options["--json"].name == "as_json", name


def test_quiet_and_verbose_together_are_refused(capsys):
    assert main(["validate", "equipment", "-q", "-v"]) == 2
    assert "--quiet and --verbose cannot be used together" in capsys.readouterr().err


def test_quiet_says_nothing_on_stderr_and_verbose_says_how_long(tiny_scenario, tmp_path, capsys):
    argv = ["run", str(tiny_scenario), "-n", "2", "-j", "1", "--no-plots"]
    assert main([*argv, "-o", str(tmp_path / "q"), "-q", "-j", "9999"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and "Results in" in quiet.out
    assert main([*argv, "-o", str(tmp_path / "v"), "--verbose"]) == 0
    assert "Took " in capsys.readouterr().err


def test_jobs_above_the_cores_are_capped_with_a_note(tiny_scenario, tmp_path, capsys):
    too_many = default_jobs() + 5
    argv = ["run", str(tiny_scenario), "-n", "2", "-j", str(too_many), "--no-plots"]
    assert main([*argv, "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert f"-j {too_many}: this machine has {default_jobs()} core(s)" in err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest.get("jobs", default_jobs()) <= default_jobs()


def test_jobs_below_one_is_a_clean_error(capsys):
    assert main(["run", "-n", "2", "-j", "0", "--no-plots"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_json_names_the_folder_it_wrote(tiny_scenario, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["run", str(tiny_scenario), "-n", "2", "-j", "1", "--no-plots", "--json"]
    assert main([*argv, "-o", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["results_folder"] == str(out)


def test_the_json_of_commands_that_write_no_folder_says_so():
    for name in ("explain", "weighted"):
        assert "writes no folder" in _options(cli.commands[name])["--json"].help


def test_exclusive_trace_picks_are_refused(capsys):
    assert main(["trace", "equipment", "--reset", "--won"]) == 2
    assert "cannot be used together" in capsys.readouterr().err
