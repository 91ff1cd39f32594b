"""The per-deal and per-event CSV rows of one replication.

Formatted in the worker that ran the replication (string formatting is the costliest part of
writing a results folder, and it runs in parallel there); the main process only appends text.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math

import numpy as np

from sim.model import CAUSES, Model
from sim.records import ReplicationRecords

EVENT_COLUMNS = ("replication", "deal", "day", "date", "event", "from_stage", "to_stage", "cause")


def active_causes(model: Model) -> list[int]:
    """The stall causes a scenario can produce (the others would be all-zero columns)."""
    scenario = model.scenario
    present = {
        "budget_wait": scenario.budget is not None,
        "timing_wait": scenario.timing is not None,
        "dormant": scenario.dormant is not None,
        "budget_rework": scenario.budget is not None,
        "group_change_rework": bool(scenario.decision_group),
        "shock_rework": scenario.shocks is not None,
        "seller_wait": any(not team.unlimited for team in scenario.team),
    }
    return [c for c, cause in enumerate(CAUSES) if present[cause]]


def deal_columns(model: Model) -> list[str]:
    causes = [f"stall_{CAUSES[c]}" for c in active_causes(model)]
    crm = ["crm_id"] if model.initial.ids else []  # the CRM's deal id of a day-0 deal
    return [
        "replication",
        "deal",
        *crm,
        "first_stage",
        "created_day",
        "amount",
        "state",
        "closed_day",
        "cycle_days",
        *causes,
    ]


def deal_rows(model: Model, rec: ReplicationRecords) -> str:
    """deals.csv rows (no header) for one replication, one per deal.

    The same text as formatting each row with ``%d,%s,%.2f,...,%.1f``, made column by column:
    string formatting is the costliest part of writing results, and ``%.2f`` alone costs more than
    looking a number's pieces up in tables and joining them (see :func:`_fixed_point_pieces`).
    A row is joined from pieces that carry their own separators: ``"0,"``, ``"17,"``,
    ``"need,"``, ``"42.50,"`` (a small value, such as days, looked up whole), an amount in up to
    three pieces (high digits, low four, fraction), ... Deals still open (closed day nan) get
    empty closed-day and cycle-days fields.
    """
    n = rec.n_deals
    if n == 0:
        return ""
    names = np.array([f"{name}," for name in model.state_names()], dtype=object)
    causes = active_causes(model)
    numbers = np.vstack(
        [rec.created, rec.amount, rec.closed, rec.closed - rec.created, *rec.stall[:, causes].T]
    )
    decimals = [2, 2, 2, 2, *[1] * len(causes)]
    ends = [*[","] * (len(decimals) - 1), "\n"]
    created, amount, closed, cycle, *stalls = _fixed_point_pieces(numbers, decimals, ends)
    first_stage = names
    if len(created) == 1 and created[0].count(created[0][0]) == n:
        # Every deal created on the same day (a book without inflow): the one created-day
        # field joins the stage names, a piece fewer a row.
        first_stage, created = names + created[0][0], ()
    pieces = [
        [f"{rec.replication},"] * n,
        _deal_numbers(n),
        *([_crm_ids(model, n)] if model.initial.ids else []),
        first_stage.take(rec.first_state).tolist(),
        *created,
        *amount,
        names.take(rec.state).tolist(),
        *closed,
        *cycle,
        *itertools.chain.from_iterable(stalls),
    ]
    # The lists all have n items: laid into one list row after row (slice assignments), then
    # joined once, cheaper than joining each row.
    width = len(pieces)
    text = [""] * (n * width)
    for column, piece in enumerate(pieces):
        text[column::width] = piece
    return "".join(text)


@functools.lru_cache(maxsize=4)
def _quoted_ids(ids: tuple[str, ...]) -> tuple[str, ...]:
    """CSV fields of the CRM ids, each with its separator (quoted: ids may hold commas)."""
    return tuple('"' + i.replace('"', '""') + '",' for i in ids)


def _crm_ids(model: Model, n: int) -> list[str]:
    """The crm_id field of each deal: the CRM's id for the day-0 deals, empty for arrivals."""
    ids = _quoted_ids(model.initial.ids)
    return [*ids[:n], *[","] * max(n - len(ids), 0)]


