"""Monte Carlo replications: seeds, parallel jobs, streaming aggregation.

Replication ``r`` always draws from ``SeedSequence(seed, spawn_key=(r, ...))`` (see
:mod:`sim.randomness`), whichever worker runs it, and the main process aggregates results in
replication order, so the output does not depend on ``jobs``.

Batches of replications are mapped over an executor with the ``concurrent.futures`` interface:
local processes by default, but any executor of that interface (dask.distributed's, Ray's) can
be passed in without touching the engine.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from sim import workers
from sim.aggregate import Aggregate, pooled_cycles, reduce_replication
from sim.allocator import keep_freed_memory
from sim.distributions import load_ahead
from sim.engine import choose_engine, replications_per_plan
from sim.model import Model
from sim.records_csv import deal_rows, event_rows
from sim.row_sink import RowFiles, RowSink, put_rows


@dataclass
class ReplicationOutput:
    """What a worker sends back for one replication: small, and formatted already."""

    replication: int
    vector: np.ndarray
    cycles: dict[str, np.ndarray]
    deal_rows: str
    event_rows: str | None
    #: The part files a worker wrote its whole batch's CSV rows to when the batch was done
    #: before its turn, named by the batch's first output (the rows fields of every output of
    #: the batch are empty when a worker took them; see sim.row_sink).
    row_files: RowFiles | None = None
    #: The outcomes' cycle times of the whole batch counted into the pooled bins, carried by
    #: its first output (the ``cycles`` of every output then hold the team waits only); see
    #: run_batch.
    cycle_counts: dict[str, np.ndarray] | None = None


def outputs_of(
    model: Model,
    seed: int,
    replications: range,
    record_events: bool,
    with_rows: bool = True,
    engine: str = "auto",
) -> Iterator[ReplicationOutput]:
    """Simulate and reduce replications one after the other, yielding each one's output.

    With parameter uncertainty each replication runs on its own drawn parameters
    (:func:`sim.uncertainty.replication_records`); the reduction uses the shared model, whose
    states and calendar they all have.
    """
    from sim.uncertainty import replication_records

    keep_freed_memory()  # in whichever process simulates: see sim.allocator
    for rec in replication_records(model, seed, replications, record_events, engine):
        vector, cycles = reduce_replication(model, rec)
        yield ReplicationOutput(
            replication=rec.replication,
            vector=vector,
            cycles=cycles,
            deal_rows=deal_rows(model, rec) if with_rows else "",
            event_rows=event_rows(model, rec) if record_events else None,
        )


def run_batch(
    model: Model,
    seed: int,
    replications: range,
    record_events: bool,
    with_rows: bool = True,
    engine: str = "auto",
    rows: RowSink | None = None,
) -> list[ReplicationOutput]:
    """Simulate and reduce a batch of replications (runs in a worker).

    With ``rows`` the batch's CSV rows go into the run's files from here, or into part files
    for the main process to append (:mod:`sim.row_sink`), instead of through the pool's pipe.
    """
    outputs = list(outputs_of(model, seed, replications, record_events, with_rows, engine))
    if outputs:
        _count_cycles_aside(model, outputs)
    if rows is not None and outputs:
        put_rows(outputs, rows, replications)
    return outputs


def _count_cycles_aside(model: Model, outputs: list[ReplicationOutput]) -> None:
    """Count the batch's cycle times into the pooled bins here, in the worker: the main process
    then adds a few count arrays a batch instead of counting every deal's cycle while the
    workers wait for their cores (counts are integers: the same whatever the grouping)."""
    pooled = pooled_cycles(model)
    counts = {}
    for name, bins in pooled.items():
        values = [out.cycles.pop(name) for out in outputs if name in out.cycles]
        if values:
            counts[name] = bins.bin_counts(np.concatenate(values))
    outputs[0].cycle_counts = counts


def default_jobs() -> int:
    """All the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def batches(replications: int, jobs: int, per_plan: int = 1) -> list[range]:
    """Split replications into batches: enough to keep every worker busy, few enough to be cheap.

    A batch holds whole planning blocks of the engine (``per_plan`` replications are planned
    together, the faster per replication the larger the block) when it is at least one block
    long; a short run keeps its small batches, so every worker still gets some. The last two
    batches' worth of each worker comes in batches a quarter of the size (whole blocks still,
    where a quarter holds one), so that the workers finish within a small batch of each other
    instead of one idling while the other ends a large one (the records do not depend on how
    replications are grouped).

    The first batches lead in: the k-th of the first ``jobs - 1`` holds (k + 1) / jobs of a
    batch, so that the workers, which start together, end their batches one after the other,
    in order, rather than all at once in any order: a batch that ends in its turn writes its
    own rows (:mod:`sim.row_sink`).
    """
    if jobs <= 1:
        return _cut(0, replications, per_plan)
    size = max(1, min(max(25, per_plan), math.ceil(replications / (jobs * 16))))
    if size >= per_plan:
        size -= size % per_plan
    tail_start = max(0, replications - 2 * jobs * size)
    tail_start -= tail_start % size  # the batches before the tail stay whole
    quarter = math.ceil(size / 4)
    if quarter >= per_plan:
        quarter -= quarter % per_plan
    lead = _lead_in(size, per_plan, jobs, tail_start)
    ends = [0, *itertools.accumulate(lead)]
    led = [range(a, b) for a, b in itertools.pairwise(ends)]
    return led + _cut(ends[-1], tail_start, size) + _cut(tail_start, replications, quarter)


