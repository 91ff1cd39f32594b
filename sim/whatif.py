"""The what-if label: what a run changed from its scenario file, said wherever results show.

A run with ``--set`` or ``--pipeline`` is not the base case of its scenario, and a slide made
from it must say so. :func:`what_if` describes the change once, as data that goes into the
results (``summary.json``, ``comparison.json`` and ``sweep.json`` under the key ``what_if``);
:func:`folder_part` turns it into a part of the default folder name, and the terminal and the
figures print its ``label``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path

from sim.overrides import format_sets, value_text
from sim.stage_keys import cut_slug

__all__ = ["KEY", "banner", "folder_part", "short_label", "what_if"]

#: The key under which results files carry the label.
KEY = "what_if"
#: Longest folder-name part; longer ones are cut at a word boundary.
FOLDER_PART_MAX = 64
#: Longest label in a figure title; the footer always has the whole label.
TITLE_LABEL_MAX = 60


#: Scenario keys that change how a run is made or named, not what it assumes.
NOT_ASSUMPTIONS = frozenset({"seed", "replications", "name", "description"})


def what_if(
    sets: Mapping[str, object] | None,
    pipeline: Path | str | None = None,
    as_of: dt.date | None = None,
) -> dict | None:
    """What differs from the scenario file, or None for the base case.

    Args:
        sets: the ``--set`` keys and values applied to the scenario.
        pipeline: the CRM export whose open deals replaced the scenario's day-0 pipeline.
        as_of: the export's day (day 0 of the run).

    Returns:
        ``{"label": text, "sets": {key: value}, "pipeline": {"file", "as_of"} | None}``,
        with values as JSON can hold them (dates as ISO text).
    """
    from sim.comparison import jsonable  # dates as ISO text, as in comparison.json

    # How the run is made and called is no assumption: `--set seed=7` is the base case run on
    # another seed, as `--seed 7` is (the summary says which seed ran).
    sets = {k: v for k, v in (sets or {}).items() if str(k).strip() not in NOT_ASSUMPTIONS}
    if not sets and pipeline is None:
        return None
    parts = [format_sets(sets)] if sets else []
    source = None
    if pipeline is not None:
        source = {"file": str(pipeline), "as_of": as_of.isoformat() if as_of else None}
        when = f" as of {source['as_of']}" if as_of else ""
        parts.append(f"day-0 pipeline from {Path(pipeline).name}{when}")
    return {
        "label": "; ".join(parts),
        "sets": jsonable(sets),
        "pipeline": source,
    }


def banner(label: str) -> str:
    """The line that heads a what-if's results (terminal, figure footers, reports)."""
    return f"WHAT-IF, not the base case: {label}"


def short_label(info: Mapping | None, limit: int = TITLE_LABEL_MAX) -> str | None:
    """The label cut to ``limit`` characters for a title (None for the base case)."""
    if not info:
        return None
    label = str(info["label"])
    return label if len(label) <= limit else label[: limit - 3].rstrip(" ,;") + "..."


def folder_part(info: Mapping | None) -> str | None:
    """``'whatif-budget-funded_share-0.2'``: the label as a part of a folder name, or None.

    Only letters, digits, ``.``, ``_`` and ``-`` are kept, so the part is safe on every file
    system; a long label is cut at a word boundary and ends in '-etc' (the results hold it
    all).
    """
    if not info:
        return None
    words = []
    for key, value in (info.get("sets") or {}).items():
        words += [key, value_text(value)]
    if info.get("pipeline"):
        words += ["pipeline", Path(info["pipeline"]["file"]).stem]
    slug = "-".join(w for w in (_slug(word) for word in words) if w)
    slug = cut_slug(slug, FOLDER_PART_MAX)
    return f"whatif-{slug}" if slug else "whatif"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-.")
