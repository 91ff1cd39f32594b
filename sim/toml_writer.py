"""A small TOML writer for the shapes scenario files use (the standard library only reads TOML).

Used to write the resolved scenario into a results folder, a fitted scenario, and --set values;
a round trip through :mod:`tomllib` gives back the same data (tests/test_scenario.py).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_dumps(data: Mapping[str, Any]) -> str:
    """A small TOML writer for the shapes scenario files use.

    Top-level tables become ``[section]``s, lists of tables ``[[section]]``s, and anything deeper
    (distributions, exits, on_change...) inline tables. None values are not representable in
    TOML: leave them out beforehand.
    """
    head: list[str] = []
    sections: list[str] = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            sections.append("")
            sections.append(f"[{toml_key(key)}]")
            sections.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for item in value:
                sections.append("")
                sections.append(f"[[{toml_key(key)}]]")
                sections.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in item.items())
        else:
            head.append(f"{toml_key(key)} = {toml_value(value)}")
    return "\n".join([*head, *sections]) + "\n"


def toml_key(key: str) -> str:
    return key if _SIMPLE_KEY.match(key) else toml_string(key)


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dt.datetime):  # before date: a datetime is a date
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        inner = ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
