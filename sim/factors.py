"""The parameters of a sensitivity analysis: ``--vary KEY=LOW..HIGH``, checked on a scenario.

Keys are the ``--set`` keys (:mod:`sim.overrides`; stages and roles by name). A parameter must
hold a number in the scenario, and the scenario must stay valid at both ends of its range;
both are checked before anything runs, with messages that name the file and the key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError, UserError
from sim.overrides import apply_sets, value_text
from sim.scenario import Scenario, _key_parts, _list_item, parse_override, shown_path

__all__ = ["Factor", "normalize_vary", "parse_vary", "point", "prepare_factors", "value_at"]


@dataclass(frozen=True)
class Factor:
    """One parameter: a dotted ``--set`` key, its range, and the scenario's own value.

    ``integer`` factors (the scenario holds a whole number and both ends are whole) take whole
    values at the Sobol points.
    """

    key: str
    low: float
    high: float
    base: float
    integer: bool = False

    def value(self, x: float) -> float | int:
        """A sampled value as the scenario takes it (rounded for whole-number keys)."""
        return int(round(x)) if self.integer else float(x)

    def describe(self) -> dict:
        return {"key": self.key, "base": self.base, "low": self.low, "high": self.high}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_vary(text: str) -> tuple[str, float, float]:
    """``KEY=LOW..HIGH`` -> (key, low, high), the ends read as TOML numbers.

    Raises:
        UserError: no ``=`` or ``..``, ends that are not numbers, or LOW not below HIGH.
    """
    example = "e.g. --vary budget.funded_share=0.2..0.5"
    key, sep, raw = text.partition("=")
    key = key.strip()
    low_text, dots, high_text = raw.partition("..")
    if not sep or not key or not dots:
        raise UserError(f"--vary {text}: expected KEY=LOW..HIGH, {example}")
    ends = []
    for end in (low_text, high_text):
        value = parse_override(f"{key}={end.strip()}")[1] if end.strip() else None
        if not _is_number(value) or not math.isfinite(value):
            raise UserError(f"--vary {text}: {end.strip()!r} is not a number ({example})")
        ends.append(value)
    low, high = ends
    if not low < high:
        raise UserError(f"--vary {text}: LOW must be below HIGH")
    return key, low, high


def normalize_vary(
    vary: Mapping[str, Sequence[float]] | Sequence[str] | str,
) -> list[tuple[str, float, float]]:
    """Accept ``{"k": (low, high)}``, ``["k=low..high", ...]`` or one ``"k=low..high"``."""
    if isinstance(vary, str):
        return [parse_vary(vary)]
    if isinstance(vary, Mapping):
        out = []
        for key, ends in vary.items():
            low, high = ends
            out.append(parse_vary(f"{key}={value_text(low)}..{value_text(high)}"))
        return out
    return [parse_vary(text) for text in vary]


def value_at(scenario: Scenario, key: str) -> Any:
    """The scenario's value at a dotted ``--set`` key (stages and roles by name).

    Raises:
        UserError: a key that names nothing in the scenario.
    """
    node: Any = scenario.model_dump(mode="python", exclude_none=True)
    parts = _key_parts(key)
    for pos, part in enumerate(parts):
        if isinstance(node, list):
            try:
                node = _list_item(node, part, parts[pos - 1] if pos else "", key)
            except ScenarioError as exc:
                raise UserError(str(exc).replace("--set", "--vary", 1)) from None
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            where = ".".join(parts[: pos + 1])
            raise UserError(
                f"--vary {key}: scenario {scenario.name!r} has no {where} (a range varies a "
                "value the scenario has)"
            )
    return node


def prepare_factors(
    scenario: Scenario, path: Path | None, vary: list[tuple[str, float, float]], sets: Mapping
) -> list[Factor]:
    """The parameters, each checked: a number in the scenario, and both ends valid scenarios.

    Raises:
        UserError / ScenarioError: no parameter, a key twice or also in ``--set``, a key that
            is not a number, or an end that the scenario does not accept (naming the key).
    """
    if not vary:
        raise UserError("sensitivity: give at least one --vary KEY=LOW..HIGH")
    keys = [key for key, _, _ in vary]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise UserError(f"sensitivity: --vary {', '.join(twice)} given more than once")
    both = sorted(set(keys) & set(sets))
    if both:
        raise UserError(f"sensitivity: {', '.join(both)} is both varied and set with --set")
    factors = []
    for key, low, high in vary:
        base = value_at(scenario, key)
        if not _is_number(base):
            shown = "a table" if isinstance(base, dict) else repr(base)
            raise UserError(
                f"--vary {key}: the scenario's value is {shown}, not a number: vary a number "
                "(e.g. stages.need.duration.median)"
            )
        for end in (low, high):
            point(scenario, path, {key: end})  # validated now, named as the user wrote it
        integer = isinstance(base, int) and float(low).is_integer() and float(high).is_integer()
        factors.append(Factor(key, low, high, base, integer))
    return factors


def point(scenario: Scenario, path: Path | None, sets: Mapping[str, object]) -> Scenario:
    """The scenario with keys changed, validated; errors name the file and the keys."""
    source = shown_path(path) if path is not None else f"scenario {scenario.name!r}"
    try:
        return apply_sets(scenario, sets)
    except ScenarioError as exc:
        text = str(exc).replace(f"scenario {scenario.name!r}", source, 1)
        raise ScenarioError(text) from None
