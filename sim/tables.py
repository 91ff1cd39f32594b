"""Terminal tables: one rule for the width and one for the numbers, shared by every command.

Width: a table fits :func:`terminal_width` (``shutil.get_terminal_size``, which honours
``COLUMNS``; :data:`DEFAULT_WIDTH` when there is no terminal, e.g. output piped to a file). A
table that fits is printed as it is. One that does not is narrowed, in this order, until it fits:

1. column headings wrap onto more lines at their spaces (a heading never makes a column wider
   than its longest word or its widest value);
2. the text columns (labels, names: ``text=``), widest first, wrap onto continuation lines at
   their spaces, down to their longest word (and :data:`MIN_TEXT` characters);
3. the columns are set one space apart instead of two, and 2. again;
4. the text columns wrap inside their longest words too, down to :data:`MIN_TEXT` characters
   (nothing is dropped);
5. if it still does not fit, the table is stacked: one block per row, its first cell as a title
   and ``heading: value`` lines under it.

Numbers are never cut, abbreviated or wrapped: a value is whole on one line in every layout.

Numbers: the values of one column (or of one table, the caller says) are written with one
:class:`Scale`: the same suffix (k, M, B) and the same number of decimals, chosen from the
largest value so that it keeps ``digits`` significant digits (14.42M and 5.66M, not 14.42M
and 5.658M; -3.031M and +2.150M, not -3.031M and +2.15M).
"""

from __future__ import annotations

import math
import shutil
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Width when there is no terminal and no ``COLUMNS``.
DEFAULT_WIDTH = 100
#: Prose is wrapped at this width at most, even on a wider terminal (lines stay readable).
PROSE_WIDTH = 96
#: A text column is not wrapped narrower than this.
MIN_TEXT = 10
#: Narrowest width honoured (below it the stacked layout is used with this width).
MIN_WIDTH = 20

__all__ = [
    "DEFAULT_WIDTH",
    "NOBREAK",
    "Scale",
    "nobreak",
    "render",
    "render_with_note",
    "scale_for",
    "terminal_width",
    "wrap",
]


def terminal_width() -> int:
    """Columns of the terminal (``COLUMNS`` first), :data:`DEFAULT_WIDTH` without one."""
    columns = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    if columns <= 0:
        columns = DEFAULT_WIDTH
    return max(MIN_WIDTH, columns)


def wrap(
    text: str,
    width: int | None = None,
    indent: str = "",
    subsequent: str | None = None,
    cap: int | None = PROSE_WIDTH,
) -> list[str]:
    """Prose wrapped to the terminal (at most ``cap`` wide); long words (paths) are kept whole."""
    width = terminal_width() if width is None else width
    if cap is not None:
        width = min(width, cap)
    lines = textwrap.wrap(
        text,
        width=max(width, len(indent) + 8),
        initial_indent=indent,
        subsequent_indent=indent if subsequent is None else subsequent,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return [line.replace(NOBREAK, " ") for line in lines] or [indent.rstrip()]


#: A space :func:`wrap` does not break at ("P10 2.94M EUR" stays on one line): :func:`nobreak`.
NOBREAK = "\u00a0"


def nobreak(text: str) -> str:
    """``text`` kept on one line by :func:`wrap`."""
    return text.replace(" ", NOBREAK)


# --- numbers -----------------------------------------------------------------------------------

#: The letters of large amounts, largest first (one list for the tables and for
#: sim.report.compact): without T a trillion would read "1,000B" (or "19,500B").
MONEY_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))
_SUFFIXES = (*MONEY_SUFFIXES, (1.0, ""))


@dataclass(frozen=True)
class Scale:
    """One way of writing the numbers of a column: value / divisor, ``decimals``, ``suffix``,
    thousands grouped with commas (2,000 open deals, 1,461 days: a table for people)."""

    divisor: float = 1.0
    suffix: str = ""
    decimals: int = 0

    def __call__(self, value: float | None, sign: bool = False, unit: str = "") -> str:
        if value is None or not math.isfinite(value):
            return "-"
        scaled = value / self.divisor
        if round(scaled, self.decimals) == 0:
            scaled, sign = 0.0, False  # 0.00M, not -0.00M or +0.00M
        text = f"{scaled:{'+' if sign else ''},.{self.decimals}f}{self.suffix}"
        return f"{text} {unit}" if unit else text


def scale_for(values: Iterable[float | None], digits: int = 3, suffix: bool = True) -> Scale:
    """The :class:`Scale` that writes the largest of ``values`` with ``digits`` significant
    digits (at least; an integer part longer than that keeps all its digits) and every other
    value with the same suffix and decimals; ``suffix=False``: no k/M/B/T (days)."""
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    top = max(finite, default=0.0)
    for divisor, letter in _SUFFIXES if suffix else ((1.0, ""),):
        if divisor == 1.0 or top >= divisor * (1 - 0.5 * 10**-digits):
            scaled = top / divisor
            integer = len(str(int(round(scaled)))) if scaled >= 1 else 1
            decimals = max(0, digits - integer)
            if divisor == 1.0 and all(float(v).is_integer() for v in finite):
                decimals = 0  # counts: 12, 3 (not 12.0, 3.00)
            return Scale(divisor, letter, decimals)
    raise AssertionError("unreachable")  # pragma: no cover


# --- layout ------------------------------------------------------------------------------------


def _words_width(text: str) -> int:
    return max((len(w) for w in text.split()), default=0)


def _wrap_cell(text: str, width: int, breakable: bool) -> list[str]:
    if len(text) <= width:
        return [text]
    if not breakable:  # a number, or a heading: whole words only
        return textwrap.wrap(text, width=width, break_long_words=False) or [text]
    return textwrap.wrap(text, width=width, break_long_words=True) or [text]


