"""The command line: results folder, determinism, user errors.

Every run here is tiny (tests/data/cli/tiny.toml: 2 stages, ~20 deals, 180 days, 2-3
replications) so the whole module stays fast. User errors must end with exit code 2, one message
on stderr naming the file and the field (or the option), no traceback, and no results folder.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from folder_helpers import OUR_MANIFEST  # tests/ is on sys.path

import sim.api
from sim.cli import cli, main
from sim.scenario import bundled_scenarios

#: The manifest.json of an earlier dealsim results folder (--force may replace it).

RUN_FILES = ("summary.json", "manifest.json", "forecast.csv", "deals.csv", "scenario.toml")
EVENT_COLUMNS = ["replication", "deal", "day", "date", "event", "from_stage", "to_stage", "cause"]
OUTCOMES = ("won", "lost", "no_decision", "open")
CYCLE_CLASSES = ("closed", "won", "lost", "no_decision")
STAT_KEYS = {"n", "mean", "se", "p10", "p50", "p90"}


def invoke(*args: object) -> Result:
    """Run the CLI in-process; stdout and stderr are kept apart (click >= 8.2)."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def hidden_tmp_folders(parent: Path) -> list[Path]:
    """Leftovers of the atomic write (``.NAME~dealsim-HOST-PID-TOKEN.tmp``)."""
    if not parent.exists():
        return []
    return [p for p in parent.iterdir() if p.name.startswith(".") and ".tmp" in p.name]


