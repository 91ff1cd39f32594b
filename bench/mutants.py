"""Hostile and extreme scenarios: mutants of every bundled scenario through the CLI (issue 17).

Each mutant is a bundled scenario with one thing changed as a careless or hostile user would
change it: a value retyped, a key misspelt or removed, a number made huge or tiny, an event
storm, a huge pipeline or inflow, arrays nested 10,000 deep, a stage that loops on itself
without time passing, dates at the ends of the calendar. Every mutant goes through
``dealsim validate`` and ``dealsim run -n 2 --no-plots -o TMP`` as subprocesses (a timeout and
a memory cap each, two at a time), and each command's outcome is put in a class:

    ok          exit 0, nothing odd in the output
    rejected    exit 2 with a short, clean message
    noisy       exit 2 with a message over 2,000 characters (an input echoed back?)
    traceback   'Traceback' in the output
    crash       exit 1: dealsim's own "failed unexpectedly" (the traceback went to a log)
    warning     warning text in the output (RuntimeWarning, UserWarning, 'Warning:', or the
                CLI's note that library warnings were logged)
    long        still running at the timeout (killed), but it had said before starting that it
                would take longer than that (a legitimate long run within the budget, announced,
                with a progress bar: not counted as failing)
    hang        still running at the timeout (killed) without having said it would take so long
    memory      out of memory (MemoryError, "Unable to allocate", a worker that died of it)
    other       any other exit code

A mutant that ``validate`` rejects cleanly is still run (``run`` must reject it too), unless
``--skip-rejected`` says not to bother. The summary table goes to stdout, the failing cases
(the mutation, the command, the first lines of its output and of any log file dealsim wrote)
to the JSON file ``--out``.

    python bench/mutants.py --per-scenario 100 --seed 1 --out /tmp/mutants.json
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import math
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.toml_writer import toml_dumps  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
DEALSIM = Path(sys.executable).with_name("dealsim")

CLASSES = [
    "ok",
    "rejected",
    "noisy",
    "traceback",
    "crash",
    "warning",
    "long",
    "hang",
    "memory",
    "other",
]
FAILING = {"noisy", "traceback", "crash", "warning", "hang", "memory", "other"}

HUGE = [1e308, -1e308, 1e18, 2**63, 2**64 + 1, float("inf"), float("nan")]
TINY = [1e-200, 5e-324, 0, 0.0, -1, -1e-9, -0.0]
ODD_VALUES: list[Any] = ["abc", "", "1e3", True, [], {}, [1, 2], dt.date(2027, 1, 1)]
EDGE_DATES = [dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1970, 1, 1), dt.date(2200, 2, 28)]


@dataclass
class Mutant:
    scenario: str
    mutation: str
    text: str


@dataclass
class Outcome:
    mutant: Mutant
    command: str
    kind: str
    code: int | None
    seconds: float
    output: str
    logs: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Making mutants
# ---------------------------------------------------------------------------------------------


def leaves(data: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every (path, value) of a parsed scenario whose value is not a table or list of tables."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaves(value, (*path, key))
    elif isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        for i, value in enumerate(data):
            yield from leaves(value, (*path, i))
    else:
        yield path, data


def tables(data: Any, path: tuple = ()) -> Iterator[tuple[tuple, dict]]:
    """Every (path, table) of a parsed scenario, the top level included."""
    if isinstance(data, dict):
        yield path, data
        for key, value in data.items():
            yield from tables(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from tables(value, (*path, i))


def put(data: dict, path: tuple, value: Any) -> dict:
    """A deep copy of ``data`` with the value at ``path`` replaced (the path created if need be)."""
    out = copy.deepcopy(data)
    node = out
    for key in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(key, {})
        else:
            node = node[key]
    node[path[-1]] = value
    return out


def dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def random_mutants(data: dict, rng: random.Random) -> Iterator[tuple[str, dict]]:
    """Endless random one-leaf mutations: retyped, huge, tiny, renamed, removed."""
    found = list(leaves(data))
    numbers = [(p, v) for p, v in found if isinstance(v, int | float) and not isinstance(v, bool)]
    every_table = [(p, t) for p, t in tables(data) if t]
    while True:
        op = rng.choice(["huge", "tiny", "retype", "rename", "remove", "date", "scale"])
        if op in ("huge", "tiny", "scale") and numbers:
            path, value = rng.choice(numbers)
            if op == "huge":
                new = rng.choice(HUGE)
            elif op == "tiny":
                new = rng.choice(TINY)
            else:
                new = value * rng.choice([1e6, 1e-6, -1, 1e3])
            yield f"{dotted(path)} = {new!r} (was {value!r})", put(data, path, new)
        elif op == "retype":
            path, value = rng.choice(found)
            new = rng.choice(ODD_VALUES + [42, -3.5, 1e300])
            yield f"{dotted(path)} = {new!r} (retyped from {value!r})", put(data, path, new)
        elif op == "date":
            path, value = rng.choice(found)
            new = rng.choice(EDGE_DATES)
            yield f"{dotted(path)} = {new} (was {value!r})", put(data, path, new)
        elif op in ("rename", "remove") and every_table:
            path, table = rng.choice(every_table)
            key = rng.choice(list(table))
            out = copy.deepcopy(data)
            node = out
            for p in path:
                node = node[p]
            value = node.pop(key)
            if op == "rename":
                node[key + "s" if rng.random() < 0.5 else key[:-1] or "x"] = value
                yield f"{dotted((*path, key))}: key misspelt", out
            else:
                yield f"{dotted((*path, key))}: removed", out


def stage_names(data: dict) -> list[str]:
    return [s.get("name", "") for s in data.get("stages", []) if isinstance(s, dict)]


def targeted_mutants(data: dict) -> Iterator[tuple[str, dict | str]]:
    """The mutations of issue 17, applied where the scenario has the part they change.

    A ``str`` instead of a dict is a TOML text written as is (nesting, size: the writer would
    choke on it, and that is the point)."""
    stages = stage_names(data)
    first = stages[0] if stages else "x"
    for value in (1e308, 1e18, 1e7, 36525 * 101, 0, -1, 1e-200, float("inf")):
        yield f"horizon_days = {value!r}", put(data, ("horizon_days",), value)
    for date in EDGE_DATES:
        yield f"start_date = {date}", put(data, ("start_date",), date)
    for value in (1e6, 1e4, 1e308, -1, float("nan")):
        yield (
            f"deals.arrivals_per_month = {value!r}",
            put(data, ("deals", "arrivals_per_month"), value),
        )
    for value in (1e7, 1e18, 2**63, -5, 0.5):
        yield (
            f"deals.initial = {{{first} = {value!r}}}",
            put(data, ("deals", "initial"), {first: value}),
        )
    for seed in (2**64, -1, 2**200, 0):
        yield f"seed = {seed}", put(data, ("seed",), seed)
    yield "deals.seasonality = twelve 1e308", put(data, ("deals", "seasonality"), [1e308] * 12)
    yield "deals.seasonality = twelve 0", put(data, ("deals", "seasonality"), [0.0] * 12)
    yield (
        "deals.amount = fixed 1e308",
        put(data, ("deals", "amount"), {"dist": "fixed", "value": 1e308}),
    )
    yield (
        "deals.amount = lognormal 1e300/1e308",
        put(data, ("deals", "amount"), {"dist": "lognormal", "median": 1e300, "p90": 1e308}),
    )
    # Every family at the edges of its parameters, as the first stage's duration.
    edge_durations = [
        {"dist": "gamma", "mean": 30, "cv": 1e-200},
        {"dist": "gamma", "mean": 30, "cv": 1e6},
        {"dist": "gamma", "mean": 1e308, "cv": 1},
        {"dist": "triangular", "low": 0, "mode": 0, "high": 1e308},
        {"dist": "uniform", "low": 0, "high": 1e308},
        {"dist": "pert", "low": 0, "mode": 1e300, "high": 1e308},
        {"dist": "pert", "low": 1, "mode": 1, "high": 1},
        {"dist": "lognormal", "median": 1e-200, "p90": 1e200},
        {"dist": "lognormal", "median": 30, "p90": 30.000000001},
        {"dist": "weibull", "shape": 1e-200, "scale": 30},
        {"dist": "weibull", "shape": 1e6, "scale": 30},
        {"dist": "weibull", "shape": 0.01, "scale": 30},
        {"dist": "exponential", "mean": 1e308},
        {"dist": "exponential", "mean": 1e-200},
        {"dist": "fixed", "value": 1e308},
        {"dist": "fixed", "value": 1e-300},
        {"dist": "empirical", "days": [0, 1e308], "survival": [1, 0.5], "tail_mean": 1e308},
        {"dist": "empirical", "days": [0, 1e-300], "survival": [1, 0.5], "tail_mean": 1e-300},
    ]
    if stages:
        for dist in edge_durations:
            yield f"stages.{first}.duration = {dist}", put(data, ("stages", 0, "duration"), dist)
        loop = put(data, ("stages", 0, "duration"), {"dist": "fixed", "value": 0})
        loop = put(loop, ("stages", 0, "exits"), {first: 0.999999, "lost": 0.000001})
        yield f"stages.{first}: zero duration, loops on itself with p 0.999999", loop
        if len(stages) > 1:
            pair = put(data, ("stages", 0, "duration"), {"dist": "fixed", "value": 0})
            pair = put(pair, ("stages", 1, "duration"), {"dist": "fixed", "value": 0})
            pair = put(pair, ("stages", 0, "exits"), {stages[1]: 1.0})
            pair = put(pair, ("stages", 1, "exits"), {first: 0.9999999, "won": 0.0000001})
            yield f"stages {first}<->{stages[1]}: zero durations, a loop of two", pair
    for value in (1e6, 1e308, 1e-9):
        yield f"shocks.rate_per_year = {value!r}", put(data, ("shocks", "rate_per_year"), value)
    if "shocks" in data:
        storm = put(data, ("shocks", "rate_per_year"), 1e5)
        yield (
            "shocks: rate 1e5, reset probability 1",
            put(storm, ("shocks", "reset_probability"), 1.0),
        )
        yield "shocks.recovery_days = 1e308", put(data, ("shocks", "recovery_days"), 1e308)
        yield "shocks.recovery_days = 0", put(data, ("shocks", "recovery_days"), 0)
    for i, _ in enumerate(data.get("decision_group", [])):
        for tenure in (1e-9, 1e-300, 1e308):
            one = put(data, ("decision_group", i, "tenure_mean_days"), tenure)
            one = put(one, ("decision_group", i, "on_change", "probability"), 1.0)
            yield f"decision_group[{i}].tenure_mean_days = {tenure!r}, probability 1", one
        break
    if "timing" in data:
        for key, value in (
            ("max_wait_days", 1e308),
            ("max_wait_days", 1e9),
            ("max_wait_days", 0),
            ("buy_when_below", 1e-300),
            ("buy_when_below", 1e308),
        ):
            yield f"timing.{key} = {value!r}", put(data, ("timing", key), value)
        for vol in (1e308, 1e3, 0):
            yield (
                f"timing.indicator.volatility = {vol!r}",
                put(data, ("timing", "indicator", "volatility"), vol),
            )
        yield "timing.indicator.drift = 1e308", put(data, ("timing", "indicator", "drift"), 1e308)
    if "budget" in data:
        for value in (1e308, 0, 1e9):
            yield (
                f"budget.release_lag_days = {value!r}",
                put(data, ("budget", "release_lag_days"), value),
            )
        yield (
            "budget.fiscal_year_start = 02-30",
            put(data, ("budget", "fiscal_year_start"), "02-30"),
        )
    if "dormant" in data:
        for key, value in (
            ("reactivate_mean_days", 1e-300),
            ("reactivate_mean_days", 1e308),
            ("give_up_after_days", 1e308),
            ("give_up_after_days", 0),
        ):
            yield f"dormant.{key} = {value!r}", put(data, ("dormant", key), value)
    for i, _ in enumerate(data.get("team", [])):
        for key, value in (("headcount", 1e7), ("headcount", 0), ("hours_per_week", 1e-300),
                           ("hours_per_week", 1e308), ("cost_per_hour", 1e308)):  # fmt: skip
            yield f"team[{i}].{key} = {value!r}", put(data, ("team", i, key), value)
        break
    for trend in (1e3, -1e3):
        yield f"inflow.trend_per_year = {trend!r}", put(data, ("inflow", "trend_per_year"), trend)
    yield "uncertainty: huge cv", put(data, ("uncertainty",), {"arrivals_cv": 1e6})
    text = toml_dumps(data)
    for depth in (10_000, 1_000):
        yield f"an array nested {depth} deep", text + "deep = " + "[" * depth + "]" * depth + "\n"
    yield (
        "description nested 10000 deep in an inline table",
        text + "[nest]\nx = " + "{a = " * 10_000 + "1" + "}" * 10_000 + "\n",
    )
    yield "a 10 MB description", put(data, ("description",), "x" * 10_000_000)
    yield "a 1 MB name", put(data, ("name",), "n" * 1_000_000)
    yield "a name with control characters", put(data, ("name",), "a\x00b\x1b[31mc")
    yield "stages = []", put(data, ("stages",), [])
    yield "the file is empty", ""
    yield "the file is binary", "\x00\x01\x02\xff" * 100


def mutants_of(path: Path, count: int, rng: random.Random) -> list[Mutant]:
    """``count`` mutants of one scenario: the targeted ones first, then random ones."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    made: list[Mutant] = []
    sources: list[Iterator] = [targeted_mutants(data), random_mutants(data, rng)]
    for source in sources:
        for mutation, mutated in source:
            if len(made) >= count:
                return made
            try:
                text = mutated if isinstance(mutated, str) else toml_dumps(mutated)
            except (TypeError, ValueError, RecursionError):
                continue
            made.append(Mutant(path.stem, mutation, text))
    return made