#: The text of 0..9999: the whole days of a deal's days and the usual deal numbers, looked up
#: rather than formatted (``str`` of an int costs ~50 ns, a look-up a few).
_SMALL_INTEGERS = np.array([str(i) for i in range(10_000)], dtype=object)

#: Eight times the relative rounding error of the float product x * 10**d (at most 2**-53).
_ROUNDING_MARGIN = 2.0**-50


#: The text of 0..9999 with four digits: the low digits of a larger number.
_PADDED_INTEGERS = np.array([f"{i:04d}" for i in range(10_000)], dtype=object)


#: The deal-number field of deals 0..9999 with its separator: one piece a row, not two.
_DEAL_NUMBERS = [f"{i}," for i in range(10_000)]


@functools.lru_cache(maxsize=4)
def _deal_numbers(n: int) -> list[str]:
    """The deal-number fields (with separators) of deals 0 .. n - 1: the same for every
    replication of a run, so made once (read only: ``deal_rows`` lays them into its text)."""
    if n <= len(_DEAL_NUMBERS):
        return _DEAL_NUMBERS[:n]
    return _DEAL_NUMBERS + [f"{i}," for i in range(len(_DEAL_NUMBERS), n)]


def _integer_text(values: np.ndarray) -> np.ndarray:
    """``str`` of each non-negative int64 value (an object array), looked up when all are small."""
    if values.max() < len(_SMALL_INTEGERS):
        return _SMALL_INTEGERS.take(values)
    return np.array(list(map(str, values.tolist())), dtype=object)


def _integer_pieces(values: np.ndarray) -> list[np.ndarray]:
    """``str`` of each non-negative int64 value as pieces to put together (object arrays),
    looked up when all are below 10**8 (deal amounts): the digits above the last four, then
    those four."""
    if len(_SMALL_INTEGERS) <= values.max() < len(_SMALL_INTEGERS) ** 2:
        high, low = np.divmod(values, len(_SMALL_INTEGERS))
        high_text, low_text = _SMALL_INTEGERS.take(high), _PADDED_INTEGERS.take(low)
        small = high == 0  # no high digits: no padding either
        if small.any():
            high_text[small] = ""
            low_text[small] = _SMALL_INTEGERS.take(low[small])
        return [high_text, low_text]
    return [_integer_text(values)]


@functools.cache
def _fraction_table(decimals: int, end: str) -> np.ndarray:
    """The tail of a fixed-point number for each fraction: ``".05,"`` for 5 (2 decimals)."""
    return np.array([f".{i:0{decimals}d}{end}" for i in range(10**decimals)], dtype=object)


