"""Fuzz: hostile scenarios and CRM pipelines through the CLI end cleanly (issue 17).

Hypothesis draws scenarios from the scenario vocabulary with numbers at their edges (huge,
tiny, zero, negative, infinite, not a number, retyped) and CSV pipelines with odd rows (empty,
only commas, huge numbers, bad dates, byte-order marks), and runs ``dealsim validate`` and
``dealsim run -n 2`` on them in-process through :func:`sim.cli.main`. Whatever comes in, the
command must answer 0 or 2, show no traceback and no warning text, and end within a bounded
time. Derandomized and sized (examples x a fraction of a second) to stay under a minute in CI;
``bench/mutants.py`` is the big version of the same check, run by hand.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import resource
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim.scenario_bounds as bounds
from sim.cli import main
from sim.toml_writer import toml_dumps
from tests.strategies import FAMILIES, durations

#: Seconds one command may take before the case counts as a hang.
LIMIT_SECONDS = 10
#: Address space one case may add to the test process (a runaway allocation fails, not the host).
MEMORY_HEADROOM = 3 * 2**30

FUZZ = settings(
    max_examples=100,
    deadline=dt.timedelta(seconds=LIMIT_SECONDS),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

WARNING_TEXT = ("Warning", "warning(s) from")


# ---------------------------------------------------------------------------------------------
# Running one case
# ---------------------------------------------------------------------------------------------


class Hang(BaseException):
    """The case ran past twice LIMIT_SECONDS (a BaseException: the CLI's ``except Exception``
    lets it through; :func:`cli` turns it into an assertion)."""


def _on_alarm(signum, frame):
    raise Hang(f"still running after {LIMIT_SECONDS} s")


@contextlib.contextmanager
def bounded():
    """A time limit (SIGALRM) and an address-space limit for one case, both undone after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _address_space() + MEMORY_HEADROOM
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    signal.alarm(LIMIT_SECONDS * 2)  # the deadline reports slow cases; this stops a hang
    try:
        yield
    finally:
        signal.alarm(0)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, previous)


