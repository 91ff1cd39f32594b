"""``dealsim compare`` and ``sim.compare`` (issue 4, points 2, 4, 5): paired differences on
common random numbers, comparison.json, the table, the overlay plot, --json, user errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from folder_helpers import OUR_MANIFEST  # tests/ is on sys.path
from scipy.stats import t as student_t
from whatif_helpers import invoke, small_scenario_data, write_small_file  # tests/ on sys.path

import sim
from sim.cli import main
from sim.comparison import METRICS, Comparison, paired_metric
from sim.scenario import load_scenario, toml_dumps

#: The manifest.json of an earlier dealsim results folder (--force may replace it).

REQUIRED = ("bookings", "won_share", "lost_share", "no_decision_share", "cycle_days_won")


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    return write_small_file(tmp_path)


# --- statistics -------------------------------------------------------------------------------


def test_comparing_a_scenario_with_itself_gives_exactly_zero(small_file):
    result = sim.compare(small_file, small_file, replications=20, jobs=1)
    assert isinstance(result, Comparison)
    assert set(REQUIRED) <= set(result.metrics)
    for name, m in result.metrics.items():
        assert m["delta"] == 0.0, name
        assert m["ci_low"] == 0.0 and m["ci_high"] == 0.0, name
        assert m["a"] == m["b"], name
    assert result.labels == ["small", "small [2]"]


def test_paired_interval_is_several_times_narrower_than_independent_runs():
    """funded_share 0.35 -> 0.40 on equipment: the same two scenarios compared on one seed
    (paired) and on two seeds (independent runs, Welch interval)."""
    n = 30
    base = load_scenario("equipment")
    paired = sim.compare(base, sets={"budget.funded_share": 0.40}, replications=n, jobs=1)
    changed = paired.arms[1].scenario
    other_seed = sim.simulate(changed, replications=n, seed=2, jobs=1, write=False)
    a = paired.arms[0].result.per_replication
    b2 = other_seed.per_replication
    for name in ("bookings", "won_share"):
        m = paired.metrics[name]
        paired_width = m["ci_high"] - m["ci_low"]
        se = math.sqrt(a[name].var(ddof=1) / n + b2[name].var(ddof=1) / n)
        independent_width = 2 * float(student_t.ppf(0.975, 2 * n - 2)) * se
        print(f"{name}: paired CI width {paired_width:.4g}, independent {independent_width:.4g}")
        assert paired_width > 0
        assert independent_width >= 3 * paired_width, (name, paired_width, independent_width)
    assert paired.metrics["bookings"]["ci_low"] > 0  # more funded deals: more bookings, surely


def test_cycle_days_pairs_drop_replications_without_a_win():
    a = np.array([10.0, np.nan, 30.0, 40.0])
    b = np.array([12.0, 20.0, np.nan, 44.0])
    m = paired_metric(a, b)
    assert m["n"] == 2
    assert m["a"] == 25.0 and m["b"] == 28.0 and m["delta"] == 3.0
    assert m["ci_low"] < 3.0 < m["ci_high"]
    assert paired_metric(np.array([np.nan]), np.array([1.0]))["n"] == 0


def test_one_scenario_with_sets_is_compared_with_its_changed_self(small_file):
    sets = ["deals.arrivals_per_month=8"]
    result = sim.compare(small_file, sets=sets, replications=10, jobs=1)
    assert result.labels == ["small", "small (deals.arrivals_per_month=8)"]
    assert result.arms[1].scenario.deals.arrivals_per_month == 8
    data = result.to_dict()
    assert data["scenarios"][0]["sets"] == {}
    assert data["scenarios"][1]["sets"] == {"deals.arrivals_per_month": 8}
    assert data["metrics"]["n_deals"]["ci_low"] > 0  # twice the inflow: more deals


def test_three_scenarios_each_compared_with_the_first(small_file):
    result = sim.compare(
        small_file, small_file, small_file, replications=10, jobs=1, sets={"seed": 5}
    )
    data = result.to_dict()
    assert [c["b"] for c in data["comparisons"]] == ["small [2]", "small [3]"]
    assert data["metrics"] == data["comparisons"][0]["metrics"]
    assert all(s["sets"] == {"seed": 5} for s in data["scenarios"])


def test_compare_needs_two_scenarios_or_sets(small_file):
    with pytest.raises(sim.errors.UserError, match="two or more scenarios"):
        sim.compare(small_file)


def test_import_sim_is_cheap_and_exposes_the_api():
    code = (
        "import sys, sim; assert 'sim.comparison' not in sys.modules;"
        "assert 'numpy' not in sys.modules; assert callable(sim.compare);"
        "assert callable(sim.simulate) and callable(sim.sweep); import sim.comparison;"
        "assert callable(sim.compare)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the command line -------------------------------------------------------------------------


def test_cli_compare_writes_json_plot_and_table(small_file, tmp_path):
    out = tmp_path / "cmp"
    result = invoke("compare", small_file, small_file, "-n", 10, "-j", 1, "-o", out,
                    "--set", "budget.funded_share=0.8")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {
        "comparison.json",
        "compare_bookings.png",
        "manifest.json",
    }
    data = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    assert data["seed"] == 3 and data["replications"] == 10
    assert [s["name"] for s in data["scenarios"]] == ["small", "small"]
    assert data["scenarios"][0]["path"] == str(small_file)
    for name in REQUIRED:
        assert {"a", "b", "delta", "ci_low", "ci_high"} <= set(data["metrics"][name])
    for label in ("metric", "delta", "95% CI", "bookings (EUR)", "won share", str(out)):
        assert label in result.stdout
    assert (out / "compare_bookings.png").stat().st_size > 10_000


def test_cli_compare_one_scenario_with_set_and_json(small_file, tmp_path):
    out = tmp_path / "cmp"
    result = invoke("compare", small_file, "--set", "shocks.rate_per_year=2", "-n", 10,
                    "-j", 1, "-o", out, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)  # stdout is the JSON and nothing else
    assert printed.pop("results_folder") == str(out)  # the folder it wrote
    assert printed == json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    assert printed["scenarios"][1]["label"] == "small (shocks.rate_per_year=2)"
    assert set(printed["metrics"]) >= set(METRICS) - {"n_deals"}


def test_cli_compare_is_the_same_whatever_the_jobs(small_file, tmp_path):
    for jobs, name in ((1, "a"), (2, "b")):
        out = str(tmp_path / name)
        args = ["compare", str(small_file), "--set", "budget.funded_share=0.9", "-n", "6"]
        code = main([*args, "-j", str(jobs), "-o", out, "--no-plots"])
        assert code == 0
    read = lambda name: (tmp_path / name / "comparison.json").read_text(encoding="utf-8")  # noqa: E731
    assert read("a") == read("b")


def test_cli_compare_default_folder_under_results(small_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", str(small_file), "--set", "budget.funded_share=0.9", "-n", "3",
                 "-j", "1", "--no-plots"]) == 0  # fmt: skip
    folders = list((tmp_path / "results").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("compare-small-")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["{small}"], "two or more scenarios"),
        (["{small}", "no-such-scenario"], "no-such-scenario"),
        (["{small}", "{small}", "-n", "1"], "--replications"),
        (["{small}", "--set", "stages.nope.duration.median=3"], "'nope'"),
    ],
)
def test_cli_compare_bad_input_is_exit_2_without_a_folder(small_file, tmp_path, args, needle):
    out = tmp_path / "cmp"
    args = [a.format(small=small_file) for a in args]
    result = invoke("compare", *args, "-j", 1, "-o", out)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_cli_compare_refuses_a_non_empty_folder_without_force(small_file, tmp_path):
    out = tmp_path / "cmp"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    args = ["compare", small_file, "--set", "budget.funded_share=0.9", "-n", 3, "-j", 1, "-o", out]
    result = invoke(*args)
    assert result.exit_code == 2 and "--force" in result.stderr
    assert (out / "keep.txt").exists()
    (out / "manifest.json").write_text(
        OUR_MANIFEST
    )  # an earlier comparison: --force may replace it
    assert invoke(*args, "--force").exit_code == 0
    assert not (out / "keep.txt").exists() and (out / "comparison.json").exists()


# --- scenarios whose difference would mean nothing ----------------------------------------------


def write_variant(folder: Path, name: str, **changes) -> Path:
    """The small scenario under another name, with some top-level keys changed."""
    path = folder / f"{name}.toml"
    data = {**small_scenario_data(), "name": name, **changes}
    path.write_text(toml_dumps(data), encoding="utf-8")
    return path


def test_scenarios_in_different_currencies_are_refused_before_running(tmp_path):
    """erp is in USD, equipment in EUR: USD minus EUR is no amount, so no difference at all."""
    out = tmp_path / "cmp"
    result = invoke("compare", "erp", "equipment", "-n", 2, "-j", 1, "-o", out)
    assert result.exit_code == 2, result.output
    assert "erp in USD, equipment in EUR" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    with pytest.raises(sim.errors.UserError, match="erp in USD, equipment in EUR"):
        sim.compare("erp", "equipment", replications=2, jobs=1)


def test_scenarios_over_different_horizons_are_refused_with_a_command_that_works(
    small_file, tmp_path
):
    """A year of bookings minus 200 days of them measures the calendar, not the change; the
    message's --set compares both over the shorter horizon, and works when pasted."""
    short = write_variant(tmp_path, "short", horizon_days=200)
    out = tmp_path / "cmp"
    result = invoke("compare", small_file, short, "-n", 3, "-j", 1, "-o", out)
    assert result.exit_code == 2, result.output
    assert "small: 365 days from 2027-01-01, short: 200 days from 2027-01-01" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    hint = result.stderr.split("add ")[1].split(" (")[0]
    assert hint == "--set horizon_days=200"
    args = ["compare", small_file, short, *hint.split(), "-n", 3, "-j", 1, "-o", out]
    again = invoke(*args, "--no-plots")
    assert again.exit_code == 0, again.output
    data = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    assert [len(c["cumulative_bookings"]) for c in data["comparisons"]] == [7]  # Jan-Jul


