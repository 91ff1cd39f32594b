"""Scale-out on a Dask cluster: a ``concurrent.futures`` executor backed by ``dask.distributed``.

The runner maps batches of replications over any executor of the ``concurrent.futures``
interface (:func:`sim.runner.iterate_outputs`); sweeps, comparisons, ``explain`` and
``sensitivity`` pass theirs down to it. This module only provides one that sends the batches to
a Dask scheduler, so that nothing else knows about Dask:

    with sim.cluster.connect("tcp://10.0.0.5:8786") as executor:
        run = sim.simulate("equipment", replications=5000, executor=executor)

Results do not depend on the executor: replication ``r`` draws from its own keyed seed whoever
runs it, and the main process aggregates in replication order, so ``summary.json`` is
byte-identical to a local run. A batch is a pure function of its arguments, which is what makes
Dask's retries safe: a task whose worker dies is recomputed on another worker by the scheduler,
and a task that raises is tried again up to :data:`RETRIES` times, with the same result.

Dask is an optional extra (``pip install "dealsim[dask]"``); it is imported only here, and only
when a scheduler is asked for.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any

from sim.errors import UserError

#: The environment variable that gives the scheduler when ``--scheduler`` is not given.
SCHEDULER_ENV = "DEALSIM_SCHEDULER"
#: How many times a task that raised is tried again (a worker that dies is separate: the
#: scheduler recomputes its tasks elsewhere, up to Dask's ``allowed-failures``).
RETRIES = 3
#: Seconds to wait for the scheduler to answer, and for a first worker to join it.
CONNECT_TIMEOUT = 10
WORKERS_TIMEOUT = 30

INSTALL_HINT = 'install the Dask extra: pip install "dealsim[dask]"'


def _import_distributed():
    """The ``distributed`` package, or one clear message saying how to get it."""
    try:
        import distributed
    except ImportError:
        raise UserError(
            f"--scheduler needs dask.distributed, which is not installed: {INSTALL_HINT}"
        ) from None
    return distributed


def worker_versions() -> dict[str, str]:
    """What must match between this process and every worker for results to be identical."""
    import numpy
    import scipy
    import simpy

    from sim import __version__

    return {
        "dealsim": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "simpy": simpy.__version__,
    }


class DaskExecutor(Executor):
    """A ``concurrent.futures`` executor that runs each call as a task on a Dask cluster.

    Tasks are submitted impure (every call runs, none is deduplicated by Dask's hashing of
    arguments) and with :data:`RETRIES` retries.

    Attributes:
        client: the ``dask.distributed.Client``.
        address: the scheduler's address.
    """

    def __init__(self, client: Any, retries: int = RETRIES):
        from distributed.cfexecutor import ClientExecutor

        self.client = client
        # Dask's own adapter turns its futures into concurrent.futures ones, and cancels the
        # task on the cluster when its concurrent future is cancelled.
        self._submitter = ClientExecutor(client, pure=False, retries=retries)
        self._futures: list = []
        self._closed = False

    @property
    def address(self) -> str:
        return self.client.scheduler.address

    @property
    def slots(self) -> int:
        """Worker threads on the cluster now: how many batches can run at once."""
        return max(1, sum(self.client.nthreads().values()))

    def submit(self, fn, /, *args, **kwargs):
        """Run ``fn(*args, **kwargs)`` on the cluster; a ``concurrent.futures.Future``."""
        if self._closed:
            raise RuntimeError("cannot submit to a closed DaskExecutor")
        future = self._submitter.submit(fn, *args, **kwargs)
        self._futures = [f for f in self._futures if not f.done()]  # the ones still running
        self._futures.append(future)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting work; cancel what has not finished when asked (the client stays open:
        :func:`connect` closes it)."""
        self._closed = True
        pending = [f for f in self._futures if not f.done()]
        if cancel_futures:
            for future in pending:
                future.cancel()
        elif wait:
            for future in pending:
                try:
                    future.exception()
                except Exception:  # cancelled: nothing to wait for
                    pass
        self._futures = []

    def describe(self) -> dict:
        """For the manifest: where the work ran."""
        workers = self.client.nthreads()
        return {
            "scheduler": self.address,
            "workers": len(workers),
            "threads": sum(workers.values()),
        }


