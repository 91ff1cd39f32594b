"""dealsim backtest on synthetic truth: calibrated with parameter uncertainty, not without it.

A known scenario whose inflow drifts (each replication's arrival rate is a random walk of sd 0.2
a month) makes independent histories; each is backtested at two cut-offs, nine months ahead.
Two cut-offs per history 9 months apart, with windows that do not overlap, give forecasts close
to independent, so interval coverage over them is a binomial count. (Measured at the time of
writing: with uncertainty 21 of 24 inside the 80% band, 17 inside the 50% band, PIT p = 0.15;
without, 8 and 4, PIT p = 0.0001; 13 forecasts caught only with it, none only without.)
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from sim.api import simulate
from sim.backtest import BacktestOptions, forecast_cutoff, month_ends, run_backtest
from sim.cli import cli
from sim.crm import read_history
from sim.exports import export_history
from sim.scenario import scenario_from_dict
from sim.scores import coverage_tolerance, pooled, randomized_pit

HISTORIES = 12
CUTOFFS = (dt.date(2020, 6, 30), dt.date(2021, 3, 31))
AHEAD = 9
REPLICATIONS = 60
Z = 2.5
TRUTH = {
    "name": "truth",
    "start_date": dt.date(2020, 1, 1),
    "horizon_days": 730,
    "seed": 5,
    "deals": {
        "arrivals_per_month": 25,
        "amount": {"dist": "lognormal", "median": 1000, "p90": 3000},
    },
    "stages": [
        {
            "name": "work",
            "duration": {"dist": "lognormal", "median": 40, "p90": 120},
            "exits": {"won": 0.45, "lost": 0.55},
        }
    ],
    "uncertainty": {"arrivals_walk_sd": 0.2},  # the drifting inflow: a path per replication
}
#: A planner's scenario that is wrong: wins too often.
WRONG = {**TRUTH, "name": "wrong", "uncertainty": {"enabled": False}}
WRONG["stages"] = [{**TRUTH["stages"][0], "exits": {"won": 0.65, "lost": 0.35}}]


@pytest.fixture(scope="module")
def histories(tmp_path_factory):
    folder = tmp_path_factory.mktemp("truth")
    simulate(
        scenario_from_dict(TRUTH),
        replications=HISTORIES,
        jobs=1,
        output=folder / "run",
        events=True,
        plots=False,
    )
    out = []
    for k in range(HISTORIES):
        export_history(folder / "run", folder / f"h{k}.csv", replication=k)
        out.append(read_history(folder / f"h{k}.csv"))
    return out


def _options(**kw) -> BacktestOptions:
    base = dict(until=dt.date(2021, 12, 31), months_ahead=AHEAD, replications=REPLICATIONS)
    return BacktestOptions(**(base | kw))


@pytest.fixture(scope="module")
def totals(histories):
    """Total won count of each forecast: with uncertainty, without, and the wrong scenario."""
    out = {"with": [], "without": [], "wrong": []}
    wrong = scenario_from_dict(WRONG)
    for h in histories:
        for c in CUTOFFS:
            for key, opts in (
                ("with", _options()),
                ("without", _options(parameter_uncertainty=False)),
            ):
                out[key].append(forecast_cutoff(h, c, opts).scores["won_count"]["total"])
        out["wrong"].append(
            forecast_cutoff(h, CUTOFFS[1], _options(scenario=wrong)).scores["won_count"]["total"]
        )
    return out


def test_coverage_with_parameter_uncertainty_is_nominal(totals):
    p = pooled(totals["with"])
    n = p["n"]
    assert n == HISTORIES * len(CUTOFFS)
    for nominal, got in ((0.8, p["coverage80"]), (0.5, p["coverage50"])):
        tol = coverage_tolerance(nominal, n, Z)
        assert abs(got - nominal) <= tol, (nominal, got, tol)
    # PIT values uniform: Kolmogorov-Smirnov does not reject
    assert p["pit_ks_p"] > 0.01, p


def test_without_parameter_uncertainty_coverage_is_lower(totals):
    """On small histories the fit's own error matters: without it, bands are too narrow."""
    with_, without = totals["with"], totals["without"]
    p = pooled(without)
    tol = coverage_tolerance(0.8, p["n"], Z)
    assert p["coverage80"] < 0.8 - tol, p  # fails the check the honest forecast passes
    # Paired (same forecasts): cases caught only with uncertainty vs only without (McNemar)
    only_with = sum(a["in80"] and not b["in80"] for a, b in zip(with_, without, strict=True))
    only_without = sum(b["in80"] and not a["in80"] for a, b in zip(with_, without, strict=True))
    test = stats.binomtest(only_with, only_with + only_without, 0.5, alternative="greater")
    assert test.pvalue < 0.01, (only_with, only_without)
    # The honest bands are wider, not shifted: the same P50 within the noise of the bands
    width_with = np.mean([r["p90"] - r["p10"] for r in with_])
    width_without = np.mean([r["p90"] - r["p10"] for r in without])
    assert width_with > 1.3 * width_without