def _address_space() -> int:
    """This process's virtual size in bytes (Linux), or 0 when it cannot be read."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cli(argv: list[str]) -> tuple[int, str, float]:
    """Run the CLI in-process: exit code, stdout and stderr together, seconds."""
    out = io.StringIO()
    start = time.monotonic()
    try:
        with bounded(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = main(argv)
    except Hang as hang:  # an assertion, for Hypothesis to report and shrink the case
        raise AssertionError(f"{hang}: {out.getvalue()[-2000:]}") from None
    return code, out.getvalue(), time.monotonic() - start


def assert_clean(argv: list[str], what: str) -> int:
    code, output, seconds = cli(argv)
    shown = f"{what}\n--- dealsim {' '.join(argv[:1])} said:\n{output[-3000:]}"
    assert code in (0, 2), f"exit {code}: {shown}"
    assert "Traceback" not in output, shown
    assert not any(mark in output for mark in WARNING_TEXT), shown
    assert seconds < LIMIT_SECONDS, f"{seconds:.1f} s: {shown}"
    return code


def validate_and_run(text: str, what: str, extra: tuple[str, ...] = ()) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.toml"
        path.write_text(text, encoding="utf-8")
        if not extra:
            assert_clean(["validate", str(path)], what)
        argv = ["run", str(path), "-n", "2", "-j", "1", "--no-plots", "-o", f"{folder}/out"]
        assert_clean([*argv, *extra], what)


# ---------------------------------------------------------------------------------------------
# Scenarios: the vocabulary, the numbers' edges
# ---------------------------------------------------------------------------------------------

BASE: dict[str, Any] = {
    "name": "fuzz",
    "start_date": dt.date(2027, 1, 1),
    "horizon_days": 120,
    "replications": 2,
    "seed": 1,
    "deals": {
        "initial": {"need": 4, "offer": 3},
        "arrivals_per_month": 3.0,
        "amount": {"dist": "fixed", "value": 1000},
    },
    "stages": [
        {
            "name": "need",
            "duration": {"dist": "exponential", "mean": 20},
            "exits": {"offer": 0.7, "dormant": 0.1, "lost": 0.2},
        },
        {
            "name": "offer",
            "duration": {"dist": "lognormal", "median": 15, "p90": 40},
            "exits": {"won": 0.6, "need": 0.1, "lost": 0.3},
        },
    ],
    "dormant": {"reactivate_mean_days": 60, "give_up_after_days": 90},
    "budget": {
        "fiscal_year_start": "01-01",
        "gate": "offer",
        "funded_share": 0.5,
        "release_lag_days": 20,
        "recheck": {"to": "need", "probability": 0.2},
    },
    "decision_group": [
        {
            "role": "buyer",
            "tenure_mean_days": 700,
            "stages": ["offer"],
            "on_change": {"to": "need", "probability": 0.5},
        }
    ],
    "shocks": {
        "rate_per_year": 0.5,
        "severity": {"dist": "uniform", "low": 0.2, "high": 0.8},
        "from_stage": "offer",
        "reset_probability": 0.5,
        "to": "dormant",
        "inflow_drop": 0.3,
        "recovery_days": 60,
    },
    "timing": {
        "stage": "offer",
        "indicator": {"volatility": 0.15, "drift": 0.0},
        "buy_when_below": 0.97,
        "max_wait_days": 60,
    },
    "team": [
        {
            "name": "presales",
            "headcount": 1,
            "hours_per_week": 40,
            "cost_per_hour": 80,
            "work": [{"stage": "offer", "effort_hours": {"dist": "fixed", "value": 8}}],
        }
    ],
}

#: Every number of BASE a user could change, by path.
NUMBER_PATHS = [
    ("horizon_days",),
    ("seed",),
    ("deals", "initial", "need"),
    ("deals", "arrivals_per_month"),
    ("deals", "amount", "value"),
    ("stages", 0, "duration", "mean"),
    ("stages", 0, "exits", "offer"),
    ("stages", 1, "duration", "median"),
    ("stages", 1, "duration", "p90"),
    ("dormant", "reactivate_mean_days"),
    ("dormant", "give_up_after_days"),
    ("budget", "funded_share"),
    ("budget", "release_lag_days"),
    ("budget", "recheck", "probability"),
    ("decision_group", 0, "tenure_mean_days"),
    ("decision_group", 0, "on_change", "probability"),
    ("shocks", "rate_per_year"),
    ("shocks", "severity", "low"),
    ("shocks", "severity", "high"),
    ("shocks", "reset_probability"),
    ("shocks", "inflow_drop"),
    ("shocks", "recovery_days"),
    ("timing", "indicator", "volatility"),
    ("timing", "indicator", "drift"),
    ("timing", "buy_when_below"),
    ("timing", "max_wait_days"),
    ("team", 0, "headcount"),
    ("team", 0, "hours_per_week"),
    ("team", 0, "cost_per_hour"),
    ("team", 0, "work", 0, "effort_hours", "value"),
]
DISTRIBUTION_PATHS = [
    ("stages", 0, "duration"),
    ("stages", 1, "duration"),
    ("deals", "amount"),
    ("shocks", "severity"),
    ("team", 0, "work", 0, "effort_hours"),
]

EDGES = [0, -0.0, -1, 1e-300, 5e-324, 1e-9, 0.5, 1, 1.0000001, 1e6, 1e18, 2**63, 1e308]
EDGES += [math.inf, -math.inf, math.nan]
#: The documented bounds themselves (sim.scenario_bounds): validate lets them through, so the
#: engine must cope with each of them.
EDGES += [
    bounds.MIN_MEAN_DAYS,
    bounds.MAX_DAYS,
    bounds.MAX_PARAMETER,
    bounds.MIN_GAMMA_CV,
    bounds.MAX_GAMMA_CV,
    bounds.MIN_WEIBULL_SHAPE,
    bounds.MAX_WEIBULL_SHAPE,
    bounds.MAX_LOGNORMAL_SPREAD,
    bounds.MAX_SHOCKS_PER_YEAR,
    bounds.MAX_VOLATILITY,
    -bounds.MAX_DRIFT,
    bounds.MAX_BUY_WHEN_BELOW,
    bounds.MAX_SEASONALITY,
]
edge_numbers = st.sampled_from(EDGES) | st.floats(allow_nan=True, allow_infinity=True)
odd_values = st.sampled_from(["", "abc", "1e3", True, [], {}, [1e308], dt.date(1, 1, 1)])


@st.composite
def edge_distributions(draw: st.DrawFn) -> dict[str, Any]:
    """A distribution of any family whose parameters are drawn from the edges."""
    if draw(st.booleans()):
        return draw(durations(largest=1e6))
    kind = draw(st.sampled_from([*FAMILIES, "empirical", "zipf"]))
    keys = {
        "fixed": ["value"],
        "exponential": ["mean"],
        "lognormal": ["median", "p90"],
        "gamma": ["mean", "cv"],
        "uniform": ["low", "high"],
        "triangular": ["low", "mode", "high"],
        "pert": ["low", "mode", "high"],
        "weibull": ["shape", "scale"],
        "empirical": ["tail_mean"],
        "zipf": ["a"],
    }[kind]
    spec: dict[str, Any] = {"dist": kind, **{k: draw(edge_numbers) for k in keys}}
    if kind == "empirical":
        spec["days"] = [0, draw(edge_numbers)]
        spec["survival"] = [1, draw(edge_numbers)]
    return spec


def put(data: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


@st.composite
def hostile_scenarios(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """BASE with one to three changes: a number at its edge, a value retyped, a distribution
    at its edges, a section dropped, a date at the end of the calendar."""
    import copy

    data = copy.deepcopy(BASE)
    changes = []
    for _ in range(draw(st.integers(1, 3))):
        what = draw(st.sampled_from(["number", "number", "retype", "distribution", "drop", "date"]))
        if what == "number":
            path, value = draw(st.sampled_from(NUMBER_PATHS)), draw(edge_numbers)
        elif what == "retype":
            path, value = draw(st.sampled_from(NUMBER_PATHS)), draw(odd_values)
        elif what == "distribution":
            path, value = draw(st.sampled_from(DISTRIBUTION_PATHS)), draw(edge_distributions())
        elif what == "date":
            path = ("start_date",)
            edge = st.sampled_from([bounds.MIN_START_DATE, bounds.MAX_START_DATE])
            value = draw(
                edge | st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))
            )
        else:
            section = draw(st.sampled_from(["dormant", "budget", "shocks", "timing", "team"]))
            data.pop(section, None)
            changes.append(f"without [{section}]")
            continue
        if path[0] not in data:  # a section dropped by an earlier change
            continue
        put(data, path, value)
        changes.append(f"{'.'.join(map(str, path))} = {value!r}")
    return data, changes


def test_the_base_of_the_fuzz_runs():
    """The fuzz starts from a scenario that is valid and runs (so its cases test the changes)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "base.toml"
        path.write_text(toml_dumps(BASE), encoding="utf-8")
        assert assert_clean(["validate", str(path)], "the base") == 0
        run = ["run", str(path), "-n", "2", "-j", "1", "--no-plots", "-o", f"{folder}/out"]
        assert assert_clean(run, "the base") == 0


