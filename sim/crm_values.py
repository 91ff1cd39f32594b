"""Dates, amounts and currencies as CRMs write them.

Dates understood (``DATE_FORMATS``): ISO dates and date-times (``2024-03-05``,
``2024-03-05 10:00``, ``2024-03-05T10:00:00.000Z``; offsets are converted to UTC), slash dates
day-first or month-first (``5/3/2024``, ``03/05/2024 10:00 AM``; a two-digit year is 20YY) and
dot dates, always day-first (``05.03.2024``, ``05.03.2024 10:00``).

Slash dates are the trap: ``03/05/2024`` is 3 May in Europe and March 5 in the US. The order is
decided once per file from all its date cells (``decide_date_order``): a first number over 12
can only be a day, a second number over 12 only a month. A file that shows neither cannot
decide, and a file that shows both contradicts itself; both are errors that name the column and
ask for ``--date-format DD/MM/YYYY`` or ``--date-format MM/DD/YYYY``.

Amounts: currency symbols and codes and thousands separators are dropped (``$1,234.50``,
``1 234,50 EUR``); the currency they name is kept (``amount_currency``) so that amounts in
several currencies are never summed silently.

The decimal mark is the amounts' trap: ``1.500`` is 1500 in Germany and 1.5 in the US. Like the
order of slash dates it is decided once per column from all its cells (``decide_decimal_mark``):
a cell with both marks, a mark written twice (``1.250.000``) or one not followed by exactly
three digits (``2,5``, ``12.50``) can be read only one way. A column that shows both ways, or
groups digits with both marks (``1.500`` and ``1,500``), is an error naming the rows and
``--decimal-mark``; a column that shows neither is read as before (a dot is decimal, a comma
followed by three digits groups thousands) and a note says so.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sim.errors import UserError
from sim.plural import counted
from sim.scenario_bounds import MAX_START_DATE, MIN_START_DATE

#: How the accepted formats are described in messages and help.
DATE_FORMATS = (
    "YYYY-MM-DD (or an ISO date-time)",
    "DD/MM/YYYY",
    "MM/DD/YYYY (each with an optional time, 24h or AM/PM)",
    "DD.MM.YYYY",
)
#: ``--date-format`` values: True when the slash dates are day-first.
DATE_ORDERS = {"DD/MM/YYYY": True, "MM/DD/YYYY": False}
DATE_FORMAT_HINT = "--date-format DD/MM/YYYY or --date-format MM/DD/YYYY"

_ISO = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$"
)
_SLASH = re.compile(
    r"^(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})"
    r"(?:,?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp]\.?[Mm]\.?)?)?$"
)
_DOT = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:,?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def date_order_option(text: str | None) -> bool | None:
    """``--date-format``: True (day-first), False (month-first) or None (decide from the file).

    Raises:
        UserError: a value that is not one of ``DATE_ORDERS``.
    """
    if text is None:
        return None
    key = text.strip().upper().replace("%D", "DD").replace("%M", "MM").replace("%Y", "YYYY")
    if key not in DATE_ORDERS:
        raise UserError(
            f"--date-format {text}: expected {' or '.join(DATE_ORDERS)} (the order of slash "
            f"dates; formats understood: {'; '.join(DATE_FORMATS)})"
        )
    return DATE_ORDERS[key]


@dataclass(frozen=True)
class DateCell:
    """A date cell of a file, for deciding the order and for messages."""

    text: str
    row: int
    line: int
    column: str


def decide_date_order(cells: Iterable[DateCell], source: str, asked: bool | None) -> bool:
    """Whether the file's slash dates are day-first, from all its date cells.

    Args:
        cells: every non-empty date cell of the file.
        source: the file, for messages.
        asked: the ``--date-format`` order, or None to decide from the cells.

    Raises:
        UserError: the cells contradict ``asked`` or each other, or (with slash dates and no
            ``asked``) cannot decide; the message names the column and ``--date-format``.
    """
    day_first: DateCell | None = None  # a cell that can only be day-first
    month_first: DateCell | None = None
    ambiguous: DateCell | None = None
    for cell in cells:
        m = _SLASH.match(cell.text.strip())
        if not m:
            continue
        a, b = int(m[1]), int(m[2])
        if a > 12 and day_first is None:
            day_first = cell
        elif b > 12 and month_first is None:
            month_first = cell
        elif a <= 12 and b <= 12 and ambiguous is None:
            ambiguous = cell
    if day_first and month_first:
        raise UserError(
            f"{source}: the slash dates disagree: {_at(day_first)} can only be DD/MM/YYYY but "
            f"{_at(month_first)} can only be MM/DD/YYYY; export the dates in one format "
            f"(YYYY-MM-DD is safest)"
        )
    found = True if day_first else False if month_first else None
    if asked is not None:
        if found is not None and found != asked:
            wrong = day_first or month_first
            raise UserError(
                f"{source}: {_at(wrong)} cannot be "
                f"{'DD/MM/YYYY' if asked else 'MM/DD/YYYY'} as --date-format says"
            )
        return asked
    if found is not None:
        return found
    if ambiguous is not None:
        raise UserError(
            f"{source}, column {ambiguous.column!r}: the slash dates can be read both day-first "
            f"and month-first (no number in them is over 12, e.g. {ambiguous.text!r} on row "
            f"{ambiguous.row}): say which with {DATE_FORMAT_HINT}. "
            f"Formats understood: {'; '.join(DATE_FORMATS)}"
        )
    return False


def _at(cell: DateCell) -> str:
    return f"{cell.text!r} (row {cell.row}, line {cell.line}, column {cell.column!r})"


def parse_datetime(text: str, day_first: bool = False) -> dt.datetime | None:
    """A CRM date or date-time as a naive UTC datetime, or None when it cannot be read."""
    text = text.strip()
    try:
        m = _ISO.match(text)
        if m:
            y, mo, d, hh, mm, ss, frac, tz = m.groups()
            micro = int((frac or "0")[:6].ljust(6, "0"))
            value = dt.datetime(
                int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0), micro
            )
            return value - _offset(tz) if tz else value
        m = _SLASH.match(text)
        if m:
            a, b, y, hh, mm, ss, ampm = m.groups()
            month, day = (int(b), int(a)) if day_first else (int(a), int(b))
            year = int(y) + (2000 if len(y) == 2 else 0)
            hour = int(hh or 0)
            if ampm:
                if not 1 <= hour <= 12:
                    return None
                hour = hour % 12 + (12 if ampm.lower().startswith("p") else 0)
            return dt.datetime(year, month, day, hour, int(mm or 0), int(ss or 0))
        m = _DOT.match(text)
        if m:
            d, mo, y, hh, mm, ss = m.groups()
            return dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0))
    except ValueError:  # day 31 of February and the like
        return None
    return None


def _offset(tz: str) -> dt.timedelta:
    if tz == "Z":
        return dt.timedelta(0)
    digits = tz[1:].replace(":", "")
    offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return -offset if tz[0] == "-" else offset


def parse_as_of(text: str, date_format: str | None = None, option: str = "--as-of") -> dt.date:
    """``--as-of`` in any format the files may use (see ``DATE_FORMATS``), as a date.

    A slash date with both numbers up to 12 needs ``--date-format``; a time of day is allowed
    and ignored (the export day is what counts).

    Raises:
        UserError: not a date, or an ambiguous slash date without ``--date-format``.
    """
    return parse_as_of_time(text, date_format, option).date()


def parse_as_of_time(
    text: str, date_format: str | None = None, option: str = "--as-of"
) -> dt.datetime:
    """``parse_as_of`` with its time of day (midnight when none is written)."""
    order = date_order_option(date_format)
    cell = DateCell(text, 0, 0, option)
    try:
        day_first = decide_date_order([cell], option, order)
    except UserError:
        raise UserError(
            f"{option} {text}: can be read day-first or month-first; write it as YYYY-MM-DD or "
            f"give {DATE_FORMAT_HINT}"
        ) from None
    value = parse_datetime(text, day_first)
    if value is None:
        understood = "; ".join(DATE_FORMATS)
        raise UserError(f"{option} {text}: not a date (formats understood: {understood})")
    if not MIN_START_DATE <= value.date() <= MAX_START_DATE:  # the day a forecast starts
        raise UserError(
            f"{option} {text}: outside {MIN_START_DATE} .. {MAX_START_DATE}, the days a "
            "scenario may start on (the forecast from it starts that day)"
        )
    return value


# --------------------------------------------------------------------------------------------
# Amounts and currencies
# --------------------------------------------------------------------------------------------

#: Currency symbols read as ISO codes. ``$`` is read as USD: a report from a Canadian or
#: Australian org must say so with a currency column (or the code in the amount).
SYMBOLS = {"$": "USD", "US$": "USD", "\u20ac": "EUR", "\u00a3": "GBP", "\u20bd": "RUB"}
_SYMBOL_RE = "|".join(re.escape(s) for s in sorted(SYMBOLS, key=len, reverse=True))
_CURRENCY = re.compile(
    rf"^\s*(?P<pre>[A-Z]{{3}}|{_SYMBOL_RE})?\s*(?P<num>.*?)\s*"
    rf"(?P<post>[A-Z]{{3}}|{_SYMBOL_RE}|руб\.?|р\.)?\s*$"
)


def split_amount(text: str) -> tuple[str, str | None]:
    """``"USD 1,234.50"`` -> (``"1,234.50"``, ``"USD"``); the currency is None when not written."""
    m = _CURRENCY.match(text)
    if not m:  # pragma: no cover - the pattern matches any string
        return text, None
    mark = m["pre"] or m["post"]
    if mark is None:
        return m["num"], None
    if mark.startswith(("руб", "р.")):
        return m["num"], "RUB"
    return m["num"], SYMBOLS.get(mark, mark)


#: ``--decimal-mark`` values and how messages name them.
DECIMAL_MARKS = {",": "a decimal comma", ".": "a decimal dot"}
DECIMAL_MARK_HINT = "--decimal-mark , or --decimal-mark ."


def decimal_mark_option(text: str | None) -> str | None:
    """``--decimal-mark``: ``","``, ``"."`` or None (decide from the file).

    Raises:
        UserError: a value that is not one of ``DECIMAL_MARKS``.
    """
    if text is None:
        return None
    key = text.strip()
    if key not in DECIMAL_MARKS:
        raise UserError(
            f"--decimal-mark {text}: expected , or . (the mark before the cents of the amounts: "
            "1.234,50 is --decimal-mark , and 1,234.50 is --decimal-mark .)"
        )
    return key


@dataclass(frozen=True)
class AmountCell:
    """An amount cell of a file, for deciding the decimal mark and for messages."""

    text: str
    row: int
    line: int
    column: str


@dataclass(frozen=True)
class DecimalMark:
    """The decimal mark of a column of amounts, and the note to print when it was assumed."""

    mark: str
    note: str | None = None


def _number_part(text: str) -> str:
    """The digits and marks of an amount: currency, spaces and apostrophes (``1'234``) off."""
    s, _ = split_amount(text)
    return s.replace("\u00a0", "").replace("\u202f", "").replace(" ", "").replace("'", "")


def _grouped(s: str, sep: str) -> bool:
    """``s`` is a whole number with its thousands grouped by ``sep`` (``1,250,000``)."""
    return re.fullmatch(rf"-?[1-9]\d{{0,2}}(?:{re.escape(sep)}\d{{3}})+", s) is not None


def amount_evidence(text: str) -> str | None:
    """What an amount cell says of its decimal mark: ``","`` or ``"."`` when it can be read only
    with that mark, ``"1,500"`` or ``"1.500"`` when its one mark is followed by three digits
    (either way: a decimal or a thousands separator), None when it has no mark (or is no
    amount: it is refused when read)."""
    s = _number_part(text)
    if "," in s and "." in s:
        return "," if s.rfind(",") > s.rfind(".") else "."
    for sep, other in ((",", "."), (".", ",")):
        if sep not in s:
            continue
        if s.count(sep) > 1:  # written twice: it groups thousands, if the groups are right
            return other if _grouped(s, sep) else None
        return f"1{sep}500" if _grouped(s, sep) else sep
    return None


def decide_decimal_mark(cells: Iterable[AmountCell], source: str, asked: str | None) -> DecimalMark:
    """The decimal mark of a column of amounts, from all its cells.

    Args:
        cells: every non-empty cell of the column.
        source: the file, for messages.
        asked: the ``--decimal-mark``, or None to decide from the cells.

    Raises:
        UserError: the cells contradict ``asked`` or each other (some can be read only with a
            decimal comma, others only with a decimal dot; or ``1.500`` and ``1,500`` in one
            column, one of which would be read a thousand times off); the message names the
            column, example rows of each kind and ``--decimal-mark``.
    """
    # evidence -> the first cells that show it, one per amount: a history repeats a deal's
    # amount on each of its rows, and three rows of one deal would be one example.
    seen: dict[str, list[AmountCell]] = {}
    amounts: dict[str, set[str]] = {}  # evidence -> the distinct amounts that show it
    column = None
    for cell in cells:
        evidence = amount_evidence(cell.text)
        if evidence is None:
            continue
        column = cell.column
        texts = amounts.setdefault(evidence, set())
        kept = seen.setdefault(evidence, [])
        if len(kept) < _EXAMPLES and cell.text not in texts:
            kept.append(cell)
        texts.add(cell.text)
    if asked is not None:
        wrong = seen.get("," if asked == "." else ".")
        if wrong:
            raise UserError(
                f"{source}, column {column!r}: {_examples(wrong)} cannot be read with "
                f"{DECIMAL_MARKS[asked]} as --decimal-mark {asked} says"
            )
        return DecimalMark(asked)
    fix = (
        f"export the amounts in one format (1234.50, no thousands separator, is safest) or say "
        f"which mark is decimal with {DECIMAL_MARK_HINT}"
    )
    if "," in seen and "." in seen:
        raise UserError(
            f"{source}, column {column!r}: the amounts mix two number formats: "
            f"{_examples(seen[','])} can be read only with a decimal comma, but "
            f"{_examples(seen['.'])} only with a decimal dot; {fix}"
        )
    if "1,500" in seen and "1.500" in seen:
        decided = next(
            (f" (and {_examples(seen[m])}: {DECIMAL_MARKS[m]})" for m in ",." if m in seen), ""
        )
        raise UserError(
            f"{source}, column {column!r}: the amounts mix two number formats: "
            f"in {_examples(seen['1,500'])} a comma groups the digits, in "
            f"{_examples(seen['1.500'])} a dot: whichever mark is decimal, one kind would be "
            f"read a thousand times off{decided}; {fix}"
        )
    if "," in seen or "." in seen:
        return DecimalMark("," if "," in seen else ".")
    ambiguous = "1,500" if "1,500" in seen else "1.500" if "1.500" in seen else None
    if ambiguous is None:
        return DecimalMark(".")
    first = seen[ambiguous][0]
    value = parse_amount(first.text, ".")
    if ambiguous == "1,500":
        how = "the comma as a thousands separator"
        other = "decimals with a comma, give --decimal-mark ,"
    else:
        how = "the dot as the decimal mark"
        other = "thousands with a dot, give --decimal-mark ,"
    return DecimalMark(
        ".",
        f"column {column!r}: {counted(len(amounts[ambiguous]), 'amount')} such as "
        f"{first.text!r} (row "
        f"{first.row}) could be read with either decimal mark: read with {how} "
        f"({first.text!r} = {value:g}); if the file writes {other}",
    )


_EXAMPLES = 3  # example cells named per kind in a message


def _examples(cells: list[AmountCell]) -> str:
    return ", ".join(_at(c).replace(f", column {c.column!r}", "") for c in cells)


def parse_amount(text: str, mark: str | None = None) -> float | None:
    """An amount as written by CRMs (``$1,234.50``, ``1 234,50 EUR``, ``1234``), None if not one.

    Blank is ``nan``. ``mark`` is the decimal mark of the amount's column
    (``decide_decimal_mark``): the other mark is a thousands separator. Without one, each value
    decides for itself: with both ``,`` and ``.`` the last one is the decimal mark; a lone comma
    is a thousands separator when followed by groups of exactly three digits.
    """
    if not text.strip():
        return math.nan
    s = _number_part(text)
    if mark is not None:
        thousands = "." if mark == "," else ","
        if mark not in s and thousands in s and not _grouped(s, thousands):
            return None  # 1,2,3 is no amount whichever mark is decimal
        if mark in s and thousands in s[s.find(mark) :]:
            return None  # a thousands separator after the decimal mark (1,234.50 with ",")
        s = s.replace(thousands, "").replace(mark, ".")
    elif "," in s and "." in s:
        if s.rfind(",") > s.rfind("."):
            s = s.replace(".", "").replace(",", ".")
        else:
            s = s.replace(",", "")
    elif "," in s:
        if re.fullmatch(r"-?\d{1,3}(,\d{3})+", s):
            s = s.replace(",", "")
        else:
            s = s.replace(",", ".")
    if not re.fullmatch(r"-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", s):
        return None
    value = float(s)
    return value if math.isfinite(value) else None


def parse_fx(text: str | Iterable[str] | None) -> dict[str, float]:
    """``--fx USD=0.92,GBP=1.17`` (repeatable): currency -> rate into the scenario's currency.

    Raises:
        UserError: not CODE=RATE, a code that is not three letters, a rate that is not > 0.
    """
    items = [text] if isinstance(text, str) else list(text or [])
    rates: dict[str, float] = {}
    for item in items:
        for part in filter(None, (p.strip() for p in item.split(","))):
            code, sep, value = part.partition("=")
            code = code.strip().upper()
            try:
                rate = float(value)
            except ValueError:
                rate = math.nan
            if not sep or not re.fullmatch(r"[A-Z]{3}", code) or not (rate > 0 and rate < math.inf):
                raise UserError(
                    f"--fx {part}: expected CODE=RATE with a three-letter currency code and a "
                    "rate > 0 into the scenario's currency, e.g. --fx USD=0.92,GBP=1.17"
                )
            rates[code] = rate
    return rates