def test_a_wrong_scenario_fails_the_pit_test(totals):
    p = pooled(totals["wrong"])
    assert p["pit_ks_p"] < 0.01, p
    assert p["p50_bias"] > 0  # it wins too often: the P50 is above the actual
    assert p["coverage80"] < 0.8 - coverage_tolerance(0.8, p["n"], Z)


def test_randomized_pit_of_a_discrete_forecast_is_uniform():
    """Poisson counts scored against their own distribution: PIT uniform; shifted: not."""
    rng = np.random.default_rng(3)
    sims = rng.poisson(6, size=4000)
    actual = rng.poisson(6, size=600)
    pits = [randomized_pit(sims, a, u) for a, u in zip(actual, rng.random(600), strict=True)]
    assert stats.kstest(pits, "uniform").pvalue > 0.01
    wrong = [randomized_pit(sims + 2, a, u) for a, u in zip(actual, rng.random(600), strict=True)]
    assert stats.kstest(wrong, "uniform").pvalue < 1e-6


def test_cutoff_uses_only_what_was_known(histories):
    h = histories[0]
    cutoff = CUTOFFS[0]
    r = forecast_cutoff(h, cutoff, _options(replications=20, months_ahead=6))
    instant = dt.datetime(2020, 7, 1)
    by_deal = h.by_deal()
    open_then = [
        d
        for d, rows in by_deal.items()
        if rows[0].entered_at < instant
        and not any(x.state in ("won", "lost") and x.entered_at < instant for x in rows)
    ]
    assert r.open_deals == len(open_then)
    assert r.months == ["2020-07", "2020-08", "2020-09", "2020-10", "2020-11", "2020-12"]
    wins = [
        rows[-1].entered_at
        for rows in by_deal.values()
        if rows[-1].state == "won" and instant <= rows[-1].entered_at < dt.datetime(2021, 1, 1)
    ]
    assert r.actual["won_count"].sum() == len(wins)
    assert r.baselines["run_rate"]["won_count"].shape == (6,)
    assert r.parameter_uncertainty


def test_month_ends():
    assert month_ends(dt.date(2017, 3, 1), dt.date(2017, 5, 30)) == [
        dt.date(2017, 3, 31),
        dt.date(2017, 4, 30),
    ]
    assert month_ends(dt.date(2017, 3, 31), dt.date(2017, 3, 31)) == [dt.date(2017, 3, 31)]


# --- the command ------------------------------------------------------------------------------