@settings(FUZZ, max_examples=300)
@given(hostile_scenarios())
def test_a_hostile_scenario_is_run_or_refused_cleanly(case):
    data, changes = case
    validate_and_run(toml_dumps(data), "; ".join(changes))


# ---------------------------------------------------------------------------------------------
# CSV pipelines with odd rows
# ---------------------------------------------------------------------------------------------

PIPELINE_SCENARIO = """
name = "crm-fuzz"
currency = "USD"
start_date = 2024-01-01
horizon_days = 90
replications = 2

[deals]
initial = { qualify = 5 }
arrivals_per_month = 0
amount = { dist = "fixed", value = 1000 }

[[stages]]
name = "qualify"
duration = { dist = "exponential", mean = 30 }
exits = { propose = 0.7, lost = 0.3 }

[[stages]]
name = "propose"
duration = { dist = "exponential", mean = 30 }
exits = { won = 0.7, lost = 0.3 }
"""

HEADER = "deal_id,stage,amount,created,stage_entered"
ODD_FIELDS = [
    "",
    " ",
    '"',
    '""',
    "1e308",
    "-1e308",
    "1e400",
    "inf",
    "nan",
    "-5",
    "0",
    "9" * 400,
    "12k EUR maybe",
    "2024-13-45",
    "0001-01-01",
    "9999-12-31",
    "31.02.2024",
    "02/30/2024",
    "2024-03-15T25:61",
    "\ufeffD1",
    "\x00",
    "qualify",
    "propose",
    "won",
    "Closed Lost",
    "éxito",
    "=cmd|' /C calc'!A0",
]


