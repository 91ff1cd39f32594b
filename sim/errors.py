"""Exceptions shared by the package, and the report of an unexpected one.

The CLI tells the kinds apart: a ``UserError`` is the user's input being wrong (print the
message, exit 2, no traceback); ``Interrupted`` is a stop signal (exit 128 + its number);
anything else is a bug: one message on screen, exit 1, and the traceback in a log file
(:func:`write_report`) that the user can send us, never on the screen.

Library warnings (numpy's overflow and the like) are a kind of bug report too: the CLI collects
them (:func:`collect_warnings`, in the main process and in every worker), and the exceptions
that end a library's helper thread (:func:`collect_thread_errors`), and writes them to a log
file instead of printing them raw.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import signal
import sys
import tempfile
import threading
import traceback
import warnings
from pathlib import Path


class UserError(Exception):
    """An error the user caused (bad file, field, option): the CLI prints str(err) and exits 2."""


def require_whole(name: str, value) -> None:
    """A count given to the Python API as 3.0, "3" or True is refused by name (deep inside it
    became a TypeError, or True a 1)."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UserError(f"{name}: {value!r} is not a whole number (e.g. {name}=100)")


class ScenarioError(UserError):
    """A scenario file (or override) that cannot be read or does not validate."""


class OutputError(UserError):
    """An output path that cannot be written (a read-only folder, a full disk, a symlink...)."""


class Interrupted(BaseException):
    """A stop signal (SIGINT, SIGTERM, SIGHUP) reached the main process.

    A ``BaseException``, like ``KeyboardInterrupt``, so that no ``except Exception`` swallows it;
    it unwinds through the context managers that remove temporary folders and stop workers.
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as shells report it: 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP."""
        return 128 + self.signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


# ---------------------------------------------------------------------------------------------
# Where reports go
# ---------------------------------------------------------------------------------------------

_report_folder: Path | None = None


def set_report_folder(folder: Path | None) -> None:
    """Reports of this command go here: the folder that receives its output (None: forget)."""
    global _report_folder
    _report_folder = Path(folder) if folder is not None else None


def report_folder() -> Path:
    """The output's parent folder if the command writes one, else the system's temp folder."""
    return _report_folder if _report_folder is not None else Path(tempfile.gettempdir())


def _write_log(kind: str, text: str) -> Path:
    """Write ``text`` to ``dealsim-KIND-<time>-<pid>.log`` in the report folder (or temp)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"dealsim-{kind}-{stamp}-{os.getpid()}.log"
    for folder in dict.fromkeys([report_folder(), Path(tempfile.gettempdir())]):
        path = folder / name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    raise OSError(f"cannot write {name} in {report_folder()} nor in the temp folder")


def _header() -> str:
    from sim import __version__

    return (
        f"dealsim {__version__}, Python {platform.python_version()} on {platform.platform()}\n"
        f"command: {' '.join(sys.argv)}\n"
        f"time: {dt.datetime.now().isoformat(timespec='seconds')}\n"
    )


def write_report(exc: BaseException) -> Path | None:
    """Log an unexpected exception (with its chain: a worker's traceback is its cause).

    Returns the log file, or None when not even the temp folder can be written.
    """
    lines = traceback.format_exception(exc)
    collected = _drain()
    if collected:
        lines += ["\nWarnings before the error:\n", *collected]
    try:
        return _write_log("error", _header() + "\n" + "".join(lines))
    except OSError:
        return None


# ---------------------------------------------------------------------------------------------
# Library warnings
# ---------------------------------------------------------------------------------------------

#: The main process's warnings: formatted text -> how many times.
_collected: dict[str, int] = {}
#: A worker's warnings since its last batch: (message, category, filename, lineno).
_raw: list[tuple[str, type[Warning], str, int]] = []


def collect_warnings() -> None:
    """In the main process: keep warnings off the screen from now on, for a log file."""
    warnings.showwarning = _keep


def collect_thread_errors() -> None:
    """In the main process: an exception that ends a helper thread (a library's: the process
    pool's) goes to the same log as the warnings, not to the screen."""
    threading.excepthook = _keep_thread_error


def _keep_thread_error(args) -> None:
    lines = traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)
    name = args.thread.name if args.thread is not None else "a thread"
    text = f"Exception in {name}:\n" + "".join(lines)
    _collected[text] = _collected.get(text, 0) + 1


def _keep(message, category, filename, lineno, file=None, line=None) -> None:
    text = warnings.formatwarning(message, category, filename, lineno, line)
    _collected[text] = _collected.get(text, 0) + 1


def hold_worker_warnings() -> None:
    """In a worker: hold warnings back, for :func:`take_worker_warnings` to send home."""
    warnings.showwarning = _hold


def _hold(message, category, filename, lineno, file=None, line=None) -> None:
    _raw.append((str(message), category, filename, lineno))


def take_worker_warnings() -> list[tuple[str, type[Warning], str, int]]:
    """In a worker: the warnings since the last call, to send back to the main process."""
    taken = list(_raw)
    _raw.clear()
    return taken


def rewarn(raw: list[tuple[str, type[Warning], str, int]]) -> None:
    """In the main process: issue a worker's warnings again, where they are collected."""
    for message, category, filename, lineno in raw:
        warnings.warn_explicit(message, category, filename, lineno)


def _drain() -> list[str]:
    """The collected warnings as log lines (a repeated one once, with its count)."""
    taken = [text if n == 1 else f"({n} times) {text}" for text, n in _collected.items()]
    _collected.clear()
    return taken


def write_warnings() -> tuple[int, Path | None]:
    """Log the warnings (and thread errors) collected so far; returns how many and the log
    file (None: none, or it could not be written)."""
    collected = _drain()
    if not collected:
        return 0, None
    try:
        return len(collected), _write_log("warnings", _header() + "\n" + "".join(collected))
    except OSError:
        return len(collected), None