def _fixed_point_pieces(
    numbers: np.ndarray, decimals: list[int], ends: list[str]
) -> list[tuple[list[str], ...]]:
    """Each row of ``numbers`` (one row a CSV column) as lists of pieces, such that
    the pieces of the i-th value x put together are ``f"{x:.{d}f}" + end`` (``d``, ``end``: the
    row's decimals and separator), except that nan gives an empty field: ``end``.

    Why: ``%.2f`` costs ~220 ns a value; here numpy rounds all the values at once and the text is
    looked up in tables: of the whole number with its fraction and separator when the column's
    values are small (days: one piece a value), else of the whole part (in two pieces up to
    10**8) and of the fraction with the separator.

    Exactness: ``%`` rounds the exact value of x * 10**d (half to even), numpy the float product,
    which may be off the exact one by half a unit in its last place. They can only disagree when
    the product lies that close to a half-way point: such values (about 2 * x * 10**d * 2**-50 of
    random ones: 2e-7 at 10**6, never for days in practice; but "2.45" typed in a scenario is one),
    and with them every value from 2**49 / 10**d on (~5.6e12 for amounts), inf and -inf, are
    formatted by Python itself, so the text is always the same as ``%``'s.

    Signs: a negative value keeps its sign even when it rounds to zero (-0.004 and -0.0 give
    "-0.00"), as with ``%``: no number is shown with a sign it does not have.
    """
    units = 10.0 ** np.array(decimals)[:, None]
    missing = np.isnan(numbers)
    with np.errstate(invalid="ignore"):  # nan and inf: not sure, handled below
        scaled = np.abs(numbers) * units
        rounded = np.rint(scaled)
        # False for nan and inf, and for all scaled >= 2**49, where the margin reaches 0.5.
        sure = np.abs(scaled - rounded) < 0.5 - scaled * _ROUNDING_MARGIN
    rounded[~sure] = 0
    scaled_int = rounded.astype(np.int64)
    whole, fraction = np.divmod(scaled_int, units.astype(np.int64))
    negative = np.signbit(numbers) & sure
    has_negative = negative.any(axis=1).tolist()
    has_missing = missing.any(axis=1).tolist()
    tops = scaled_int.max(axis=1, initial=0).tolist()
    out = []
    for c, (places, end) in enumerate(zip(decimals, ends, strict=True)):
        if tops[c] < _JOINED_LIMIT:
            pieces = [_joined_table(places, end, tops[c]).take(scaled_int[c])]
        else:
            pieces = [*_integer_pieces(whole[c]), _fraction_table(places, end).take(fraction[c])]
        if has_negative[c]:
            pieces[0][negative[c]] = "-" + pieces[0][negative[c]]
        if has_missing[c]:
            for piece in pieces[1:]:
                piece[missing[c]] = ""
            pieces[0][missing[c]] = end
        out.append(pieces)
    unsure = ~(sure | missing)
    for c, i in np.argwhere(unsure).tolist() if unsure.any() else []:  # rarely any
        for piece in out[c][1:]:
            piece[i] = ""
        out[c][0][i] = f"{numbers[c, i]:.{decimals[c]}f}{ends[c]}"
    return [tuple(piece.tolist() for piece in pieces) for pieces in out]


#: Columns whose values times 10**decimals stay below this are looked up whole (days with
#: two decimals: up to seven years).
_JOINED_LIMIT = 2**18
_JOINED: dict = {}


def _joined_table(decimals: int, end: str, top: int) -> np.ndarray:
    """The text of every scaled value 0 .. top (at least), fraction and separator included:
    ``"12.05,"`` at 1205 (2 decimals). Built from the two tables (whole part, then fraction),
    with room to spare as larger values come, so a run builds only what its columns need
    (days over four years: ~180,000 entries, in ~20 ms once)."""
    table = _JOINED.get((decimals, end))
    if table is None or len(table) <= top:
        whole, fraction = np.divmod(np.arange(max(1024, top + top // 4 + 1)), 10**decimals)
        table = _integer_text(whole) + _fraction_table(decimals, end).take(fraction)
        _JOINED[(decimals, end)] = table
    return table


def event_rows(model: Model, rec: ReplicationRecords) -> str:
    """events.csv rows (no header) for one replication, in time order."""
    names = [*model.state_names(), ""]  # index -1: no stage
    start = model.scenario.start_date
    horizon_days = math.ceil(model.horizon) + 1
    dates = [(start + dt.timedelta(days=d)).isoformat() for d in range(horizon_days)]
    r = rec.replication
    out = []
    for deal, day, event, src, dst, cause in rec.events or []:
        deal_text = "" if deal < 0 else str(deal)
        out.append(
            f"{r},{deal_text},{day:.3f},{dates[int(day)]},{event},{names[src]},{names[dst]},{cause}\n"
        )
    return "".join(out)