def test_cli_writes_files_and_a_planners_table(tmp_path, histories):
    history = Path(histories[0].source)
    out = tmp_path / "bt"
    result = CliRunner().invoke(
        cli,
        [
            "backtest", str(history), "--as-of", "2020-09-30,2021-03-31", "--until", "2021-06-30",
            "-n", "20", "-o", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = result.output
    assert "The actual fell inside the 80% band in" in text and "of 2 cut-offs" in text
    assert "Baseline weighted" in text and "Baseline run_rate" in text
    data = json.loads((out / "backtest.json").read_text())
    assert [c["cutoff"] for c in data["cutoffs"]] == ["2020-09-30", "2021-03-31"]
    assert data["pooled"]["won_count"]["total"]["n"] == 2
    rows = (out / "backtest.csv").read_text().splitlines()
    assert rows[0].startswith("cutoff,until,metric,period,actual")
    assert len(rows) == 1 + 2 + 9 + 3  # totals and months (9 after Sep, 3 after Mar)
    for name in ("fan_2020-09-30.png", "fan_2021-03-31.png", "totals.png", "pit.png"):
        assert (out / name).is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"][0] == "dealsim" and manifest["dealsim_version"]


def test_the_default_folder_of_a_history_named_in_any_script_is_an_ascii_slug(
    tmp_path, histories, monkeypatch
):
    """The history's own name went into the folder's name as typed: 120 Cyrillic letters are
    240 bytes, and the folder could not be made (the limit was counted in letters)."""
    import shutil

    history = tmp_path / ("История продаж " * 8 + ".csv")
    shutil.copy(histories[0].source, history)
    monkeypatch.chdir(tmp_path)
    args = ["backtest", str(history), "--as-of", "2021-03-31", "--until", "2021-06-30", "-n", "2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "results").iterdir()
    assert folder.name.startswith("backtest-istoriya-prodazh-istoriya")
    assert folder.name.isascii() and len(folder.name.encode()) <= 255


def test_a_long_name_s_folder_is_cut_in_bytes_not_letters():
    from sim.results import FOLDER_NAME_MAX, default_output_dir

    name = default_output_dir("завод-" * 60).name
    assert len(name.encode()) <= FOLDER_NAME_MAX + len("-etc-20261207-120000")
    assert "-etc-" in name


@pytest.mark.parametrize(
    "args, message",
    [
        (["--as-of", "2021-13-01", "--until", "2021-06-30"], "--as-of 2021-13-01: not a date"),
        (["--as-of", "2021-07-31", "--until", "2021-06-30"], "not before --until"),
        (["--every", "month", "--until", "2021-06-30"], "--every month needs --from"),
        (["--until", "2021-06-30"], "no cut-off"),
        (["--as-of", "2019-01-31", "--until", "2021-06-30"], "before the first date of"),
        (  # the history ends in December 2021: nothing after this cut-off to score against
            ["--as-of", "2022-06-30", "--until", "2022-12-31"],
            "leaves no history to score against",
        ),
    ],
)
def test_cli_bad_options_exit_2(tmp_path, histories, args, message):
    history = Path(histories[0].source)
    result = CliRunner().invoke(cli, ["backtest", str(history), *args, "-o", str(tmp_path / "x")])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_every_month_cutoffs_run_in_parallel_the_same(histories):
    h = histories[1]
    cutoffs = month_ends(dt.date(2020, 9, 1), dt.date(2020, 10, 31))
    opts = _options(replications=10, months_ahead=2)
    one = run_backtest(h, cutoffs, opts, jobs=1)
    two = run_backtest(h, cutoffs, opts, jobs=2)
    for a, b in zip(one.results, two.results, strict=True):
        assert a.scores == b.scores
    assert math.isfinite(one.pooled()["won_count"]["total"]["crps"])


def test_history_open_share_follows_the_time_to_close_curve():
    """Exponential times to close (mean 100 days): whatever a deal's age, the history's own
    curve says exp(-h / 100) of the open deals are still open h days on. Tolerance: 4 standard
    errors of exp(-h * rate) with the rate known to 1/sqrt(closes); a wrong mean fails it."""
    from sim.backtest import history_open_share
    from sim.crm import HistoryRow
    from sim.model import InitialPipeline

    rng = np.random.default_rng(5)
    cut = dt.datetime(2021, 1, 1)
    rows, open_ages = [], []
    born_days, lives = rng.uniform(0, 400, 20_000), rng.exponential(100, 20_000)
    for i, (born, life) in enumerate(zip(born_days, lives, strict=True)):
        created = cut - dt.timedelta(days=float(born))
        rows.append(HistoryRow(f"d{i}", "work", created))
        if life < born:
            rows.append(HistoryRow(f"d{i}", "won", created + dt.timedelta(days=float(life))))
        else:
            open_ages.append(born)
    ages = np.array(open_ages)
    pipeline = InitialPipeline(
        states=np.zeros(len(ages), dtype=np.int64),
        age_in_stage=ages,
        created=-ages,
        amounts=np.full(len(ages), math.nan),
        ids=tuple(f"o{i}" for i in range(len(ages))),
        source="synthetic",
    )
    h = 50.0
    share = history_open_share(rows, cut, pipeline, h)
    closes = len(rows) - 20_000
    tolerance = 4 * math.exp(-h / 100) * (h / 100) / math.sqrt(closes)
    assert abs(share - math.exp(-h / 100)) < tolerance
    assert abs(share - math.exp(-h / 80)) > tolerance  # a wrong mean would fail


def test_old_deals_stay_open_as_long_as_the_history_says(histories):
    """Of the deals open at a cut-off, the share still open three months on: the fitted
    simulation's mean against the known history's own Kaplan-Meier curve (no model), over the
    histories; the mean difference within 3 standard errors of the per-history differences. A
    planner's scenario twice as slow keeps too many open and fails the same check."""
    slow = {**TRUTH, "name": "slow", "uncertainty": {"enabled": False}}
    slow["stages"] = [
        {**TRUTH["stages"][0], "duration": {"dist": "lognormal", "median": 80, "p90": 240}}
    ]
    fitted, planned = [], []
    for h in histories:
        for scenario, out in ((None, fitted), (scenario_from_dict(slow), planned)):
            r = forecast_cutoff(
                h, CUTOFFS[1], _options(replications=20, months_ahead=3, scenario=scenario)
            )
            out.append(np.mean(r.still_open_simulated) - r.still_open_history)
    fitted, planned = np.array(fitted), np.array(planned)
    tolerance = 3 * fitted.std(ddof=1) / math.sqrt(len(fitted))
    assert abs(fitted.mean()) < tolerance
    assert planned.mean() > tolerance


@pytest.mark.parametrize(("n", "said"), [(3, True), (10, False)])
def test_few_replications_are_said_to_be_rough(tmp_path, histories, n, said):
    """The caveat run, compare, sweep and sensitivity give below 10 replications (sim.stats)."""
    history = Path(histories[0].source)
    result = CliRunner().invoke(
        cli,
        [
            "backtest", str(history), "--as-of", "2021-03-31", "--until", "2021-06-30",
            "-n", str(n), "--no-plots", "-o", str(tmp_path / "bt"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert ("rough on so few runs" in " ".join(result.output.split())) is said
