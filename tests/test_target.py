"""The chance of reaching a bookings target by each quarter end."""

from __future__ import annotations

import numpy as np

from sim.api import simulate
from sim.scenario import scenario_from_dict


def scenario(duration: dict) -> dict:
    return {
        "name": "target",
        "start_date": "2027-01-01",
        "horizon_days": 365,
        "deals": {
            "initial": {"sell": 10},
            "arrivals_per_month": 0,
            "amount": {"dist": "fixed", "value": 100},
        },
        "stages": [{"name": "sell", "duration": duration, "exits": {"won": 0.5, "lost": 0.5}}],
    }


def test_target_chances_match_the_per_replication_bookings():
    """P(cumulative bookings by the horizon >= target) is the share of replications that did."""
    result = simulate(
        scenario_from_dict(scenario({"dist": "exponential", "mean": 200})),
        replications=200,
        seed=3,
        jobs=1,
        write=False,
        target=500,
    )
    by_period = result.summary["target"]["by_period"]
    assert [row["period"] for row in by_period] == ["2027-03", "2027-06", "2027-09", "2027-12"]
    final = by_period[-1]
    expected = float(np.mean(result.per_replication["bookings"] >= 500))
    assert final["probability"] == expected
    assert final["se"] == np.sqrt(expected * (1 - expected) / 200)
    chances = [row["probability"] for row in by_period]
    assert chances == sorted(chances)  # bookings only grow, so the chance cannot fall


def test_target_chances_are_exact_when_nothing_is_random_in_time():
    """All deals close on day 100 (in April): the target is out of reach by March, then it
    depends only on how many of the ten deals are won (binomial, 5 or more of 10 for 500)."""
    result = simulate(
        scenario_from_dict(scenario({"dist": "fixed", "value": 100})),
        replications=400,
        seed=1,
        jobs=1,
        write=False,
        target=500,
    )
    by_period = result.summary["target"]["by_period"]
    assert by_period[0]["probability"] == 0.0
    later = by_period[1]["probability"]
    assert all(row["probability"] == later for row in by_period[1:])
    exact = 0.623046875  # P(Binomial(10, 0.5) >= 5)
    se = np.sqrt(exact * (1 - exact) / 400)
    assert abs(later - exact) < 4 * se
    assert abs(later - 0.5) > 4 * se  # a wrong expectation is caught


def test_a_number_beyond_floating_point_is_named_as_typed(tmp_path):
    """1e400 was read as infinity, and the message then named "inf", not what was typed."""
    from click.testing import CliRunner

    from sim.cli import cli

    out = tmp_path / "run"
    for args in (["run", "-n", "2", "--target", "1e400", "-o", str(out)],
                 ["run", "-n", "2", "--target", "nan", "-o", str(out)],
                 ["fit", "history.csv", "--as-of", "2020-01-01", "--half-life", "1e999",
                  "-o", str(tmp_path / "x.toml")]):  # fmt: skip
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert "is not a finite number" in result.stderr
        assert repr(args[args.index("-o") - 1]) in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_chance_of_zero_or_one_gets_the_exact_one_sided_bound():
    """The rule of three gave "below 100.0%" for 3 replications: no bound at all."""
    from scipy.stats import beta

    from sim.report import _chance_cells

    for n in (3, 20, 400):
        exact = 100 * beta.ppf(0.95, 1, n)  # Clopper-Pearson's upper bound for 0 of n
        assert _chance_cells({"probability": 0.0}, n) == [
            "0.0%",
            f"(below {exact:.1f}% at 95% confidence)",
        ]
        assert (
            _chance_cells({"probability": 1.0}, n)[1]
            == f"(above {100 - exact:.1f}% at 95% confidence)"
        )
