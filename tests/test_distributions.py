"""Tests for sim.distributions: closed forms vs sampling vs scipy.stats, and validation.

Statistical checks use a fixed seed and a tolerance of 5 standard errors, and
``test_mean_tolerance_rejects_a_5_percent_error`` shows that tolerance is tight enough to catch a
wrong oracle, so the mean checks can actually fail.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from scipy import stats

from sim.distributions import (
    Distribution,
    DistributionSpec,
    Exponential,
    Fixed,
    Gamma,
    Lognormal,
    Pert,
    SharedUniforms,
    Triangular,
    Uniform,
    Weibull,
    parse_distribution,
)

N_SAMPLES = 200_000
SE_TOLERANCE = 5.0


def _pert_reference(low: float, mode: float, high: float):
    a = 1 + 4 * (mode - low) / (high - low)
    b = 1 + 4 * (high - mode) / (high - low)
    return stats.beta(a, b, loc=low, scale=high - low)


# (id, distribution, independent scipy.stats reference)
CASES = [
    ("exponential", Exponential(mean=30.0), stats.expon(scale=30.0)),
    (
        "lognormal",
        Lognormal(median=120, p90=360),
        stats.lognorm(s=math.log(3) / stats.norm.ppf(0.9), scale=120),
    ),
    ("gamma", Gamma(mean=60, cv=0.5), stats.gamma(a=4.0, scale=15.0)),
    ("gamma-cv2", Gamma(mean=60, cv=2.0), stats.gamma(a=0.25, scale=240.0)),
    ("uniform", Uniform(low=350_000, high=450_000), stats.uniform(loc=350_000, scale=100_000)),
    (
        "triangular",
        Triangular(low=10, mode=30, high=100),
        stats.triang(c=20 / 90, loc=10, scale=90),
    ),
    ("triangular-left", Triangular(low=10, mode=10, high=50), stats.triang(0.0, loc=10, scale=40)),
    ("triangular-right", Triangular(low=10, mode=50, high=50), stats.triang(1.0, loc=10, scale=40)),
    ("pert", Pert(low=10, mode=30, high=100), _pert_reference(10, 30, 100)),
    ("pert-left", Pert(low=10, mode=10, high=50), _pert_reference(10, 10, 50)),
    ("weibull", Weibull(shape=1.5, scale=200), stats.weibull_min(c=1.5, scale=200)),
    ("weibull-decreasing", Weibull(shape=0.7, scale=50), stats.weibull_min(c=0.7, scale=50)),
]
IDS = [c[0] for c in CASES]
DISTS = {c[0]: c[1] for c in CASES}
case_params = pytest.mark.parametrize(("name", "dist", "ref"), CASES, ids=IDS)


@cache
def _sample(name: str) -> np.ndarray:
    """One large sample per case, shared by the tests that need it (keeps the file fast)."""
    rng = np.random.default_rng(12345 + IDS.index(name))
    return DISTS[name].ppf(rng.random(N_SAMPLES))


def _mean_and_se(x: np.ndarray) -> tuple[float, float]:
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


@case_params
def test_closed_form_mean_matches_scipy(name, dist, ref):
    assert dist.mean() == pytest.approx(ref.mean(), rel=1e-12)


@case_params
def test_sample_mean_matches_mean_within_5_se(name, dist, ref):
    m, se = _mean_and_se(_sample(name))
    assert abs(m - dist.mean()) < SE_TOLERANCE * se, (name, m, dist.mean(), se)


@case_params
def test_mean_tolerance_rejects_a_5_percent_error(name, dist, ref):
    """A wrong oracle (mean 5% off) must fail the same check, or the check above proves nothing."""
    m, se = _mean_and_se(_sample(name))
    wrong = 1.05 * dist.mean()
    assert abs(m - wrong) > SE_TOLERANCE * se


@case_params
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_quantile_matches_scipy(name, dist, ref, p):
    assert dist.quantile(p) == pytest.approx(ref.ppf(p), rel=1e-9, abs=1e-9)


@case_params
def test_cdf_matches_scipy(name, dist, ref):
    x = ref.ppf(np.linspace(0.01, 0.99, 50))
    np.testing.assert_allclose(dist.cdf(x), ref.cdf(x), rtol=1e-9, atol=1e-12)


@case_params
def test_cdf_inverts_ppf(name, dist, ref):
    u = np.linspace(0.001, 0.999, 999)
    np.testing.assert_allclose(dist.cdf(dist.ppf(u)), u, atol=1e-9)


@case_params
def test_ppf_is_monotone_and_within_support(name, dist, ref):
    u = np.concatenate([[0.0], np.sort(np.random.default_rng(0).random(10_000))])
    x = dist.ppf(u)
    assert np.all(np.diff(x) >= 0)
    lo, hi = dist.support()
    assert np.all((x >= lo) & (x <= hi))
    assert x[0] == pytest.approx(lo)


@case_params
def test_support_matches_scipy(name, dist, ref):
    assert dist.support() == pytest.approx(ref.support())


@case_params
def test_cdf_outside_support(name, dist, ref):
    lo, hi = dist.support()
    assert dist.cdf(lo - 1.0) == 0.0
    if math.isfinite(hi):
        assert dist.cdf(hi + 1.0) == 1.0


@case_params
def test_ppf_keeps_shape_and_cdf_scalar_gives_float(name, dist, ref):
    u = np.random.default_rng(1).random((3, 4))
    assert dist.ppf(u).shape == (3, 4)
    assert dist.ppf(u).dtype == np.float64
    assert isinstance(dist.cdf(dist.quantile(0.5)), float)


@case_params
def test_ppf_shared_gives_the_very_numbers_of_ppf(name, dist, ref):
    # Both engines and both paths must draw the same durations bit for bit.
    u = np.random.default_rng(2).random((50, 8))
    shared = SharedUniforms(u)
    assert np.array_equal(dist.ppf_shared(shared), dist.ppf(u))
    assert np.array_equal(dist.ppf_shared(shared), dist.ppf(u))  # with the scores kept


def test_lognormal_stages_share_the_normal_scores_of_their_uniforms(monkeypatch):
    import sim.distributions as distributions

    calls = []
    ndtri = distributions.sc.ndtri
    monkeypatch.setattr(
        distributions,
        "sc",
        type("Special", (), {"ndtri": lambda _, u: calls.append(1) or ndtri(u)})(),
    )
    shared = SharedUniforms(np.random.default_rng(3).random(100))
    for median in (30, 45, 60):
        Lognormal(median=median, p90=3 * median).ppf_shared(shared)
    assert len(calls) == 1


@case_params
def test_round_trip_through_dump(name, dist, ref):
    data = dist.model_dump()
    assert parse_distribution(data) == dist
    assert parse_distribution(dist.model_dump(mode="json")) == dist


def test_fixed():
    d = Fixed(value=14)
    u = np.array([0.0, 0.3, 0.999])
    np.testing.assert_array_equal(d.ppf(u), [14.0, 14.0, 14.0])
    assert d.mean() == 14.0
    assert d.quantile(0.9) == 14.0
    assert d.support() == (14.0, 14.0)
    np.testing.assert_array_equal(d.cdf(np.array([13.9, 14.0, 20.0])), [0.0, 1.0, 1.0])
    assert d.describe() == "fixed(14)"
    assert Fixed(value=0).mean() == 0.0


def test_describe():
    assert Lognormal(median=120, p90=360).describe() == "lognormal(median 120, p90 360)"
    assert Gamma(mean=30, cv=0.25).describe() == "gamma(mean 30, cv 0.25)"
    assert Exponential(mean=365).describe() == "exponential(mean 365)"
    assert Pert(low=1, mode=2.5, high=4).describe() == "pert(low 1, mode 2.5, high 4)"


def test_lognormal_hits_its_planner_parameters():
    d = Lognormal(median=120, p90=360)
    assert d.quantile(0.5) == pytest.approx(120, rel=1e-12)
    assert d.quantile(0.9) == pytest.approx(360, rel=1e-12)


def test_quantile_rejects_levels_outside_unit_interval():
    d = Exponential(mean=1)
    for p in (-0.1, 1.1, math.nan):
        with pytest.raises(ValueError, match="quantile level"):
            d.quantile(p)


# --- the `mean` field / mean() method clash --------------------------------------------------


@pytest.mark.parametrize("cls", [Exponential, Gamma])
def test_mean_alias(cls):
    extra = {"cv": 0.5} if cls is Gamma else {}
    by_alias = cls(dist=cls.model_fields["dist"].default, mean=2.0, **extra)
    by_name = cls(mean_=2.0, **extra)
    validated = cls.model_validate({"dist": cls.model_fields["dist"].default, "mean": 2, **extra})
    assert by_alias == by_name == validated
    assert validated.mean() == 2.0
    assert validated.mean_ == 2.0
    assert "mean" in validated.model_dump() and "mean_" not in validated.model_dump()
    assert '"mean":2.0' in validated.model_dump_json()
    schema = cls.model_json_schema()
    assert "mean" in schema["properties"] and "mean_" not in schema["properties"]
    assert "dist" in schema["required"] and "mean" in schema["required"]


def test_exponential_explicit_dist_and_parse():
    assert Exponential(dist="exponential", mean=2.0).mean() == 2.0
    assert parse_distribution({"dist": "exponential", "mean": 2}).mean() == 2.0


def test_spec_as_a_field_of_a_scenario_model():
    class Stage(BaseModel):
        duration: DistributionSpec

    s = Stage.model_validate({"duration": {"dist": "pert", "low": 1, "mode": 2, "high": 5}})
    assert isinstance(s.duration, Pert)
    assert isinstance(s.duration, Distribution)
    assert Stage.model_json_schema()["properties"]["duration"]["discriminator"]["propertyName"] == (
        "dist"
    )
    with pytest.raises(ValidationError) as err:
        Stage.model_validate({"duration": {"dist": "lognormal", "median": 5, "p90": 4}})
    assert err.value.errors()[0]["loc"] == ("duration", "lognormal", "p90")


def test_models_are_frozen_and_hashable():
    d = Uniform(low=0, high=1)
    with pytest.raises(ValidationError):
        d.low = 0.5  # type: ignore[misc]
    assert hash(d) == hash(Uniform(low=0, high=1))


def test_base_class_is_abstract():
    with pytest.raises(TypeError):
        Distribution()  # type: ignore[abstract]


# --- validation -------------------------------------------------------------------------------

INVALID = [
    ({"dist": "fixed", "value": -1}, "value", "greater than or equal to 0"),
    ({"dist": "exponential", "mean": 0}, "mean", "greater than 0"),
    ({"dist": "exponential", "mean": -3}, "mean", "greater than 0"),
    ({"dist": "exponential", "mean": math.inf}, "mean", "finite"),
    ({"dist": "lognormal", "median": 0, "p90": 10}, "median", "greater than 0"),
    ({"dist": "lognormal", "median": 10, "p90": 10}, "p90", "p90 must be greater than median"),
    ({"dist": "lognormal", "median": 10, "p90": 5}, "p90", "p90 must be greater than median"),
    ({"dist": "lognormal", "median": math.nan, "p90": 5}, "median", "finite"),
    ({"dist": "gamma", "mean": -1, "cv": 0.5}, "mean", "greater than 0"),
    ({"dist": "gamma", "mean": 10, "cv": 0}, "cv", "greater than or equal to 0.001"),
    ({"dist": "uniform", "low": 5, "high": 1}, "high", "low must be less than high"),
    ({"dist": "uniform", "low": 5, "high": 5}, "high", "low must be less than high"),
    ({"dist": "uniform", "low": math.nan, "high": 5}, "low", "finite"),
    ({"dist": "uniform", "low": 0, "high": -math.inf}, "high", "finite"),
    ({"dist": "triangular", "low": 5, "mode": 5, "high": 1}, None, "low must be less than high"),
    ({"dist": "triangular", "low": 1, "mode": 6, "high": 5}, None, "mode must lie within"),
    ({"dist": "triangular", "low": 1, "mode": 0, "high": 5}, None, "mode must lie within"),
    ({"dist": "pert", "low": 1, "mode": 9, "high": 5}, None, "mode must lie within"),
    ({"dist": "pert", "low": 5, "mode": 5, "high": 5}, None, "low must be less than high"),
    ({"dist": "pert", "low": 1, "mode": math.nan, "high": 5}, "mode", "finite"),
    ({"dist": "weibull", "shape": 0, "scale": 1}, "shape", "greater than or equal to 0.05"),
    ({"dist": "gamma", "mean": 30, "cv": 1e-200}, "cv", "greater than or equal to 0.001"),
    ({"dist": "triangular", "low": 0, "mode": 0, "high": 1e308}, "high", "less than or equal"),
    ({"dist": "lognormal", "median": 1, "p90": 1e9}, "p90", "overflows"),
    ({"dist": "weibull", "shape": 1, "scale": -1}, "scale", "greater than 0"),
    ({"dist": "normal", "mean": 1}, None, "does not match any of the expected tags"),
    ({"mean": 1}, None, "Unable to extract tag"),
    ({"dist": "exponential", "mean": 1, "sd": 2}, "sd", "Extra inputs are not permitted"),
    ({"dist": "exponential", "mean_": 1, "mean": 2}, "mean_", "Extra inputs are not permitted"),
    ({"dist": "lognormal", "median": 10}, "p90", "Field required"),
    ({"dist": "exponential", "mean": "30"}, "mean", "valid number"),
    ({"dist": "exponential", "mean": True}, "mean", "valid number"),
]


@pytest.mark.parametrize(("data", "field", "message"), INVALID, ids=[str(d) for d, *_ in INVALID])
def test_invalid_parameters_are_rejected(data, field, message):
    with pytest.raises(ValidationError) as err:
        parse_distribution(data)
    assert message in str(err.value)
    if field is not None:
        assert any(e["loc"][-1] == field for e in err.value.errors()), err.value.errors()


# --- properties over random valid parameters --------------------------------------------------

pos = st.floats(min_value=1e-3, max_value=1e4)


@st.composite
def three_points(draw):
    low = draw(st.floats(min_value=-1e3, max_value=1e3))
    width = draw(st.floats(min_value=1e-2, max_value=1e3))
    frac = draw(st.floats(min_value=0.0, max_value=1.0))
    return {"low": low, "mode": min(low + frac * width, low + width), "high": low + width}


distributions = st.one_of(
    st.builds(Fixed, value=st.floats(min_value=0, max_value=1e4)),
    st.builds(Exponential, mean=pos),
    st.builds(
        lambda m, r: Lognormal(median=m, p90=m * r), pos, st.floats(min_value=1.01, max_value=20)
    ),
    st.builds(Gamma, mean=pos, cv=st.floats(min_value=0.05, max_value=3)),
    st.builds(lambda low, w: Uniform(low=low, high=low + w), st.floats(-1e3, 1e3), pos),
    three_points().map(lambda kw: Triangular(**kw)),
    three_points().map(lambda kw: Pert(**kw)),
    st.builds(Weibull, shape=st.floats(min_value=0.2, max_value=10), scale=pos),
)


@settings(max_examples=150, deadline=None)
@given(dist=distributions)
def test_property_ppf_monotone_in_support_and_quantile_consistent(dist):
    u = np.linspace(0.0, 0.999, 200)
    x = dist.ppf(u)
    assert np.all(np.isfinite(x))
    assert np.all(np.diff(x) >= -1e-9 * np.maximum(1.0, np.abs(x[1:])))
    lo, hi = dist.support()
    span = 1e-9 * max(1.0, abs(lo), abs(hi) if math.isfinite(hi) else 0.0)
    assert np.all(x >= lo - span) and np.all(x <= hi + span)
    assert dist.quantile(0.5) == pytest.approx(float(dist.ppf(np.array([0.5]))[0]), rel=1e-12)
    assert parse_distribution(dist.model_dump()) == dist


@pytest.mark.parametrize(
    ("a", "b"), [(3.0, 3.0), (1.0, 5.0), (5.0, 1.0), (1.0, 1.0), (1.8888, 4.1112), (4.6, 1.4)]
)
def test_beta_quantile_is_betaincinv_within_1e14(a, b):
    """The fast PERT inverse (table, two Newton steps, betaincinv where unsettled) against
    scipy's inverse, over the whole range including the ends (the smallest uniform numpy draws
    is 2**-53)."""
    from scipy.special import betaincinv

    from sim.distributions import beta_quantile

    u = np.concatenate(
        [
            np.random.default_rng(3).random(20_000),
            [0.0, 2.0**-53, 1e-12, 1e-6, 0.5, 1 - 1e-6, 1 - 1e-12, np.nextafter(1.0, 0.0)],
            np.linspace(0.0, 1.0, 1025),  # the table's own levels
        ]
    )
    exact = betaincinv(a, b, u)
    fast = beta_quantile(a, b, u)
    np.testing.assert_allclose(fast, exact, rtol=2e-14, atol=1e-300)
    assert np.all(np.diff(fast[np.argsort(u)]) >= 0)  # monotone, as an inverse transform must be


@pytest.mark.parametrize("p", [0.0, 1e-12, 0.01, 0.5, 0.99, 1.0])
def test_pert_quantile_of_a_single_level(p):
    """A single number goes through the same inverse as an array (the ends take the fallback)."""
    dist = Pert(low=30, mode=60, high=180)
    assert dist.quantile(p) == pytest.approx(_pert_reference(30, 60, 180).ppf(p), rel=1e-12)


def test_load_ahead_evaluates_every_distribution_a_scenario_holds(monkeypatch):
    """What the runner calls before forking its workers: every distribution, however deeply
    held (stage durations, deal amounts, shock severities), evaluated once in this process."""
    from sim.distributions import load_ahead
    from sim.scenario import bundled_scenarios_dir, load_scenario

    evaluated = []
    for family in Distribution.__subclasses__():

        def counted(self, u, original=family.ppf):
            evaluated.append(self)
            return original(self, u)

        monkeypatch.setattr(family, "ppf", counted)
    load_ahead(load_scenario("portfolio"))
    written = (bundled_scenarios_dir() / "portfolio.toml").read_text().count("dist =")
    assert len(evaluated) == written == 6
    assert any(isinstance(d, Pert) for d in evaluated)
