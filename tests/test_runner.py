"""The runner: any concurrent.futures executor, results independent of how work is spread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from sim.model import compile_scenario
from sim.runner import batches, run
from sim.scenario import load_scenario


def test_batches_cover_every_replication_once_in_order():
    for replications, jobs in [(1, 1), (7, 1), (100, 2), (1000, 8), (1600, 2)]:
        for per_plan in (1, 3, 7, 16, 32):
            work = batches(replications, jobs, per_plan)
            flat = [r for batch in work for r in batch]
            assert flat == list(range(replications))
            if jobs == 1:
                assert all(len(batch) == per_plan for batch in work[:-1])


def test_batches_hold_whole_blocks_then_end_in_small_ones():
    """Whole planning blocks while the run is long; each worker's last two batches' worth in
    batches a quarter of the size, so that no worker idles long while another ends a large one."""
    for replications, jobs, per_plan in [
        (1600, 2, 32),
        (1000, 2, 7),
        (400, 2, 1),
        (5000, 8, 3),
        (2000, 2, 5),
    ]:
        work = batches(replications, jobs, per_plan)
        size = max(map(len, work))
        assert size >= per_plan and size % per_plan == 0
        lead = work[: next(k for k, batch in enumerate(work) if len(batch) == size)]
        assert len(lead) <= jobs - 1  # the lead-in: see the test below
        small = [batch for batch in work[len(lead) :] if len(batch) < size]
        if len(small[0]) > -(-size // 4):  # the batch before the tail, cut by the lead-in
            small = small[1:]
        assert small == work[-len(small) :]  # the small ones come last
        assert all(len(batch) <= -(-size // 4) for batch in small)
        if len(small[0]) >= per_plan:  # whole blocks still
            assert all(len(batch) % per_plan == 0 for batch in small[:-1])
        assert sum(map(len, small)) < (2 * jobs + 1) * size
        assert len(small) >= 2 * jobs  # at least two small ones for each worker


def test_the_first_batches_lead_in_so_that_workers_end_them_one_after_the_other():
    """Workers start together: batches of one size would end at once, in any order; led in by
    batches of 1/jobs, 2/jobs ... of the size, each ends after the one before (then a batch in
    its turn writes its own rows, sim.row_sink)."""
    assert [len(b) for b in batches(400, 2, 1)[:3]] == [6, 13, 13]
    assert [len(b) for b in batches(4000, 4, 1)[:5]] == [6, 12, 18, 25, 25]
    assert [len(b) for b in batches(1600, 2, 8)[:3]] == [8, 24, 24]  # whole blocks still
    assert [len(b) for b in batches(1000, 8, 3)[:2]] == [6, 6]  # too small to differ: none
    assert all(len(b) == 1 for b in batches(12, 2, 1))


def test_an_outside_executor_gives_the_same_aggregate():
    """Where a cluster engine (dask, Ray) would plug in: the results must not move."""
    model = compile_scenario(load_scenario("transactional"))
    alone = run(model, seed=4, replications=12, jobs=1)
    with ThreadPoolExecutor(max_workers=3) as pool:
        spread = run(model, seed=4, replications=12, jobs=3, executor=pool)
    np.testing.assert_array_equal(alone.matrix, spread.matrix)
    assert alone.summary() == spread.summary()


def test_the_main_process_keeps_freed_memory_when_workers_send_it_their_results(monkeypatch):
    """It receives megabytes of rows a batch: its allocator is tuned as a worker's is."""
    import threading

    import sim.runner as runner

    callers = []
    monkeypatch.setattr(
        runner, "keep_freed_memory", lambda: callers.append(threading.current_thread())
    )
    model = compile_scenario(load_scenario("transactional"))
    with ThreadPoolExecutor(max_workers=2) as pool:  # threads: every call is seen here
        run(model, seed=4, replications=4, jobs=2, executor=pool)
    assert threading.main_thread() in callers  # not only the workers (the pool's threads)
    assert any(caller is not threading.main_thread() for caller in callers)


def test_a_batch_counts_its_cycles_into_the_bins_the_main_process_would():
    """run_batch counts its outcomes' cycle times itself (the main process of a two-job run
    counted every deal's while the workers waited): the pooled percentiles are the same."""
    from sim.aggregate import Aggregate
    from sim.model import compile_scenario
    from sim.runner import outputs_of, run_batch
    from sim.scenario import load_scenario

    model = compile_scenario(load_scenario("portfolio"))
    one = Aggregate(model, 6)
    for out in outputs_of(model, 5, range(6), record_events=False, with_rows=False):
        one.add(out.vector, out.cycles)
    batched = Aggregate(model, 6)
    for batch in (range(0, 4), range(4, 6)):
        outputs = run_batch(model, 5, batch, False, with_rows=False)
        assert outputs[0].cycle_counts and all(o.cycle_counts is None for o in outputs[1:])
        assert not any(name in o.cycles for o in outputs for name in ("won", "lost"))
        for out in outputs:
            batched.add(out.vector, out.cycles, out.cycle_counts)
    assert batched.summary() == one.summary()
    for name, pooled in one.cycles.items():
        assert pooled.n > 0 and (batched.cycles[name].counts == pooled.counts).all(), name
