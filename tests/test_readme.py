"""The README as a script: its shell commands, in order, in an empty folder, on small sizes.

Every `sh` block is cut into commands (continuation lines joined), run one after another by bash
in a fresh folder with `dealsim` meaning this checkout's CLI, and each must end with exit 0 and
no traceback. Sizes are made small (`-n 2`, Sobol `--samples 8`) so the whole README runs in
about a minute; the commands are otherwise as written. The only commands left out are listed in
SKIPPED with the reason, and the test fails if one of them is no longer in the README (so the
list cannot hide a command by going stale).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

# Substrings of the commands that cannot run in an empty folder on a test machine, and why.
SKIPPED = {
    "python3 -m venv": "installs the package (CI's own job: .ci/run does exactly this)",
    'pip install ".[dask]"': "installs the Dask extra (.ci/run installs it for the tests)",
    "tcp://A:8786": "needs a Dask scheduler on another machine (tests/test_cluster.py)",
    "--vary ... --vary ...": "an elided example, not a command",
    "<the capacity run>": "a placeholder for a folder name the run prints",
    "open-deals.csv": "the user's own CRM export (tests/test_crm_exports.py loads each style)",
    "backtest history.csv": "the user's own stage history: the README's 2017 dates are the public "
    "Maven Analytics CRM sample's (tests/test_backtest.py runs the command on a history)",
    "dealsim fit history.csv": "the user's own stage history (tests/test_fit.py)",
}

# Big sizes, made small: the command is the same, only shorter.
SMALLER = [
    (re.compile(r"(?<=\s)-n \d+"), "-n 2"),
    (re.compile(r"--samples \d+"), "--samples 8"),
]
SIZED = ("run", "compare", "sweep", "sensitivity", "explain", "backtest")


def readme_commands(text: str) -> list[str]:
    """The commands of the README's sh blocks, in order, continuation lines joined."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        heredoc = None
        for line in joined.splitlines():
            if heredoc is not None:  # a here-document belongs to the command that opened it
                commands[-1] += "\n" + line
                if line.strip() == heredoc:
                    heredoc = None
                continue
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            commands.append(line)
            opened = re.search(r"<<'?(\w+)'?", line)
            if opened:
                heredoc = opened.group(1)
    return commands


def small(command: str) -> str:
    """The same command on a small size."""
    out = []
    for part in re.split(r"(&&)", command):
        words = part.split()
        if len(words) >= 2 and words[0] == "dealsim" and words[1] in SIZED:
            for pattern, replacement in SMALLER:
                part = pattern.sub(replacement, part)
            if " -n " not in part and words[1] != "explain":
                part = re.sub(r"(\s+#.*)?$", r" -n 2\1", part, count=1)
        out.append(part)
    return "".join(out)


def skip_reason(command: str) -> str | None:
    return next((why for key, why in SKIPPED.items() if key in command), None)


def test_every_skipped_command_is_still_in_the_readme():
    text = README.read_text(encoding="utf-8")
    for key in SKIPPED:
        assert key in text, f"SKIPPED names {key!r}, which the README no longer has"


def test_the_readme_links_nothing_outside_the_repository():
    text = README.read_text(encoding="utf-8")
    assert "../" not in text, "a link or path out of the repository"
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if not re.match(r"https?://", target):
            assert (README.parent / target).exists(), f"README links to a missing {target}"


def test_small_sizes_keep_the_command():
    assert (
        small("dealsim run recession -n 1000 -j 2  # note")
        == "dealsim run recession -n 2 -j 2  # note"
    )
    assert small("dealsim run equipment --events") == "dealsim run equipment --events -n 2"
    assert small("dealsim scenarios") == "dealsim scenarios"


@pytest.mark.slow
def test_the_readme_runs_in_order_in_an_empty_folder(tmp_path):
    commands = readme_commands(README.read_text(encoding="utf-8"))
    ran = 0
    env = {**os.environ, "PYTHONPATH": str(README.parent), "COLUMNS": "100"}
    prelude = f'dealsim() {{ "{sys.executable}" -m sim "$@"; }}\nset -e\n'
    for command in commands:
        if skip_reason(command) is not None:
            continue
        script = prelude + small(command)
        done = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=240,
        )  # fmt: skip
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{command}\n-> exit {done.returncode}\n{output[-3000:]}"
        assert "Traceback" not in output, f"{command}\n{output[-3000:]}"
        ran += 1
    assert ran >= 30, f"only {ran} README commands ran"