# ---------------------------------------------------------------------------------------------
# Running them
# ---------------------------------------------------------------------------------------------


def limit_memory(cap_bytes: int) -> Callable[[], None]:
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))

    return preexec


def run_command(
    args: list[str], cwd: Path, timeout: float, cap: int
) -> tuple[int | None, str, float]:
    """Run a command in its own process group (so that a timeout kills its workers too)."""
    env = dict(os.environ, TMPDIR=str(cwd), MPLBACKEND="Agg", COLUMNS="100")
    start = time.monotonic()
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=limit_memory(cap),
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        code = None
    try:  # any worker left behind by a command that exited
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return code, out.decode("utf-8", "replace"), time.monotonic() - start


WARNING_MARKS = (
    "RuntimeWarning",
    "UserWarning",
    "DeprecationWarning",
    "Warning:",
    "warning(s) from",
)
MEMORY_MARKS = ("MemoryError", "Unable to allocate", "out of memory", "Cannot allocate memory")


ANNOUNCED = re.compile(r"this run will take about ([0-9.]+) (seconds|minutes|hours)", re.I)
UNIT_SECONDS = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0}


def announced_seconds(output: str) -> float:
    """How long the run said it would take (sim.run_cost.announce_duration), or 0."""
    found = ANNOUNCED.search(output)
    return float(found.group(1)) * UNIT_SECONDS[found.group(2)] if found else 0.0


