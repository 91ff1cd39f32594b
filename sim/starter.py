"""A starter scenario file (``dealsim new``): a bundled scenario or a file, copied with its
comments, under a new name.

The copy is text, not a re-serialisation, so that the comments explaining every number (the
point of starting from a bundled scenario) survive; only the top-level ``name = ...`` line is
rewritten. The result is validated before anything is written.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sim.atomic import atomic_file, check_output_file
from sim.errors import ScenarioError
from sim.scenario import (
    DEFAULT_SCENARIO,
    find_scenario,
    load_scenario,
    scenario_from_dict,
    shown_path,
)
from sim.stage_keys import name_slug
from sim.toml_writer import toml_string

__all__ = ["Starter", "default_file", "starter_text", "write_starter"]

# A top-level key line: `name = "x"` (bare or quoted key), its value a one-line string, then
# an optional comment. Group 1 is everything before the value, group 3 the rest of the line.
_NAME_LINE = re.compile(
    r"""^(\s*(?:name|"name"|'name')\s*=\s*)("(?:[^"\\\n]|\\.)*"|'[^'\n]*')(.*)$"""
)
#: How the line that ``dealsim new`` puts on top of the copy starts.
_HEADER_START = "# Starter scenario "
# A table header ([deals], [[stages]]): top-level keys come before the first one.
_HEADER = re.compile(r"^\s*\[")


@dataclass(frozen=True)
class Starter:
    """What ``dealsim new`` wrote: the file, and the scenario it was copied from."""

    path: Path
    source: str


def default_file(name: str) -> Path:
    """``<slug>.toml`` in the current folder: ``Завод — план 2027`` -> ``zavod-plan-2027.toml``."""
    return Path(f"{name_slug(name)}.toml")


def starter_text(text: str, name: str, source: str) -> str:
    """``text`` (a scenario file) with its top-level name replaced by ``name``.

    Raises:
        ScenarioError: the file has no top-level ``name = "..."`` line to replace.
    """
    lines = text.splitlines(keepends=True)
    if len(lines) > 1 and lines[0].startswith(_HEADER_START) and lines[1].strip() == "#":
        lines = lines[2:]  # a starter copied again: one header, the newest
    for i, line in enumerate(lines):
        if _HEADER.match(line):
            break
        match = _NAME_LINE.match(line.rstrip("\r\n"))
        if match:
            ending = line[len(line.rstrip("\r\n")) :]
            lines[i] = match[1] + toml_string(name) + match[3] + ending
            header = f"{_HEADER_START}{name}, copied from {source} by `dealsim new`.\n#\n"
            return header + "".join(lines)
    raise ScenarioError(f'{source}: no top-level `name = "..."` line to replace')


def write_starter(
    name: str, source: str | Path | None = None, output: Path | None = None, force: bool = False
) -> Starter:
    """Write the starter file for scenario ``name`` copied from ``source`` (default: the
    default bundled scenario), at ``output`` (default: :func:`default_file`).

    Raises:
        ScenarioError: an unknown or invalid source, or a name the scenario refuses.
        OutputError: ``output`` exists (without ``force``) or cannot be written.
    """
    path = find_scenario(source if source is not None else DEFAULT_SCENARIO)
    where = shown_path(path)
    load_scenario(path)  # the source itself is valid: its errors name it, not the copy
    target = Path(output) if output is not None else default_file(name)
    text = starter_text(path.read_text(encoding="utf-8").removeprefix("\ufeff"), name, where)
    scenario_from_dict(tomllib.loads(text), source=f"{where} named {name!r}")
    check_output_file(target, force, inputs=(path,))
    atomic_file(target, lambda tmp: tmp.write_bytes(text.encode("utf-8")), replace=force)
    return Starter(target, where)
