"""A stage duration that follows the data: a Kaplan-Meier curve with a fitted tail.

When no parametric family follows a stage's Kaplan-Meier curve (the Maven sample's shoulder and
plateau), ``dealsim fit`` writes the curve itself::

    duration = { dist = "empirical", days = [0, 12, 45, 138], survival = [1, 0.7, 0.6, 0.18],
                 tail_mean = 22000 }

read as "after 12 days 70% of the visits are still in the stage, ...; past day 138 the 18% left
leave at a constant rate, a mean of 22,000 days more". Between two points the share still in the
stage falls linearly (the time of a visit is uniform within each step of the curve), so the
distribution is continuous and ``ppf`` is exact; past the last point an exponential tail takes
over (``tail_mean`` is required when the last survival is above 0). The form is as easy to write
by hand as to fit: a planner can sketch "a third are done within a month, half within a quarter".

:data:`DurationSpec` is the scenario's type for stage durations: every family of
:mod:`sim.distributions` plus this one.
"""

from __future__ import annotations

import functools
import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, TypeAdapter, model_validator

from sim.distributions import (
    Distribution,
    Exponential,
    Fixed,
    Gamma,
    Lognormal,
    Pert,
    Triangular,
    Uniform,
    Weibull,
    _fmt,
)

Probability = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=1)]
Day = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)]


class Empirical(Distribution):
    """Survival curve through given points, linear between them, exponential past the last."""

    dist: Literal["empirical"] = "empirical"
    days: tuple[Day, ...] = Field(min_length=1, description="Days in stage, increasing.")
    survival: tuple[Probability, ...] = Field(
        min_length=1, description="Share still in the stage at each of those days, decreasing."
    )
    tail_mean: Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0)] | None = Field(
        default=None,
        description="Mean of the time left past the last day (needed when its survival is > 0).",
    )

    @model_validator(mode="after")
    def _a_survival_curve(self) -> Empirical:
        if len(self.days) != len(self.survival):
            raise ValueError(
                f"days and survival must have the same length ({len(self.days)} and "
                f"{len(self.survival)})"
            )
        if any(b <= a for a, b in zip(self.days, self.days[1:], strict=False)):
            raise ValueError("days must increase strictly")
        if any(b > a for a, b in zip(self.survival, self.survival[1:], strict=False)):
            raise ValueError("survival must not increase (it is the share still in the stage)")
        if self.days[0] == 0 and self.survival[0] != 1:
            raise ValueError("survival at day 0 must be 1 (every visit is in the stage then)")
        if self.survival[-1] > 0 and self.tail_mean is None:
            raise ValueError(
                f"the last survival is {self.survival[-1]:g} > 0: tail_mean (days) says how long "
                "the visits left then stay"
            )
        return self

    @functools.cached_property
    def _knots(self) -> tuple[np.ndarray, np.ndarray]:
        """(days, CDF) with the point (0, 0) in front when the file does not start there."""
        days = np.asarray(self.days, float)
        cdf = 1.0 - np.asarray(self.survival, float)
        if days[0] > 0:
            days, cdf = np.r_[0.0, days], np.r_[0.0, cdf]
        return days, cdf

    @property
    def last_survival(self) -> float:
        return float(self.survival[-1])

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Linear within each step of the curve; ``last day + tail_mean * log(S_K / (1 - u))``
        past the last point."""
        days, cdf = self._knots
        u = np.asarray(u, float)
        last = len(days) - 1
        # The last knot j with F_j <= u: the next one is above u, so the step has width > 0.
        j = np.clip(np.searchsorted(cdf, u, side="right") - 1, 0, max(last - 1, 0))
        if last == 0:
            inside = np.zeros(u.shape, float)
        else:
            width = np.maximum(cdf[j + 1] - cdf[j], 1e-300)
            inside = days[j] + (u - cdf[j]) / width * (days[j + 1] - days[j])
        tail_u = u >= cdf[-1]
        if not tail_u.any():
            return inside
        s_last = self.last_survival
        with np.errstate(divide="ignore", invalid="ignore"):
            tail = days[-1] + (self.tail_mean or 0.0) * np.log(s_last / np.maximum(1.0 - u, 1e-300))
        return np.where(tail_u, np.maximum(tail, days[-1]), inside)

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        days, cdf = self._knots
        inside = np.interp(x, days, cdf)
        if self.last_survival == 0:
            return np.where(x > days[-1], 1.0, inside)
        past = 1.0 - self.last_survival * np.exp(-np.maximum(x - days[-1], 0.0) / self.tail_mean)
        return np.where(x > days[-1], past, inside)

    def mean(self) -> float:
        """Midpoint of each step times its mass, plus the tail's share times its mean end.

        Halved before adding, so that days near the float maximum do not overflow; a mean past
        it is inf, quietly (the bounds check names it to the user, no numpy warning)."""
        days, cdf = self._knots
        steps = float(np.sum((days[1:] / 2 + days[:-1] / 2) * np.diff(cdf)))
        end = float(days[-1]) + float(self.tail_mean or 0.0)  # Python floats: inf, no warning
        return steps + self.last_survival * end

    def support(self) -> tuple[float, float]:
        """[0, last day], or [0, inf) with a tail."""
        return (0.0, math.inf if self.last_survival > 0 else float(self._knots[0][-1]))

    def describe(self) -> str:
        """E.g. ``empirical(40 points to day 138, 18% left then, tail mean 22000)``."""
        text = f"empirical({len(self.days)} points to day {_fmt(self.days[-1])}"
        if self.last_survival > 0:
            text += f", {self.last_survival:.0%} left then, tail mean {_fmt(self.tail_mean)}"
        return text + ")"


#: Type of a stage duration in a scenario: any family of sim.distributions, or the empirical one.
DurationSpec = Annotated[
    Fixed | Exponential | Lognormal | Gamma | Uniform | Triangular | Pert | Weibull | Empirical,
    Field(discriminator="dist"),
]

_ADAPTER: TypeAdapter[Distribution] = TypeAdapter(DurationSpec)


def parse_duration(data: dict[str, Any]) -> Distribution:
    """Validate a duration mapping (``parse_distribution`` plus the empirical family).

    Raises:
        pydantic.ValidationError: unknown ``dist``, extra or missing keys, or invalid values.
    """
    return _ADAPTER.validate_python(data)
