"""The command export-log suggests for a folder without events.csv works when pasted.

After ``dealsim compare``, ``dealsim export-log <the compare folder>`` suggested
``dealsim run SCENARIO --events -o <the compare folder>``: a placeholder, and a folder that run
refuses (not empty) or, with --force, replaces. Now it names each scenario, its --set changes,
seed and replications, and a new folder; pasting it gives a folder export-log reads.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from whatif_helpers import invoke, write_small_file  # tests/ on sys.path


def suggested(stderr: str) -> list[list[str]]:
    """The commands between backticks in a message, as argument lists (without 'dealsim')."""
    commands = [shlex.split(c) for c in re.findall(r"`([^`]+)`", stderr)]
    assert commands and all(c[0] == "dealsim" for c in commands), stderr
    return [c[1:] for c in commands]


def export_log(folder: Path, tmp_path: Path):
    return invoke("export-log", folder, "--format", "csv", "-o", tmp_path / "log.csv")


def test_after_compare_the_suggested_runs_make_event_logs(tmp_path: Path) -> None:
    small = write_small_file(tmp_path)
    folder = tmp_path / "cmp"
    args = ["compare", small, "--set", "budget.funded_share=0.8", "-n", 2, "-j", 1]
    assert invoke(*args, "-o", folder, "--no-plots").exit_code == 0
    refused = export_log(folder, tmp_path)
    assert refused.exit_code == 2 and "Traceback" not in refused.stderr
    commands = suggested(refused.stderr)
    assert len(commands) == 2  # one per scenario
    assert "budget.funded_share=0.8" in commands[1]  # the changed self, changed
    for command in commands:
        target = Path(command[command.index("-o") + 1])
        assert target.parent == tmp_path and not target.exists()  # new, beside the folder
        ran = invoke(*command, "-j", 1, "--no-plots")
        assert ran.exit_code == 0, ran.output
        assert export_log(target, tmp_path).exit_code == 0
        (tmp_path / "log.csv").unlink()
    assert sorted(p.name for p in folder.iterdir()) == ["comparison.json", "manifest.json"]


@pytest.mark.parametrize("taken", [False, True])
def test_a_run_without_events_gets_a_new_folder_on_its_own_seed(tmp_path: Path, taken) -> None:
    small = write_small_file(tmp_path)
    folder = tmp_path / "run"
    args = ["run", small, "-n", 2, "--seed", 7, "-j", 1, "--no-plots", "-o", folder]
    assert invoke(*args).exit_code == 0
    if taken:  # a folder of that name already there is not the suggestion
        (tmp_path / "run-events").mkdir()
    (command,) = suggested(export_log(folder, tmp_path).stderr)
    assert command[command.index("--seed") + 1] == "7" and "--events" in command
    target = Path(command[command.index("-o") + 1])
    assert target.name == ("run-events-2" if taken else "run-events")
    assert invoke(*command, "-j", 1, "--no-plots").exit_code == 0
    assert export_log(target, tmp_path).exit_code == 0
