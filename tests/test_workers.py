"""The runner's executor seam under stress: a run that ends early stops its work at once.

A pool of the runner's own is stopped whole (its workers terminated, not waited for), whether
the run is stopped while it waits for a batch or while it handles one; an executor passed in (a
Dask client's, or anyone's) stays its owner's, but what the run queued on it is cancelled.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import sim.runner
from sim.errors import Interrupted
from sim.model import compile_scenario
from sim.runner import iterate_outputs, run
from sim.scenario import load_scenario

REAL_BATCH = sim.runner.run_batch
#: Whoever waits for a batch this long has hung.
FOREVER = 60
STOPPED_WITHIN = 10


def all_but_the_first_batch_forever(model, seed, replications, *args):
    if replications.start > 0:
        time.sleep(FOREVER)
    return REAL_BATCH(model, seed, replications, *args)


@pytest.fixture
def model(tiny_scenario):
    return compile_scenario(load_scenario(tiny_scenario))


@pytest.fixture
def slow_batches(monkeypatch):
    """Batches after the first take a minute (forked workers see the patch too)."""
    monkeypatch.setattr(sim.runner, "run_batch", all_but_the_first_batch_forever)


@pytest.fixture
def stop_signal_in(monkeypatch):
    """``stop_signal_in(seconds)``: a stop signal reaches this (main) thread then."""

    def raise_interrupted(signum, frame):
        raise Interrupted(signal.SIGTERM)

    previous = signal.signal(signal.SIGALRM, raise_interrupted)
    yield lambda seconds: signal.setitimer(signal.ITIMER_REAL, seconds)
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def no_workers_left() -> bool:
    deadline = time.monotonic() + 5
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not multiprocessing.active_children()


def test_a_signal_while_waiting_for_a_batch_stops_the_workers(model, slow_batches, stop_signal_in):
    outputs = iterate_outputs(model, seed=1, replications=8, jobs=2)
    assert next(outputs).replication == 0  # the first batch is quick
    stop_signal_in(1.0)
    started = time.monotonic()
    with pytest.raises(Interrupted):
        list(outputs)  # waits for a batch that takes a minute
    assert time.monotonic() - started < STOPPED_WITHIN
    assert no_workers_left()


def test_a_signal_while_handling_an_output_stops_the_workers(model, slow_batches):
    """The output is handled outside the generator that owns the pool (issue 18's hang)."""

    def on_output(output):
        raise Interrupted(signal.SIGTERM)  # e.g. while writing its rows

    started = time.monotonic()
    try:
        run(model, seed=1, replications=8, jobs=2, on_output=on_output)
    except Interrupted as exc:
        held = exc  # its traceback keeps the suspended generator alive, as in the CLI
    assert time.monotonic() - started < STOPPED_WITHIN
    assert no_workers_left()
    assert held.__traceback__ is not None


def test_a_borrowed_executor_is_left_running_and_the_runs_queued_work_cancelled(model, monkeypatch):
    ran: list[int] = []

    def batch(model, seed, replications, *args):
        ran.append(replications.start)
        time.sleep(0.2)
        return REAL_BATCH(model, seed, replications, *args)

    monkeypatch.setattr(sim.runner, "run_batch", batch)
    with ThreadPoolExecutor(1) as borrowed:  # stands for a Dask client's executor
        outputs = iterate_outputs(model, seed=1, replications=60, jobs=2, executor=borrowed)
        assert next(outputs).replication == 0
        outputs.close()  # the consumer stops early
        started_when_closed = len(ran)
        assert borrowed.submit(sum, [1, 2]).result(timeout=30) == 3  # still its owner's
    assert len(ran) <= started_when_closed + 1  # at most the batch already running went on