def _check_workers(client: Any, address: str) -> None:
    """Wait for a worker, then make sure every worker runs the same code as this process."""
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
    except TimeoutError:
        raise UserError(
            f"--scheduler {address}: the scheduler has no workers (waited {WORKERS_TIMEOUT} s); "
            f"start some with: dask worker {address} --nworkers N --nthreads 1"
        ) from None
    try:
        found = client.run(worker_versions)
    except (ImportError, ModuleNotFoundError) as exc:
        raise UserError(
            f"--scheduler {address}: a worker cannot import dealsim ({exc}); install the same "
            "dealsim on every worker machine"
        ) from None
    ours = worker_versions()
    for worker, versions in sorted(found.items()):
        different = {k: (v, ours[k]) for k, v in versions.items() if ours.get(k) != v}
        if different:
            detail = ", ".join(
                f"{k} {theirs} (here {mine})" for k, (theirs, mine) in different.items()
            )
            raise UserError(
                f"--scheduler {address}: worker {worker} runs {detail}; results would not match "
                "a local run: install the same versions on every worker"
            )


def _check_address(address: str) -> None:
    """Reject a malformed address before a Client is made (a half-made one hangs at exit)."""
    from distributed.comm.addressing import get_address_host_port, normalize_address

    try:
        host, port = get_address_host_port(normalize_address(address))
        if not host or not 0 < port < 65536:
            raise ValueError("a host and a port in 1..65535 are needed")
    except ValueError as exc:
        raise UserError(
            f"--scheduler {address}: not a scheduler address ({exc}); write tcp://HOST:PORT, "
            "e.g. tcp://10.0.0.5:8786"
        ) from None


def _connect_client(address: str) -> Any:
    """A Client connected to the scheduler, or one clear message (exit 2)."""
    distributed = _import_distributed()
    _check_address(address)
    try:
        return distributed.Client(address, timeout=f"{CONNECT_TIMEOUT}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise UserError(
            f"--scheduler {address}: cannot reach the Dask scheduler ({exc}). Is "
            "`dask scheduler` running there, and is its port open from here?"
        ) from None


@contextmanager
def connect(scheduler: str | Any | None) -> Iterator[Executor | None]:
    """The executor for a scheduler address, a ``dask.distributed.Client``, or None (local).

    An address opens a connection that is closed at the end; a Client is used as it is and
    left open. Before anything runs, the cluster must have a worker, and every worker the same
    dealsim, Python, numpy, scipy and SimPy as this process.

    Raises:
        UserError: Dask not installed, a malformed address, a scheduler that does not answer
            within :data:`CONNECT_TIMEOUT` seconds, no worker, or workers with other versions.
    """
    if scheduler is None or scheduler == "":
        yield None
        return
    own = isinstance(scheduler, str)
    client = _connect_client(scheduler.strip()) if own else scheduler
    executor = DaskExecutor(client)
    try:
        _check_workers(client, executor.address)
        yield executor
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        if own:
            client.close()


def executor_slots(executor: Executor | None) -> int | None:
    """How many batches an executor runs at once, when it can say (None otherwise)."""
    slots = getattr(executor, "slots", None)
    if slots is not None:
        return int(slots)
    return getattr(executor, "_max_workers", None)  # a ProcessPoolExecutor or ThreadPoolExecutor


def describe_executor(executor: Executor | None) -> dict | None:
    """Where the work ran, for a manifest (None for local processes)."""
    if executor is None:
        return None
    describe = getattr(executor, "describe", None)
    if describe is not None:
        return describe()
    return {"executor": type(executor).__name__}
