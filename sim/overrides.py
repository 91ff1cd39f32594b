"""``--set KEY=VALUE``: change a scenario without editing its file, validated like the file.

Keys are dotted paths into the TOML; items of ``stages`` and ``decision_group`` are named by
their ``name``/``role`` (``stages.need.duration.median=90``, ``decision_group.technologist.
tenure_mean_days=700``). Values are read as TOML (numbers, strings, booleans, dates, inline
tables and arrays); text that is not TOML is taken as a string, so ``budget.gate=contract``
works without quotes. The walking and setting live in :mod:`sim.scenario`
(``parse_override``/``apply_overrides``); this module adds what the commands need on top: errors
that name both the file and the key, overrides on a :class:`Scenario` object, labels for
tables and plots, and the comma-separated values of ``dealsim sweep``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError, UserError
from sim.scenario import (
    Scenario,
    _key_parts,
    _read_toml,
    apply_overrides,
    find_scenario,
    parse_override,
    scenario_from_dict,
    shown_path,
)
from sim.toml_writer import toml_value

__all__ = [
    "SAME_AS_SET",
    "ScenarioRef",
    "apply_sets",
    "check_same_as_set",
    "format_sets",
    "parse_sets",
    "parse_sweep_values",
    "resolve_scenario",
    "value_text",
]

#: What the API accepts as a scenario: an object, a bundled name, a path, or None (default).
ScenarioRef = Scenario | str | Path | None


def parse_sets(texts: Iterable[str]) -> dict[str, object]:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": 1, "c": "x"}``.

    A key given twice with the same value counts once; with two values it is refused (a silent
    "last one wins" runs something the user may not have meant, and labels it with both).

    Raises:
        ScenarioError: an option without ``=``, with an empty key, a value that ends with a
            comma, or a key given twice with different values.
    """
    out: dict[str, object] = {}
    seen: dict[tuple[str, ...], str] = {}  # the key's parts (as TOML splits it) -> as typed
    for text in texts:
        key, value = parse_override(text)
        _refuse_trailing_comma(text)
        parts = tuple(_key_parts(key))  # `a.b` and `a . "b"` are one key
        first = seen.setdefault(parts, key)
        if first in out and not _same(out[first], value):
            raise ScenarioError(
                f"--set {key} is given twice, as {first}={value_text(out[first])} and "
                f"{key}={value_text(value)}: give it once"
            )
        out[first] = value
    return out


#: Keywords (of the API; the CLI's options map onto them) that set a scenario key of their own,
#: and that key. Given both ways with two values, which one ran and which one the labels show
#: would differ: so both ways at once must agree, as two --set of one key must.
SAME_AS_SET = {
    "replications": "replications",
    "seed": "seed",
    "until": "horizon_days",
    "parameter_uncertainty": "uncertainty.enabled",
}


def check_same_as_set(
    sets: Mapping[str, object],
    keywords: Mapping[str, object],
    *,
    names: Mapping[str, str] | None = None,
    set_option: str = "sets",
) -> None:
    """Refuse a keyword of :data:`SAME_AS_SET` and a key of ``sets`` that set one thing to two
    values (the same rule on the CLI, ``--seed 7 --set seed=5``, and in the API).

    Args:
        sets: the dotted keys as typed -> their values.
        keywords: keywords -> their values (None: not given).
        names: how to name each keyword to the user (default ``seed=7``, as in the API).
        set_option: how to name ``sets`` to the user (``--set`` on the CLI).

    ``until`` is a day and ``horizon_days`` a length: both at once are refused, whatever the
    values.
    """
    typed = {".".join(_key_parts(str(key))): key for key in sets}
    for name, mine in keywords.items():
        key = SAME_AS_SET[name]
        if mine is None or key not in typed:
            continue
        option = (names or {}).get(name) or f"{name}={mine}"
        theirs = f"{set_option} {typed[key]}"
        if name == "until":
            raise UserError(f"{option} and {theirs} both set the horizon: give one of them")
        value = sets[typed[key]]
        if not _same(mine, value):
            raise UserError(
                f"{option} and {theirs}={value_text(value)} disagree: "
                f"set {key} one way, or give both the same value"
            )


def _refuse_trailing_comma(text: str) -> None:
    """``x=1,2,`` is no TOML value, so it would quietly become the text "1,2,"."""
    if text.rstrip().endswith(","):
        raise ScenarioError(
            f"--set {text}: the value ends with a comma; a list is a TOML array, e.g. "
            'deals.seasonality=[1, 1.2, ...], and a text that ends with a comma is quoted: "a,"'
        )


