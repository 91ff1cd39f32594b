"""Stop signals: SIGINT (Ctrl-C), SIGTERM (a scheduler, ``kill``) and SIGHUP (a closed terminal).

The console script installs :func:`install` before anything else, so that even a Ctrl-C during
the first imports ends quietly. The first stop signal raises :class:`sim.errors.Interrupted` in
the main thread; it unwinds through the context managers that own temporary folders and worker
processes, which remove and stop them, and the CLI exits with 128 + the signal number.

Two guards keep that promise when something goes wrong: a watchdog ends the process
:data:`GRACE_SECONDS` after the first signal whatever it is doing (stopping the workers first),
and a few steps that must not be cut in half (publishing a results folder) hold a signal back
until they are done (:func:`held`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

from sim.errors import Interrupted

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: After the first stop signal the process is gone within this many seconds, come what may.
GRACE_SECONDS = 8.0

_main_pid: int | None = None
_received: int | None = None
_holding = 0
_pending: int | None = None
#: Called (quickly, in any thread) before a forced exit: e.g. stop the worker processes.
_before_forced_exit: list[Callable[[], None]] = []


def install() -> None:
    """Handle the stop signals in this process (the CLI's main process)."""
    global _main_pid
    _main_pid = os.getpid()
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:  # `nohup` keeps SIGHUP ignored
            signal.signal(signum, _on_signal)


def finish() -> None:
    """The command is done: a stop signal now only ends the process (no unwinding left)."""
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is _on_signal:
            signal.signal(signum, _exit_at_once)


def _exit_at_once(signum: int, frame) -> None:
    exit_now(128 + signum)


def received() -> int | None:
    """The first stop signal received, if any."""
    return _received


def on_forced_exit(callback: Callable[[], None]) -> None:
    """Run ``callback`` before the watchdog ends the process (it must be quick and safe)."""
    _before_forced_exit.append(callback)


def _on_signal(signum: int, frame) -> None:
    global _received, _pending
    if os.getpid() != _main_pid:  # a worker forked before it set its own handlers
        os._exit(128 + signum)
    if _received is not None:  # clean-up is under way (and bounded by the watchdog)
        return
    if _holding:
        _pending = signum
        return
    _received = signum
    _start_watchdog(128 + signum)
    raise Interrupted(signum)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold a stop signal back until the block is done, then raise it.

    For the few steps that must not be cut in half, such as the renames that publish a results
    folder. Python runs signal handlers in the main thread between two bytecodes, so a flag is
    enough (``pthread_sigmask`` would not do: another thread would take the signal).
    """
    global _holding, _pending, _received
    _holding += 1
    try:
        yield
    finally:
        _holding -= 1
        if not _holding and _pending is not None and _received is None:
            signum, _pending = _pending, None
            _received = signum
            _start_watchdog(128 + signum)
            raise Interrupted(signum)


def _start_watchdog(code: int) -> None:
    timer = threading.Timer(GRACE_SECONDS, _force_exit, args=(code,))
    timer.daemon = True
    timer.start()


def _force_exit(code: int) -> None:
    """The clean-up took too long: stop what can be stopped and leave at once."""
    for callback in _before_forced_exit:
        with contextlib.suppress(Exception):
            callback()
    with contextlib.suppress(Exception):
        sys.stderr.write("Interrupted: clean-up took too long, stopped.\n")
        sys.stderr.flush()
    os._exit(code)


def exit_now(code: int) -> None:
    """Leave without the interpreter's exit handlers, after an interruption was cleaned up.

    Those handlers join worker processes and queue threads of the executors; after a signal
    they are already stopped, and a join that waits for one that is not would hang for good.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
