"""Where the workers of a multi-job run put their batches' CSV rows.

A run's rows are most of what its workers produce (371 MB over the benchmark chain). Sent
through the pool's pipe they were copied some eight times; written to a file of the batch's own,
they had to be appended by the main process, which then competed with the workers for the
cores. So a worker writes its batch's rows straight into ``deals.csv`` and ``events.csv`` when it
is the batch's turn: when the rows of every earlier replication are in. A turn is a mark in the
sink's folder (``turn-<first replication of the batch>``), made by whoever put the batch before
in place. A batch done before its turn (batches of similar size, started together) writes its
rows to part files instead, which the main process appends when it reaches the batch, in order,
then marks the next turn. Either way the files hold the rows in replication order, byte for byte
what one job writes; the turns only decide who copies. :func:`sim.runner.batches` staggers the
first batches so that they end one after the other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class RowSink:
    """The run's CSV files and the folder of their turns and part files (paths on this
    machine: only the workers of our own pool write here)."""

    folder: str
    deals: str | None  # deals.csv, None when not written (--deals none)
    events: str | None  # events.csv, None without --events

    def turn(self, replication: int) -> str:
        return os.path.join(self.folder, f"turn-{replication}")

    def is_turn(self, replication: int) -> bool:
        return os.path.exists(self.turn(replication))

    def mark_turn(self, replication: int) -> None:
        """Rows before ``replication`` are all in place: the batch starting there may write."""
        with open(self.turn(replication), "x"):  # made once: a second mark would be a bug
            pass


@dataclass(frozen=True)
class RowFiles:
    """Part files of a batch done before its turn (None: no rows), for the main process to
    append; then the turn of ``next_turn`` (the batch's end) comes."""

    deals: str | None
    events: str | None
    next_turn: int


def put_rows(outputs: list, sink: RowSink, batch: range) -> None:
    """Take the rows out of a batch's outputs (in the worker): into the run's files when it is
    the batch's turn, else into part files named in ``outputs[0].row_files``."""
    deals = [out.deal_rows for out in outputs]
    events = [out.event_rows or "" for out in outputs]
    for out in outputs:
        out.deal_rows, out.event_rows = "", None
    if sink.is_turn(batch.start):
        # Nobody else writes until the next mark: the batch before is in, the next waits.
        for path, rows in ((sink.deals, deals), (sink.events, events)):
            if path is not None and any(rows):
                _write(path, "a", rows)
        sink.mark_turn(batch.stop)
        return
    outputs[0].row_files = RowFiles(
        _part(sink, f"{batch.start}.deals", deals),
        _part(sink, f"{batch.start}.events", events),
        batch.stop,
    )


def _part(sink: RowSink, name: str, rows: list[str]) -> str | None:
    if not any(rows):
        return None
    path = os.path.join(sink.folder, name)
    _write(path, "w", rows)
    return path


def _write(path: str, mode: str, rows: list[str]) -> None:
    with open(path, mode, encoding="utf-8", newline="") as out:
        out.writelines(rows)
