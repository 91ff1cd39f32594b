"""A results folder given to a command that reads it (plot, report, explain, the exports).

A mistyped path and a file given for a folder are told as such before anything looks inside:
"not a dealsim results folder" is kept for a folder that exists but holds no results.
"""

from __future__ import annotations

from pathlib import Path

from sim.errors import UserError


def existing_folder(folder: Path | str) -> Path:
    """``folder``, which must be an existing folder.

    Raises:
        UserError: no such path, or a file (or anything else that is no folder) there.
    """
    folder = Path(folder)
    if folder.is_dir():
        return folder
    if folder.exists():
        raise UserError(f"{folder}: a file, not a folder (give a dealsim results folder)")
    raise UserError(f"no such folder: {folder}")
