"""How fast is a whole `dealsim run`, against the ceiling of one SimPy process per deal?

Measures, on this machine, in one sitting:

1. the ceiling: raw SimPy shaped like deals (2000 concurrent processes that each make 4 bare
   timeouts, DESIGN section 6), in timeouts per second (best of several rounds); and, for
   context only, the same with exponential delays instead of equal ones (SimPy's event heap
   works harder when no two events fall at the same time, as with real deals);
2. stage visits per second of a whole `dealsim run` on one job (the command timed from the
   outside, interpreter start-up included), for a pure chain, for the bundled `portfolio`
   scenario (2,000 open deals run off with all four stall mechanisms switched on), and for the
   same book with 60 new enquiries a month over two years;
3. the speed-up of two jobs over one on runs of about ten seconds (the pure chain, the
   portfolio).

Usage: python bench/speed.py [--replications N] [--mechanisms-replications M] [--tries T]
The figures go into the README by hand; nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import simpy

HERE = Path(__file__).resolve().parent
CHAIN = HERE / "chain4.toml"


def ceiling(rounds: int = 7, processes: int = 2000, timeouts: int = 4) -> float:
    """Bare SimPy timeouts per second, in processes shaped like deals (best round)."""

    def deal(env):
        for _ in range(timeouts):
            yield env.timeout(1.0)

    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(5):
            env = simpy.Environment()
            for _ in range(processes):
                env.process(deal(env))
            env.run()
        best = max(best, 5 * processes * timeouts / (time.perf_counter() - started))
    return best


def ceiling_with_spread_delays(rounds: int = 7, processes: int = 2000, timeouts: int = 4) -> float:
    """As ``ceiling``, but each timeout has its own exponential delay (drawn beforehand), as
    deals' stage times do: no two events fall at the same time. Context only, not the bar."""

    def deal(env, delays):
        for delay in delays:
            yield env.timeout(delay)

    best = 0.0
    for _ in range(rounds):
        delays = [[random.expovariate(1.0) for _ in range(timeouts)] for _ in range(processes)]
        started = time.perf_counter()
        for _ in range(5):
            env = simpy.Environment()
            for mine in delays:
                env.process(deal(env, mine))
            env.run()
        best = max(best, 5 * processes * timeouts / (time.perf_counter() - started))
    return best


def timed_run(
    scenario: str, replications: int, jobs: int, options: tuple[str, ...] = ()
) -> tuple[float, dict]:
    """Wall seconds of the whole command, and its manifest."""
    out = Path(tempfile.mkdtemp()) / "run"
    command = [
        sys.executable, "-m", "sim", "run", scenario, "-n", str(replications),
        "-j", str(jobs), "-o", str(out), "--no-plots", *options,
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    manifest = json.loads((out / "manifest.json").read_text())
    shutil.rmtree(out.parent)
    return wall, manifest


def best_run(
    scenario: str, replications: int, tries: int, options: tuple[str, ...] = ()
) -> tuple[float, dict]:
    """Best of ``tries`` whole commands (the machine's other load only ever slows a run down)."""
    return min((timed_run(scenario, replications, 1, options) for _ in range(tries)),
               key=lambda run: run[0])  # fmt: skip


def report(label: str, run: tuple[float, dict], top: float) -> None:
    wall, manifest = run
    rate = manifest["stage_visits"] / wall
    in_run = manifest["stage_visits"] / manifest["wall_seconds"]
    print(
        f"{label:<28} {manifest['stage_visits']:>10,} visits in {wall:6.2f} s: "
        f"{rate:>9,.0f} visits/s = {rate / top:.2f} of the ceiling "
        f"(inside the run, without start-up: {in_run:,.0f}/s = {in_run / top:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=500)  # ~10 s on one job
    parser.add_argument("--mechanisms-replications", type=int, default=400)  # ~10 s
    parser.add_argument("--tries", type=int, default=3, help="runs of each command (best kept)")
    args = parser.parse_args()

    before = ceiling()
    spread = ceiling_with_spread_delays()
    chain = best_run(str(CHAIN), args.replications, args.tries)
    mechanisms = args.mechanisms_replications
    portfolio = best_run("portfolio", mechanisms, args.tries)
    inflow = ("--set", "deals.arrivals_per_month=60", "--set", "horizon_days=730")
    with_inflow = best_run("portfolio", mechanisms // 2, args.tries, inflow)
    chain_two = min(timed_run(str(CHAIN), args.replications, 2)[0] for _ in range(args.tries))
    portfolio_two = min(timed_run("portfolio", mechanisms, 2)[0] for _ in range(args.tries))
    after = ceiling()

    # The runs are set against the higher of the two ceilings: the harder bar.
    top = max(before, after)
    print(f"{'ceiling (raw SimPy)':<28} {top:>36,.0f} timeouts/s "
          f"(before the runs {before:,.0f}, after {after:,.0f})")  # fmt: skip
    print(f"{'  with exponential delays':<28} {spread:>36,.0f} timeouts/s (context only)")
    report("pure chain, 1 job", chain, top)
    report("portfolio (all mechanisms)", portfolio, top)
    report("  + 60 enquiries/month, 2 y", with_inflow, top)
    for label, (one, two) in (
        ("pure chain, 2 jobs", (chain[0], chain_two)),
        ("portfolio, 2 jobs", (portfolio[0], portfolio_two)),
    ):
        print(f"{label:<28} {two:6.2f} s against {one:.2f} s: speed-up {one / two:.2f}")


if __name__ == "__main__":
    main()
