"""The two engines and the choice between them.

* ``simpy`` (:mod:`sim.simpy_engine`, :mod:`sim.deal`): the model itself, one SimPy process per
  deal meeting shared events (budget releases, market shocks) and interrupted by what moves it.
  It runs every scenario, and it is the one that writes event logs.
* ``vectorized`` (:mod:`sim.vectorized`, :mod:`sim.planner`): the same rules applied to arrays,
  every deal's story decided in bulk with numpy. It runs when deals share nothing that makes
  them wait for each other, several times faster.

Both read the same pre-drawn numbers (:mod:`sim.draws`) and give the same records for the same
scenario and seed (tests/test_engines.py holds them together). ``auto`` picks the vectorized
engine whenever it can run the scenario.

Pure: ``simulate_replication(model, seed, replication)`` returns records and does no I/O.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from sim.draws import draw_replication
from sim.errors import UserError
from sim.model import Model
from sim.records import ReplicationRecords

ENGINES = ("auto", "simpy", "vectorized")


def vectorized_obstacle(model: Model, record_events: bool = False) -> str | None:
    """Why the vectorized engine cannot run this, or None when it can."""
    if record_events:
        return "it writes no event log (events.csv, trace): the SimPy engine does"
    if model.teams:
        return "deals queue for our own people ([[team]]): they meet, so SimPy runs them"
    return None


def choose_engine(model: Model, requested: str = "auto", record_events: bool = False) -> str:
    """The engine that will run: ``requested``, or for ``auto`` the vectorized one if it can.

    Raises:
        UserError: ``vectorized`` was asked for a scenario it cannot run.
    """
    if requested not in ENGINES:
        raise UserError(f"--engine {requested}: expected one of {', '.join(ENGINES)}")
    obstacle = vectorized_obstacle(model, record_events)
    if requested == "vectorized" and obstacle is not None:
        raise UserError(f"--engine vectorized cannot run this scenario: {obstacle}")
    if requested == "auto":
        return "simpy" if obstacle is not None else "vectorized"
    return requested


def replications_per_plan(model: Model, engine: str = "auto") -> int:
    """Replications best run together in one batch: the vectorized engine plans several at
    once (see :mod:`sim.vectorized`); the SimPy engine runs one at a time."""
    if choose_engine(model, engine) != "vectorized":
        return 1
    from sim.vectorized import replications_per_plan as per_plan

    return per_plan(model)


def simulate_replication(
    model: Model, seed: int, replication: int, record_events: bool = False, engine: str = "auto"
) -> ReplicationRecords:
    """Run one replication of the scenario to its horizon."""
    return next(simulate_replications(model, seed, range(replication, replication + 1),
                                      record_events, engine))  # fmt: skip


def simulate_replications(
    model: Model,
    seed: int,
    replications: range,
    record_events: bool = False,
    engine: str = "auto",
) -> Iterator[ReplicationRecords]:
    """Run the replications in order, yielding each one's records (the same records as
    ``simulate_replication`` gives for each alone, whichever engine)."""
    chosen = choose_engine(model, engine, record_events)
    if chosen == "vectorized":
        from sim.vectorized import run_vectorized

        yield from run_vectorized(model, seed, replications)
        return
    from sim.simpy_engine import SimpyReplication

    for r in replications:
        with gc_paused():
            records = SimpyReplication(model, draw_replication(model, seed, r), record_events).run()
        yield records


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector off while a replication runs.

    A replication allocates thousands of long-lived objects (a generator, a process and its
    events per deal; arrays by the dozen), so the collector would run over and over and find
    nothing to free. Reference counting still frees everything as usual; the few cycles left
    (events pending at the horizon) are collected once the collector is back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