@pytest.mark.parametrize("change", ["horizon_days=200", "start_date=2027-04-01"])
def test_a_change_of_the_period_itself_is_refused(small_file, change):
    with pytest.raises(sim.errors.UserError, match="different periods.*cannot be compared"):
        sim.compare(small_file, sets=[change], replications=2, jobs=1)


def test_cli_compare_states_every_scenarios_engine_events(small_file, tmp_path):
    """It printed the first scenario's SimPy event count alone, as if it were the comparison's."""
    out = tmp_path / "cmp"
    args = ["compare", small_file, "--set", "deals.arrivals_per_month=12", "-n", 3, "-j", 1,
            "--engine", "simpy"]  # fmt: skip
    result = invoke(*args, "-o", out, "--no-plots")
    assert result.exit_code == 0, result.output
    runs = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["runs"]
    events = [run["events"] for run in runs]
    assert len(set(events)) == 2  # three times the inflow: more events
    line = " ".join(result.stdout.split("Engine:")[1].split())  # unwrapped
    for run in runs:
        assert f"{run['label']}: {run['events']:,}" in line
    assert f"{sum(events):,} in all" in line


def test_a_scenarios_interval_stays_within_what_its_metric_can_be():
    """Two runs give a t interval many times wider than the mean: bookings below 0 or a share
    above 100% is no interval of a mean that cannot be there (the report's cards showed it)."""
    from sim.comparison import describe_metric

    bookings = describe_metric(np.array([0.0, 1e6]), kind="money")
    assert bookings["ci_low"] == 0.0 and bookings["ci_high"] > 1e6 and bookings["ci_cut"]
    share = describe_metric(np.array([0.9, 1.0]), kind="share")
    assert share["ci_high"] == 1.0 and share["ci_low"] < 0.9 and share["ci_cut"]
    wide = describe_metric(np.array([4e6, 5e6, 6e6]), kind="money")
    assert wide["ci_low"] > 0 and not wide["ci_cut"]  # nothing to cut: the t interval as it is
    assert describe_metric(np.array([0.0, 1e6]))["ci_low"] < 0  # a difference may be negative