def classify(code: int | None, output: str, timeout: float = math.inf) -> str:
    if code is None:
        return "long" if announced_seconds(output) >= timeout else "hang"
    if any(mark in output for mark in MEMORY_MARKS) or code in (-signal.SIGKILL, 137):
        return "memory"
    if "Traceback" in output:
        return "traceback"
    if code == 1 and "failed unexpectedly" in output:
        return "crash"
    if any(mark in output for mark in WARNING_MARKS):
        return "warning"
    if code == 0:
        return "ok"
    if code == 2:
        return "noisy" if len(output) > 2000 else "rejected"
    return "other"


def logs_in(folder: Path) -> list[str]:
    """The first lines of every log file dealsim wrote in the case's folder."""
    found = []
    for log in sorted(folder.rglob("dealsim-*.log")):
        text = log.read_text(encoding="utf-8", errors="replace").splitlines()
        found.append(f"{log.name}:\n" + "\n".join(text[-25:]))
    return found


def try_mutant(mutant: Mutant, timeout: float, cap: int, skip_rejected: bool) -> list[Outcome]:
    folder = Path(tempfile.mkdtemp(prefix="dealsim-mutant-"))
    try:
        scenario = folder / f"{mutant.scenario}-mutant.toml"
        scenario.write_text(mutant.text, encoding="utf-8")
        outcomes = []
        commands = {
            "validate": [str(DEALSIM), "validate", str(scenario)],
            "run": [
                str(DEALSIM),
                "run",
                str(scenario),
                "-n",
                "2",
                "--no-plots",
                "-o",
                str(folder / "out"),
            ],  # fmt: skip
        }
        for name, args in commands.items():
            if name == "run" and skip_rejected and outcomes[0].kind == "rejected":
                break
            code, output, seconds = run_command(args, folder, timeout, cap)
            kind = classify(code, output, timeout)
            logs = logs_in(folder) if kind in FAILING else []
            for log in folder.rglob("dealsim-*.log"):
                log.unlink()
            outcomes.append(Outcome(mutant, name, kind, code, seconds, output, logs))
        return outcomes
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def summary_table(outcomes: list[Outcome]) -> str:
    counts = {
        cmd: Counter(o.kind for o in outcomes if o.command == cmd) for cmd in ("validate", "run")
    }
    lines = [f"{'class':<10} {'validate':>9} {'run':>9}"]
    for kind in CLASSES:
        lines.append(f"{kind:<10} {counts['validate'][kind]:>9} {counts['run'][kind]:>9}")
    lines.append(
        f"{'total':<10} {sum(counts['validate'].values()):>9} {sum(counts['run'].values()):>9}"
    )
    return "\n".join(lines)


