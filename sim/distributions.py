"""Scenario distributions: planner-friendly parameters, inverse-transform sampling.

A scenario file describes durations and amounts the way a sales planner thinks about them
("the need stage usually takes 120 days, one deal in ten takes over a year"), not the way a
statistics textbook parametrises them. So each distribution here is a small, frozen pydantic
model whose fields are the planner's numbers (median and p90, mean and coefficient of variation,
low/mode/high, ...) and which derives the textbook parameters itself.

Every distribution samples by inverse transform: ``ppf(u)`` maps uniforms in [0, 1) to draws.
The engine never asks a distribution for "a random number"; it draws uniforms from a stream keyed
by (deal, purpose) and pushes them through ``ppf``. That is what makes common random numbers work:
when two scenarios are run on the same seed, the same uniform reaches the same decision in both,
so a longer stage duration in scenario B is the *same quantile* of B's distribution as it was of
A's, and paired differences between scenarios have far less noise than independent runs. It also
makes sampling a single vectorised numpy/scipy.special call per batch, which matters because this
is the simulator's hot path (arrays of ~10^4 uniforms at a time).

Each model also knows its own mean, quantiles, CDF and support, so tests can check sampling
against closed forms, and the scenario layer can check, for example, that a duration cannot be
negative (``support()[0] >= 0``) without knowing which family it is dealing with.

Example:
    >>> from sim.distributions import parse_distribution
    >>> d = parse_distribution({"dist": "lognormal", "median": 120, "p90": 360})
    >>> round(d.quantile(0.9), 6)
    360.0
"""

from __future__ import annotations

import functools
import math
from abc import abstractmethod
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sim.scenario_bounds import (
    MAX_GAMMA_CV,
    MAX_LOGNORMAL_SPREAD,
    MAX_PARAMETER,
    MAX_WEIBULL_SHAPE,
    MIN_GAMMA_CV,
    MIN_WEIBULL_SHAPE,
)


class _LazySpecial:
    """scipy.special, imported on first use: a run with only closed-form inverses
    (exponential, uniform, weibull...) starts ~0.1 s sooner without it."""

    def __getattr__(self, name: str):
        import scipy.special

        return getattr(scipy.special, name)


sc = _LazySpecial()

__all__ = [
    "Distribution",
    "DistributionSpec",
    "SharedUniforms",
    "Exponential",
    "Fixed",
    "Gamma",
    "Lognormal",
    "Pert",
    "Triangular",
    "Uniform",
    "Weibull",
    "parse_distribution",
]

#: Standard normal 0.9 quantile: turns a (median, p90) pair into a lognormal sigma.
Z90 = 1.2815515655446004

# Numbers are strict (no bools, no numeric strings: a TOML typo such as `mean = "30"` should be an
# error, not a silent conversion) and finite (nan/inf would poison every downstream statistic).
# ints are still accepted for floats in strict mode, so `median = 120` works. And bounded
# (sim.scenario_bounds): 1e308 as a parameter is a typo, and would overflow the draws.
FiniteFloat = Annotated[
    float, Field(strict=True, allow_inf_nan=False, ge=-MAX_PARAMETER, le=MAX_PARAMETER)
]
PositiveFloat = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0, le=MAX_PARAMETER)]
NonNegativeFloat = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=MAX_PARAMETER)]
GammaCv = Annotated[
    float, Field(strict=True, allow_inf_nan=False, ge=MIN_GAMMA_CV, le=MAX_GAMMA_CV)
]
WeibullShape = Annotated[
    float, Field(strict=True, allow_inf_nan=False, ge=MIN_WEIBULL_SHAPE, le=MAX_WEIBULL_SHAPE)
]

ArrayOrFloat = np.ndarray | float


