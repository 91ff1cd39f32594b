"""How fast is a whole `dealsim run` on each engine, against SimPy ceilings of the same shape?

Measures, on this machine, in one sitting (the figures of the README's Speed section):

1. the ceilings: raw SimPy shaped like deals (2,000 concurrent processes that each make 4 bare
   timeouts), and the same processes whose every visit requests, holds and
   releases a person of a ``simpy.Resource``, then spends its own timeout (the shape of a run
   with a team at every stage); best of several rounds, measured right before and right after
   every timed command, so that each run is set against the ceiling of its own minutes;
2. stage visits per second of whole `dealsim run` commands on one job (timed from outside,
   interpreter start-up included, deals.csv written; the commands run in turns, the fastest
   try kept, against the higher of the two ceilings around it): the pure chain and the
   bundled `portfolio` book (every stall mechanism on) on the vectorized and on the SimPy
   engine; the chain with a team at every stage (SimPy, against the teams ceiling); the chain
   with an event log (SimPy: the vectorized engine writes none);
3. the speed-up of two jobs over one on runs of about ten seconds, for both engines (one-job
   and two-job runs in turns), beside the machine's own limit: two independent one-job runs
   of half the replications started together;
4. where the vectorized engine's time goes inside a run: draws (the pages of visit numbers the
   planner draws as deals need them included), planning, records, aggregation, deals.csv rows;
5. scale: visits per second of the vectorized engine from 2,000 to 200,000 deals per
   replication (the three sizes run in turns, twice the tries: runs of a second or so); peak
   memory of a run from 100 to 10,000 replications.

Usage: python bench/speed.py [--tries T] [--quick]
The figures go into the README by hand; nothing here is a test.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import simpy

HERE = Path(__file__).resolve().parent
CHAIN = str(HERE / "chain4.toml")
TEAMS = str(HERE / "teams4.toml")


# --- ceilings -------------------------------------------------------------------------------


def ceiling(rounds: int = 7, processes: int = 2000, timeouts: int = 4) -> float:
    """Bare SimPy timeouts per second, in processes shaped like deals (best round)."""

    def deal(env):
        for _ in range(timeouts):
            yield env.timeout(1.0)

    return _best(rounds, processes * timeouts, lambda env: [env.process(deal(env))
                                                            for _ in range(processes)])  # fmt: skip


def teams_ceiling(rounds: int = 7, processes: int = 2000, visits: int = 4) -> float:
    """Visits per second of processes shaped like deals with a team at every stage: each visit
    requests one of 400 people of a Resource, holds them for a timeout, releases them, then
    spends a timeout of its own (the stage's time once our work is done)."""

    def deal(env, people):
        for _ in range(visits):
            with people.request() as request:
                yield request
                yield env.timeout(1.0)
            yield env.timeout(1.0)

    def start(env):
        people = simpy.Resource(env, capacity=400)
        return [env.process(deal(env, people)) for _ in range(processes)]

    return _best(rounds, processes * visits, start)


def _best(rounds: int, timeouts: int, start) -> float:
    best = 0.0
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(5):
            env = simpy.Environment()
            start(env)
            env.run()
        best = max(best, 5 * timeouts / (time.perf_counter() - began))
    return best


# --- whole commands -------------------------------------------------------------------------


def timed_run(scenario: str, replications: int, jobs: int, *options: str) -> dict:
    """Wall seconds, peak memory (MB) and the manifest of a whole `dealsim run` command."""
    out = Path(tempfile.mkdtemp()) / "run"
    began = time.perf_counter()
    done = subprocess.run(
        _command(scenario, replications, jobs, out, options), check=True, capture_output=True,
        text=True,
    )  # fmt: skip
    wall = time.perf_counter() - began
    manifest = json.loads((out / "manifest.json").read_text())
    shutil.rmtree(out.parent)
    return {"wall": wall, "peak_mb": float(done.stdout.split()[-1]), "manifest": manifest}


def side_by_side(scenario: str, replications: int, *options: str) -> float:
    """Wall seconds of two independent one-job commands of ``replications`` each, started
    together: what this machine gives two processes that share nothing but its cores, memory
    and disk, the most a two-job run of twice the replications could hope for."""
    folder = Path(tempfile.mkdtemp())
    try:
        began = time.perf_counter()
        children = [
            subprocess.Popen(
                _command(scenario, replications, 1, folder / f"run{i}", options),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for i in range(2)
        ]
        errors = [child.communicate()[1] for child in children]  # both waited for
        wall = time.perf_counter() - began
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if any(child.returncode != 0 for child in children):
        raise SystemExit(f"side-by-side runs of {scenario} failed:\n" + "".join(errors))
    return wall


def _command(scenario: str, replications: int, jobs: int, out: Path, options) -> list[str]:
    return [
        sys.executable, "-c", _CHILD, "run", scenario, "-n", str(replications), "-j", str(jobs),
        "-o", str(out), "--no-plots", *options,
    ]  # fmt: skip


# The child runs dealsim and prints the peak memory of itself and its workers (MB).
_CHILD = """
import resource, sys
from sim.cli import main
code = main(sys.argv[1:])
peak = max(resource.getrusage(who).ru_maxrss for who in
           (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(peak / 1024)
sys.exit(code)
"""


def best_runs(commands: dict, tries: int, ceilings: dict | None = None) -> dict:
    """The best of ``tries`` runs of each command, ``key: (scenario, replications, jobs,
    *options)`` (the machine's other load only ever slows a run).

    The commands run in turns, one try of each after the other: the speed of this virtual
    machine's cores drifts by tens of percent within minutes, and figures set against each
    other (a scale series, engines against a ceiling) should each get their share of its fast
    and slow minutes, not one the fast ones and another the slow. A command with a ceiling in
    ``ceilings`` (``key: function``) has it measured right before and right after each of
    its tries; its run keeps the higher of the two (``run["ceiling"]``, and both in
    ``run["ceilings"]``), so that a run is never set against a ceiling of slower minutes.
    """
    ceilings = ceilings or {}
    runs: dict = {key: [] for key in commands}
    for _ in range(tries):
        for key, command in commands.items():
            measure = ceilings.get(key)
            before = measure() if measure else None
            run = timed_run(*command)
            if measure:
                run["ceilings"] = (before, measure())
                run["ceiling"] = max(run["ceilings"])
            runs[key].append(run)
    best = {key: min(found, key=lambda run: run["wall"]) for key, found in runs.items()}
    for key, run in best.items():  # every ceiling of the command's turns, to show the drift
        run["turn_ceilings"] = [value for tried in runs[key] for value in tried.get("ceilings", ())]
    return best


def paired_runs(scenario: str, replications: int, tries: int, *options) -> dict:
    """The best one-job run, two-job run and side-by-side pair of one-job runs of half the
    replications, of ``tries`` rounds run one after the other."""
    ones, twos, halves = [], [], []
    for _ in range(tries):
        ones.append(timed_run(scenario, replications, 1, *options)["wall"])
        twos.append(timed_run(scenario, replications, 2, *options)["wall"])
        halves.append(side_by_side(scenario, replications // 2, *options))  # n is even here
    return {"one": min(ones), "two": min(twos), "halves": min(halves)}


def report(label: str, run: dict, ceiling_name: str = "ceiling") -> float:
    """One line: the run's visits per second against the ceiling of its own turn."""
    manifest, top = run["manifest"], run["ceiling"]
    rate = manifest["stage_visits"] / run["wall"]
    inside = manifest["stage_visits"] / manifest["wall_seconds"]
    before, after = run["ceilings"]
    print(
        f"  {label:<28} {manifest['stage_visits']:>11,} visits in {run['wall']:6.2f} s: "
        f"{rate:>10,.0f}/s = {rate / top:5.2f} x the {ceiling_name} of its turn "
        f"({before:,.0f} before, {after:,.0f} after; without start-up {inside / top:5.2f} x; "
        f"engine {manifest['engine']})"
    )
    return rate / top


# --- inside the vectorized engine -------------------------------------------------------------


def breakdown(scenario: str, replications: int) -> dict[str, float]:
    """Seconds of each step of the vectorized engine over a run, measured in this process.

    The planner draws the pages of visit numbers as deals need them (a page for every deal of
    a block the first time any deal reaches it); that time is spent drawing random numbers,
    so it is counted under draws, not planning.
    """
    from sim.aggregate import reduce_replication
    from sim.draws import DealTables, draw_replication
    from sim.engine import gc_paused
    from sim.model import compile_scenario
    from sim.planner import PageMemory
    from sim.records_csv import deal_rows
    from sim.scenario import load_scenario
    from sim.vectorized import plan_replications, records_from_plan, replications_per_plan

    model = compile_scenario(load_scenario(scenario))
    size = replications_per_plan(model)
    plan_replications(model, [draw_replication(model, 1, 0)])  # imports and tables: not a step
    memory = PageMemory()  # as a run: the blocks draw into the same memory
    spent = dict.fromkeys(("draws", "planning", "records", "aggregation", "deals.csv rows"), 0.0)
    clock = time.perf_counter
    drawing = DealTables.draw_uniforms
    lazy = [0.0]  # seconds of pages drawn inside the planner

    def timed_draw(self, *args):
        began = clock()
        try:
            return drawing(self, *args)
        finally:
            lazy[0] += clock() - began

    DealTables.draw_uniforms = timed_draw
    try:
        with gc_paused():
            for first in range(0, replications, size):
                began = clock()
                block = range(first, min(replications, first + size))
                draws = [draw_replication(model, 1, r) for r in block]
                planned = clock()
                lazy[0] = 0.0
                plan = plan_replications(model, draws, memory)
                recorded = clock()
                records, start = [], 0
                for rep in draws:
                    records.append(records_from_plan(model, rep, plan.part(start, start + rep.n)))
                    start += rep.n
                reduced = clock()
                for rec in records:
                    reduce_replication(model, rec)
                rows = clock()
                for rec in records:
                    deal_rows(model, rec)
                end = clock()
                for key, a, b in (("draws", began, planned), ("planning", planned, recorded),
                                  ("records", recorded, reduced), ("aggregation", reduced, rows),
                                  ("deals.csv rows", rows, end)):  # fmt: skip
                    spent[key] += b - a
                spent["draws"] += lazy[0]
                spent["planning"] -= lazy[0]
    finally:
        DealTables.draw_uniforms = drawing
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=3, help="runs of each command (best kept)")
    parser.add_argument("--quick", action="store_true", help="runs 10x shorter (a smoke test)")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    n = {  # replications for runs of about ten seconds on this machine, one job
        ("chain", "vectorized"): 5600 // scale,
        ("chain", "simpy"): 500 // scale,
        ("portfolio", "vectorized"): 1600 // scale,
        ("portfolio", "simpy"): 400 // scale,
        ("teams", "simpy"): 300 // scale,
    }
    load = os.getloadavg()[0]
    print(f"Machine: {os.cpu_count()} cores, load average {load:.2f} at the start\n")
    # An installed package has its byte code written at install time (pip does); a checkout
    # run with PYTHONDONTWRITEBYTECODE set (as on this machine) would compile every module of
    # sim at each start, in the main process of every timed command.
    compileall.compile_dir(str(HERE.parent / "sim"), quiet=1)

    scenarios = {"chain": CHAIN, "portfolio": "portfolio", "teams": TEAMS}
    commands = {
        (name, engine): (scenarios[name], reps, 1, "--engine", engine)
        for (name, engine), reps in n.items()
    }
    commands["logged"] = (CHAIN, n["chain", "simpy"] // 2, 1, "--events")
    # Each command's ceiling is measured in its own turns, before and after every try.
    ceilings = {key: teams_ceiling if key == ("teams", "simpy") else ceiling for key in commands}
    runs = best_runs(commands, args.tries, ceilings)
    logged = runs.pop("logged")
    # The speed-up from one job and two jobs run in turns, each the best of its tries: the
    # speed of this virtual machine's cores drifts by tens of percent within minutes, and a
    # pair run side by side sees the same machine.
    two = {}
    for key in n:
        if key[0] != "teams":
            scenario = {"chain": CHAIN, "portfolio": "portfolio"}[key[0]]
            two[key] = paired_runs(scenario, n[key], args.tries, "--engine", key[1])

    teams_seen = runs["teams", "simpy"]["turn_ceilings"]
    seen = [value for key, run in (*runs.items(), ("logged", logged)) if key != ("teams", "simpy")
            for value in run["turn_ceilings"]]  # fmt: skip
    print("Ceilings (raw SimPy, best of 7 rounds, measured before and after every try of every")
    print("command; each run is set against the higher of the two around it)")
    print(f"  deal-shaped: 2,000 processes x 4 timeouts: {min(seen):,.0f} to {max(seen):,.0f} "
          "timeouts/s over the sitting's turns")  # fmt: skip
    print(f"  the same, each visit requesting, holding and releasing one of 400 people of a "
          f"Resource, then its own timeout: {min(teams_seen):,.0f} to {max(teams_seen):,.0f} "
          "visits/s around the teams runs\n")  # fmt: skip
    print("Whole `dealsim run` commands, one job")
    for (name, engine), run in runs.items():
        report(f"{name}, {engine}", run, "teams ceiling" if name == "teams" else "ceiling")
    report("chain, simpy, with --events", logged)
    print("\nTwo jobs against one (runs of about ten seconds)")
    print("  (the machine's own limit: two independent one-job runs of half the replications,")
    print("   side by side, against the one-job run)")
    for (name, engine), times in two.items():
        one, run, halves = times["one"], times["two"], times["halves"]
        print(f"  {name + ', ' + engine:<22} {run:6.2f} s against {one:6.2f} s: speed-up "
              f"{one / run:.2f} (side by side: {halves:6.2f} s, {one / halves:.2f})")  # fmt: skip

    print("\nWhere the vectorized engine's time goes (inside one process)")
    for name, scenario, reps in (("chain", CHAIN, 400 // scale),
                                 ("portfolio", "portfolio", 300 // scale)):  # fmt: skip
        spent = breakdown(scenario, reps)
        total = sum(spent.values())
        parts = ", ".join(f"{key} {100 * value / total:.0f}%" for key, value in spent.items())
        print(f"  {name:<10} {total:6.2f} s: {parts}")

    print("\nScale: the vectorized engine from 2,000 to 200,000 deals per replication")
    sizes = {
        deals: (CHAIN, max(2, reps // scale), 1, "--set", f"deals.initial.lead={deals}",
                "--deals", "none")
        for deals, reps in ((2_000, 1000), (20_000, 100), (200_000, 10))
    }  # fmt: skip
    # Runs of a second or so, where one slow minute of this machine's cores moves a size by
    # tens of percent: twice the tries, so that every size's best comes from fast minutes alike.
    for deals, run in best_runs(sizes, 2 * args.tries).items():
        rate = run["manifest"]["stage_visits"] / run["manifest"]["wall_seconds"]
        print(f"  {deals:>9,} deals: {rate:>12,.0f} visits/s inside the run, peak "
              f"{run['peak_mb']:,.0f} MB")  # fmt: skip
    print("\nMemory: peak of a whole run (200 deals per replication, deals.csv written)")
    for reps in (100, 1_000, 10_000):
        run = timed_run(CHAIN, max(2, reps // scale), 1, "--set", "deals.initial.lead=200")
        print(f"  {reps:>7,} replications: {run['peak_mb']:7,.0f} MB in {run['wall']:.1f} s")
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.2f}")
    _ = resource  # the child measures its own peak memory


if __name__ == "__main__":
    main()
