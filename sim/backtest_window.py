"""Which cut-offs a history can backtest, and to which day each forecast can be scored.

A forecast made at cut-off C is fitted on the rows up to C and scored on the rows after it, so
C must fall inside the history (something to fit, something to score), and the scoring window
(C, end] can only reach the history's last date: later wins are unknown, not zero. A window cut
short (by the history's end, or by ``--until`` before ``--months-ahead`` month ends) is scored
on the months it holds, and a note says how many of how many.
"""

from __future__ import annotations

import calendar as calendar_module
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sim.crm import OUTCOMES, History
from sim.errors import UserError
from sim.plural import verb


@dataclass(frozen=True)
class Span:
    """The dates a history covers: its first and last row, and its first closed deal."""

    source: str
    first: dt.date
    last: dt.date
    first_close: dt.date | None

    def dates(self) -> str:
        return f"it runs {self.first} .. {self.last}"


def history_span(history: History) -> Span:
    days = [r.entered_at.date() for r in history.rows]
    closes = [r.entered_at.date() for r in history.rows if r.state in OUTCOMES]
    return Span(history.source, min(days), max(days), min(closes) if closes else None)


def month_end_after(cutoff: dt.date, months: int) -> dt.date:
    """The ``months``-th month end after ``cutoff`` (``--months-ahead``)."""
    year, month = cutoff.year, cutoff.month + months
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return dt.date(year, month, calendar_module.monthrange(year, month)[1])


def months_in(cutoff: dt.date, end: dt.date) -> int:
    """Calendar months the window (cutoff, end] touches (a partial month counts)."""
    start = cutoff + dt.timedelta(days=1)
    return (end.year - start.year) * 12 + end.month - start.month + 1


def _dates(days: Sequence[dt.date]) -> str:
    return ", ".join(d.isoformat() for d in days)


def _plural(days: Sequence[dt.date]) -> tuple[str, str]:
    """'cut-off' and 'leaves', or 'cut-offs' and 'leave', as the number of days says."""
    return verb(len(days), "cut-off", "cut-offs"), verb(len(days), "leaves", "leave")


def check_cutoffs(
    history: History,
    cutoffs: Sequence[dt.date],
    until: dt.date,
    months_ahead: int | None = None,
    fitting: bool = True,
) -> list[str]:
    """Refuse cut-offs with nothing to fit or nothing to score (every such cut-off named, with
    the history's dates); return notes on the windows scored short."""
    if not cutoffs:
        raise UserError("no cut-off: give --as-of DATE [DATE...] or --every month --from --to")
    span = history_span(history)
    late = [c for c in cutoffs if c >= until]
    if late:
        raise UserError(
            f"{_plural(late)[0]} {_dates(late)}: not before --until {until}: nothing to forecast"
        )
    early = [c for c in cutoffs if c < span.first]
    if early:
        word, verb = _plural(early)
        raise UserError(
            f"{word} {_dates(early)} {verb} nothing to fit or start from: before the first date "
            f"of {history.source}, {span.first} ({span.dates()})"
        )
    if fitting:  # a fit learns wins and losses from closed deals; a planner's scenario needs none
        unclosed = [c for c in cutoffs if span.first_close is None or c < span.first_close]
        if unclosed:
            word, verb = _plural(unclosed)
            since = (
                f"the first close is on {span.first_close}"
                if span.first_close
                else "it has no closed deal"
            )
            raise UserError(
                f"{word} {_dates(unclosed)} {verb} nothing to fit: no deal of {history.source} "
                f"had been won or lost by then ({since}; {span.dates()}); choose later "
                "cut-offs or give --scenario"
            )
    after = [c for c in cutoffs if c >= span.last]
    if after:  # it scored against zero wins, with a skill of nan
        word, verb = _plural(after)
        raise UserError(
            f"{word} {_dates(after)} with --until {until} {verb} no history to score against: "
            f"the last date of {history.source} is {span.last} ({span.dates()}), and a "
            f"forecast is scored on what happened after its cut-off; choose cut-offs before "
            f"{span.last}"
        )
    return window_notes(span, cutoffs, until, months_ahead)


def scored_end(span: Span, cutoff: dt.date, until: dt.date, months_ahead: int | None) -> dt.date:
    """The last day a forecast from ``cutoff`` is run and scored to."""
    asked = until if months_ahead is None else month_end_after(cutoff, months_ahead)
    return min(asked, until, span.last)


def window_notes(
    span: Span, cutoffs: Sequence[dt.date], until: dt.date, months_ahead: int | None
) -> list[str]:
    """Say which forecasts were scored on fewer months than asked, and what cut them short:
    ``--until`` before ``--months-ahead`` month ends, or the history's last date."""
    by_until, by_history = [], []
    for c in cutoffs:
        asked = until if months_ahead is None else month_end_after(c, months_ahead)
        end = scored_end(span, c, until, months_ahead)
        if end < asked:  # each cut-off once, under what cut it shortest
            short = by_history if end == span.last < until else by_until
            n, m = months_in(c, end), months_in(c, asked)
            short.append(
                f"{c} on {n} of {m} months" + (" (the last one in part)" if n == m else "")
            )
    notes = []
    if by_until:
        notes.append(
            f"--months-ahead {months_ahead} reaches past --until {until}, so these forecasts "
            f"are scored on fewer months: {', '.join(by_until)}"
        )
    if by_history:
        notes.append(
            f"--until {until} is after the last date of {span.source} ({span.last}): the "
            f"history holds nothing later (later wins are unknown, not zero), so these "
            f"forecasts are scored to {span.last} only: {', '.join(by_history)}"
        )
    return notes


__all__ = ["Span", "check_cutoffs", "history_span", "months_in", "scored_end", "window_notes"]
