"""Many scenario points, each run on the same seed and replications, spread over an executor.

A sensitivity analysis runs the scenario at many points (a tornado's ends, a Sobol design).
Each task is one point's batch of replications and sends back only one metric per replication,
so that a Dask cluster (:mod:`sim.cluster`) or local processes run many points at once. The
values do not depend on who ran what: replication ``r`` of every point draws from its own keyed
seed (common random numbers), whichever worker runs it and however the batches are cut.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, wait

import numpy as np

from sim import workers
from sim.model import Model

__all__ = ["CYCLE_PERCENTILES", "evaluate_points", "metric_values"]

#: Metrics computed from each replication's won cycles (the others come from
#: ``Aggregate.per_replication``): name -> percentile.
CYCLE_PERCENTILES = {"cycle_p10": 10, "cycle_p50": 50, "cycle_p90": 90}


def metric_values(model: Model, seed: int, replications: range, metric: str) -> np.ndarray:
    """One metric of each replication of one point (runs in a worker process or on a cluster).

    A replication without a value (a cycle percentile when nothing was won) gives nan.
    """
    from sim.aggregate import Aggregate
    from sim.runner import outputs_of

    aggregate = Aggregate(model, len(replications))
    percentiles = []
    for output in outputs_of(model, seed, replications, record_events=False, with_rows=False):
        aggregate.add(output.vector, output.cycles)
        if metric in CYCLE_PERCENTILES:
            won = output.cycles["won"]
            q = CYCLE_PERCENTILES[metric]
            percentiles.append(float(np.percentile(won, q)) if len(won) else math.nan)
    if metric in CYCLE_PERCENTILES:
        return np.array(percentiles)
    return np.asarray(aggregate.per_replication()[metric], dtype=float)


def _tasks(models: list[Model], replications: int, jobs: int) -> list[tuple[int, range]]:
    """(point, batch) pairs: few points are split into batches to keep every worker busy,
    many points run whole (a batch of whole planning blocks is the fastest unit)."""
    from sim.engine import replications_per_plan
    from sim.runner import batches

    per_point_jobs = max(1, math.ceil(jobs / len(models)))
    return [
        (i, batch)
        for i, model in enumerate(models)
        for batch in batches(replications, per_point_jobs, replications_per_plan(model))
    ]


def evaluate_points(
    models: list[Model],
    seed: int,
    replications: int,
    metric: str,
    *,
    jobs: int = 1,
    executor: Executor | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """The metric of every replication at every point: a (points, replications) array.

    Tasks go to ``executor`` (a Dask cluster's) or, with ``jobs`` > 1, to local processes
    (:func:`sim.workers.pool`: a stop signal or an error stops them at once, as in a run);
    ``progress`` is called with the replications done, in the order the workers finish them.
    """
    values = np.full((len(models), replications), np.nan)
    done = 0
    if executor is None and jobs <= 1:
        for i, model in enumerate(models):
            values[i] = metric_values(model, seed, range(replications), metric)
            done += replications
            if progress is not None:
                progress(done)
        return values
    pending = iter(_tasks(models, replications, jobs))
    running: dict = {}
    window = 4 * max(jobs, 1)  # enough in flight to keep the workers busy, memory bounded
    # A pool of our own is stopped whole by workers.pool when anything (a stop signal, an
    # error in a point) ends this early; a cluster's futures are cancelled here.
    with workers.pool(jobs, executor) as pool:

        def top_up() -> None:
            while len(running) < window:
                task = next(pending, None)
                if task is None:
                    return
                i, batch = task
                future = pool.submit(workers.call, metric_values, models[i], seed, batch, metric)
                running[future] = task

        try:
            top_up()
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    i, batch = running.pop(future)
                    values[i, batch.start : batch.stop] = workers.result_of(future)
                    done += len(batch)
                    if progress is not None:
                        progress(done)
                top_up()
        finally:
            if executor is not None:
                workers.cancel(running)
    return values