def test_comparison_json_cuts_each_scenarios_interval(small_file):
    cmp = sim.compare(small_file, small_file, replications=2, jobs=1)
    for entry in cmp.to_dict()["scenarios"]:
        for name, stats in entry["metrics"].items():
            low, high = sim.comparison.BOUNDS[sim.comparison.METRICS[name][0]]
            assert low <= stats["ci_low"] <= stats["ci_high"] <= high, (name, stats)


def test_compare_with_an_as_of_puts_every_scenario_on_that_day(tmp_path):
    """--pipeline --as-of starts every arm on the export day, whatever its file's start_date:
    scenarios whose files start on different days simulate the same period then (they were
    refused, with a hint --pipeline itself then refused)."""
    text = (Path(__file__).parents[1] / "scenarios" / "textbook.toml").read_text(encoding="utf-8")
    later = tmp_path / "later.toml"
    later.write_text(text.replace("start_date = 2027-01-01", "start_date = 2027-02-01"))
    assert "2027-02-01" in later.read_text()
    export = tmp_path / "open.csv"
    export.write_text(
        "deal_id,stage,amount,created\nA1,need,100000,2027-01-10\nA2,market,200000,2027-01-20\n"
    )
    args = ["compare", "textbook", later, "-n", 2, "-j", 1, "--no-plots"]
    pipeline = ["--pipeline", export, "--as-of", "2027-03-01"]
    result = invoke(*args, *pipeline, "-o", tmp_path / "c")
    assert result.exit_code == 0, result.stderr
    plain = invoke(*args, "-o", tmp_path / "d")  # without it, two periods: refused
    assert plain.exit_code == 2 and "different periods" in plain.stderr


def test_a_set_that_changes_nothing_is_refused(small_file):
    """Two identical sides ran, and the table showed a difference of exactly 0 as a finding."""
    with pytest.raises(sim.errors.UserError, match="changes nothing in"):
        sim.compare(small_file, sets={"budget.funded_share": 0.4}, replications=2, jobs=1)


@pytest.mark.parametrize("sets", [{"name": "other"}, {"description": "the same, said again"}])
def test_a_set_of_the_name_alone_changes_nothing_compared(small_file, sets):
    with pytest.raises(sim.errors.UserError, match="changes nothing in"):
        sim.compare(small_file, sets=sets, replications=2, jobs=1)
