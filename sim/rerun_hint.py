"""The commands that make the event log a results folder lacks, ready to paste.

``export-log`` and ``export-history`` read ``events.csv``, which only ``dealsim run --events``
writes: a run made without it, a comparison or a sweep has none. Their message used to suggest
``dealsim run SCENARIO --events -o <that folder>``: a placeholder to fill in, and a folder that
``run`` refuses (it is not empty) or, with --force, replaces. These commands name the scenario
each folder ran, with its --set changes, seed and replications (the same deals, the same dice),
and a new folder next to it.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from sim.overrides import value_text
from sim.stage_keys import name_slug


def events_commands(folder: Path) -> list[str]:
    """``dealsim run ... --events -o NEW`` for each run a folder holds; [] when it cannot tell
    (not a dealsim folder, or a file it cannot read)."""
    folder = Path(folder)
    try:
        if (folder / "comparison.json").is_file():
            return _comparison(folder, _read(folder / "comparison.json"))
        if (folder / "sweep.json").is_file():
            return _sweep(folder, _read(folder / "sweep.json"))
        if (folder / "scenario.toml").is_file() and (folder / "manifest.json").is_file():
            return [_run(folder, _read(folder / "manifest.json"))]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # a damaged folder: the message says what to run in general words instead
    return []


def _read(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON object")
    return data


def _run(folder: Path, manifest: dict) -> str:
    """A run folder keeps its scenario as resolved (--set applied): run that file again."""
    return _command(
        str(folder / "scenario.toml"), {}, manifest, _new_folder(folder.parent, folder.name)
    )


def _comparison(folder: Path, data: dict) -> list[str]:
    return [
        _command(
            entry.get("path") or entry["name"],
            entry.get("sets") or {},
            data,
            _new_folder(folder.parent, f"{folder.name}-{name_slug(entry['label'])}"),
        )
        for entry in data["scenarios"]
    ]


def _sweep(folder: Path, data: dict) -> list[str]:
    """The first value of the sweep (each value is one more --set away)."""
    scenario = data["scenario"]
    sets = {**(data.get("sets") or {}), data["parameter"]: data["points"][0]["label"]}
    target = _new_folder(folder.parent, folder.name)
    return [_command(scenario.get("path") or scenario["name"], sets, data, target)]


def _command(scenario: str, sets: dict, numbers: dict, target: Path) -> str:
    words = ["dealsim", "run", scenario]
    for key, value in sets.items():
        words += ["--set", f"{key}={value_text(value)}"]
    words += ["-n", str(numbers["replications"]), "--seed", str(numbers["seed"])]
    words += ["--events", "-o", str(target)]
    return " ".join(shlex.quote(word) for word in words)


def _new_folder(parent: Path, name: str) -> Path:
    """``<name>-events`` beside the folder, or ``-events-2``... when that one is taken."""
    target = parent / f"{name}-events"
    n = 2
    while target.exists():
        target, n = parent / f"{name}-events-{n}", n + 1
    return target
