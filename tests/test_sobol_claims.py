"""What the Sobol text claims is statistically supported (issue: honest sensitivity claims).

Each check uses a model whose answer is known, so a wrong claim fails:

* an additive function (no interactions at all): no "acting together" may be claimed, at any
  sample size, and a negative first-order estimate is written ~0 with its interval;
* the Ishigami function (x1 and x3 interact, ST - S1 = 0.2437 for both, 0 for x2): the
  interaction is claimed, with intervals that hold the truth;
* a metric that does not vary (exactly, or up to float rounding): no indices at all, no NaN,
  no division warning, and no "acting together".
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from test_sensitivity import CHECK_LEVEL, one_stage  # tests/ on sys.path
from whatif_helpers import invoke

import sim
from sim.factors import Factor
from sim.scenario import scenario_from_dict, toml_dumps
from sim.sensitivity_analysis import Sensitivity
from sim.sobol import (
    does_not_vary,
    sobol_indices,
    sobol_problem,
    sobol_rest,
    sobol_rows,
    sobol_sample,
    sobol_warnings,
)


@dataclass(frozen=True)
class _Named:
    """What a Sensitivity's text reads of its scenario."""

    name: str
    currency: str = "EUR"


def function_result(factors, function, samples: int, seed: int, level: float) -> Sensitivity:
    """A Sobol Sensitivity of a plain function of the parameters (no simulation)."""
    x = sobol_sample(factors, samples, seed)
    y = function(x)
    indices = sobol_indices(sobol_problem(factors), y, level, seed)
    rows = sobol_rows(factors, indices)
    return Sensitivity(
        method="sobol",
        metric="bookings",
        scenario=_Named("function"),
        path=None,
        factors=factors,
        sets={},
        replications=1,
        seed=seed,
        level=level,
        rows=rows,
        base={"mean": y.mean(), "sd": y.std(ddof=1), "min": y.min(), "max": y.max()},
        values=y[:, None],
        x=x,
        samples=samples,
        warnings=sobol_warnings(rows, samples, y),
        rest=sobol_rest(indices),
    )


UNIT = [Factor(f"x{i}", 0.0, 1.0, 0.5) for i in (1, 2, 3)]


def additive(x: np.ndarray) -> np.ndarray:
    """No interactions: every ST - S1 and 1 - sum of S1 are 0; x3 does nothing."""
    return x[:, 0] + 2 * x[:, 1] + np.sin(6 * x[:, 0])


@pytest.mark.parametrize("samples", [8, 16, 64])
def test_an_additive_function_is_never_said_to_interact(samples):
    said_zero = 0
    for seed in range(1, 11):
        result = function_result(UNIT, additive, samples, seed, 0.95)
        text = result.table().lower()
        assert "acting together" not in text, (seed, text)
        said_zero += "not distinguishable from zero" in text or "too few" in text
    assert said_zero == 10  # and each time it says why it makes no claim


def test_a_negative_first_order_estimate_is_written_about_zero_with_its_interval():
    negatives = 0
    for seed in range(1, 11):
        result = function_result(UNIT, additive, 8, seed, 0.95)
        text = result.table()
        for row in result.rows:
            s1 = row["S1"]
            if s1["value"] < 0:
                negatives += 1
                assert s1["ci_low"] < 0  # not clipped: the interval is the estimator's
                # about zero, marked as the noise it is (below 0 no share can be)
                assert f"~0* [{s1['ci_low']:.2f}, {s1['ci_high']:.2f}]" in text
                assert f"{s1['value']:.2f} [" not in text
    assert negatives > 0  # the check above ran


def test_a_real_interaction_is_claimed_with_intervals_that_hold_the_truth():
    from SALib.test_functions import Ishigami

    factors = [Factor(f"x{i}", -math.pi, math.pi, 0.0) for i in (1, 2, 3)]
    result = function_result(factors, Ishigami.evaluate, 4096, 3, CHECK_LEVEL)
    truth = {"x1": 0.5576 - 0.3139, "x2": 0.0, "x3": 0.2437}
    for row in result.rows:
        together = row["ST_minus_S1"]
        assert together["ci_low"] <= truth[row["key"]] <= together["ci_high"], row
    rows = {r["key"]: r for r in result.rows}
    assert rows["x1"]["ST_minus_S1"]["ci_low"] > 0 and rows["x3"]["ST_minus_S1"]["ci_low"] > 0
    rest = result.rest  # 1 - S1(x1) - S1(x2) = 0.2437, the x1-x3 interaction
    assert rest["ci_low"] <= 1 - 0.3139 - 0.4424 <= rest["ci_high"] and rest["ci_low"] > 0
    text = " ".join(result.table().split())
    assert "comes from parameters acting together" in text
    claimed = text.partition("Acting together with others beyond the noise (ST - S1):")[2]
    assert "x1" in claimed and "x3" in claimed and "x2" not in claimed


def test_near_zero_variance_is_no_variance():
    """A spread of float rounding would give SALib's indices of noise over noise."""
    rng = np.random.default_rng(1)
    x = sobol_sample(UNIT, 16, seed=1)
    y = 0.3 + 1e-14 * rng.standard_normal(len(x))
    assert np.ptp(y) > 0 and does_not_vary(y) and does_not_vary(np.zeros(4))
    assert not does_not_vary(np.array([1.0, 1.0 + 1e-6]))
    assert sobol_indices(sobol_problem(UNIT), y, 0.95, seed=1) is None


@pytest.fixture
def constant_result():
    """Won share of deals whose amount is varied: the same at every point."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 0/0 warning on the way
        return sim.sensitivity(
            scenario_from_dict(one_stage(n=20)),
            ["deals.amount.mean=500..1500", "deals.amount.cv=0.1..0.5"],
            metric="won_share",
            method="sobol",
            samples=4,
            replications=2,
            jobs=1,
        )


def test_a_metric_that_does_not_vary_shows_no_indices(constant_result, tmp_path):
    result = constant_result
    assert all(r["S1"] is None and r["ST"] is None for r in result.rows)
    text = result.table()
    assert "at every point" in text and "no index to show" in text
    for wrong in ("acting together", "nan", "0.00 [", "S1 (alone)"):
        assert wrong not in text.lower(), (wrong, text)
    data = result.to_dict()
    assert data["sum_S1"] is None and data["one_minus_sum_S1"] is None
    folder = result.write(tmp_path / "out")
    assert "nan" not in (folder / "sensitivity.csv").read_text().lower()
    assert (folder / "sobol.png").stat().st_size > 10_000


def test_cli_a_metric_that_does_not_vary(tmp_path):
    path = tmp_path / "oracle.toml"
    path.write_text(toml_dumps(one_stage(n=20)), encoding="utf-8")
    out = tmp_path / "out"
    result = invoke(
        "sensitivity", path, "--method", "sobol", "--samples", 4, "-n", 2, "-j", 1,
        "--metric", "won_share", "--vary", "deals.amount.mean=500..1500", "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "at every point" in result.output and "acting together" not in result.output
    assert json.loads((out / "sensitivity.json").read_text())["factors"][0]["S1"] is None
