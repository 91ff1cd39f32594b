"""Writing and reading a results folder (the README's "Results" section is its contract).

A run writes into a hidden temporary folder next to the target and renames it at the end, so an
interrupted or failed run leaves no half-written results behind (see :mod:`sim.atomic`).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import errno
import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np

from sim.aggregate import clean_for_json
from sim.atomic import StagedFolder, as_output_error, check_output_folder, output_errors
from sim.errors import UserError
from sim.records_csv import EVENT_COLUMNS, deal_columns
from sim.results_folder import existing_folder
from sim.row_sink import RowSink
from sim.runner import ReplicationOutput
from sim.summary_check import problems_text, summary_problems

SUMMARY = "summary.json"
MANIFEST = "manifest.json"
FORECAST = "forecast.csv"
DEALS = "deals.csv"
EVENTS = "events.csv"
SCENARIO = "scenario.toml"
PIPELINE = "pipeline.csv"
#: The files a run's results are read from: no command writes over them (sim.atomic).
RUN_FILES = frozenset({SUMMARY, MANIFEST, FORECAST, DEALS, EVENTS, SCENARIO, PIPELINE})
#: The turns and part files of the workers' rows (sim.row_sink), inside the temporary folder.
ROWS_FOLDER = ".rows"
# What every reader of a summary relies on (plot, explain, report): checked when it is read,
# with all that is inside them (sim.summary_check).
SUMMARY_KEYS = (
    "scenario", "seed", "replications", "start_date", "horizon_days", "currency", "deals",
    "outcomes", "cycle_days", "bookings", "periods", "stall_days", "stall_counts", "flows",
)  # fmt: skip  # the day-0 deals of a run started from a CRM export


#: The longest name part of a default results folder: a name of 200 Cyrillic letters is some
#: 400 ASCII ones once spelt out, past the 255 a file system allows a name.
FOLDER_NAME_MAX = 180


def default_output_dir(scenario_name: str, now: dt.datetime | None = None) -> Path:
    from sim.stage_keys import cut_slug

    now = now or dt.datetime.now()
    return Path("results") / f"{cut_slug(scenario_name, FOLDER_NAME_MAX)}-{now:%Y%m%d-%H%M%S}"


def check_output_dir(path: Path, force: bool, unique: bool = False, inputs=()) -> None:
    """Refuse, before running, a results folder that cannot or must not be written.

    See :func:`sim.atomic.check_output_folder` (a non-empty folder needs ``force``, and may
    hold neither anything but dealsim results nor the files the command reads).
    """
    check_output_folder(path, force, unique, inputs)


def input_files(*given) -> list[Path]:
    """The files among a command's inputs (scenario names, paths, a ``PipelineSource``, None):
    what an output folder must not hold."""
    paths = [getattr(item, "path", item) for item in given if item is not None]
    return [Path(path) for path in paths if Path(path).is_file()]


class ResultsWriter:
    """Streams a run's files into a temporary folder and publishes it atomically.

    Use as a context manager: leaving the block with an exception removes the temporary folder
    (a write that failed, e.g. on a full disk, becomes one clear :class:`OutputError`).
    Publishing never replaces results another run put there meanwhile, unless ``force``; with
    ``unique`` (a default folder name) it takes the next free name instead (see
    :mod:`sim.atomic`).
    """

    def __init__(
        self,
        target: Path,
        model,
        force: bool = False,
        events: bool = False,
        unique: bool = False,
        deals: bool = True,
    ):
        self.target = Path(target)
        self._staged = StagedFolder(self.target, force, unique)
        self.tmp = self._staged.open()
        self._deals = self._events = None
        self._sink: RowSink | None = None
        try:
            with output_errors(self.target):
                if deals:  # a run for its summary alone may leave the per-deal rows out
                    self._deals = open(self.tmp / DEALS, "w", encoding="utf-8", newline="")
                    self._deals.write(",".join(deal_columns(model)) + "\n")
                if events:
                    self._events = open(self.tmp / EVENTS, "w", encoding="utf-8", newline="")
                    self._events.write(",".join(EVENT_COLUMNS) + "\n")
        except BaseException:
            self.abort()
            raise

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
            if isinstance(exc, OSError):
                raise as_output_error(exc, self.target) from None

    def matrix(self, rows: int, width: int) -> np.ndarray:
        """Disk-backed storage for per-replication vectors, deleted when the run ends.

        Its disk space is reserved now: a memory-mapped page that finds the disk full when it
        is first written kills the process with SIGBUS, where a full disk must be a message.
        """
        path = self.tmp / ".replications.npy"
        with output_errors(self.target):
            matrix = np.lib.format.open_memmap(
                path, mode="w+", dtype=np.float64, shape=(rows, width)
            )
            if hasattr(os, "posix_fallocate"):
                with open(path, "r+b") as fh:
                    os.posix_fallocate(fh.fileno(), 0, os.fstat(fh.fileno()).st_size)
        return matrix

    def row_sink(self) -> RowSink:
        """The run's CSV files for the workers of a multi-job run to write their rows into
        (:mod:`sim.row_sink`), with a folder for their turns and part files inside the temporary
        one (gone when the folder is published or dropped). The headers are on disk first, and
        the first batch's turn is marked: from here this process writes only the part files
        that ``on_output`` appends."""
        folder = self.tmp / ROWS_FOLDER
        with output_errors(self.target):
            folder.mkdir(exist_ok=True)
            for handle in (self._deals, self._events):
                if handle is not None:
                    handle.flush()
            self._sink = RowSink(
                str(folder),
                str(self.tmp / DEALS) if self._deals is not None else None,
                str(self.tmp / EVENTS) if self._events is not None else None,
            )
            self._sink.mark_turn(0)
        return self._sink

    def on_output(self, output: ReplicationOutput) -> None:
        files = output.row_files
        if self._deals is not None:
            if files is not None and files.deals is not None:
                append_file(self._deals, files.deals)
            self._deals.write(output.deal_rows)
        if self._events is not None:
            if files is not None and files.events is not None:
                append_file(self._events, files.events)
            if output.event_rows:
                self._events.write(output.event_rows)
        if files is not None and self._sink is not None:  # its batch is in: the next one's turn
            with output_errors(self.target):
                self._sink.mark_turn(files.next_turn)

    @property
    def folder(self) -> Path:
        """Where files go while the run is in progress."""
        return self.tmp

    def write_text(self, name: str, text: str) -> None:
        with output_errors(self.target):
            (self.tmp / name).write_text(text, encoding="utf-8")

    def write_json(self, name: str, data: dict) -> None:
        self.write_text(name, json.dumps(clean_for_json(data), indent=2) + "\n")

    def publish(self) -> Path:
        """Close the files and move the folder into place; returns where it went."""
        with output_errors(self.target):
            self._close()
            (self.tmp / ".replications.npy").unlink(missing_ok=True)
            shutil.rmtree(self.tmp / ROWS_FOLDER, ignore_errors=True)  # empty unless stopped
        return self._staged.publish()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._close()
        self._staged.discard()

    def _close(self) -> None:
        for f in (self._deals, self._events):
            if f is not None and not f.closed:
                f.close()


def append_file(out: io.TextIOBase, path: str) -> None:
    """Append the file at ``path`` to the open text file ``out``, then delete it.

    The bytes are copied by the kernel (``os.copy_file_range``) where it can, without passing
    through this process; through a buffer otherwise (another file system, another platform).
    """
    out.flush()  # what was written before goes first
    # After what the workers appended through their own handles (sim.row_sink), whatever
    # this handle's position.
    os.lseek(out.fileno(), 0, os.SEEK_END)
    with open(path, "rb") as part:
        size = os.fstat(part.fileno()).st_size
        copied = _copy_in_kernel(part.fileno(), out.fileno(), size)
        if copied < size:  # the kernel's copy moved the part's position past what it copied
            shutil.copyfileobj(part, out.buffer)
    os.unlink(path)


#: Errors of ``copy_file_range`` that mean "not here": the copy goes through a buffer instead.
_NOT_IN_KERNEL = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM}


def _copy_in_kernel(source: int, target: int, size: int) -> int:
    """Bytes copied from ``source`` to the end of ``target`` by the kernel (0 where it can't)."""
    copy = getattr(os, "copy_file_range", None)
    done = 0
    if copy is None:
        return 0
    try:
        while done < size:
            count = copy(source, target, size - done)
            if count == 0:
                break
            done += count
    except OSError as exc:
        if exc.errno not in _NOT_IN_KERNEL:
            raise
    return done


def forecast_csv(summary: dict, stage_names: list[str]) -> str:
    """One row per month: bookings and won-deal percentiles, open deals by stage."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    open_names = [*stage_names, "dormant"]
    writer.writerow(
        [
            "period",
            "bookings_mean",
            "bookings_p10",
            "bookings_p50",
            "bookings_p90",
            "won_mean",
            "won_p10",
            "won_p50",
            "won_p90",
            *[f"open_{name}" for name in open_names],
        ]
    )
    clean = clean_for_json(summary)
    for p in clean["periods"]:
        b, w = p["bookings"], p["won"]
        writer.writerow(
            [
                p["period"],
                *(b[k] for k in ("mean", "p10", "p50", "p90")),
                *(w[k] for k in ("mean", "p10", "p50", "p90")),
                *(p["open_by_stage"][name] for name in open_names),
            ]
        )
    return out.getvalue()


class _DuplicateKey(Exception):
    """A key given twice in one object of summary.json (dealsim never writes one)."""


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    found = dict(pairs)
    if len(found) < len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(repr(k) for k, _ in pairs if k in seen or seen.add(k)))
    return found


def run_scenario(folder: Path, why_needed: str = ""):
    """The scenario a results folder's run was made with, from its scenario.toml, checked
    against the hash manifest.json holds of it (folders of versions before the check have
    none, and are trusted).

    ``why_needed`` ends the message of a folder without one (" (needed to ...)").

    Raises:
        UserError: no scenario.toml, one that cannot be read, or one changed since the run.
    """
    from sim.scenario import load_scenario

    path = Path(folder) / SCENARIO
    if not path.is_file():
        raise UserError(f"{folder}: no {SCENARIO}{why_needed}")
    expected = read_manifest(folder).get("scenario_toml_hash")
    if expected is not None and text_hash(path.read_bytes()) != expected:
        raise UserError(
            f"{path}: changed since the run (it is not the scenario {MANIFEST} says the "
            "results were made with): its results would be explained by another scenario; "
            f"put the run's own {SCENARIO} back, or run the changed one: dealsim run {path}"
        )
    return load_scenario(path)


def read_manifest(folder: Path) -> dict:
    """The manifest.json of a results folder, or {} when it has none that reads (folders are
    told by their summary.json: a manifest only adds to it)."""
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def text_hash(data: str | bytes) -> str:
    """sha256 (hex) of a file's bytes (text as UTF-8, as the results folder writes it): the
    bytes, not the scenario they load to, so that a later version's new default cannot make
    a folder's own scenario.toml look changed."""
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def read_summary(folder: Path) -> dict:
    """The summary of a results folder, or a clear error if it is not one."""
    path = existing_folder(folder) / SUMMARY
    if not path.is_file():
        raise UserError(f"{folder}: not a dealsim results folder (no {SUMMARY})")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise UserError(
            f"{path}: damaged summary, not of the kind dealsim writes: the key {exc} is there "
            "twice in one object (JSON readers would keep one of them without a word)"
        ) from None
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path}: not UTF-8 text (byte {exc.start}): not a summary dealsim wrote"
        ) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    missing = [key for key in SUMMARY_KEYS if not isinstance(summary, dict) or key not in summary]
    if missing:
        raise UserError(
            f"{path}: not a dealsim summary (missing {', '.join(missing)}); "
            "was it written by dealsim run?"
        )
    problems = summary_problems(summary)
    if problems:  # an edited or damaged file: said here, not as a crash of whatever reads it
        raise UserError(
            f"{path}: damaged summary, not of the kind dealsim writes: {problems_text(problems)}"
        )
    return summary