class SharedUniforms:
    """One array of uniforms that several distributions map, each through its own inverse.

    A page of visit durations maps the same uniforms through every stage's distribution (a
    deal's k-th visit reads the same uniform whatever its stage), and a lognormal's inverse is
    mostly the normal quantile of the uniform: computed here once for every lognormal stage, the
    page costs a third less. Each distribution's ``ppf_shared`` gives the very numbers its
    ``ppf`` would.
    """

    __slots__ = ("values", "_normal_scores")

    def __init__(self, values: np.ndarray):
        self.values = values
        self._normal_scores = None

    def normal_scores(self) -> np.ndarray:
        """``Phi^-1`` of the uniforms (computed on first use, then kept)."""
        if self._normal_scores is None:
            self._normal_scores = sc.ndtri(self.values)
        return self._normal_scores


def _require_dist(schema: dict[str, Any]) -> None:
    """Mark ``dist`` as required in the JSON Schema.

    ``dist`` has a default so Python code can write ``Exponential(mean=30)``, but in a scenario
    file it is the discriminator and must be present; the published schema should say so.
    """
    required = schema.setdefault("required", [])
    if "dist" not in required:
        required.insert(0, "dist")


def _fmt(x: float) -> str:
    """Format a parameter for humans: 120 not 120.0, 0.25 not 0.25000000001."""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.4g}"


