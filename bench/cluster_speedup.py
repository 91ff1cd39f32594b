"""How does a Dask cluster compare with local worker processes on the same machine?

Starts a ``LocalCluster`` of 2 single-threaded worker processes (what ``dask scheduler`` and
``dask worker ADDRESS --nworkers 2 --nthreads 1`` give on one machine), then times whole
``dealsim run`` commands from the outside, interpreter start-up included, in turn:

1. ``-j 1`` (for context: the speed-up of each of the others);
2. ``-j 2`` (local processes);
3. ``--scheduler ADDRESS`` (the cluster: connecting, checking the workers' versions, shipping
   the batches and their results over TCP).

Each is run ``--tries`` times, interleaved so that a change in the machine's load hits all three
alike, and the fastest is kept. The overhead of the cluster is its time minus that of ``-j 2``.
The load average before and after is printed, since the machine may be shared. The summaries
of the three are checked to be byte-identical.

Usage: python bench/cluster_speedup.py [--scenario equipment] [--replications 1000] [--tries 3]
The figures go into the README by hand; nothing here is a test. Needs ``dealsim[dask]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def dealsim_run(args: list[str], folder: Path) -> float:
    """Wall seconds of one whole ``dealsim run`` command."""
    command = [sys.executable, "-m", "sim", "run", *args, "--no-plots", "-o", str(folder)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=_without_scheduler())
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return time.perf_counter() - started


def _without_scheduler() -> dict[str, str]:
    """The environment without DEALSIM_SCHEDULER, so that local runs stay local."""
    return {k: v for k, v in os.environ.items() if k != "DEALSIM_SCHEDULER"}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} cores)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="equipment")
    parser.add_argument("--replications", type=int, default=1000)
    parser.add_argument("--tries", type=int, default=3)
    options = parser.parse_args()

    from distributed import LocalCluster

    print(f"load average before: {load()}")
    started = time.perf_counter()
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    print(f"LocalCluster of 2 workers started in {time.perf_counter() - started:.1f} s")
    base = [options.scenario, "-n", str(options.replications)]
    ways = {
        "-j 1": [*base, "-j", "1"],
        "-j 2": [*base, "-j", "2"],
        "LocalCluster, 2 workers": [*base, "--scheduler", cluster.scheduler_address],
    }
    best = {name: float("inf") for name in ways}
    scratch = Path(tempfile.mkdtemp(prefix="dealsim-bench-"))
    try:
        # one untimed run on the cluster first: its workers import numpy, scipy, SimPy once
        warm = [options.scenario, "-n", "4", "--scheduler", cluster.scheduler_address]
        dealsim_run(warm, scratch / "warm")
        for attempt in range(options.tries):
            for i, (name, args) in enumerate(ways.items()):
                folder = scratch / f"{attempt}-{i}"
                best[name] = min(best[name], dealsim_run(args, folder))
        summaries = {(scratch / f"0-{i}" / "summary.json").read_bytes() for i in range(3)}
        identical = "yes" if len(summaries) == 1 else "NO"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        cluster.close()
    print(f"load average after:  {load()}")
    print(f"\n{options.scenario}, {options.replications} replications, best of {options.tries}:")
    for name, seconds in best.items():
        print(f"  {name:<24} {seconds:6.2f} s   speed-up over -j 1: {best['-j 1'] / seconds:.2f}")
    overhead = best["LocalCluster, 2 workers"] - best["-j 2"]
    print(
        f"  cluster overhead against -j 2: {overhead:+.2f} s "
        f"({100 * overhead / best['-j 2']:+.1f}%); summary.json byte-identical: {identical}"
    )


if __name__ == "__main__":
    main()
