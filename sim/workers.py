"""Worker processes that never outlive their run, never hang it, and never print raw.

:func:`pool` gives the runner an executor for one run: its own process pool, or one passed in
(a Dask or any ``concurrent.futures`` executor). A run that ends normally shuts its own pool
down; a run that ends any other way (an error, a stop signal, a consumer that gives up) stops
its workers at once, terminating those that do not answer, instead of waiting for batches
that may take minutes.

Each worker of our pools (:func:`_init_worker`) leaves stop signals to the main process (a
Ctrl-C reaches the whole process group; the main process stops the workers itself), dies with
its parent (a ``kill -9`` of the main process must not leave workers blocked forever), and
holds its warnings back for the main process (:func:`call`) instead of printing them.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor

from sim import errors, signals

#: Seconds a worker gets to end after SIGTERM before it is killed.
STOP_GRACE_SECONDS = 2.0
#: How often a worker checks that its parent is still there (where the kernel cannot tell it).
PARENT_POLL_SECONDS = 0.5

#: Process pools in use by a run, own or passed in: stopped on a stop signal.
_in_use: weakref.WeakSet[ProcessPoolExecutor] = weakref.WeakSet()


@contextlib.contextmanager
def pool(jobs: int, executor: Executor | None = None) -> Iterator[Executor]:
    """An executor for one run: ``executor`` if given, else a new pool of ``jobs`` processes.

    Leaving the block normally shuts a new pool down (its work is done); leaving it with an
    exception stops its workers at once. A pool passed in stays the caller's to shut down,
    but a stop signal stops its processes too (:func:`stop_all`).
    """
    own = executor is None
    if own:
        context = multiprocessing.get_context()
        # A forked worker's parent is this process; with forkserver it is the server.
        parent = os.getpid() if context.get_start_method() == "fork" else None
        executor = ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=_init_worker, initargs=(parent,)
        )
    if isinstance(executor, ProcessPoolExecutor):
        _in_use.add(executor)
    try:
        yield executor
    except BaseException:
        if own:
            stop(executor)
        raise
    else:
        if own:
            executor.shutdown(wait=True)
    finally:
        if isinstance(executor, ProcessPoolExecutor):
            _in_use.discard(executor)


def call(fn: Callable, *args):
    """Run ``fn(*args)`` in a worker; returns its result and the warnings it gave."""
    return fn(*args), errors.take_worker_warnings()


def result_of(future: Future):
    """The result of a :func:`call` future; its warnings are issued again in this process."""
    value, raised = future.result()
    errors.rewarn(raised)
    return value


def cancel(futures) -> None:
    """Cancel futures that have not started (a Dask executor passes it on to the cluster)."""
    for future in futures:
        future.cancel()


def stop(executor: ProcessPoolExecutor, grace: float = STOP_GRACE_SECONDS) -> None:
    """Stop a pool now: pending work cancelled, workers terminated, then killed if need be.

    ``shutdown(wait=True)`` would wait for the batches in progress (minutes for a heavy
    scenario), and the interpreter's exit handlers would too; a stopped run needs none of them.
    """
    processes = list((getattr(executor, "_processes", None) or {}).values())  # no public handle
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        with contextlib.suppress(Exception):
            if process.is_alive():
                process.kill()
                process.join(1.0)
    _unblock_feeder(executor)
    # The pool's own thread sees the workers gone and fails their futures; cancelling them
    # first would make it fail instead (Python 3.11 sets an exception on a cancelled future).
    manager = getattr(executor, "_executor_manager_thread", None)
    with contextlib.suppress(Exception):
        manager.join(grace)
    with contextlib.suppress(Exception):
        executor.shutdown(wait=False, cancel_futures=True)


def _unblock_feeder(executor: ProcessPoolExecutor) -> None:
    """Let the thread that feeds work to dead workers end instead of blocking on a full pipe.

    The pool's call queue keeps its reading end open in this process too, so writes to it
    block, not fail, once nobody reads; closing that end makes them fail, and the pool's
    feeder ignores a broken pipe.
    """
    queue = getattr(executor, "_call_queue", None)
    with contextlib.suppress(Exception):
        queue._reader.close()
        queue.cancel_join_thread()


def stop_all() -> None:
    """Stop every pool in use (on a stop signal; safe to call from any thread)."""
    for executor in list(_in_use):
        stop(executor, grace=0.5)


signals.on_forced_exit(stop_all)


# ---------------------------------------------------------------------------------------------
# In the worker
# ---------------------------------------------------------------------------------------------


def _init_worker(parent: int | None) -> None:
    """Set up a worker process of our pool (runs in the worker, before any batch).

    Args:
        parent: the process that forked this one, when known (None with forkserver).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process stops us itself
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    _die_with_parent(parent)
    errors.hold_worker_warnings()


def _die_with_parent(expected: int | None) -> None:
    """End this worker when its parent process ends, even by ``kill -9``.

    On Linux the kernel does it (``PR_SET_PDEATHSIG``); elsewhere a thread watches the
    parent's id. A parent already gone before either was set up is caught by comparing with
    the one expected.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    parent = os.getppid()
    if expected is not None and parent != expected:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)