class Distribution(BaseModel):
    """Base class of all scenario distributions.

    Subclasses are frozen (a scenario is a value: it can be hashed, shared between worker
    processes and compared) and forbid extra keys (a misspelt parameter in a scenario file must be
    an error rather than silently ignored).

    Subclasses implement ``ppf``, ``_cdf``, ``mean``, ``support`` and ``describe``; the base class
    derives ``quantile``, ``cdf`` and ``sample`` from them so the scalar/array handling lives in
    one place.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        serialize_by_alias=True,
        json_schema_extra=_require_dist,
    )

    @abstractmethod
    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Inverse CDF, vectorised: map uniforms in [0, 1) to draws of the same shape.

        No argument checking is done here on purpose: this is the hot path, and the uniforms come
        from ``Generator.random``, which is always in [0, 1).
        """

    def ppf_shared(self, uniforms: SharedUniforms) -> np.ndarray:
        """``ppf`` of uniforms that other distributions map too (see :class:`SharedUniforms`):
        the same numbers, sharing what can be shared."""
        return self.ppf(uniforms.values)

    @abstractmethod
    def _cdf(self, x: np.ndarray) -> np.ndarray:
        """CDF on a float64 array; ``cdf`` wraps it to also accept scalars."""

    @abstractmethod
    def mean(self) -> float:
        """Expected value in closed form (used by tests and by analytic sanity checks)."""

    @abstractmethod
    def support(self) -> tuple[float, float]:
        """Smallest and largest possible values; the upper bound may be ``math.inf``.

        The scenario layer uses the lower bound to reject, say, a uniform duration that can be
        negative, without having to know every family.
        """

    @abstractmethod
    def describe(self) -> str:
        """Short human text, in the planner's own parameters, for reports and error messages."""

    def quantile(self, p: float) -> float:
        """The ``p`` quantile (``ppf`` of a scalar), for p in [0, 1].

        Raises:
            ValueError: if ``p`` is outside [0, 1] or not a number.
        """
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"quantile level must be in [0, 1], got {p!r}")
        return float(self.ppf(np.asarray(p, dtype=np.float64)))

    def cdf(self, x: ArrayOrFloat) -> ArrayOrFloat:
        """P(X <= x); returns a float for a scalar ``x`` and an array for an array."""
        arr = np.asarray(x, dtype=np.float64)
        out = self._cdf(arr)
        return float(out) if arr.ndim == 0 else out

    def sample(self, rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
        """Convenience: ``ppf`` of fresh uniforms from ``rng``.

        The engine should prefer drawing uniforms itself from a keyed stream and calling ``ppf``,
        so that common random numbers line up across scenarios; this is for tests and one-offs.
        """
        return self.ppf(rng.random(size))


class Fixed(Distribution):
    """A constant: for steps that always take the same time (e.g. a legal review of 14 days)."""

    dist: Literal["fixed"] = "fixed"
    value: NonNegativeFloat

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Ignore ``u`` but keep its shape, so callers need no special case."""
        return np.full(np.shape(u), self.value, dtype=np.float64)

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        return (x >= self.value).astype(np.float64)

    def mean(self) -> float:
        """The value itself."""
        return float(self.value)

    def support(self) -> tuple[float, float]:
        """A single point."""
        return (float(self.value), float(self.value))

    def describe(self) -> str:
        """E.g. ``fixed(14)``."""
        return f"fixed({_fmt(self.value)})"


class Exponential(Distribution):
    """Memoryless waiting time given by its mean.

    The only family for which the absorbing-Markov-chain closed forms hold, so tests of the engine
    against theory use it. The field is called ``mean`` in files and in the constructor, but the
    Python attribute is ``mean_`` so that ``mean()`` can stay a method on every distribution.
    """

    dist: Literal["exponential"] = "exponential"
    mean_: PositiveFloat = Field(alias="mean")

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """``-mean * log(1 - u)``; ``log1p`` keeps precision for small ``u``."""
        return -self.mean_ * np.log1p(-u)

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, -np.expm1(-np.maximum(x, 0.0) / self.mean_), 0.0)

    def mean(self) -> float:
        """The ``mean`` parameter."""
        return float(self.mean_)

    def support(self) -> tuple[float, float]:
        """[0, inf)."""
        return (0.0, math.inf)

    def describe(self) -> str:
        """E.g. ``exponential(mean 365)``."""
        return f"exponential(mean {_fmt(self.mean_)})"


class Lognormal(Distribution):
    """Right-skewed duration given by its median and 90th percentile.

    Planners can say "typically 120 days, one in ten takes over 360" far more reliably than they
    can name a log-scale mean and standard deviation, so those two numbers are the parameters.
    """

    dist: Literal["lognormal"] = "lognormal"
    median: PositiveFloat
    p90: PositiveFloat

    @field_validator("p90")
    @classmethod
    def _p90_above_median(cls, p90: float, info: ValidationInfo) -> float:
        median = info.data.get("median")
        if median is not None and not p90 > median:
            raise ValueError(f"p90 must be greater than median (median={median}, p90={p90})")
        if median is not None and p90 > MAX_LOGNORMAL_SPREAD * median:
            raise ValueError(
                f"p90 / median is {p90 / median:.3g}, more than {MAX_LOGNORMAL_SPREAD:g}: the far "
                f"tail of such a spread overflows (median={median}, p90={p90})"
            )
        return p90

    @property
    def mu(self) -> float:
        """Log-scale location, ln(median)."""
        return math.log(self.median)

    @property
    def sigma(self) -> float:
        """Log-scale spread, chosen so that the 0.9 quantile is exactly ``p90``."""
        return math.log(self.p90 / self.median) / Z90

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """``exp(mu + sigma * Phi^-1(u))``; ``u = 0`` gives 0."""
        return self._of_normal_scores(sc.ndtri(u))

    def ppf_shared(self, uniforms: SharedUniforms) -> np.ndarray:
        return self._of_normal_scores(uniforms.normal_scores())

    def _of_normal_scores(self, z: np.ndarray) -> np.ndarray:
        return np.exp(self.mu + self.sigma * z)

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (np.log(np.maximum(x, 0.0)) - self.mu) / self.sigma
        return np.where(x > 0, sc.ndtr(z), 0.0)

    def mean(self) -> float:
        """``exp(mu + sigma^2 / 2)``: above the median, by how much depends on the tail."""
        return math.exp(self.mu + 0.5 * self.sigma**2)

    def support(self) -> tuple[float, float]:
        """(0, inf)."""
        return (0.0, math.inf)

    def describe(self) -> str:
        """E.g. ``lognormal(median 120, p90 360)``."""
        return f"lognormal(median {_fmt(self.median)}, p90 {_fmt(self.p90)})"


class Gamma(Distribution):
    """Duration given by its mean and coefficient of variation (sd / mean).

    ``cv`` is a unitless "how predictable is this" knob: 1 is as variable as an exponential,
    below 1 more regular, above 1 more erratic. As with ``Exponential``, the Python attribute is
    ``mean_`` (alias ``mean``) so that ``mean()`` stays a method.
    """

    dist: Literal["gamma"] = "gamma"
    mean_: PositiveFloat = Field(alias="mean")
    cv: GammaCv = Field(description="sd / mean; within the range drawn accurately.")

    @property
    def shape(self) -> float:
        """Gamma shape k = 1 / cv^2."""
        return 1.0 / self.cv**2

    @property
    def scale(self) -> float:
        """Gamma scale theta = mean * cv^2 (so that k * theta = mean)."""
        return self.mean_ * self.cv**2

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Inverse regularised incomplete gamma, scaled."""
        return sc.gammaincinv(self.shape, u) * self.scale

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        return sc.gammainc(self.shape, np.maximum(x, 0.0) / self.scale)

    def mean(self) -> float:
        """The ``mean`` parameter."""
        return float(self.mean_)

    def support(self) -> tuple[float, float]:
        """[0, inf)."""
        return (0.0, math.inf)

    def describe(self) -> str:
        """E.g. ``gamma(mean 30, cv 0.5)``."""
        return f"gamma(mean {_fmt(self.mean_)}, cv {_fmt(self.cv)})"


class Uniform(Distribution):
    """Anything between ``low`` and ``high`` equally likely: the "we only know the range" case.

    ``low`` may be negative here; whether that makes sense (it does not for a duration) is for the
    scenario layer to decide from ``support()``.
    """

    dist: Literal["uniform"] = "uniform"
    low: FiniteFloat
    high: FiniteFloat

    @field_validator("high")
    @classmethod
    def _high_above_low(cls, high: float, info: ValidationInfo) -> float:
        low = info.data.get("low")
        if low is not None and not low < high:
            raise ValueError(f"low must be less than high (low={low}, high={high})")
        return high

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """``low + u * (high - low)``."""
        return self.low + u * (self.high - self.low)

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        return np.clip((x - self.low) / (self.high - self.low), 0.0, 1.0)

    def mean(self) -> float:
        """Midpoint."""
        return 0.5 * (self.low + self.high)

    def support(self) -> tuple[float, float]:
        """[low, high]."""
        return (float(self.low), float(self.high))

    def describe(self) -> str:
        """E.g. ``uniform(low 350000, high 450000)``."""
        return f"uniform(low {_fmt(self.low)}, high {_fmt(self.high)})"


def _check_low_mode_high(low: float, mode: float, high: float) -> None:
    """Shared validation for three-point estimates (triangular, PERT)."""
    if not low < high:
        raise ValueError(f"low must be less than high (low={low}, high={high})")
    if not low <= mode <= high:
        raise ValueError(f"mode must lie within [low, high] (low={low}, mode={mode}, high={high})")


class Triangular(Distribution):
    """Three-point estimate (optimistic, most likely, pessimistic) with straight-line density.

    Puts more weight on the extremes than PERT; use it when the planner distrusts the mode.
    """

    dist: Literal["triangular"] = "triangular"
    low: FiniteFloat
    mode: FiniteFloat
    high: FiniteFloat

    @model_validator(mode="after")
    def _ordered(self) -> Triangular:
        _check_low_mode_high(self.low, self.mode, self.high)
        return self

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Closed form: a square root on each side of the mode.

        Written so that ``mode == low`` or ``mode == high`` needs no division (and no warning).
        """
        low, mode, high = self.low, self.mode, self.high
        width = high - low
        c = (mode - low) / width
        left = low + np.sqrt(u * width * (mode - low))
        right = high - np.sqrt((1.0 - u) * width * (high - mode))
        return np.where(u < c, left, right)

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        low, mode, high = self.low, self.mode, self.high
        width = high - low
        xc = np.clip(x, low, high)
        # A denominator is 0 only when mode sits on that end, and then its branch is never chosen.
        with np.errstate(divide="ignore", invalid="ignore"):
            left = (xc - low) ** 2 / (width * (mode - low))
            right = 1.0 - (high - xc) ** 2 / (width * (high - mode))
        return np.where(xc <= mode, np.where(xc <= low, 0.0, left), right)

    def mean(self) -> float:
        """(low + mode + high) / 3."""
        return (self.low + self.mode + self.high) / 3.0

    def support(self) -> tuple[float, float]:
        """[low, high]."""
        return (float(self.low), float(self.high))

    def describe(self) -> str:
        """E.g. ``triangular(low 30, mode 60, high 180)``."""
        return f"triangular(low {_fmt(self.low)}, mode {_fmt(self.mode)}, high {_fmt(self.high)})"


class Pert(Distribution):
    """Three-point estimate with a smooth, mode-heavy (beta) shape: the classic PERT.

    Uses the standard lambda = 4, so the mean is (low + 4 mode + high) / 6. Compared with the
    triangular it trusts the "most likely" figure more and the extremes less.
    """

    dist: Literal["pert"] = "pert"
    low: FiniteFloat
    mode: FiniteFloat
    high: FiniteFloat

    @model_validator(mode="after")
    def _ordered(self) -> Pert:
        _check_low_mode_high(self.low, self.mode, self.high)
        return self

    @property
    def alpha(self) -> float:
        """Beta shape alpha = 1 + 4 (mode - low) / (high - low)."""
        return 1.0 + 4.0 * (self.mode - self.low) / (self.high - self.low)

    @property
    def beta(self) -> float:
        """Beta shape beta = 1 + 4 (high - mode) / (high - low)."""
        return 1.0 + 4.0 * (self.high - self.mode) / (self.high - self.low)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Inverse regularised incomplete beta, stretched onto [low, high]."""
        return self.low + (self.high - self.low) * beta_quantile(self.alpha, self.beta, u)

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        z = np.clip((x - self.low) / (self.high - self.low), 0.0, 1.0)
        return sc.betainc(self.alpha, self.beta, z)

    def mean(self) -> float:
        """(low + 4 mode + high) / 6."""
        return (self.low + 4.0 * self.mode + self.high) / 6.0

    def support(self) -> tuple[float, float]:
        """[low, high]."""
        return (float(self.low), float(self.high))

    def describe(self) -> str:
        """E.g. ``pert(low 30, mode 60, high 180)``."""
        return f"pert(low {_fmt(self.low)}, mode {_fmt(self.mode)}, high {_fmt(self.high)})"


def beta_quantile(a: float, b: float, u) -> np.ndarray:
    """``scipy.special.betaincinv(a, b, u)`` within ~1e-14 relative, several times faster.

    ``betaincinv`` costs 0.5-1.3 us a value, a large share of a replication's draws when deal
    amounts are PERT; ``betainc`` costs a sixth of that. So the inverse starts from a cubic
    (Hermite) interpolation of tabulated quantiles, whose slopes are known exactly (the
    quantile's derivative is one over the density): good to ~1e-12 inside, so that one Newton
    step on ``betainc`` (quadratic convergence) ends within a few units of the last place. A
    value whose step was not negligible (near 0 or 1, where the density vanishes and the
    quantile is not smooth) is handed to ``betaincinv`` itself.
    """
    u = np.asarray(u, dtype=float)
    shape = u.shape
    u = u.reshape(-1)  # a single number too: the fallback below assigns by index
    x = _hermite_guess(u, *_beta_quantile_table(a, b))
    log_norm = sc.betaln(a, b)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        density = np.exp((a - 1.0) * np.log(x) + (b - 1.0) * np.log1p(-x) - log_norm)
        step = (sc.betainc(a, b, x) - u) / density
    step = np.where(np.isfinite(step), step, np.inf)  # density 0: no step, and not done
    x = np.clip(x - np.where(np.isfinite(step), step, 0.0), 0.0, 1.0)
    unsettled = ~(np.abs(step) <= 1e-9 * np.minimum(x, 1.0 - x))
    if unsettled.any():
        x[unsettled] = sc.betaincinv(a, b, u[unsettled])
    return x.reshape(shape)


def _hermite_guess(u: np.ndarray, quantiles: np.ndarray, slopes: np.ndarray) -> np.ndarray:
    """Cubic Hermite interpolation of the quantile at ``u`` between tabulated levels (linear
    where an end's slope is infinite)."""
    cells = len(quantiles) - 1
    scaled = np.clip(u, 0.0, 1.0) * cells
    i = np.minimum(scaled.astype(np.int64), cells - 1)
    t = scaled - i
    q0, q1 = quantiles[i], quantiles[i + 1]
    m0, m1 = slopes[i] / cells, slopes[i + 1] / cells
    t2, t3 = t * t, t * t * t
    with np.errstate(invalid="ignore"):
        cubic = (
            (2 * t3 - 3 * t2 + 1) * q0 + (t3 - 2 * t2 + t) * m0
            + (3 * t2 - 2 * t3) * q1 + (t3 - t2) * m1
        )  # fmt: skip
    return np.where(np.isfinite(cubic), cubic, q0 + t * (q1 - q0))


@functools.lru_cache(maxsize=64)
def _beta_quantile_table(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact quantiles at 1,025 evenly spaced levels and their slopes (1 / density there):
    the starting guesses of ``beta_quantile``."""
    grid = np.linspace(0.0, 1.0, 1025)
    quantiles = sc.betaincinv(a, b, grid)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        log_density = (
            (a - 1.0) * np.log(quantiles) + (b - 1.0) * np.log1p(-quantiles) - sc.betaln(a, b)
        )
        slopes = np.exp(-log_density)
    return quantiles, np.where(np.isfinite(slopes), slopes, np.inf)


class Weibull(Distribution):
    """Time to an event whose hazard rises (shape > 1) or falls (shape < 1) with waiting.

    Useful for "the longer it drags, the likelier it ends" (or the reverse); shape 1 is the
    exponential with mean ``scale``.
    """

    dist: Literal["weibull"] = "weibull"
    shape: WeibullShape
    scale: PositiveFloat

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """``scale * (-log(1 - u)) ** (1 / shape)``."""
        return self.scale * (-np.log1p(-u)) ** (1.0 / self.shape)

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        return -np.expm1(-((np.maximum(x, 0.0) / self.scale) ** self.shape))

    def mean(self) -> float:
        """``scale * Gamma(1 + 1 / shape)``."""
        return self.scale * math.gamma(1.0 + 1.0 / self.shape)

    def support(self) -> tuple[float, float]:
        """[0, inf)."""
        return (0.0, math.inf)

    def describe(self) -> str:
        """E.g. ``weibull(shape 1.5, scale 200)``."""
        return f"weibull(shape {_fmt(self.shape)}, scale {_fmt(self.scale)})"


#: Field type for a scenario model: ``duration: DistributionSpec``. The ``dist`` key picks the
#: class, so an unknown family is one clear error instead of eight "did not match" errors.
DistributionSpec = Annotated[
    Fixed | Exponential | Lognormal | Gamma | Uniform | Triangular | Pert | Weibull,
    Field(discriminator="dist"),
]

_ADAPTER: TypeAdapter[Distribution] = TypeAdapter(DistributionSpec)


def parse_distribution(data: dict[str, Any]) -> Distribution:
    """Validate a mapping such as ``{"dist": "lognormal", "median": 120, "p90": 360}``.

    For code (and tests) that holds one distribution outside a scenario model.

    Raises:
        pydantic.ValidationError: unknown ``dist``, extra or missing keys, or invalid values.
    """
    return _ADAPTER.validate_python(data)


def load_ahead(value: Any) -> None:
    """Evaluate once every distribution held anywhere in ``value`` (a scenario, say).

    What they load on first use (``scipy.special``, PERT's quantile tables) is then loaded in
    this process, and worker processes forked from it inherit it instead of each loading it
    again (a fifth of a second each for scipy.special).
    """
    if isinstance(value, Distribution):
        value.ppf(np.full(1, 0.5))
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            load_ahead(getattr(value, name))
    elif isinstance(value, list | tuple):
        for item in value:
            load_ahead(item)
    elif isinstance(value, dict):
        for item in value.values():
            load_ahead(item)