def assert_user_error(result: Result, *needles: str) -> None:
    """Exit 2, an ``Error:``/usage message on stderr containing each needle, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert "Traceback" not in result.stderr
    assert "Error" in result.stderr
    for needle in needles:
        assert needle in result.stderr, f"{needle!r} not in stderr:\n{result.stderr}"


# --------------------------------------------------------------------------------------------
# A good run and its results folder
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def events_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[Result, Path]:
    """One run with --events and the plots, shared by the results-folder tests."""
    out = tmp_path_factory.mktemp("events-run") / "out"
    result = invoke("run", data_dir / "cli" / "tiny.toml", "-n", 3, "-j", 1, "-o", out, "--events")
    assert result.exit_code == 0, (result.output, result.exception)
    return result, out


@pytest.fixture(scope="module")
def summary(events_run: tuple[Result, Path]) -> dict:
    return json.loads((events_run[1] / "summary.json").read_text(encoding="utf-8"))


def test_run_writes_every_file_and_nothing_else(events_run):
    result, out = events_run
    names = {p.name for p in out.iterdir()}
    assert {*RUN_FILES, "events.csv", "bookings_fan.png"} <= names
    assert not [n for n in names if n.startswith(".")], names  # no memmap or temp leftovers
    assert hidden_tmp_folders(out.parent) == []
    assert (out / "bookings_fan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_has_the_design_keys(summary):
    assert summary["scenario"] == "tiny"
    assert summary["seed"] == 7  # the scenario's default
    assert summary["replications"] == 3
    assert summary["start_date"] == "2027-01-01"
    assert summary["horizon_days"] == 180
    assert summary["deals"]["mean"] > 0
    assert set(summary["outcomes"]) >= set(OUTCOMES)
    for key in OUTCOMES:
        o = summary["outcomes"][key]
        assert {"share", "share_se", "count_mean"} <= set(o)
        assert 0 <= o["share"] <= 1 and o["share_se"] >= 0 and o["count_mean"] >= 0
    assert set(summary["cycle_days"]) >= set(CYCLE_CLASSES)
    for key in CYCLE_CLASSES:
        assert STAT_KEYS <= set(summary["cycle_days"][key]), key
    assert {"mean", "se", "p10", "p50", "p90"} <= set(summary["bookings"])
    assert summary["periods"], "no periods"
    assert summary["periods"][0]["period"] == "2027-01"
    for p in summary["periods"]:
        assert re.fullmatch(r"\d{4}-\d{2}", p["period"])
        assert {"period", "bookings", "won", "open_by_stage"} <= set(p)
        assert {"need", "decide"} <= set(p["open_by_stage"])
    assert summary["stall_days"]
    for cause, stats in summary["stall_days"].items():
        assert stats["mean"] >= 0, cause


def test_summary_numbers_agree_with_each_other(summary):
    shares = [summary["outcomes"][k]["share"] for k in OUTCOMES]
    assert sum(shares) == pytest.approx(1, abs=1e-5)
    cycles = summary["cycle_days"]
    assert cycles["closed"]["n"] == sum(cycles[k]["n"] for k in ("won", "lost", "no_decision"))
    c = cycles["closed"]
    assert c["p10"] <= c["p50"] <= c["p90"]
    b = summary["bookings"]
    assert b["p10"] <= b["p50"] <= b["p90"]
    # Monthly bookings add up to the bookings within the horizon (mean of sums = sum of means).
    by_month = sum(p["bookings"]["mean"] for p in summary["periods"])
    assert by_month == pytest.approx(b["mean"], rel=1e-4)


def test_deals_csv_has_one_row_per_deal_and_replication(events_run, summary):
    columns, rows = read_csv(events_run[1] / "deals.csv")
    assert columns[:2] == ["replication", "deal"]
    assert len(rows) == summary["deals"]["total"]
    assert len(rows) == pytest.approx(summary["deals"]["mean"] * 3, rel=1e-5)  # 6 digits
    assert {r["replication"] for r in rows} == {"0", "1", "2"}
    assert len({(r["replication"], r["deal"]) for r in rows}) == len(rows)
    # Outcome counts in the file are the ones the summary reports.
    states = Counter(r["state"] for r in rows)
    for key in ("won", "lost", "no_decision"):
        mean = summary["outcomes"][key]["count_mean"]
        assert states[key] == pytest.approx(mean * summary["replications"], abs=1e-3), key
    open_count = sum(n for state, n in states.items() if state in ("need", "decide", "dormant"))
    assert open_count == pytest.approx(summary["outcomes"]["open"]["count_mean"] * 3, abs=1e-3)


def test_manifest_has_provenance(events_run):
    manifest = json.loads((events_run[1] / "manifest.json").read_text(encoding="utf-8"))
    assert isinstance(manifest["wall_seconds"], int | float) and manifest["wall_seconds"] >= 0
    assert isinstance(manifest["events"], int) and manifest["events"] > 0
    assert manifest["replications"] == 3 and manifest["seed"] == 7 and manifest["jobs"] == 1


def test_forecast_csv_has_one_row_per_period(events_run, summary):
    columns, rows = read_csv(events_run[1] / "forecast.csv")
    assert columns[0] == "period"
    assert [r["period"] for r in rows] == [p["period"] for p in summary["periods"]]


def test_resolved_scenario_validates(events_run):
    written = events_run[1] / "scenario.toml"
    assert tomllib.loads(written.read_text(encoding="utf-8"))["name"] == "tiny"
    result = invoke("validate", written)
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout


def test_resolved_scenario_run_again_gives_the_same_results(tiny_scenario, tmp_path):
    """The folder's scenario.toml is the scenario as run: -n and --seed included, so the file
    alone reproduces the run (the tiny scenario itself says replications 3, seed 7)."""
    first = tmp_path / "first"
    assert (
        invoke("run", tiny_scenario, "-n", 4, "--seed", 11, "-o", first, "--no-plots").exit_code
        == 0
    )
    again = tmp_path / "again"
    result = invoke("run", first / "scenario.toml", "-o", again, "--no-plots")
    assert result.exit_code == 0, result.output
    for name in ("summary.json", "deals.csv"):
        assert (again / name).read_bytes() == (first / name).read_bytes(), name


def test_events_csv_has_exactly_the_design_columns(events_run):
    columns, rows = read_csv(events_run[1] / "events.csv")
    assert columns == EVENT_COLUMNS
    assert rows
    assert {r["replication"] for r in rows} == {"0", "1", "2"}
    _, deals = read_csv(events_run[1] / "deals.csv")
    known = {(d["replication"], d["deal"]) for d in deals}
    for r in rows:
        assert r["deal"] == "" or (r["replication"], r["deal"]) in known, r
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["date"]), r
        assert 0 <= float(r["day"]) <= 180, r


def test_terminal_summary_names_the_folder_and_the_shares(events_run, summary):
    result, out = events_run
    assert str(out) in result.stdout
    for key in ("won", "lost"):
        assert f"{100 * summary['outcomes'][key]['share']:.1f}%" in result.stdout


def test_no_events_no_plots_and_json(tiny_scenario, tmp_path):
    out = tmp_path / "out"
    result = invoke("run", tiny_scenario, "-n", 2, "-j", 1, "-o", out, "--no-plots", "--json")
    assert result.exit_code == 0, (result.output, result.exception)
    assert not list(out.glob("*.png"))
    assert not (out / "events.csv").exists()
    assert all((out / name).is_file() for name in RUN_FILES)
    printed = json.loads(result.stdout)  # stdout is the JSON and nothing else
    assert printed.pop("results_folder") == str(out)  # the folder it wrote, then summary.json
    assert printed == json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert printed["replications"] == 2


def test_default_output_folder_is_under_results(tiny_scenario, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("run", tiny_scenario, "-n", 2, "-j", 1, "--no-plots")
    assert result.exit_code == 0, (result.output, result.exception)
    folders = list((tmp_path / "results").iterdir())
    assert len(folders) == 1
    assert re.fullmatch(r"tiny-\d{8}-\d{6}", folders[0].name)
    assert (folders[0] / "summary.json").is_file()


# --------------------------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_files_whatever_the_jobs(tiny_scenario, tmp_path):
    outs = {}
    for label, seed, jobs in (("a", 11, 1), ("b", 11, 2), ("c", 12, 1)):
        outs[label] = tmp_path / label
        args = ("-n", 3, "--seed", seed, "-j", jobs, "-o", outs[label], "--no-plots")
        result = invoke("run", tiny_scenario, *args)
        assert result.exit_code == 0, (result.output, result.exception)

    def read(label: str, name: str) -> bytes:
        return (outs[label] / name).read_bytes()

    assert read("a", "summary.json") == read("b", "summary.json")
    assert read("a", "deals.csv") == read("b", "deals.csv")
    first = json.loads(read("a", "summary.json"))
    other = json.loads(read("c", "summary.json"))
    assert (first["seed"], other["seed"]) == (11, 12)
    assert first["bookings"] != other["bookings"]
    assert read("a", "deals.csv") != read("c", "deals.csv")


def test_event_logs_and_rows_of_many_batches_come_out_in_order(tiny_scenario, tmp_path):
    # Two jobs run many small batches here, so any reordering of their rows would show.
    outs = {jobs: tmp_path / f"j{jobs}" for jobs in (1, 2)}
    for jobs, out in outs.items():
        args = ("-n", 40, "--seed", 5, "-j", jobs, "-o", out, "--no-plots", "--events")
        result = invoke("run", tiny_scenario, *args)
        assert result.exit_code == 0, (result.output, result.exception)
    for name in ("deals.csv", "events.csv", "summary.json"):
        assert (outs[1] / name).read_bytes() == (outs[2] / name).read_bytes(), name
    assert not [path.name for path in outs[2].iterdir() if path.name.startswith(".")]
    assert len((outs[2] / "deals.csv").read_text().splitlines()) > 40


# --------------------------------------------------------------------------------------------
# User errors: exit 2, file and field named, no traceback, no folder
# --------------------------------------------------------------------------------------------

NEED_EXITS = "exits = { decide = 0.7, lost = 0.3 }"
DECIDE_EXITS = "exits = { won = 0.5, lost = 0.3, no_decision = 0.2 }"
NEED_DURATION = 'duration = { dist = "exponential", mean = 30 }'

BAD_SCENARIOS = {
    "unknown-top-level-key": (
        {'currency = "EUR"': 'curency = "EUR"'},
        ["curency", "unknown key", "did you mean 'currency'"],
    ),
    "unknown-stage-key": (
        {NEED_EXITS: NEED_EXITS + "\nduraton = 3"},
        ["stages.need.duraton", "unknown key", "did you mean 'duration'"],
    ),
    "exits-not-summing-to-1": (
        {NEED_EXITS: "exits = { decide = 0.7, lost = 0.2 }"},
        ["stages.need.exits", "sum to 1", "0.9"],
    ),
    "exit-to-unknown-stage": (
        {NEED_EXITS: "exits = { decid = 0.7, lost = 0.3 }"},
        ["stages.need.exits", "'decid'"],
    ),
    "stages-that-never-end": (
        {NEED_EXITS: "exits = { decide = 1.0 }", DECIDE_EXITS: "exits = { need = 1.0 }"},
        ["stages", "need, decide", "never end"],
    ),
    "lognormal-p90-equal-to-median": (
        {NEED_DURATION: 'duration = { dist = "lognormal", median = 30, p90 = 30 }'},
        ["stages.need.duration", "p90"],
    ),
    "lognormal-p90-below-median": (
        {NEED_DURATION: 'duration = { dist = "lognormal", median = 30, p90 = 20 }'},
        ["stages.need.duration", "p90"],
    ),
    "duplicate-stage-name": (
        {'name = "decide"': 'name = "need"'},
        ["stages.need", "more than once"],
    ),
    "initial-deals-in-unknown-stage": (
        {"initial = { need = 5, decide = 3 }": "initial = { need = 5, decid = 3 }"},
        ["deals.initial.decid", "unknown stage"],
    ),
    "zero-horizon": (
        {"horizon_days = 180": "horizon_days = 0"},
        ["horizon_days"],
    ),
    "dormant-without-section": (
        {NEED_EXITS: "exits = { decide = 0.7, dormant = 0.3 }"},
        ["dormant", "stages.need.exits", "[dormant]"],
    ),
}


def no_results_left(runs: Path) -> None:
    """Neither the target nor a temp folder exists (the parent, if created, is empty)."""
    assert not (runs / "out").exists()
    assert hidden_tmp_folders(runs) == []
    if runs.exists():
        assert list(runs.iterdir()) == []


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("case", list(BAD_SCENARIOS))
def test_invalid_scenario_is_a_user_error(case, command, write_scenario, tmp_path):
    replace, needles = BAD_SCENARIOS[case]
    path = write_scenario("bad.toml", replace)
    runs = tmp_path / "runs"
    extra = ["-n", 2, "-j", 1, "-o", runs / "out"] if command == "run" else []
    result = invoke(command, path, *extra)
    assert_user_error(result, str(path), *needles)
    assert result.stdout == ""
    no_results_left(runs)


@pytest.mark.parametrize("command", ["run", "validate"])
def test_toml_syntax_error_names_line_and_column(
    command, write_scenario, tiny_scenario_text, tmp_path
):
    path = write_scenario("syntax.toml", {'currency = "EUR"': 'currency = "EUR'})
    line = tiny_scenario_text.splitlines().index('currency = "EUR"') + 1
    runs = tmp_path / "runs"
    extra = ["-n", 2, "-o", runs / "out"] if command == "run" else []
    result = invoke(command, path, *extra)
    assert_user_error(result, str(path), "TOML syntax error", f"line {line}, column")
    no_results_left(runs)


BAD_OPTIONS = {
    "one-replication": (["-n", 1], ["--replications", "1"]),
    "too-many-replications": (["-n", 10_000_000], ["--replications", "10000000"]),
    "zero-jobs": (["-n", 2, "-j", 0], ["--jobs", "0"]),
    "negative-seed": (["-n", 2, "--seed", -1], ["--seed", "-1"]),
    "seed-past-a-scenario-files-bound": (["-n", 2, "--seed", 2**63], ["--seed", "outside 0.."]),
    "replications-not-a-number": (["-n", "abc"], ["--replications", "abc"]),
    # A horizon past the bound a scenario file is held to (it ran, then failed to draw).
    "until-past-the-horizon-bound": (["-n", 2, "--until", "2300-01-01"], ["--until", "36,525"]),
    "until-the-end-of-time": (["-n", 2, "--until", "9999-12-31"], ["--until", "at most"]),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_bad_option_is_a_user_error(case, tiny_scenario, tmp_path):
    args, needles = BAD_OPTIONS[case]
    runs = tmp_path / "runs"
    result = invoke("run", tiny_scenario, *args, "-o", runs / "out")
    assert_user_error(result, *needles)
    no_results_left(runs)


def test_unknown_scenario_name_lists_the_bundled_ones(tmp_path):
    runs = tmp_path / "runs"
    result = invoke("run", "no-such-scenario", "-n", 2, "-o", runs / "out")
    names = [name for name, _, _ in bundled_scenarios()]
    assert {"chain", "equipment"} <= set(names)
    assert_user_error(result, "no-such-scenario", *names)
    no_results_left(runs)


@pytest.mark.parametrize("command", ["run", "validate"])
def test_missing_scenario_file(command, tmp_path):
    missing = tmp_path / "missing.toml"
    runs = tmp_path / "runs"
    extra = ["-n", 2, "-o", runs / "out"] if command == "run" else []
    result = invoke(command, missing, *extra)
    assert_user_error(result, str(missing), "no such file")
    no_results_left(runs)


def test_non_empty_output_folder_needs_force(tiny_scenario, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results", encoding="utf-8")
    result = invoke("run", tiny_scenario, "-n", 2, "-j", 1, "-o", out, "--no-plots")
    assert_user_error(result, str(out), "not empty", "--force")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]  # untouched
    assert hidden_tmp_folders(tmp_path) == []
    (out / "manifest.json").write_text(OUR_MANIFEST, encoding="utf-8")  # earlier results of ours

    result = invoke("run", tiny_scenario, "-n", 2, "-j", 1, "-o", out, "--no-plots", "--force")
    assert result.exit_code == 0, (result.output, result.exception)
    names = {p.name for p in out.iterdir()}
    assert "keep.txt" not in names  # replaced, not merged
    assert set(RUN_FILES) <= names
    assert hidden_tmp_folders(tmp_path) == []


def test_empty_output_folder_is_used(tiny_scenario, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    result = invoke("run", tiny_scenario, "-n", 2, "-j", 1, "-o", out, "--no-plots")
    assert result.exit_code == 0, (result.output, result.exception)
    assert (out / "summary.json").is_file()


def test_output_path_that_is_a_file(tiny_scenario, tmp_path):
    out = tmp_path / "out"
    out.write_text("not a folder", encoding="utf-8")
    result = invoke("run", tiny_scenario, "-n", 2, "-j", 1, "-o", out, "--no-plots")
    assert_user_error(result, str(out), "not a folder")
    assert out.read_text(encoding="utf-8") == "not a folder"
    assert hidden_tmp_folders(tmp_path) == []


# --------------------------------------------------------------------------------------------
# main(argv) and the installed console script: the exit code the shell sees
# --------------------------------------------------------------------------------------------


def test_main_version_returns_0(capsys):
    assert main(["--version"]) == 0
    assert "dealsim" in capsys.readouterr().out


def test_main_returns_0_for_a_good_validate(tiny_scenario, capsys):
    assert main(["validate", str(tiny_scenario)]) == 0
    assert capsys.readouterr().out.startswith("OK")


def test_main_returns_2_for_a_click_usage_error(tiny_scenario, capsys):
    assert main(["run", str(tiny_scenario), "-n", "abc"]) == 2
    err = capsys.readouterr().err
    assert "--replications" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "{bad}"],
        ["run", "{bad}", "-n", "2"],
        ["run", "{good}", "-n", "1"],
        ["run", "no-such-scenario"],
    ],
    ids=["validate-bad-file", "run-bad-file", "run-one-replication", "run-unknown-name"],
)
def test_main_returns_2_for_a_user_error(args, write_scenario, tiny_scenario, tmp_path, capsys):
    bad = write_scenario("bad.toml", {"horizon_days = 180": "horizon_days = 0"})
    argv = [a.format(bad=bad, good=tiny_scenario) for a in args]
    code = main([*argv, "-o", str(tmp_path / "runs" / "out")] if argv[0] == "run" else argv)
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "Traceback" not in err  # this part holds today
    no_results_left(tmp_path / "runs")
    assert code == 2


def test_console_script_exits_2_for_a_user_error(write_scenario):
    script = Path(sys.executable).with_name("dealsim")
    if not script.exists():
        pytest.skip("the dealsim console script is not installed next to this python")
    bad = write_scenario("bad.toml", {"horizon_days = 180": "horizon_days = 0"})
    proc = subprocess.run(
        [str(script), "validate", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert "horizon_days" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.returncode == 2


# --------------------------------------------------------------------------------------------
# validate, schema, scenarios
# --------------------------------------------------------------------------------------------


def test_validate_prints_ok(tiny_scenario):
    result = invoke("validate", tiny_scenario)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK")
    assert "tiny" in result.stdout


def test_validate_bundled_name():
    result = invoke("validate", "chain")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK") and "chain" in result.stdout


def test_schema_is_json_with_stages():
    result = invoke("schema")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert "stages" in schema["properties"]
    assert {"name", "start_date", "deals", "stages"} <= set(schema.get("required", []))


def test_scenarios_lists_chain_with_its_description():
    result = invoke("scenarios")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line[:1].strip()}
    assert {"chain", "equipment"} <= set(lines)
    chain = next(p for name, _, p in bundled_scenarios() if name == "chain")
    description = tomllib.loads(chain.read_text(encoding="utf-8"))["description"]
    # a description too long for the terminal goes on under itself: read it whole
    listing = " ".join(result.stdout.split())
    assert description and f"chain {description}" in listing


# --------------------------------------------------------------------------------------------
# Interrupted and failed runs leave no folder
# --------------------------------------------------------------------------------------------


def interrupt_after_first_replication(monkeypatch, exc: BaseException) -> list[Path]:
    """Make sim.api.run raise ``exc`` once one replication has been written to the temp folder.

    Returns a list that receives the temp folder's files seen at that moment (to prove the
    interruption happened mid-run, with files on disk).
    """
    real_run = sim.api.run
    seen: list[Path] = []

    def run(model, seed, replications, jobs, **kwargs):
        write = kwargs["on_output"]

        def on_output(output):
            write(output)
            tmp = [p for p in Path(kwargs["matrix"].filename).parent.iterdir()]
            seen.extend(tmp)
            raise exc

        return real_run(model, seed, replications, jobs, **{**kwargs, "on_output": on_output})

    monkeypatch.setattr(sim.api, "run", run)
    return seen


def test_keyboard_interrupt_leaves_no_folder(tiny_scenario, tmp_path, monkeypatch, capsys):
    seen = interrupt_after_first_replication(monkeypatch, KeyboardInterrupt())
    runs = tmp_path / "runs"
    code = main(["run", str(tiny_scenario), "-n", "3", "-j", "1", "-o", str(runs / "out")])
    assert code == 130
    assert "Traceback" not in capsys.readouterr().err
    assert any(p.name == "deals.csv" for p in seen), "the run was not interrupted mid-way"
    no_results_left(runs)


def test_a_crash_is_exit_1_and_leaves_no_folder(tiny_scenario, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("boom in the summary")

    monkeypatch.setattr(sim.api, "_summary", boom)
    runs = tmp_path / "runs"
    result = invoke("run", tiny_scenario, "-n", 2, "-j", 1, "-o", runs / "out", "--no-plots")
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError)
    no_results_left(runs)


def test_interrupted_forced_run_keeps_the_old_results(tiny_scenario, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results", encoding="utf-8")
    (out / "manifest.json").write_text(OUR_MANIFEST, encoding="utf-8")
    interrupt_after_first_replication(monkeypatch, RuntimeError("worker died"))
    result = invoke("run", tiny_scenario, "-n", 3, "-j", 1, "-o", out, "--force", "--no-plots")
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt", "manifest.json"]
    assert hidden_tmp_folders(tmp_path) == []


def test_plot_and_explain_refuse_a_summary_that_is_not_one(tmp_path, capsys):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "summary.json").write_text('{"scenario": 1}')
    for command in (["plot", str(folder)], ["explain", str(folder)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "summary.json" in err and "missing" in err and "Traceback" not in err


@pytest.mark.parametrize("key", ["periods", "bookings", "flows", "stall_days", "start_date"])
def test_plot_and_report_refuse_a_summary_with_a_damaged_key(events_run, tmp_path, capsys, key):
    """A key edited into text: one message naming it, exit 2 (it was an AttributeError)."""
    import shutil

    folder = tmp_path / "damaged"
    shutil.copytree(events_run[1], folder)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    summary[key] = "oops"
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    for command in (["plot", str(folder)], ["report", str(folder), "-o", str(tmp_path / "r.html")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "damaged summary" in err and key in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("command", [["scenarios"], ["schema"]])
def test_a_reader_that_stops_reading_is_no_error(command):
    """`dealsim scenarios | head`: standard output closed before dealsim writes to it gives
    the shell's code for SIGPIPE and no message (it was exit 1, the code of a bug)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "sim", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    child.stdout.close()  # long before the interpreter has started and written anything
    said = child.stderr.read()
    assert child.wait() == 141 and said == b"", said


