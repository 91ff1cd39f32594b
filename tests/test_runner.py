"""The runner: any concurrent.futures executor, results independent of how work is spread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from sim.model import compile_scenario
from sim.runner import batches, run
from sim.scenario import load_scenario


def test_batches_cover_every_replication_once_in_order():
    for replications, jobs in [(1, 1), (7, 1), (100, 2), (1000, 8)]:
        for per_plan in (1, 3, 7, 16):
            work = batches(replications, jobs, per_plan)
            flat = [r for batch in work for r in batch]
            assert flat == list(range(replications))
            if jobs > 1 and len(work[0]) >= per_plan:  # whole planning blocks
                assert all(len(batch) % per_plan == 0 for batch in work[:-1])


def test_an_outside_executor_gives_the_same_aggregate():
    """Where a cluster engine (dask, Ray) would plug in: the results must not move."""
    model = compile_scenario(load_scenario("transactional"))
    alone = run(model, seed=4, replications=12, jobs=1)
    with ThreadPoolExecutor(max_workers=3) as pool:
        spread = run(model, seed=4, replications=12, jobs=3, executor=pool)
    np.testing.assert_array_equal(alone.matrix, spread.matrix)
    assert alone.summary() == spread.summary()
