"""The whole-file checks of a scenario that has field problems too, so that one run shows both.

The checks across the file (exits that sum to 1, stage names used as targets, stages that never
end: ``Scenario``'s own validator) need a scenario whose fields are valid, so pydantic skips them
while any field is wrong, and a user fixing a typo would then meet them one round later. Here
the file is validated once more without the parts that were wrong, where leaving a part out is
honest: an unknown key, an optional key or section, an entry of a table of names (``exits``,
``deals.initial``), a role or a team. A stage, ``[deals]`` or ``start_date`` cannot be left out
(every check reads them): then the checks wait, and the message says so. Problems of the checks
that touch what was left out are dropped, since they would be about the file without it (an
exit left out makes the sum wrong).
"""

from __future__ import annotations

import copy
import re
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

#: Required top-level keys a stand-in lets the checks run without. No check reads ``name``;
#: the one that reads ``horizon_days`` (``inflow.by_month``'s months within the horizon) names
#: it in its problem, which is then about the stand-in and is dropped (``_READS_STAND_IN``).
_STAND_INS: dict[str, Any] = {"name": "x", "horizon_days": 1.0}
#: Stand-ins that a whole-file problem which read them names as a word of its message.
_READS_STAND_IN = ("horizon_days",)
#: Lists whose items can be left out (nothing else refers to a role or a team by name).
_DROPPABLE_ITEMS = frozenset({"decision_group", "team"})
#: Marks a list item left out, removed once every error is handled (indices stay valid).
_GONE = object()

#: Said instead, when the checks cannot run yet.
WAITING = (
    "(the checks across the file - exits that sum to 1, stage names used as targets - run "
    "once the problems above are fixed)"
)


def problems_beyond(exc: ValidationError, data: Mapping[str, Any]) -> list[str] | None:
    """The whole-file problems of ``data`` besides its field errors ``exc``, each as
    ``path: message``; None when they cannot be told yet."""
    from sim.scenario import MAX_LISTED_PROBLEMS, Scenario, _format_loc

    if exc.error_count() > MAX_LISTED_PROBLEMS:  # the screen is full of field problems anyway
        return None
    repaired = copy.deepcopy(dict(data))
    left_out: list[str] = []
    for err in exc.errors(include_url=False):
        steps = _removable(_file_steps(tuple(err["loc"]), data))
        if steps is None:
            return None
        _leave_out(repaired, steps)
        left_out.append(_format_loc(steps, data)[0])
    _drop_gone(repaired)
    try:
        Scenario.model_validate(repaired)
    except ValidationError as again:
        return _cross_lines(again, left_out)
    return []


def _file_steps(loc: tuple, data: Any) -> list[tuple[str | int, Any]]:
    """The loc as keys of the file (without the distribution tag pydantic adds), each with the
    type of the model or container it is a key of."""
    from sim.scenario import Scenario, _step_type

    steps: list[tuple[str | int, Any]] = []
    node, tp = data, Scenario
    for item in loc:
        if isinstance(item, str) and isinstance(node, dict) and item not in node:
            if node.get("dist") == item:  # tagged-union step: not a key of the file
                tp = _step_type(tp, item)
                continue
        steps.append((item, tp))
        tp = _step_type(tp, item) if tp is not None else None
        if isinstance(node, dict):
            node = node.get(item)
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            node = node[item]
        else:
            node = None
    return steps


def _removable(steps: list[tuple[str | int, Any]]) -> tuple | None:
    """The keys of the smallest part around an error that can honestly be left out (or given
    a stand-in), or None."""
    from sim.scenario import _unwrap

    for k in range(len(steps), 0, -1):
        item, parent_tp = steps[k - 1]
        keys = tuple(s for s, _ in steps[:k])
        if k == 1 and item in _STAND_INS:
            return keys
        if k == 2 and steps[0][0] in _DROPPABLE_ITEMS and isinstance(item, int):
            return keys
        parent = _unwrap(parent_tp)
        if isinstance(parent, type) and issubclass(parent, BaseModel):
            field = parent.model_fields.get(item) if isinstance(item, str) else None
            if field is None or not field.is_required():  # an unknown key, an optional one
                return keys
        elif typing.get_origin(parent) is dict:  # an entry of a table of names
            return keys
    return None


def _leave_out(data: dict, keys: tuple) -> None:
    """Remove the part at ``keys`` (a stand-in for a required top-level key)."""
    if len(keys) == 1 and keys[0] in _STAND_INS:
        data[keys[0]] = _STAND_INS[keys[0]]
        return
    node: Any = data
    for key in keys[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return  # inside a part already left out
        if node is _GONE:
            return
    last = keys[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and isinstance(last, int) and 0 <= last < len(node):
        node[last] = _GONE


def _drop_gone(data: dict) -> None:
    for key in _DROPPABLE_ITEMS:
        if isinstance(data.get(key), list):
            data[key] = [item for item in data[key] if item is not _GONE]


def _cross_lines(exc: ValidationError, left_out: list[str]) -> list[str] | None:
    """The whole-file problems in ``exc``, without those about a part left out; None when a
    field is still wrong (leaving parts out did not make the fields valid)."""
    errors = exc.errors(include_url=False)
    if any(err["loc"] for err in errors):
        return None
    lines: list[str] = []
    for err in errors:
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines += [line for line in msg.splitlines() if not _touches(line, left_out)]
    return lines


def _touches(line: str, left_out: list[str]) -> bool:
    """A problem's path is, or is inside, or holds a part left out (``stages.need.exits`` and
    ``stages.need.exits.lost``), or the problem read a stand-in (it names ``horizon_days``)."""
    path, _, message = line.partition(": ")
    if any(_within(path, gone) or _within(gone, path) for gone in left_out):
        return True
    words = set(re.findall(r"[\w.]+", message))
    return any(key in left_out and key in words for key in _READS_STAND_IN)


def _within(path: str, outer: str) -> bool:
    return path == outer or path.startswith(outer + ".")