def test_a_run_that_fails_removes_the_folders_it_made(tiny_scenario, tmp_path, monkeypatch):
    """-o deep/a/b on a run stopped half way: no results, and no empty deep/a/ left behind
    either (a folder that was there before stays)."""
    from sim.errors import UserError

    def fail(*args, **kwargs):
        raise UserError("stopped half way")

    monkeypatch.setattr(sim.api, "run", fail)
    (tmp_path / "there").mkdir()
    assert (
        main(["run", str(tiny_scenario), "-o", str(tmp_path / "there" / "deep" / "a" / "b")]) == 2
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["there", tiny_scenario.name]
    assert list((tmp_path / "there").iterdir()) == []


def test_a_folder_or_a_pipe_as_the_scenario_is_one_clear_error(tmp_path):
    """A folder was 'no such scenario file'; a named pipe was read forever."""
    import os

    pipe = tmp_path / "fifo.toml"
    os.mkfifo(pipe)
    for path, said in ((tmp_path, "a folder, not a scenario file"), (pipe, "not a regular file")):
        result = invoke("validate", path)
        assert_user_error(result, str(path), said)


def test_a_bundled_name_is_the_bundled_scenario_beside_a_folder_of_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "equipment").mkdir()  # say, where the user keeps its results
    (tmp_path / "mine").mkdir()
    assert invoke("validate", "equipment").exit_code == 0
    assert_user_error(invoke("validate", "mine"), "mine: a folder, not a scenario file")


def test_a_run_without_a_single_deal_says_so(tmp_path):
    """Its outcomes read 0.0% won, 0.0% lost, 0.0% open: shares of deals that never were."""
    from click.testing import CliRunner

    from sim.cli import cli

    args = ["run", "textbook", "-n", "2", "-j", "1", "--no-plots", "-o", str(tmp_path / "z"),
            "--set", "deals.initial={}", "--set", "deals.arrivals_per_month=0"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "no replication had a single deal" in result.stderr
    result = CliRunner().invoke(cli, [*args[:-4], "-o", str(tmp_path / "some")])
    assert result.exit_code == 0 and "single deal" not in result.stderr