def failing_cases(outcomes: list[Outcome]) -> list[dict]:
    return [
        {
            "scenario": o.mutant.scenario,
            "mutation": o.mutant.mutation[:300],
            "command": o.command,
            "class": o.kind,
            "exit_code": o.code,
            "seconds": round(o.seconds, 1),
            "output": o.output.splitlines()[:12] if len(o.output) < 20000 else [o.output[:2000]],
            "logs": o.logs,
        }
        for o in outcomes
        if o.kind in FAILING or o.kind == "long"  # the long ones too, to read their estimate
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-scenario", type=int, default=100, help="mutants per scenario")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("mutants-failing.json"))
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per command")
    parser.add_argument("--memory-gb", type=float, default=4.0, help="address-space cap")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", help="a comma-separated list of scenarios (default: all)")
    parser.add_argument("--match", help="only the mutations whose description contains this")
    parser.add_argument("--skip-rejected", action="store_true", help="no run after a rejection")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    paths = sorted(SCENARIOS.glob("*.toml"))
    if args.only:
        paths = [p for p in paths if p.stem in args.only.split(",")]
    mutants = [m for p in paths for m in mutants_of(p, args.per_scenario, rng)]
    if args.match:  # after making all of them, so that the random ones stay the same
        mutants = [m for m in mutants if args.match in m.mutation]
    print(f"{len(mutants)} mutants of {len(paths)} scenarios, {args.workers} at a time", flush=True)
    cap = int(args.memory_gb * 2**30)
    outcomes: list[Outcome] = []
    started = time.monotonic()
    with ThreadPoolExecutor(args.workers) as pool:
        jobs = [pool.submit(try_mutant, m, args.timeout, cap, args.skip_rejected) for m in mutants]
        for i, job in enumerate(jobs, 1):
            for outcome in job.result():
                outcomes.append(outcome)
                if outcome.kind in FAILING or outcome.kind == "long":
                    print(f"  {outcome.kind:<9} {outcome.command:<8} {outcome.mutant.scenario}: "
                          f"{outcome.mutant.mutation[:100]}", flush=True)  # fmt: skip
            if i % 50 == 0:
                print(f"{i}/{len(mutants)} done, {time.monotonic() - started:.0f} s", flush=True)
    print(summary_table(outcomes))
    cases = failing_cases(outcomes)
    args.out.write_text(json.dumps(cases, indent=1, default=str), encoding="utf-8")
    failing = sum(1 for case in cases if case["class"] in FAILING)
    print(
        f"{failing} failing cases (and {len(cases) - failing} announced long runs) written to "
        f"{args.out} ({time.monotonic() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
