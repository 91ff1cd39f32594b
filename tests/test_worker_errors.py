"""Nothing a worker raises or warns reaches the screen raw (issue 17, point 3).

An unexpected exception, in a worker process or in the main one, ends the command with one
message, exit 1, no results, and the traceback in a log file beside where the results would have
gone, to send to us. A library's warning goes to a log file too, with one line saying so.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import sim.api
from sim.cli import main

#: Runs dealsim with the engine's replications made to fail (or warn), in workers or not.
PATCHED_WORKERS = """
import sys, warnings
import sim.runner as runner

real = runner.outputs_of
MODE = sys.argv[1]

def outputs_of(*args, **kwargs):
    if MODE == "raise":
        return {}["a key the engine forgot"]
    warnings.warn("overflow encountered in exp", RuntimeWarning)
    return real(*args, **kwargs)

runner.outputs_of = outputs_of  # in the main process and, forked, in every worker
mode, *argv = sys.argv[1:]
sys.argv = ["dealsim", *argv]
from sim.console import entry
entry()
"""


def dealsim_with_patched_workers(mode: str, *args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PATCHED_WORKERS, mode, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
    )


def log_named_in(message: str) -> Path:
    found = re.search(r"(/\S+\.log)", message)
    assert found, message
    return Path(found.group(1))


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_exception_in_the_engine_is_one_message_and_a_log(jobs, tiny_scenario, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    proc = dealsim_with_patched_workers(
        "raise", "run", tiny_scenario, "-n", 4, "-j", jobs, "--no-plots", "-o", runs / "out"
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert "KeyError" in lines[0] and "report" in lines[0] and "Traceback" not in proc.stderr
    log = log_named_in(lines[0])
    assert log.parent == runs  # inside the output's parent folder
    text = log.read_text()
    assert "Traceback" in text and "a key the engine forgot" in text and "outputs_of" in text
    assert [p.name for p in runs.iterdir()] == [log.name]  # no results, no temporary folder


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_library_warning_goes_to_a_log_not_the_screen(jobs, tiny_scenario, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    proc = dealsim_with_patched_workers(
        "warn", "run", tiny_scenario, "-n", 4, "-j", jobs, "--no-plots", "-o", runs / "out"
    )
    assert proc.returncode == 0, proc.stderr
    assert "RuntimeWarning" not in proc.stderr and "overflow" not in proc.stderr
    note = next(line for line in proc.stderr.splitlines() if line.startswith("Note:"))
    log = log_named_in(note)
    assert log.parent == runs and "overflow encountered in exp" in log.read_text()
    assert (runs / "out" / "summary.json").exists()


def test_a_bug_in_the_main_process_is_one_message_and_a_log(
    tiny_scenario, tmp_path, monkeypatch, capsys
):
    def boom(*args, **kwargs):
        raise RuntimeError("boom in the summary")

    monkeypatch.setattr(sim.api, "_summary", boom)
    runs = tmp_path / "runs"
    runs.mkdir()
    argv = ["run", str(tiny_scenario), "-n", "2", "-j", "1", "--no-plots", "-o", str(runs / "o")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "RuntimeError: boom in the summary" in err and "Traceback" not in err
    log = log_named_in(err)
    assert log.parent == runs and "boom in the summary" in log.read_text()
    assert [p.name for p in runs.iterdir()] == [log.name]
