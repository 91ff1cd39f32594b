"""A results folder given to a command that reads it: a mistyped path, a file and a folder
without results are three different mistakes, each told as itself (exit 2, no traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.cli import main

#: Each command that reads a results folder, with FOLDER in its place.
READERS = {
    "plot": ["plot", "FOLDER"],
    "report": ["report", "FOLDER"],
    "explain": ["explain", "FOLDER"],
    "export-history": ["export-history", "FOLDER", "-o", "OUT/history.csv"],
    "export-log": ["export-log", "FOLDER", "--format", "csv", "-o", "OUT/log.csv"],
}


def _given(tmp_path: Path, what: str) -> Path:
    """A path that does not exist, a file, or an empty folder."""
    path = tmp_path / what
    if what == "file.csv":
        path.write_text("deal_id,stage\n", encoding="utf-8")
    elif what == "empty":
        path.mkdir()
    return path


@pytest.mark.parametrize("command", READERS)
@pytest.mark.parametrize(
    ("what", "said"),
    [
        ("missing", "no such folder: {path}"),
        ("file.csv", "{path}: a file, not a folder (give a dealsim results folder)"),
        ("empty", "{path}: "),  # the reader's own words: no results (or no events.csv) there
    ],
)
def test_each_mistake_is_named(tmp_path, capsys, command, what, said):
    path = _given(tmp_path, what)
    out = tmp_path / "out"
    out.mkdir()
    argv = [a.replace("FOLDER", str(path)).replace("OUT", str(out)) for a in READERS[command]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said.format(path=path) in err and "Traceback" not in err
    if what == "empty":
        assert "no such folder" not in err and "not a folder" not in err
    assert list(out.iterdir()) == []