def _same(a: object, b: object) -> bool:
    """Equal values of the same type (``1`` and ``true``, ``1`` and ``1.0`` are not the same
    to the scenario's strict fields)."""
    return type(a) is type(b) and a == b


def value_text(value: object) -> str:
    """A value as a person would type it after ``KEY=`` (for labels, tables and CSV cells)."""
    if isinstance(value, str):
        return value
    return toml_value(value)


def format_sets(sets: Mapping[str, object]) -> str:
    """``{"shocks.rate_per_year": 2}`` -> ``"shocks.rate_per_year=2"`` (comma-separated)."""
    return ", ".join(f"{key}={value_text(value)}" for key, value in sets.items())


def _apply(data: Mapping[str, Any], sets: Mapping[str, object], source: str) -> Scenario:
    """Set the keys on raw scenario data and validate it, naming ``source`` and the keys."""
    if not sets:
        return scenario_from_dict(data, source=source)
    try:
        changed = apply_overrides(data, sets)
    except ScenarioError as exc:  # a path that cannot be walked: name the file too
        raise ScenarioError(f"{source}: {exc}") from None
    return scenario_from_dict(changed, source=f"{source} with --set {format_sets(sets)}")


def apply_sets(scenario: Scenario, sets: Mapping[str, object] | None) -> Scenario:
    """A copy of a scenario object with the dotted keys set, validated again."""
    if not sets:
        return scenario
    data = scenario.model_dump(mode="python", exclude_none=True)
    return _apply(data, sets, f"scenario {scenario.name!r}")


def resolve_scenario(
    ref: ScenarioRef, sets: Mapping[str, object] | None = None
) -> tuple[Scenario, Path | None]:
    """The scenario (with ``sets`` applied and validated) and the file it came from.

    Raises:
        ScenarioError: unknown scenario, unreadable file, a key that names no table, stage or
            role, or a changed scenario that does not validate; the message names the file
            (or the scenario) and the key.
    """
    if isinstance(ref, Scenario):
        return apply_sets(ref, sets), None
    path = find_scenario(ref)
    return _apply(_read_toml(path), sets or {}, shown_path(path)), path


def parse_sweep_values(text: str) -> tuple[str, list[object], list[str]]:
    """``KEY=V1,V2,...`` -> (key, parsed values, each value's text).

    The whole right-hand side is first read as the items of one TOML array, so quoted strings
    and inline tables or arrays with commas inside work (``stages.need.duration={dist="fixed",
    value=30},{dist="fixed", value=60}``). Otherwise it is split on commas and each piece read
    like a ``--set`` value (bare words are strings).

    Raises:
        ScenarioError: no ``=``, an empty key, an empty value, a trailing comma, or a list that
            mixes bare words with tables or arrays in a way that cannot be split safely.
    """
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key:
        raise ScenarioError(
            f"--set {text}: expected KEY=V1,V2,..., e.g. budget.funded_share=0.2,0.4"
        )
    if raw.endswith(","):  # TOML would take `[0.2, 0.4,]` as two values: a value left out?
        raise ScenarioError(
            f"--set {text}: the list ends with a comma; write V1,V2,... with a value after "
            "each comma, e.g. budget.funded_share=0.2,0.4"
        )
    try:
        values = tomllib.loads(f"v = [{raw}]")["v"]
    except tomllib.TOMLDecodeError:
        values = None
    if values is not None and values:
        if len(values) == 1:
            return key, values, [raw]
        texts = [p.strip() for p in raw.split(",")]
        if len(texts) != len(values):  # commas inside tables/arrays: label by the parsed value
            texts = [value_text(v) for v in values]
        return key, values, texts
    pieces = [p.strip() for p in raw.split(",")]
    if any(not p for p in pieces):
        raise ScenarioError(f"--set {text}: empty value in the list (write V1,V2,... )")
    if any(ch in raw for ch in '{}[]"'):
        raise ScenarioError(
            f"--set {text}: cannot split these values on commas; write each as TOML "
            'and quote strings, e.g. stages.need.duration={dist="fixed", value=30},'
            '{dist="fixed", value=60}'
        )
    return key, [parse_override(f"{key}={p}")[1] for p in pieces], pieces