def _lead_in(size: int, per_plan: int, jobs: int, room: int) -> list[int]:
    """The sizes of the first batches, (k + 1) / jobs of ``size`` each (whole planning blocks
    where a batch holds some), within the ``room`` before the tail; none where they would not
    differ."""
    step = per_plan if size >= 2 * per_plan else 1
    sizes = [max(step, size * (k + 1) // jobs // step * step) for k in range(jobs - 1)]
    if len(set(sizes)) < len(sizes) or sizes[-1] >= size or sum(sizes) > room:
        return []
    return sizes


def _cut(start: int, stop: int, size: int) -> list[range]:
    """``start``..``stop`` in ranges of ``size`` (the last one shorter)."""
    return [range(first, min(first + size, stop)) for first in range(start, stop, size)]


def iterate_outputs(
    model: Model,
    seed: int,
    replications: int,
    jobs: int,
    record_events: bool = False,
    with_rows: bool = True,
    executor: Executor | None = None,
    engine: str = "auto",
    rows: RowSink | None = None,
) -> Iterator[ReplicationOutput]:
    """Yield every replication's output in replication order, computing ahead in parallel.

    Close the iterator when you stop early (``run`` does, on any exception): that stops the
    worker processes at once (see :mod:`sim.workers`), whatever they are doing.

    ``rows``: the run's CSV files on this machine, which the workers of our own pool write
    their batches' rows into (:mod:`sim.row_sink`); outputs then carry no rows, or name part
    files. Ignored on one job and with an executor passed in, whose workers may be on other
    machines.
    """
    engine = choose_engine(model, engine, record_events)
    if jobs <= 1 and executor is None:
        yield from outputs_of(model, seed, range(replications), record_events, with_rows, engine)
        return
    work = batches(replications, jobs, replications_per_plan(model, engine))
    if executor is not None or not (with_rows or record_events):
        rows = None
    window: deque = deque()
    # This process receives every batch's results (megabytes of deals.csv rows a batch): with
    # glibc's defaults each arrives in freshly mapped pages that the kernel must zero, which
    # the workers wait for on a machine with as many cores as workers (measured on the chain
    # with two jobs: half the page faults in this process, the run 8% faster, median of six
    # alternating pairs).
    keep_freed_memory()
    if executor is None and multiprocessing.get_start_method() == "fork":
        load_ahead(model.scenario)  # once here, not once in every worker forked from here
    with workers.pool(jobs, executor) as pool:
        try:

            def submit(batch: range) -> None:
                window.append(
                    pool.submit(
                        workers.call,
                        run_batch,
                        model,
                        seed,
                        batch,
                        record_events,
                        with_rows,
                        engine,
                        rows,
                    )  # fmt: skip
                )

            pending = iter(work)
            # Keep a few batches per worker in flight; results are consumed in submission order.
            for batch in pending:
                submit(batch)
                if len(window) >= 3 * jobs:
                    break
            while window:
                outputs = workers.result_of(window.popleft())
                batch = next(pending, None)
                if batch is not None:
                    submit(batch)
                yield from outputs
        finally:
            if executor is not None:  # a pool of our own is stopped whole by workers.pool
                workers.cancel(window)


def run(
    model: Model,
    seed: int,
    replications: int,
    jobs: int = 1,
    record_events: bool = False,
    on_output: Callable[[ReplicationOutput], None] | None = None,
    progress: Callable[[int], None] | None = None,
    matrix: np.ndarray | None = None,
    executor: Executor | None = None,
    engine: str = "auto",
    with_rows: bool = True,
    rows: RowSink | None = None,
) -> Aggregate:
    """Run the replications and aggregate them.

    Args:
        on_output: called with each replication's output in order (the results writer appends
            its CSV rows); when None, rows are not even formatted.
        progress: called with the number of replications done so far.
        matrix: storage for the per-replication vectors (a memmap keeps memory flat).
        rows: the run's CSV files, which local workers may write their rows into (see
            :func:`iterate_outputs`); ``on_output`` then appends only the part files of the
            batches done before their turn (``row_files``).
    """
    aggregate = Aggregate(model, replications, matrix)
    outputs = iterate_outputs(
        model, seed, replications, jobs, record_events, on_output is not None and with_rows,
        executor, engine, rows,
    )  # fmt: skip
    # Closed on any exception here too, not only in the generator: an exception raised while an
    # output is handled (a stop signal, most likely, while a large one is written) must stop
    # the workers now, not when the suspended generator happens to be collected.
    with contextlib.closing(outputs):
        for output in outputs:
            aggregate.add(output.vector, output.cycles, output.cycle_counts)
            if on_output is not None:
                on_output(output)
            if progress is not None:
                progress(aggregate.done)
    return aggregate