def render(
    rows: Sequence[Sequence[str]],
    right: Iterable[int] = (),
    text: Iterable[int] = (0,),
    header: bool = True,
    width: int | None = None,
    indent: int = 2,
    gap: int = 2,
    head_indent: int | None = None,
    notes: Sequence[Sequence[str]] | None = None,
) -> list[str]:
    """Lines of a table that fit ``width`` (the terminal's by default).

    Args:
        rows: the cells, the first row the headings when ``header``.
        right: columns aligned right (numbers); the others are aligned left.
        text: columns of words that may wrap (labels, names); the others are never wrapped.
        header: whether ``rows[0]`` holds the headings.
        indent: spaces before every line.
        head_indent: spaces before the heading lines, if fewer (the first heading is then a
            title over the indented labels: "Cycle time, days" over "  Won").
        notes: per body row, lines of words printed under it (wrapped to the width, indented
            four more spaces than the rows).
        gap: spaces between columns.
    """
    rows = [list(r) for r in rows]
    if not rows:
        return []
    width = terminal_width() if width is None else width
    right, text = set(right), set(text)
    n = max(len(r) for r in rows)
    rows = [r + [""] * (n - len(r)) for r in rows]
    heads = rows[0] if header else [""] * n
    body = rows[1:] if header else rows
    natural = [max([len(heads[c])] + [len(r[c]) for r in body]) for c in range(n)]
    value_w = [max([0] + [len(r[c]) for r in body]) for c in range(n)]
    widths = list(natural)

    def total() -> int:
        return indent + sum(widths) + gap * (n - 1)

    # 1. headings wrap at their spaces
    for c in sorted(range(n), key=lambda c: natural[c] - value_w[c], reverse=True):
        if total() <= width:
            break
        floor = max(value_w[c], _words_width(heads[c]))
        widths[c] = max(floor, widths[c] - (total() - width))
    # 2. text columns wrap, the widest first: at their words first, then inside long words
    longest_word = {c: max([_words_width(r[c]) for r in body] + [0]) for c in text if c < n}
    at_words = {c: max(MIN_TEXT, w) for c, w in longest_word.items()}

    def narrow(floors: dict[int, int]) -> None:
        while total() > width:
            candidates = [c for c in floors if widths[c] > floors[c]]
            if not candidates:
                return
            c = max(candidates, key=lambda c: widths[c])
            others = sorted((widths[o] for o in candidates if o != c), reverse=True)
            target = max(floors[c], widths[c] - (total() - width), others[0] if others else 0)
            widths[c] = target if target < widths[c] else widths[c] - 1

    narrow(at_words)
    if total() > width and gap > 1:
        gap = 1  # 3. one space between the columns
        narrow(at_words)
    narrow({c: MIN_TEXT for c in longest_word})  # 4. inside the longest words
    for c in sorted(longest_word, key=lambda c: natural[c] - widths[c]):  # room left over
        widths[c] += max(0, min(width - total(), natural[c] - widths[c]))
    notes = list(notes or [])
    notes += [[]] * (len(body) - len(notes))
    if total() > width:
        return _stacked(heads if header else None, body, width, indent, notes)

    out: list[str] = []
    if header:
        shift = indent - (indent if head_indent is None else min(indent, head_indent))
        head_widths = [widths[0] + shift, *widths[1:]]
        out += _lines(heads, head_widths, right, indent - shift, gap, bottom=True, breakable=False)
    for r, extra in zip(body, notes, strict=True):
        out += _lines(r, widths, right, indent, gap, bottom=False, breakable=True, text=text)
        out += _notes(extra, width, indent + 4)
    return out


def _notes(extra: Sequence[str], width: int, indent: int) -> list[str]:
    pad = " " * indent
    return [line for note in extra for line in _stack_text(note, width, pad, pad + "  ")]


def _lines(cells, widths, right, indent, gap, bottom, breakable, text=()):
    parts = [
        _wrap_cell(cell, widths[c], breakable and c in text) if cell else [""]
        for c, cell in enumerate(cells)
    ]
    height = max(len(p) for p in parts)
    if bottom:
        parts = [[""] * (height - len(p)) + p for p in parts]
    else:
        parts = [p + [""] * (height - len(p)) for p in parts]
    lines = []
    for i in range(height):
        cells_i = [
            p[i].rjust(widths[c]) if c in right else p[i].ljust(widths[c])
            for c, p in enumerate(parts)
        ]
        lines.append((" " * indent + (" " * gap).join(cells_i)).rstrip())
    return lines


def _stacked(heads, body, width, indent, notes) -> list[str]:
    """One block per row: the first cell, then ``heading: value`` lines (values whole)."""
    pad = " " * indent
    out: list[str] = []
    for r, extra in zip(body, notes, strict=True):
        out += _stack_text(r[0], width, pad, pad + "  ")
        for c in range(1, len(r)):
            if not r[c]:
                continue
            name = heads[c] if heads else ""
            out += _stack_text(f"{name}: {r[c]}" if name else r[c], width, pad + "  ", pad + "    ")
        out += _notes(extra, width, indent + 2)
    return out


def _stack_text(text, width, first, rest) -> list[str]:
    return textwrap.wrap(
        text,
        width=max(width, len(rest) + MIN_TEXT),
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [first.rstrip()]


def render_with_note(rows: Sequence[Sequence[str]], right: Iterable[int], note: str) -> list[str]:
    """A table, then the note that says what its columns mean, wrapped under it."""
    return [*render(rows, right=right), "", *wrap(note, indent="  "), ""]
