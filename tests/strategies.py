"""Hypothesis strategies shared by the property tests of the scenario loader and the engine."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

FAMILIES = [
    "fixed",
    "exponential",
    "lognormal",
    "gamma",
    "uniform",
    "triangular",
    "pert",
    "weibull",
]


@st.composite
def durations(draw: st.DrawFn, largest: float = 80.0) -> dict[str, Any]:
    """Any of the eight families, valid for a non-negative duration, its scale up to ``largest``
    days (the engine's tests keep it small so that examples stay quick)."""
    kind = draw(st.sampled_from(FAMILIES))
    a = draw(st.floats(min_value=0.5, max_value=largest, allow_nan=False, allow_infinity=False))
    if kind == "fixed":
        return {"dist": kind, "value": a}
    if kind == "exponential":
        return {"dist": kind, "mean": a}
    if kind == "lognormal":
        return {"dist": kind, "median": a, "p90": a * draw(st.floats(1.01, 10.0))}
    if kind == "gamma":
        return {"dist": kind, "mean": a, "cv": draw(st.floats(0.1, 3.0))}
    if kind == "weibull":
        return {"dist": kind, "shape": draw(st.floats(0.3, 5.0)), "scale": a}
    low = draw(st.floats(0.0, largest / 2))
    high = low + a
    if kind == "uniform":
        return {"dist": kind, "low": low, "high": high}
    return {"dist": kind, "low": low, "mode": low + a * draw(st.floats(0.0, 1.0)), "high": high}
