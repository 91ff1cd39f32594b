"""How much dealsim says on stderr besides a command's result: status lines, notes, details.

- normal: progress bars and status lines for anything that lasts more than about a second, and
  notes (what was assumed, what was capped);
- ``--quiet``: nothing on stderr but warnings and errors; stdout (the result) is unchanged;
- ``--verbose``: also every status line with its duration, and the command's total time.

The level is the process's (a CLI invocation is one process). The Python API is quiet; the
command line starts each command at the normal level and takes ``--quiet`` and ``--verbose``
(``sim.cli_verbosity``).
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager

QUIET, NORMAL, VERBOSE = 0, 1, 2
_level = QUIET  # the library says nothing; the CLI raises it

# A status line shows up once the work has lasted this long (seconds).
STATUS_DELAY = 1.0


def level() -> int:
    return _level


def quiet() -> bool:
    return _level == QUIET


def set_level(value: int) -> None:
    global _level
    _level = value


def note(text: str) -> None:
    """A note on stderr (what was assumed or capped), unless --quiet."""
    if _level > QUIET:
        print(f"Note: {text}", file=sys.stderr, flush=True)


def detail(text: str) -> None:
    """A line for --verbose only."""
    if _level == VERBOSE:
        print(text, file=sys.stderr, flush=True)


@contextmanager
def status(what: str, delay: float = STATUS_DELAY):
    """``what...`` on stderr if the work inside lasts more than ``delay`` seconds (at once with
    --verbose, never with --quiet), and how long it took once done."""
    started = time.monotonic()
    shown = threading.Event()

    def show() -> None:
        shown.set()
        print(f"{what}...", file=sys.stderr, flush=True)

    timer = None
    if _level == VERBOSE:
        show()
    elif _level == NORMAL:
        timer = threading.Timer(delay, show)
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()
        if shown.is_set():
            took = time.monotonic() - started
            print(f"{what}: done in {took:.1f} s", file=sys.stderr, flush=True)
