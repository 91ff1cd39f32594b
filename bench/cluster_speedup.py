"""How does a Dask cluster compare with local worker processes on the same machine?

Starts a ``LocalCluster`` of 2 single-threaded worker processes (what ``dask scheduler`` and
``dask worker ADDRESS --nworkers 2 --nthreads 1`` give on one machine), then times whole
``dealsim run`` commands from the outside, interpreter start-up included, in turn:

1. ``-j 1`` (for context: the speed-up of each of the others);
2. ``-j 2`` (local processes);
3. ``--scheduler ADDRESS`` (the cluster: connecting, checking the workers' versions, shipping
   the batches and their results over TCP through the scheduler).

Each is run ``--tries`` times, interleaved so that a change in the machine's load hits all three
alike, and the fastest is kept. Besides wall seconds, each run's CPU seconds are counted: the
command's and its worker processes', and for the cluster also the scheduler's and the Dask
workers' (the scheduler runs in this process). CPU seconds barely depend on what else the
machine runs, so on a shared machine they measure the cluster's overhead more faithfully than
wall time does. The load average before and after is printed; the summaries of the three are
checked to be byte-identical.

Usage: python bench/cluster_speedup.py [--scenario equipment] [--replications 1000] [--tries 3]
The figures go into the README by hand; nothing here is a test. Needs ``dealsim[dask]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil  # a dependency of dask.distributed


def _cpu_seconds(usage) -> float:
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds used by this process (the scheduler), its finished children (the dealsim
    command and its pool processes) and the live Dask worker processes."""

    def __init__(self, worker_pids: list[int]):
        self.workers = [psutil.Process(pid) for pid in worker_pids]

    def read(self) -> float:
        own = _cpu_seconds(resource.getrusage(resource.RUSAGE_SELF))
        children = _cpu_seconds(resource.getrusage(resource.RUSAGE_CHILDREN))
        workers = 0.0
        for process in self.workers:
            times = process.cpu_times()
            workers += times.user + times.system
        return own + children + workers


def dealsim_run(args: list[str], folder: Path, meter: CpuMeter) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one whole ``dealsim run`` command."""
    command = [sys.executable, "-m", "sim", "run", *args, "--no-plots", "-o", str(folder)]
    cpu_before = meter.read()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=_without_scheduler())
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return wall, meter.read() - cpu_before


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

    from distributed import Client, LocalCluster

    print(f"load average before: {load()}")
    started = time.perf_counter()
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    print(f"LocalCluster of 2 workers started in {time.perf_counter() - started:.1f} s")
    with Client(cluster) as client:
        meter = CpuMeter(list(client.run(os.getpid).values()))
    address = cluster.scheduler_address
    base = [options.scenario, "-n", str(options.replications)]
    ways = {
        "-j 1": [*base, "-j", "1"],
        "-j 2": [*base, "-j", "2"],
        "LocalCluster, 2 workers": [*base, "--scheduler", address],
    }
    wall = {name: float("inf") for name in ways}
    cpu = {name: float("inf") for name in ways}
    scratch = Path(tempfile.mkdtemp(prefix="dealsim-bench-"))
    try:
        # one untimed run on the cluster first: its workers import numpy, scipy, SimPy once
        dealsim_run([options.scenario, "-n", "4", "--scheduler", address], scratch / "w", meter)
        for attempt in range(options.tries):
            for i, (name, args) in enumerate(ways.items()):
                seconds, used = dealsim_run(args, scratch / f"{attempt}-{i}", meter)
                wall[name], cpu[name] = min(wall[name], seconds), min(cpu[name], used)
        summaries = {(scratch / f"0-{i}" / "summary.json").read_bytes() for i in range(3)}
        identical = "yes" if len(summaries) == 1 else "NO"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        cluster.close()
    print(f"load average after:  {load()}")
    print(f"\n{options.scenario}, {options.replications} replications, best of {options.tries}:")
    for name in ways:
        print(
            f"  {name:<24} {wall[name]:6.2f} s wall (speed-up over -j 1: "
            f"{wall['-j 1'] / wall[name]:.2f})   {cpu[name]:6.2f} CPU s"
        )
    cluster_name = "LocalCluster, 2 workers"
    extra_wall, extra_cpu = wall[cluster_name] - wall["-j 2"], cpu[cluster_name] - cpu["-j 2"]
    print(
        f"  cluster against -j 2: {extra_wall:+.2f} s wall "
        f"({100 * extra_wall / wall['-j 2']:+.1f}%), {extra_cpu:+.2f} CPU s "
        f"({100 * extra_cpu / cpu['-j 2']:+.1f}%); "
        f"summary.json byte-identical: {identical}"
    )


if __name__ == "__main__":
    main()