@st.composite
def good_rows(draw: st.DrawFn) -> str:
    """A row the reader takes, with its amount and dates at their edges."""
    n = draw(st.integers(1, 999))
    stage = draw(st.sampled_from(["qualify", "propose"]))
    amount = draw(st.sampled_from(["0", "1", "1e12", "999999999999", "0.01"]) | st.just("12000"))
    dates = st.sampled_from(["1900-01-01", "2023-12-01", "2024-03-15", "2199-12-31"])
    return f"D{n},{stage},{amount},{draw(dates)},{draw(dates)}"


@st.composite
def odd_rows(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["good", "empty", "commas", "odd", "short", "long"]))
    if kind == "good":
        return draw(good_rows())
    if kind == "empty":
        return ""
    if kind == "commas":
        return "," * draw(st.integers(1, 8))
    fields = draw(
        st.lists(st.sampled_from(ODD_FIELDS) | st.text(max_size=8), min_size=1, max_size=9)
    )
    if kind == "odd":
        fields = (fields + ["x"] * 5)[:5]
    elif kind == "short":
        fields = fields[:2]
    return ",".join(fields)


@st.composite
def odd_pipelines(draw: st.DrawFn) -> bytes:
    rows = draw(st.lists(good_rows() if draw(st.booleans()) else odd_rows(), max_size=12))
    header = draw(st.sampled_from([HEADER, "\ufeff" + HEADER, HEADER.upper(), "", "a,b,c"]))
    text = "\n".join([header, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


@settings(FUZZ, max_examples=150)
@given(odd_pipelines(), st.sampled_from(["2024-03-15", "0001-01-01", "9999-12-31", "15.03.2024"]))
def test_an_odd_pipeline_is_read_or_refused_cleanly(content, as_of):
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "open-deals.csv"
        csv.write_bytes(content)
        what = f"--pipeline {content[:400]!r} --as-of {as_of}"
        validate_and_run(PIPELINE_SCENARIO, what, ("--pipeline", str(csv), "--as-of", as_of))


@pytest.mark.parametrize(
    "content",
    [b"", b"\xef\xbb\xbf", b",,,,\n,,,,\n", HEADER.encode() + b"\n" + b"," * 1_000_000],
    ids=["empty", "only-a-bom", "only-commas", "a-million-columns"],
)
def test_a_degenerate_pipeline_is_refused_cleanly(content):
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "open-deals.csv"
        csv.write_bytes(content)
        extra = ("--pipeline", str(csv), "--as-of", "2024-03-15")
        validate_and_run(PIPELINE_SCENARIO, f"{content[:80]!r}", extra)


# ---------------------------------------------------------------------------------------------
# Edges the mutants found in the engine's own numerics
# ---------------------------------------------------------------------------------------------


def test_an_empirical_curve_to_the_float_maximum_has_an_infinite_mean_without_a_warning():
    """bench/mutants.py: ``empirical {days [0, 1e308], tail_mean 1e308}`` made numpy warn of an
    overflow while validation computed its mean; the mean is inf, and the bound names it."""
    import warnings

    from sim.empirical import Empirical

    curve = Empirical(dist="empirical", days=[0, 1e308], survival=[1, 0.5], tail_mean=1e308)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert curve.mean() == math.inf
    assert Empirical(dist="empirical", days=[0, 10], survival=[1, 0]).mean() == 5.0
