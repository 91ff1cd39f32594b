"""Reading CRM exports: the open pipeline at a date, and the stage history of deals.

Planners start from what their CRM says, not from invented counts, and the CRMs disagree on
everything: column names, date formats, encodings, currencies, how a closed deal is spelt. This
module turns an export into two plain shapes the rest of the package can trust:

- ``read_pipeline`` -> ``PipelineDeal`` rows (the open deals at ``as_of``, one per deal), for
  ``--pipeline FILE --as-of DATE``;
- ``read_history`` -> ``History`` (rows ``deal_id, state, entered_at``), for ``dealsim fit``.

The format is detected from the header (plain, Salesforce reports / Data Loader /
OpportunityHistory, HubSpot, Pipedrive, and the Maven Analytics CRM sample); ``mapping``
(``--map column=field``, one column may feed several fields) names the columns of anything
else. Problems are ``UserError``s naming the file, the row (1-based data row, and the line)
and the column; nothing is returned half-read. A problem of the file itself (missing, no header,
a missing column, malformed CSV, too large) is raised at once; the problems of single rows (a bad
or empty value, a date out of range, entered before created...) are gathered over the whole file
and raised as one message listing the first ``MAX_LISTED_PROBLEMS`` and how many more, so that
an export with 40 bad dates is mended in one pass, not 40 runs. What was assumed is returned as
notes, for the terminal.

Decisions (documented here because users will ask):

- Text: the encoding rule of :mod:`sim.text_encoding` (UTF-8 with or without BOM, UTF-16 with a
  BOM, cp1251 or cp1252 by the words; ``--encoding`` otherwise).
- Dates and amounts: :mod:`sim.crm_values` (the order of slash dates is decided per file, the
  decimal mark of the amounts per column).
- Currencies: a currency column (Salesforce ``Amount Currency``, Pipedrive ``Deal - Currency``,
  HubSpot ``Currency``) or the code/symbol written in the amount. Amounts in another currency
  than the target are converted with ``fx`` rates (``--fx USD=0.92``) or refused, naming the
  currencies and rows; amounts with no currency written are taken to be in the target currency.
- Pipeline: deals closed by status (Pipedrive ``Deal - Status`` won / lost / deleted) or whose
  stage maps to an outcome are skipped and counted. Time in stage comes from, in order: the
  stage-entered date (a blank one in a column that exists means the deal never changed stage:
  the created date), the days in stage (Salesforce ``Stage Duration``), and otherwise it is
  unknown: the deal is taken to be in its stage since it was created (the longest it can have
  been there; its remaining time is drawn from the stage's duration given that age), and the
  notes say how many deals that was. The created date may come from the age (Salesforce
  ``Age``, days); a deal with neither is new at ``as_of``. Dates after ``as_of`` are errors
  (the export is newer than the date asked for). Without an id column (Salesforce's default
  report) deals are numbered by row.
- History: consecutive rows of the same stage for a deal are merged (Salesforce writes an
  OpportunityHistory row for every amount or close-date edit); rows may come in any order, they
  are sorted by time per deal, but an outcome followed by anything later is an error. Stage
  names in any script keep their spelling as the label and get an ASCII key
  (:mod:`sim.stage_keys`); two spellings whose keys collide are an error naming both.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sim.crm_values import (
    DATE_FORMATS,
    AmountCell,
    DateCell,
    DecimalMark,
    date_order_option,
    decide_date_order,
    decide_decimal_mark,
    decimal_mark_option,
    parse_amount,
    parse_datetime,
    split_amount,
)
from sim.errors import UserError
from sim.plural import counted, verb
from sim.scenario_bounds import (
    MAX_AMOUNT,
    MAX_CSV_BYTES,
    MAX_CSV_COLUMNS,
    MAX_LISTED_PROBLEMS,
    MAX_START_DATE,
    MIN_START_DATE,
)
from sim.stage_keys import key_words
from sim.text_encoding import decode_export

__all__ = [
    "History",
    "HistoryRow",
    "PipelineDeal",
    "PipelineImport",
    "ReadOptions",
    "outcome_of",
    "parse_amount",
    "parse_datetime",
    "read_history",
    "read_pipeline",
    "stage_map_from",
    "stage_slug",
]

OUTCOMES = ("won", "lost", "no_decision")
STATES_BEYOND_STAGES = (*OUTCOMES, "dormant")

#: Fields of an open-pipeline row and of a history row (the targets of ``--map``).
PIPELINE_FIELDS = (
    "deal_id",
    "stage",
    "amount",
    "created",
    "stage_entered",
    "stage_days",
    "age_days",
    "status",
    "currency",
)
HISTORY_FIELDS = ("deal_id", "stage", "entered_at", "amount", "currency", "status")

_MAX_LISTED = 8  # rows listed per problem before "... and N more"
#: ``Deal - Status`` values (Pipedrive) and what they mean for the simulation.
_STATUSES = {"open": "open", "won": "won", "lost": "lost", "deleted": "deleted"}


@dataclass(frozen=True)
class ReadOptions:
    """How to read an export where the file cannot say: ``--encoding``, ``--date-format``,
    ``--decimal-mark``, and the currency to convert amounts into with ``--fx`` rates (None: the
    file's own, if one)."""

    encoding: str | None = None
    date_format: str | None = None
    decimal_mark: str | None = None
    currency: str | None = None
    fx: Mapping[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineDeal:
    """One open deal at ``as_of``: its scenario stage, amount and the two dates that age it."""

    deal_id: str
    stage: str
    amount: float
    created: dt.date
    stage_entered: dt.date


class PipelineImport(list):
    """The open deals read from a pipeline export (a list of ``PipelineDeal``) plus what was
    skipped and assumed, so that the CLI can say "12 closed deals skipped" and "40 deals without
    a stage date" instead of silently dropping or guessing."""

    def __init__(
        self,
        deals: Iterable[PipelineDeal],
        *,
        source: str,
        fmt: str,
        skipped: int,
        notes: Iterable[str] = (),
        currency: str | None = None,
    ):
        super().__init__(deals)
        self.source = source
        self.format = fmt
        self.skipped_closed = skipped
        self.notes = list(notes)
        self.currency = currency


@dataclass(frozen=True)
class HistoryRow:
    """A deal entering a state at a time: ``state`` is a stage name (scenario vocabulary),
    ``dormant`` or an outcome; ``row`` is the 1-based data row of the file, for messages."""

    deal_id: str
    state: str
    entered_at: dt.datetime
    row: int = 0
    crm_stage: str = ""


@dataclass
class History:
    """A stage history, sorted by deal then time, with the deals' amounts when the file has them.

    ``stage_names`` maps each CRM stage spelling to the scenario stage name it became;
    ``undated`` counts the deals of each CRM stage spelling that the reader left out for having
    no dated entry (the Maven sample's Prospecting deals): a fit keeps their spelling in the
    fitted scenario's ``[crm.stage_map]``, so that the same export reads as a pipeline;
    ``date_only`` is True when no row carries a time of day (durations are whole days then);
    ``currency`` is the amounts' currency when the file says (converted with ``fx`` if several).
    """

    source: str
    format: str
    rows: list[HistoryRow]
    amounts: dict[str, float] = field(default_factory=dict)
    stage_names: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    date_only: bool = True
    currency: str | None = None
    undated: dict[str, int] = field(default_factory=dict)

    def by_deal(self) -> dict[str, list[HistoryRow]]:
        """Rows grouped per deal, in time order (the order of ``rows``)."""
        out: dict[str, list[HistoryRow]] = defaultdict(list)
        for r in self.rows:
            out[r.deal_id].append(r)
        return dict(out)


# --------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------

#: Column names of the currency, in any style.
_CURRENCY_COLUMNS = (
    "currency",
    "Amount Currency",
    "Opportunity Currency",
    "CurrencyIsoCode",
    "Deal - Currency",
    "Currency",
    "Deal currency code",
)


@dataclass(frozen=True)
class _Format:
    """A CRM export style: the accepted column names of each field (matched case-insensitively).

    ``optional`` fields may be absent; of each group in ``one_of`` at least one must be there.
    """

    name: str
    fields: dict[str, tuple[str, ...]]
    optional: frozenset[str] = frozenset()
    one_of: tuple[tuple[str, ...], ...] = ()
    date_entered: bool = False  # HubSpot: dates may live in `Date entered "<stage>"` columns
    needs_date_entered: bool = False  # ... and must (a history has no other dates)


_PIPELINE_OPTIONAL = frozenset({"stage_entered", "stage_days", "age_days", "status", "currency"})

_PIPELINE_FORMATS = (
    _Format(
        "plain",
        {**{f: (f,) for f in PIPELINE_FIELDS}, "currency": _CURRENCY_COLUMNS},
        optional=_PIPELINE_OPTIONAL,
    ),
    _Format(
        "Salesforce",
        {
            "deal_id": ("Opportunity ID", "Id", "Opportunity Id", "Opportunity ID (18)"),
            "deal_name": ("Opportunity Name", "Name"),
            "stage": ("Stage", "StageName"),
            "amount": ("Amount",),
            "created": ("Created Date", "CreatedDate"),
            "stage_entered": ("Last Stage Change Date", "LastStageChangeDate"),
            "stage_days": ("Stage Duration",),
            "age_days": ("Age",),
            "currency": _CURRENCY_COLUMNS,
        },
        optional=_PIPELINE_OPTIONAL | {"deal_id", "deal_name", "created"},
        one_of=(("deal_id", "deal_name"), ("created", "age_days")),
    ),
    _Format(
        "HubSpot",
        {
            "deal_id": ("Record ID",),
            "stage": ("Deal Stage",),
            "amount": ("Amount",),
            "created": ("Create Date",),
            "stage_entered": ("Date entered current stage",),
            "currency": _CURRENCY_COLUMNS,
        },
        optional=_PIPELINE_OPTIONAL,
        date_entered=True,
    ),
    _Format(
        "Pipedrive",
        {
            "deal_id": ("id", "Deal - ID"),
            "stage": ("stage_id", "Deal - Stage"),
            "amount": ("value", "Deal - Value"),
            "created": ("add_time", "Deal - Deal created"),
            "stage_entered": ("stage_change_time", "Deal - Last stage change"),
            "status": ("status", "Deal - Status"),
            "currency": _CURRENCY_COLUMNS,
        },
        optional=_PIPELINE_OPTIONAL,
    ),
    _Format(
        "Maven CRM",
        {
            "deal_id": ("opportunity_id",),
            "stage": ("deal_stage",),
            "amount": ("close_value",),
            "created": ("engage_date",),
            "stage_entered": ("engage_date",),  # one column, two fields: no stage dates
        },
        optional=_PIPELINE_OPTIONAL,
    ),
)

_HISTORY_OPTIONAL = frozenset({"amount", "currency", "status"})
#: History styles whose file is also an export of open deals that ``--pipeline`` reads (one row
#: a deal with its stage and dates): a fit can name the file itself in its ``run`` command.
HISTORY_READS_AS_PIPELINE = frozenset({"Maven CRM"})

_HISTORY_FORMATS = (
    _Format(
        "plain",
        {**{f: (f,) for f in HISTORY_FIELDS}, "currency": _CURRENCY_COLUMNS},
        optional=_HISTORY_OPTIONAL,
    ),
    _Format(
        "Salesforce OpportunityHistory",
        {
            "deal_id": ("OpportunityId", "Opportunity ID"),
            "stage": ("StageName", "Stage"),
            "entered_at": ("CreatedDate", "Created Date", "Edit Date"),
            "amount": ("Amount",),
            "currency": _CURRENCY_COLUMNS,
        },
        optional=_HISTORY_OPTIONAL,
    ),
    _Format(
        "Maven CRM",
        {
            "deal_id": ("opportunity_id",),
            "stage": ("deal_stage",),
            "engage_date": ("engage_date",),
            "close_date": ("close_date",),
            "amount": ("close_value",),
        },
        optional=_HISTORY_OPTIONAL,
    ),
    _Format(
        "HubSpot",
        {"deal_id": ("Record ID",), "amount": ("Amount",), "currency": _CURRENCY_COLUMNS},
        optional=_HISTORY_OPTIONAL,
        date_entered=True,
        needs_date_entered=True,
    ),
)

_DATE_ENTERED = re.compile(r'^date entered\s+["\u201c](.+?)["\u201d]\s*$', re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Reading the CSV
# --------------------------------------------------------------------------------------------


@dataclass
class _Table:
    path: Path
    header: list[str]
    rows: list[tuple[int, int, list[str]]]  # (data row, line, cells)
    notes: list[str] = field(default_factory=list)

    def where(self, row: int, line: int, column: str | None = None) -> str:
        col = f", column {column!r}" if column else ""
        return f"{self.path}: row {row} (line {line}){col}"


class RowProblem(UserError):
    """A problem of one row (or one deal) of an export: raised by the readers of cells, gathered
    by ``RowProblems``. ``where`` names the file, row and column; ``hint`` (the date formats
    understood, say) is said once in a message that lists many problems, not on every line."""

    def __init__(self, where: str, what: str, hint: str = ""):
        self.line = f"{where}: {what}"
        self.hint = hint
        super().__init__(f"{self.line} ({hint})" if hint else self.line)


class RowProblems:
    """The problems of an export's rows, gathered over a whole loop and raised as one message.

    Memory stays bounded whatever the file: the first ``MAX_LISTED_PROBLEMS`` lines are kept,
    the others only counted.
    """

    def __init__(self, source: Path | str):
        self.source = str(source)
        self.listed: list[str] = []
        self.count = 0
        self.hints: dict[str, None] = {}  # in order of first use; a few fixed texts at most
        self._last = ""  # the line added last

    def add(self, problem: RowProblem) -> None:
        if problem.line == self._last:  # one cell read for two fields (Maven's engage_date)
            return
        self._last = problem.line
        self.count += 1
        if len(self.listed) < MAX_LISTED_PROBLEMS:
            self.listed.append(problem.line)
        if problem.hint:
            self.hints.setdefault(problem.hint)

    def attempt(self, read, *args):
        """``read(*args)``, or None once its ``RowProblem`` is added: the caller leaves the row
        out and goes on with the next one (``read`` itself never returns None)."""
        try:
            return read(*args)
        except RowProblem as problem:
            self.add(problem)
            return None

    def raise_if_any(self, grouped: Iterable[str] = ()) -> None:
        """Raise one ``UserError`` for everything found, if anything was.

        Args:
            grouped: problems already stated for a whole column (every row of an unknown stage,
                of a duplicate deal id), listed before the rows' ones.

        A single problem reads as it always did (the hint in place); several are one line
        each, the grouped ones first and then the rows' in row order, the first
        ``MAX_LISTED_PROBLEMS`` of the rows' and how many more.
        """
        grouped = list(grouped)
        total = len(grouped) + self.count
        if total == 0:
            return
        if total == 1:
            if grouped:
                raise UserError(grouped[0])
            hint = next(iter(self.hints), "")
            raise UserError(f"{self.listed[0]} ({hint})" if hint else self.listed[0])
        lines = [f"{self.source}: {total} problems:", *(f"  {g}" for g in grouped)]
        lines += [f"  {line}" for line in self.listed]
        if self.count > len(self.listed):
            lines.append(f"  ... and {self.count - len(self.listed)} more")
        lines += [hint[:1].upper() + hint[1:] for hint in self.hints]
        raise UserError("\n".join(lines))


def _read_table(path: Path | str, encoding: str | None = None) -> _Table:
    """Read a CSV export: any encoding of :mod:`sim.text_encoding`, comma/semicolon/tab, report
    footers off."""
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > MAX_CSV_BYTES:
            raise UserError(
                f"{path}: {path.stat().st_size / 2**20:.0f} MiB is larger than a CRM export this "
                f"tool reads (at most {MAX_CSV_BYTES / 2**20:.0f} MiB); export fewer rows or "
                "columns"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a CSV file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not data.strip():
        raise UserError(f"{path}: the file is empty (expected a CSV export with a header row)")
    decoded = decode_export(data, str(path), encoding)
    text = decoded.text
    if not text.strip("\ufeff \t\r\n"):
        raise UserError(f"{path}: the file is empty (expected a CSV export with a header row)")
    notes = []
    if decoded.encoding not in ("utf-8", "utf-8-sig", "ascii"):
        notes.append(f"{path.name} read as {decoded.encoding} ({decoded.how})")
    first = text.lstrip("\ufeff\r\n").split("\n", 1)[0]
    delimiter = max([",", ";", "\t"], key=first.count)
    if first.count(delimiter) == 0:
        raise UserError(
            f"{path}: line 1 is not a CSV header (no comma, semicolon or tab): {first[:80]!r}"
        )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[int, int, list[str]]] = []
    blank_seen = False
    footer: list[tuple[int, int, list[str]]] = []
    ends: dict[int, int] = {}  # a row's first line -> its last, for a row over several lines
    last = 0  # the last line read: a row starts on the line after it
    try:
        for cells in reader:
            start, last = last + 1, reader.line_num
            if last > start:  # a quoted field over several lines (or a quote never closed)
                ends[start] = last
            cells = [c.strip().lstrip("\ufeff") for c in cells]
            if header is None:
                if not any(cells):
                    continue
                header = cells
                _check_width(path, reader.line_num, len(header))
                continue
            if not any(cells):
                blank_seen = True
                continue
            entry = (len(rows) + len(footer) + 1, start, cells)
            if blank_seen and sum(1 for c in cells if c) == 1:
                footer.append(entry)  # Salesforce report footer ("Copyright ...", "Generated By")
                continue
            rows.extend(footer)
            footer = []
            rows.append(entry)
    except csv.Error as exc:
        raise UserError(f"{path}: line {reader.line_num}: not valid CSV ({exc})") from None
    if header is None:
        raise UserError(
            f"{path}: no header row: every line is empty or only separators "
            f"({delimiter!r}); export the report with its column names"
        )
    if not rows:
        raise UserError(f"{path}: the file has a header but no data rows")
    _check_shape(path, header, rows, ends)
    return _Table(path, header, rows, notes)


def _check_width(path: Path, line: int, width: int) -> None:
    """A header wider than any export: refused before its rows are read into memory."""
    if width > MAX_CSV_COLUMNS:
        raise UserError(
            f"{path}: line {line}: {width:,} columns, more than a CRM export has (at most "
            f"{MAX_CSV_COLUMNS:,}); is this the right file, with the right separator?"
        )


def _check_shape(
    path: Path, header: list[str], rows: list[tuple[int, int, list[str]]], ends: dict[int, int]
) -> None:
    """Reject a header with a column twice, and rows whose fields do not line up with it:
    reading them anyway would silently take values from the wrong columns. ``ends``: the last
    line of each row that runs over several (by its first line)."""
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name and name.lower() in seen:
            raise UserError(
                f"{path}: line 1: column {name!r} appears twice (columns {seen[name.lower()] + 1} "
                f"and {i + 1}); export each column once"
            )
        seen[name.lower()] = i
    width = len(header)
    for row, line, cells in rows:
        extra = len(cells) > width and any(cells[width:])
        if extra or len(cells) < width:
            if line in ends:  # the row runs on: most likely a quote opened and never closed
                raise UserError(
                    f"{path}: row {row} (lines {line}-{ends[line]}) has {len(cells)} fields but "
                    f"the header has {width}: a quote opened on line {line} is not closed where "
                    "its field ends (or a field's line breaks are not quoted)"
                )
            raise UserError(
                f"{path}: row {row} (line {line}) has {len(cells)} fields but the header has "
                f"{width}: a missing or extra separator (quote fields that contain one)"
            )


def _norm(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").strip().lower().split())


def _mapping_pairs(mapping: Mapping[str, str | Iterable[str]] | None) -> list[tuple[str, str]]:
    """``{column: field}`` (a field, a list of fields, or ``"created,stage_entered"``) as pairs:
    one column may feed several fields."""
    pairs = []
    for column, fields in (mapping or {}).items():
        names = fields.split(",") if isinstance(fields, str) else list(fields)
        pairs.extend((column, name.strip()) for name in names if name.strip())
    return pairs


def _resolve(
    table: _Table,
    formats: tuple[_Format, ...],
    mapping: Mapping[str, str | Iterable[str]] | None,
    known: tuple,
) -> tuple[_Format, dict[str, int]]:
    """Pick the export style from the header: field -> column index, or one clear error."""
    index = {}
    for i, name in enumerate(table.header):
        index.setdefault(_norm(name), i)
    mapped: dict[str, int] = {}
    for column, fld in _mapping_pairs(mapping):
        if fld not in known:
            raise UserError(
                f"--map {column}={fld}: unknown field {fld!r} (fields: {', '.join(known)})"
            )
        if _norm(column) not in index:
            raise UserError(
                f"--map {column}={fld}: {table.path} has no column {column!r} "
                f"(columns: {', '.join(table.header)})"
            )
        mapped[fld] = index[_norm(column)]
    best: tuple[int, _Format, list[str]] | None = None
    for fmt in formats:
        found = dict(mapped)
        missing = []
        for fld, names in fmt.fields.items():
            if fld in found:
                continue
            hit = next((index[_norm(n)] for n in names if _norm(n) in index), None)
            if hit is not None:
                found[fld] = hit
            elif fld not in fmt.optional:
                missing.append(fld)
        for group in fmt.one_of:
            if not any(f in found for f in group):
                missing.append(" or ".join(group))
        if fmt.needs_date_entered and not any(_DATE_ENTERED.match(h) for h in table.header):
            missing.append('Date entered "<stage>"')
        if not missing:
            return fmt, found
        score = sum(1 for f in fmt.fields if f in found and f not in mapped)
        if best is None or score > best[0]:
            best = (score, fmt, missing)
    assert best is not None
    _, fmt, missing = best

    def spelled(m: str) -> str:
        parts = [p for p in m.split(" or ") if p in fmt.fields]
        return " or ".join(" / ".join(repr(n) for n in fmt.fields[p]) for p in parts) or m

    styles = ", ".join(f.name for f in formats)
    raise UserError(
        f"{table.path}: missing required column(s) {'; '.join(spelled(m) for m in missing)} "
        f"(closest export style: {fmt.name}; styles understood: {styles}); "
        f"columns found: {', '.join(table.header)}; "
        f"name other columns with --map COLUMN=FIELD (fields: {', '.join(known)})"
    )


def _cell(cells: list[str], i: int | None) -> str:
    return cells[i] if i is not None and i < len(cells) else ""


def _day_first(table: _Table, columns: Iterable[int | None], options: ReadOptions) -> bool:
    """The order of the file's slash dates, from every date cell of the given columns."""
    used = sorted({i for i in columns if i is not None})
    cells = (
        DateCell(cells[i], row, line, table.header[i])
        for row, line, cells in table.rows
        for i in used
        if _cell(cells, i)
    )
    return decide_date_order(cells, str(table.path), date_order_option(options.date_format))


def _decimal_mark(table: _Table, i: int | None, options: ReadOptions) -> DecimalMark:
    """The decimal mark of the amount column ``i``, from every cell of it."""
    asked = decimal_mark_option(options.decimal_mark)
    if i is None:
        return DecimalMark(asked or ".")
    cells = (
        AmountCell(cells[i], row, line, table.header[i])
        for row, line, cells in table.rows
        if _cell(cells, i)
    )
    return decide_decimal_mark(cells, str(table.path), asked)


def _date_cell(
    table: _Table, row: int, line: int, cells: list[str], i: int | None, day_first: bool
) -> dt.datetime | None:
    text = _cell(cells, i)
    if not text:
        return None
    value = parse_datetime(text, day_first)
    where = table.where(row, line, table.header[i])
    if value is None:
        understood = f"formats understood: {'; '.join(DATE_FORMATS)}"
        raise RowProblem(where, f"{text!r} is not a date", hint=understood)
    if not MIN_START_DATE <= value.date() <= MAX_START_DATE:
        # A typo (1800 for 2018): one such row would move the history's start by centuries.
        raise RowProblem(where, f"{text!r} is outside {MIN_START_DATE} .. {MAX_START_DATE}")
    return value


def _days_cell(table: _Table, row: int, line: int, cells: list[str], i: int | None) -> float:
    """A number of days (Salesforce ``Age``, ``Stage Duration``), nan when blank."""
    text = _cell(cells, i)
    if not text:
        return math.nan
    value = parse_amount(text)
    if value is None or value < 0:
        raise RowProblem(
            table.where(row, line, table.header[i]), f"{text!r} is not a number of days"
        )
    return value


# --------------------------------------------------------------------------------------------
# Currencies
# --------------------------------------------------------------------------------------------


class _Amounts:
    """Amounts read row by row with their currency, converted at the end (or refused)."""

    def __init__(self, table: _Table, cols: dict[str, int], options: ReadOptions):
        self.table = table
        self.amount_col = cols.get("amount")
        self.currency_col = cols.get("currency")
        self.decimal = _decimal_mark(table, self.amount_col, options)  # before any row is read
        self.rows_by_currency: dict[str | None, list[int]] = defaultdict(list)

    def read(self, row: int, line: int, cells: list[str]) -> tuple[float, str | None]:
        """The row's amount (nan when blank) and currency (None when not written)."""
        i = self.amount_col
        text = _cell(cells, i)
        value = parse_amount(text, self.decimal.mark)
        column = self.table.header[i] if i is not None else "amount"
        where = self.table.where(row, line, column)
        if value is None or value < 0:
            negative = " (negative)" if value is not None else ""
            raise RowProblem(where, f"{text!r} is not an amount{negative}")
        if value > MAX_AMOUNT:  # the bound of a scenario's own amounts; nan passes (blank)
            raise RowProblem(where, f"{text!r} is over {MAX_AMOUNT:,.0f}, the largest deal amount")
        written = _cell(cells, self.currency_col)
        code = re.match(r"([A-Za-z]{3})\b", written)  # "USD" or "USD - U.S. Dollar"
        if written and code is None:
            column = self.table.header[self.currency_col]
            raise RowProblem(
                self.table.where(row, line, column), f"{written!r} is not a currency code"
            )
        currency = code[1].upper() if code else split_amount(text)[1]
        if not math.isnan(value):
            self.rows_by_currency[currency].append(row)
        return value, currency

    def rates(self, options: ReadOptions, notes: list[str]) -> tuple[str | None, dict]:
        """The target currency and the rate of each currency of the file (1 for the target).

        Raises:
            UserError: amounts in currencies other than the target without a ``--fx`` rate,
                or in several currencies with no target; names the currencies and rows.
        """
        found = [c for c in self.rows_by_currency if c is not None]
        target = options.currency or (found[0] if len(found) == 1 else None)
        if target is None and not found:
            return None, {None: 1.0}
        rates: dict[str | None, float] = {None: 1.0, target: 1.0}
        missing = []
        for code in found:
            if code == target:
                continue
            if code in options.fx:
                rates[code] = float(options.fx[code])
            else:
                missing.append(code)
        if missing:
            listed = "; ".join(
                f"{c} on {_rows_text(self.rows_by_currency[c])}" for c in sorted(missing)
            )
            example = ",".join(f"{c}=RATE" for c in sorted(missing))
            if target is None:
                ask = f"give the currency to convert into with --currency CODE and --fx {example}"
            else:
                ask = f"give rates with --fx {example} (1 {missing[0]} = RATE {target})"
            raise UserError(
                f"{self.table.path}: amounts in {listed}, but "
                + (f"the scenario's currency is {target}" if target else "in several currencies")
                + f": they are never summed as they are; {ask}, or export converted amounts"
            )
        converted = {c: r for c, r in rates.items() if c not in (None, target)}
        if converted:
            done = ", ".join(
                f"{len(self.rows_by_currency[c])} in {c} x {r:g}" for c, r in converted.items()
            )
            notes.append(f"amounts converted to {target}: {done} (--fx)")
        if found and self.rows_by_currency.get(None):
            notes.append(
                f"{len(self.rows_by_currency[None])} amounts name no currency: taken as {target}"
            )
        return target, rates


# --------------------------------------------------------------------------------------------
# Stage names and outcomes
# --------------------------------------------------------------------------------------------

_OUTCOME_SPELLINGS = {
    "won": "won",
    "win": "won",
    "closed won": "won",
    "closedwon": "won",
    "lost": "lost",
    "closed lost": "lost",
    "closedlost": "lost",
    "no decision": "no_decision",
    "nodecision": "no_decision",
    "closed no decision": "no_decision",
    "dormant": "dormant",
    # The system statuses of the CRMs of the forum this product grew from (amoCRM, Bitrix24).
    "успешно реализовано": "won",
    "закрыто и не реализовано": "lost",
    "сделка успешна": "won",
    "сделка провалена": "lost",
    "выиграна": "won",
    "выиграно": "won",
    "проиграна": "lost",
    "проиграно": "lost",
}


def outcome_of(crm_stage: str) -> str | None:
    """``won`` / ``lost`` / ``no_decision`` / ``dormant`` for the usual spellings, else None."""
    key = " ".join(re.sub(r"[\W_]+", " ", crm_stage.lower()).split())
    return _OUTCOME_SPELLINGS.get(key)


def _looks_closed(crm_stage: str) -> bool:
    """A stage that says it is closed but is not a known outcome ("Closed Dead"): ask the user."""
    return bool(re.match(r"^\s*(closed|закрыт)", crm_stage, re.IGNORECASE))


def stage_slug(crm_stage: str) -> str:
    """A CRM stage spelling as a scenario stage name (``Needs Analysis`` -> ``needs_analysis``,
    ``Квалификация`` -> ``kvalifikatsiya``); ``""`` when the name has no ASCII reading (the
    history numbers those)."""
    slug = "_".join(key_words(crm_stage))
    if not slug:
        return ""
    if not slug[0].isalpha():
        slug = f"s_{slug}"
    if slug in (*STATES_BEYOND_STAGES, "open"):
        slug = f"{slug}_stage"
    return slug


def _rows_text(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:_MAX_LISTED])
    more = f" and {len(rows) - _MAX_LISTED} more" if len(rows) > _MAX_LISTED else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def stage_map_from(scenario: Mapping, source: str = "<scenario>") -> dict[str, str]:
    """The ``[crm.stage_map]`` table of a scenario (raw dict): CRM stage name -> scenario state.

    Targets must be stage names of the scenario, ``dormant`` or an outcome.

    Raises:
        UserError: not a table of strings, or a target that is not a state of the scenario.
    """
    crm = scenario.get("crm") or {}
    if not isinstance(crm, Mapping):
        raise UserError(f"{source}: crm: must be a table")
    table = crm.get("stage_map") or {}
    if not isinstance(table, Mapping):
        raise UserError(f"{source}: crm.stage_map: must be a table of CRM stage = scenario stage")
    stages = [s.get("name") for s in scenario.get("stages", []) if isinstance(s, Mapping)]
    allowed = [*stages, *STATES_BEYOND_STAGES]
    out: dict[str, str] = {}
    for key, target in table.items():
        if not isinstance(target, str):
            raise UserError(f"{source}: crm.stage_map.{key}: must be a stage name (a string)")
        if target not in allowed:
            raise UserError(
                f"{source}: crm.stage_map.{key}: unknown target {target!r}; "
                f"allowed: {', '.join(map(str, allowed))}"
            )
        out[str(key)] = target
    return out


def _map_stage(
    crm_stage: str,
    stage_map: Mapping[str, str],
    stages: Iterable[str],
    labels: Mapping[str, str] | None = None,
) -> str | None:
    """CRM stage -> scenario state: the stage map (exact, then case-insensitive), a stage name
    (exact, then its key), a stage label (case-insensitive: a fitted scenario keeps the CRM
    spelling there), or a usual outcome spelling; None if unknown."""
    if crm_stage in stage_map:
        return stage_map[crm_stage]
    wanted = crm_stage.strip().casefold()
    lowered = {k.strip().casefold(): v for k, v in stage_map.items()}
    if wanted in lowered:
        return lowered[wanted]
    stages = list(stages)
    if crm_stage in stages or crm_stage == "dormant":  # scenario names (a results folder's file)
        return crm_stage
    slug = stage_slug(crm_stage)
    if slug in stages:
        return slug
    for label, name in (labels or {}).items():
        if label.strip().casefold() == wanted:
            return name
    return outcome_of(crm_stage)


# --------------------------------------------------------------------------------------------
# Open pipeline
# --------------------------------------------------------------------------------------------


def read_pipeline(
    path: Path | str,
    *,
    stages: Iterable[str],
    as_of: dt.date,
    stage_map: Mapping[str, str] | None = None,
    mapping: Mapping[str, str | Iterable[str]] | None = None,
    labels: Mapping[str, str] | None = None,
    options: ReadOptions | None = None,
) -> PipelineImport:
    """The open deals of a CRM export at ``as_of``, in the scenario's stages.

    Args:
        path: the CSV export.
        stages: the scenario's stage names (targets of the stage map).
        as_of: the export day: day 0 of the simulation.
        stage_map: CRM stage name -> scenario stage or outcome (``[crm.stage_map]``).
        mapping: column -> field(s) for exports of no known style (``--map column=field``).
        labels: stage label -> stage name (CRM names that are a stage's label match it).
        options: encoding, date order, target currency and rates (see ``ReadOptions``).

    Raises:
        UserError: a problem of the file at once; otherwise every row's problem, unknown stage
            and duplicate deal id in one message, naming file, rows and columns.
    """
    options = options or ReadOptions()
    stages = list(stages)
    stage_map = dict(stage_map or {})
    table = _read_table(path, options.encoding)
    fmt, cols = _resolve(table, _PIPELINE_FORMATS, mapping, PIPELINE_FIELDS)
    entered_cols = _date_entered_columns(table) if fmt.date_entered else {}
    day_first = _day_first(
        table, [cols.get("created"), cols.get("stage_entered"), *entered_cols.values()], options
    )
    reader = _PipelineRows(table, fmt, cols, entered_cols, day_first, as_of, options)
    deals: list[tuple[PipelineDeal, str | None]] = []
    unknown: dict[str, list[int]] = defaultdict(list)
    seen: dict[str, list[int]] = defaultdict(list)
    problems = reader.problems
    for row, line, cells in table.rows:
        # Each part of a row that can be read on its own is (a bad amount and a bad date of
        # one row are both listed); a row with a problem is left out, the loop goes on.
        deal_id = problems.attempt(reader.deal_id, row, line, cells)
        closed = problems.attempt(reader.closed_by_status, row, line, cells)
        if deal_id is not None and closed is not True:  # an open deal's row, or one in doubt:
            seen[deal_id].append(row)  # counted whatever else is wrong with it or its stage
        if closed is not False:  # closed by its status, or a status not understood (listed)
            continue
        crm_stage = problems.attempt(reader.need, row, line, cells, "stage")
        if crm_stage is None:
            continue
        target = _map_stage(crm_stage, stage_map, stages, labels)
        if target is None:
            unknown[crm_stage].append(row)
            continue
        if target in OUTCOMES:
            reader.skipped["stage"] += 1
            continue
        valued = problems.attempt(reader.amounts.read, row, line, cells)
        dates = reader.dates(row, line, cells, crm_stage)
        if deal_id is None or valued is None or dates is None:
            continue  # its problems are listed
        amount, currency = valued
        deals.append((PipelineDeal(deal_id, target, amount, *dates), currency))
    # One message for all: unknown stages and duplicate ids do not depend on the rows' values,
    # so nothing waits for a second run.
    problems.raise_if_any(
        _unknown_stages(reader, unknown, stages, stage_map) + _duplicates(reader, seen)
    )
    notes = [*table.notes, *reader.notes()]
    blank = [d.deal_id for d, _ in deals if math.isnan(d.amount)]
    if blank:  # an assumption the user did not write: said, like every other
        listed = ", ".join(repr(b) for b in blank[:_MAX_LISTED])
        more = f" and {len(blank) - _MAX_LISTED} more" if len(blank) > _MAX_LISTED else ""
        notes.append(
            f"{len(blank)} deal(s) with no amount ({listed}{more}): valued at the scenario's "
            "amount distribution"
        )
    currency, rates = reader.amounts.rates(options, notes)
    converted = [
        PipelineDeal(d.deal_id, d.stage, d.amount * rates[c], d.created, d.stage_entered)
        for d, c in deals
    ]
    return PipelineImport(
        converted,
        source=str(table.path),
        fmt=fmt.name,
        skipped=sum(reader.skipped.values()),
        notes=notes,
        currency=currency,
    )


def _unknown_stages(reader, unknown: dict[str, list[int]], stages, stage_map) -> list[str]:
    """The message of the stages that are no scenario stage nor mapped, with their rows."""
    if not unknown:
        return []
    listed = "; ".join(f"{s!r} on {_rows_text(r)}" for s, r in unknown.items())
    keys = ", ".join(stage_map) if stage_map else "(none)"
    return [
        f"{reader.table.path}, column {reader.column('stage')!r}: unknown stage(s): {listed}. "
        f"Scenario stages: {', '.join(stages)}; [crm.stage_map] keys: {keys} "
        "(add the CRM names to [crm.stage_map])"
    ]


def _duplicates(reader, seen: dict[str, list[int]]) -> list[str]:
    """The message of the deal ids found on several rows, with their rows."""
    dups = {d: r for d, r in seen.items() if len(r) > 1}
    if not dups:
        return []
    listed = "; ".join(f"{d!r} on {_rows_text(r)}" for d, r in list(dups.items())[:_MAX_LISTED])
    more = f" and {len(dups) - _MAX_LISTED} more" if len(dups) > _MAX_LISTED else ""
    column = reader.column("deal_id")
    return [f"{reader.table.path}, column {column!r}: duplicate deal id(s): {listed}{more}"]


class _PipelineRows:
    """Reading one pipeline row's fields, and counting what was skipped or assumed."""

    def __init__(self, table, fmt, cols, entered_cols, day_first, as_of, options):
        self.table, self.fmt, self.cols = table, fmt, cols
        self.entered_cols, self.day_first, self.as_of = entered_cols, day_first, as_of
        self.amounts = _Amounts(table, cols, options)
        self.problems = RowProblems(table.path)
        self.skipped: Counter = Counter()
        self.assumed: Counter = Counter()

    def column(self, fld: str) -> str:
        i = self.cols.get(fld)
        return self.table.header[i] if i is not None else fld

    def need(self, row: int, line: int, cells: list[str], fld: str) -> str:
        text = _cell(cells, self.cols[fld])
        if not text:
            raise RowProblem(self.table.where(row, line, self.column(fld)), f"empty {fld}")
        return text

    def deal_id(self, row: int, line: int, cells: list[str]) -> str:
        if "deal_id" not in self.cols:
            self.assumed["row_ids"] += 1
            return f"row {row}"
        return self.need(row, line, cells, "deal_id")

    def closed_by_status(self, row: int, line: int, cells: list[str]) -> bool:
        """True for a deal whose status (Pipedrive ``Deal - Status``) says won, lost or deleted."""
        if "status" not in self.cols:
            return False
        text = _cell(cells, self.cols["status"])
        status = _STATUSES.get(text.strip().lower())
        if status is None:
            where = self.table.where(row, line, self.column("status"))
            raise RowProblem(where, f"status {text!r} is not one of {', '.join(_STATUSES)}")
        if status == "open":
            return False
        self.skipped[status] += 1
        return True

    def dates(
        self, row: int, line: int, cells: list[str], crm_stage: str
    ) -> tuple[dt.date, dt.date] | None:
        """(created, stage entered) by the rule of the module docstring; None when a problem
        was added to ``problems`` (both dates are read, so both of their problems are said)."""
        created = self.problems.attempt(self._created, row, line, cells)
        entered = self.problems.attempt(self._entered, row, line, cells, crm_stage)
        if created is None or entered is None:
            return None
        return self.problems.attempt(self._in_order, row, line, created, entered)

    def _created(self, row: int, line: int, cells: list[str]) -> dt.datetime:
        created = _date_cell(self.table, row, line, cells, self.cols.get("created"), self.day_first)
        # The age is read even beside a created date: "-5" or "abc" there says the column is
        # not what it is taken for. (Not compared with the date: an export's age counts to its
        # own day, which --as-of may not be.)
        age = _days_cell(self.table, row, line, cells, self.cols.get("age_days"))
        if created is not None:
            return created
        if not math.isnan(age):
            self.assumed["created_from_age"] += 1
            return _midnight(self.as_of) - dt.timedelta(days=age)
        self.assumed["created_unknown"] += 1
        return _midnight(self.as_of)

    def _in_order(
        self,
        row: int,
        line: int,
        created: dt.datetime,
        entered: tuple[int | None, dt.datetime | None],
    ) -> tuple[dt.date, dt.date]:
        """The two dates, checked against each other and against ``as_of``."""
        where = self.table.where
        entered_col, entered_at = entered
        if entered_at is None:
            entered_at = created
        entered_name = self.table.header[entered_col] if entered_col is not None else "stage date"
        if entered_at.date() < created.date():
            raise RowProblem(
                where(row, line, entered_name),
                f"the deal entered its stage on {entered_at.date()}, before it was created "
                f"({created.date()})",
            )
        created_name = self.column("created") if "created" in self.cols else self.column("age_days")
        for name, value in ((created_name, created), (entered_name, entered_at)):
            if value.date() > self.as_of:
                raise RowProblem(
                    where(row, line, name),
                    f"{value.date()} is after --as-of {self.as_of} "
                    "(the export is newer than the date asked for: use its export day)",
                )
        return created.date(), entered_at.date()

    def _entered(
        self, row: int, line: int, cells: list[str], crm_stage: str
    ) -> tuple[int | None, dt.datetime | None]:
        """The stage-entered column used and its date; None where the created date stands in."""
        table, cols = self.table, self.cols
        column = _entered_column_for(crm_stage, self.entered_cols)
        if column is None and "stage_entered" in cols:
            column = cols["stage_entered"]
        if column is not None:
            when = _date_cell(table, row, line, cells, column, self.day_first)
            if when is not None or cols.get("stage_entered") == column:
                return column, when  # blank: never changed stage (Salesforce, Pipedrive)
        days = _days_cell(table, row, line, cells, cols.get("stage_days"))
        if not math.isnan(days):
            self.assumed["from_stage_days"] += 1
            return cols["stage_days"], _midnight(self.as_of) - dt.timedelta(days=days)
        self.assumed["stage_unknown"] += 1
        return None, None

    def notes(self) -> list[str]:
        """What the terminal should say about skipped rows and assumed dates and amounts."""
        out = [self.amounts.decimal.note] if self.amounts.decimal.note else []
        if self.skipped["won"] + self.skipped["lost"] + self.skipped["deleted"]:
            out.append(
                f"closed by {self.column('status')!r}: {self.skipped['won']} won, "
                f"{self.skipped['lost']} lost, {self.skipped['deleted']} deleted deals skipped"
            )
        a = self.assumed
        if a["row_ids"]:
            out.append("no deal id column: deals are named by their row ('row 1', 'row 2', ...)")
        if a["created_from_age"]:
            out.append(
                f"{a['created_from_age']} deals without a created date: created --as-of minus "
                f"{self.column('age_days')!r} days"
            )
        if a["created_unknown"]:
            out.append(
                f"{a['created_unknown']} deals without a created date or age: taken as new on "
                f"--as-of {self.as_of}"
            )
        if a["from_stage_days"]:
            out.append(
                f"{a['from_stage_days']} deals entered their stage --as-of minus "
                f"{self.column('stage_days')!r} days"
            )
        if a["stage_unknown"]:
            out.append(
                f"{counted(a['stage_unknown'], 'deal')} {verb(a['stage_unknown'], 'has', 'have')} "
                "no date of entering their stage: assumed in it since they were created (the "
                "longest they can have been; their remaining time is drawn from the stage's "
                "duration given that age); add a stage-entered column (or map one with --map "
                "COLUMN=stage_entered) for ages of their own"
            )
        return out


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0))


def _date_entered_columns(table: _Table) -> dict[str, int]:
    """HubSpot ``Date entered "<stage>"`` columns: stage label -> column index."""
    out: dict[str, int] = {}
    for i, name in enumerate(table.header):
        m = _DATE_ENTERED.match(name)
        if m:
            out[m[1].strip()] = i
    return out


def _hubspot_label(label: str) -> str:
    """``Appointment Scheduled (Sales Pipeline)`` -> ``Appointment Scheduled``."""
    return re.sub(r"\s*\([^()]*\)\s*$", "", label).strip()


def _entered_column_for(crm_stage: str, entered: dict[str, int]) -> int | None:
    wanted = crm_stage.strip().lower()
    for label, i in entered.items():
        if label.lower() == wanted or _hubspot_label(label).lower() == wanted:
            return i
    return None


# --------------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------------


def read_history(
    path: Path | str,
    *,
    mapping: Mapping[str, str | Iterable[str]] | None = None,
    stage_map: Mapping[str, str] | None = None,
    options: ReadOptions | None = None,
) -> History:
    """A stage history: one row per deal entering a stage (or an outcome), sorted per deal.

    Args:
        path: the CSV export (plain ``deal_id, stage, entered_at``; Salesforce
            OpportunityHistory; HubSpot deals with ``Date entered "<stage>"`` columns; the Maven
            CRM sample, one row per deal with engage and close dates).
        mapping: column -> field (``deal_id, stage, entered_at, amount, currency, status``).
        stage_map: CRM stage spelling -> scenario name (a stage, ``dormant`` or an outcome),
            e.g. ``{"Closed Dead": "lost", "Выиграна": "won"}``; other spellings become ASCII
            stage keys (the spelling stays the label), the usual outcome spellings (Won, Closed
            Won, Lost, Closed Lost...) outcomes.
        options: encoding, date order, target currency and rates (see ``ReadOptions``).

    Raises:
        UserError: missing columns (at once); unreadable dates or amounts (every row's in one
            message); then, once the rows read, unknown "Closed ..." outcome spellings,
            colliding stage names, deals whose outcome is followed by later rows (all such
            deals in one message), amounts in several currencies without rates.
    """
    options = options or ReadOptions()
    table = _read_table(path, options.encoding)
    fmt, cols = _resolve(table, _HISTORY_FORMATS, mapping, HISTORY_FIELDS)
    stage_map = dict(stage_map or {})
    notes: list[str] = list(table.notes)
    entered_cols = _date_entered_columns(table) if fmt.date_entered else {}
    date_cols = [cols.get(f) for f in ("entered_at", "engage_date", "close_date")]
    day_first = _day_first(table, [*date_cols, *entered_cols.values()], options)
    reader = _HistoryRows(table, cols, day_first, options)
    if reader.amounts.decimal.note:
        notes.append(reader.amounts.decimal.note)
    if fmt.name == "Maven CRM":
        raw = reader.maven(stage_map, notes)
    elif fmt.date_entered:
        raw = reader.date_entered(entered_cols, notes)
    else:
        raw = reader.plain()
    # The rows' problems alone: what follows checks the history as a whole, which a row left
    # out would make wrong (a deal missing its outcome row, say).
    reader.problems.raise_if_any()
    raw = reader.drop_closed_by_status(raw, stage_map, notes)
    if not raw:
        raise UserError(f"{table.path}: no deal has a dated stage entry")
    currency, rates = reader.amounts.rates(options, notes)
    amounts = {deal: value * rates[cur] for deal, (value, cur) in reader.deal_amounts.items()}
    history = _build_history(table, fmt.name, cols, raw, amounts, stage_map, notes)
    history.currency = currency
    history.undated = dict(reader.undated)
    for crm in history.undated:  # what the user said an undated stage is stays said
        if crm in stage_map:
            history.stage_names.setdefault(crm, stage_map[crm])
    return history


class _HistoryRows:
    """Reading the rows of each history style as (deal, crm stage, when, row, line) entries."""

    def __init__(self, table: _Table, cols: dict[str, int], day_first: bool, options: ReadOptions):
        self.table, self.cols, self.day_first = table, cols, day_first
        self.amounts = _Amounts(table, cols, options)
        self.deal_amounts: dict[str, tuple[float, str | None]] = {}
        self.status: dict[str, tuple[str, int]] = {}  # deal -> (status, row)
        self.undated: Counter = Counter()  # CRM stage -> deals left out for having no dates
        # Each loop below adds its rows' problems here and leaves those rows out; read_history
        # raises them all at once when the loop is done.
        self.problems = RowProblems(table.path)

    def need(self, row: int, line: int, cells: list[str], fld: str) -> str:
        text = _cell(cells, self.cols[fld])
        if not text:
            column = self.table.header[self.cols[fld]]
            raise RowProblem(self.table.where(row, line, column), f"empty {fld}")
        return text

    def date(self, row: int, line: int, cells: list[str], i: int | None) -> dt.datetime | None:
        return _date_cell(self.table, row, line, cells, i, self.day_first)

    def entered_at(self, row: int, line: int, cells: list[str]) -> dt.datetime:
        when = self.date(row, line, cells, self.cols["entered_at"])
        if when is None:
            column = self.table.header[self.cols["entered_at"]]
            raise RowProblem(self.table.where(row, line, column), "empty entered_at")
        return when

    def extras(self, row: int, line: int, cells: list[str]) -> tuple:
        """The row's (amount, currency) and status, each None when the file has no such column
        (or the status cell is blank); ``keep`` stores them."""
        valued = self.amounts.read(row, line, cells) if "amount" in self.cols else None
        status = None
        if "status" in self.cols:
            text = _cell(cells, self.cols["status"]).strip().lower()
            if text and text not in _STATUSES:
                where = self.table.where(row, line, self.table.header[self.cols["status"]])
                raise RowProblem(where, f"status {text!r} is not one of {', '.join(_STATUSES)}")
            status = _STATUSES.get(text)
        return valued, status

    def keep(self, deal: str, row: int, extras: tuple) -> None:
        """A row's amount (the deal's last one counts) and status, once the row is read."""
        valued, status = extras
        if valued is not None and not math.isnan(valued[0]):
            self.deal_amounts[deal] = valued
        if status is not None:
            self.status[deal] = (status, row)

    def plain(self) -> list[tuple]:
        raw = []
        attempt = self.problems.attempt
        for row, line, cells in self.table.rows:
            deal = attempt(self.need, row, line, cells, "deal_id")
            stage = attempt(self.need, row, line, cells, "stage")
            when = attempt(self.entered_at, row, line, cells)
            extras = attempt(self.extras, row, line, cells)
            if deal is None or stage is None or when is None or extras is None:
                continue  # its problems are listed
            raw.append((deal, stage, when, row, line))
            self.keep(deal, row, extras)
        return raw

    def date_entered(self, entered_cols: dict[str, int], notes: list[str]) -> list[tuple]:
        raw = []
        attempt = self.problems.attempt
        for row, line, cells in self.table.rows:
            found = self.problems.count
            deal = attempt(self.need, row, line, cells, "deal_id")
            # Every date column is read, so that each bad one is listed (a blank one is None too:
            # the count of problems tells a bad row).
            entries = [
                (label, attempt(self.date, row, line, cells, i))
                for label, i in entered_cols.items()
            ]
            extras = attempt(self.extras, row, line, cells)
            if self.problems.count > found:
                continue  # its problems are listed
            raw.extend(
                (deal, _hubspot_label(label), when, row, line)
                for label, when in entries
                if when is not None
            )
            self.keep(deal, row, extras)
        notes.append(
            "HubSpot 'Date entered' columns hold the latest entry into each stage only: "
            "repeated visits (slip-backs) are not in this export"
        )
        return raw

    def maven(self, stage_map: Mapping[str, str], notes: list[str]) -> list[tuple]:
        table, cols, header = self.table, self.cols, self.table.header
        raw: list[tuple] = []
        first_row: dict[str, int] = {}
        attempt = self.problems.attempt
        for row, line, cells in table.rows:
            found = self.problems.count
            deal = attempt(self.need, row, line, cells, "deal_id")
            if deal is not None and deal in first_row:
                self.problems.add(
                    RowProblem(
                        table.where(row, line, header[cols["deal_id"]]),
                        f"duplicate deal id {deal!r} (also on row {first_row[deal]}; this export "
                        "has one row per deal)",
                    )
                )
            elif deal is not None:
                first_row[deal] = row
            stage = attempt(self.need, row, line, cells, "stage")
            engage = attempt(self.date, row, line, cells, cols["engage_date"])
            close = attempt(self.date, row, line, cells, cols["close_date"])
            entries = None
            if self.problems.count == found:  # (a blank date is None too: hence the count)
                entries = attempt(
                    self._maven_entries, deal, stage, engage, close, row, line, stage_map
                )
                if entries == []:  # no dates, no history: its other cells do not matter
                    self.undated[stage] += 1
                    continue
            extras = attempt(self.extras, row, line, cells)
            if self.problems.count > found:
                continue  # its problems are listed
            raw.extend(entries)
            self.keep(deal, row, extras)
        if self.undated:
            stages = ", ".join(f"{n} {s}" for s, n in self.undated.most_common())
            notes.append(
                f"{self.undated.total()} deals without an engage date ({stages}) skipped: they "
                "have no history"
            )
        return raw

    def _maven_entries(self, deal, stage, engage, close, row, line, stage_map) -> list[tuple]:
        """A Maven row's history: engaged, then its outcome if it has one; [] for a deal with
        no dates (Prospecting). Dates that do not fit the stage are a problem of the row."""
        where = self.table.where
        engage_col, close_col = (
            self.table.header[self.cols[f]] for f in ("engage_date", "close_date")
        )
        if engage is None:
            if close is not None:
                raise RowProblem(
                    where(row, line, engage_col), "empty engage date but the deal has a close date"
                )
            return []
        entries = [(deal, "Engaging", engage, row, line)]
        if _map_outcome(stage, stage_map) in OUTCOMES:
            if close is None:
                raise RowProblem(
                    where(row, line, close_col), f"the deal is {stage!r} but has no close date"
                )
            entries.append((deal, stage, close, row, line))
        elif close is not None:
            raise RowProblem(
                where(row, line, close_col),
                f"the deal is {stage!r} (open) but has a close date; map its stage with a stage "
                "map if it is an outcome",
            )
        return entries

    def drop_closed_by_status(
        self, raw: list[tuple], stage_map: Mapping[str, str], notes: list[str]
    ) -> list[tuple]:
        """Deals deleted, or closed by their status with no outcome row, are left out (their
        rows would make them look open for ever); the notes count them."""
        if not self.status:
            return raw
        reached = {deal for deal, crm, *_ in raw if _map_outcome(crm, stage_map) in OUTCOMES}
        dropped = {
            deal: status
            for deal, (status, _row) in self.status.items()
            if status == "deleted" or (status in OUTCOMES and deal not in reached)
        }
        if not dropped:
            return raw
        column = self.table.header[self.cols["status"]]
        notes.append(
            f"closed by {column!r} with no outcome row (or deleted): "
            + ", ".join(f"{n} {s}" for s, n in sorted(Counter(dropped.values()).items()))
            + " deals skipped"
        )
        for deal in dropped:
            self.deal_amounts.pop(deal, None)
        return [entry for entry in raw if entry[0] not in dropped]


def _map_outcome(crm_stage: str, stage_map: Mapping[str, str]) -> str | None:
    if crm_stage in stage_map:
        return stage_map[crm_stage]
    return outcome_of(crm_stage)


def _state_names(table: _Table, raw: list[tuple], stage_map: Mapping[str, str], stage_col: str):
    """Each CRM spelling's scenario state: the stage map, an outcome, or an ASCII stage key.

    Raises:
        UserError: "Closed ..." spellings that are no known outcome, or two spellings whose
            keys collide (unless the stage map sends them to the same name on purpose).
    """
    first_row: dict[str, int] = {}
    for _, crm, _, row, _ in raw:
        first_row.setdefault(crm, row)
    unknown_closed: dict[str, list[int]] = defaultdict(list)
    names: dict[str, str] = {}
    owner: dict[str, str] = {}  # key -> the spelling that made it
    unnamed = 0
    for crm in sorted(first_row, key=first_row.get):
        target = _map_outcome(crm, stage_map)
        if target is not None:
            names[crm] = target
            continue
        if _looks_closed(crm):
            unknown_closed[crm] = [r for _, c, _, r, _ in raw if c == crm]
            continue
        key = stage_slug(crm)
        if not key:
            unnamed += 1
            key = f"stage_{unnamed}"
        if key in owner and owner[key] != crm:
            other = owner[key]
            raise UserError(
                f"{table.path}, column {stage_col!r}: the stage names {other!r} (row "
                f"{first_row[other]}) and {crm!r} (row {first_row[crm]}) would both become the "
                f"stage {key!r}: rename one in the CRM, or if they are the same stage say so "
                f"with --stage-map '{crm}={key}'"
            )
        owner[key] = crm
        names[crm] = key
    if unknown_closed:
        listed = "; ".join(f"{s!r} on {_rows_text(r)}" for s, r in unknown_closed.items())
        raise UserError(
            f"{table.path}, column {stage_col!r}: unknown outcome spelling(s): {listed}. "
            "Known: Won / Closed Won -> won, Lost / Closed Lost -> lost, No Decision -> "
            "no_decision; map others with --outcome 'CRM NAME=won|lost|no_decision'"
        )
    return names


def _unmapped_outcomes(rows: list[HistoryRow]) -> list[tuple[str, int]]:
    """Stages that deals enter from another stage and never leave: outcomes in a language the
    reader does not know, most likely ("Выиграна"), with how many deals ended there."""
    left: set[str] = set()
    ended: Counter = Counter()
    reached_from_stage: set[str] = set()
    by_deal: dict[str, list[HistoryRow]] = defaultdict(list)
    for r in rows:
        by_deal[r.deal_id].append(r)
    for deal_rows in by_deal.values():
        for a, b in zip(deal_rows, deal_rows[1:], strict=False):
            left.add(a.state)
            reached_from_stage.add(b.state)
        ended[deal_rows[-1].state] += 1
    return [
        (s, n)
        for s, n in ended.most_common()
        if s not in left and s in reached_from_stage and s not in STATES_BEYOND_STAGES
    ]


def _build_history(table, fmt_name, cols, raw, amounts, stage_map, notes) -> History:
    """Name the states, sort per deal, merge repeats, and refuse histories that cannot be."""
    stage_col = table.header[cols["stage"]] if "stage" in cols else "Date entered"
    names = _state_names(table, raw, stage_map, stage_col)
    per_deal: dict[str, list[tuple[dt.datetime, int, str, str, int]]] = defaultdict(list)
    for order, (deal, crm, when, row, _line) in enumerate(raw):
        per_deal[deal].append((when, order, crm, names[crm], row))
    rows: list[HistoryRow] = []
    merged = 0
    # Every deal that goes back in time is listed in one message (in the order of the deals'
    # first rows), not the first one only.
    problems = RowProblems(table.path)
    for deal, entries in per_deal.items():
        entries.sort(key=lambda e: (e[0], e[1]))
        prev_state = None
        closed_at: tuple[int, str, dt.datetime] | None = None
        for when, _, crm, state, row in entries:
            if closed_at is not None:
                c_row, c_state, c_when = closed_at
                what = "closes again" if state in OUTCOMES else f"enters {crm!r}"
                problems.add(
                    RowProblem(
                        str(table.path),
                        f"deal {deal!r} goes back in time: row {c_row} closes it as {c_state} on "
                        f"{c_when:%Y-%m-%d %H:%M}, but row {row} {what} later "
                        f"({when:%Y-%m-%d %H:%M}); an outcome must be the deal's last entry "
                        f"(column {stage_col!r})",
                    )
                )
                break  # the deal's later rows say nothing new
            if state == prev_state:
                merged += 1
                continue
            rows.append(HistoryRow(deal, state, when, row, crm))
            prev_state = state
            if state in OUTCOMES:
                closed_at = (row, state, when)
    problems.raise_if_any()
    if merged:
        notes.append(f"{merged} repeated rows of the same stage merged (edits within a stage)")
    candidates = _unmapped_outcomes(rows)
    if candidates:
        spelled = {v: k for k, v in names.items()}
        listed = ", ".join(f"{spelled.get(s, s)!r} ({n} deals)" for s, n in candidates)
        example = spelled.get(candidates[0][0], candidates[0][0])
        no_outcome = not any(r.state in OUTCOMES for r in rows)
        notes.insert(
            0,
            ("no deal reaches an outcome (won, lost, no_decision); " if no_outcome else "")
            + f"stages that deals enter and never leave: {listed}: if they are outcomes, map "
            f"them with --outcome '{example}=won' (or lost, no_decision)",
        )
    date_only = all(r.entered_at.time() == dt.time(0) for r in rows)
    return History(
        source=str(table.path),
        format=fmt_name,
        rows=rows,
        amounts=amounts,
        stage_names={crm: names[crm] for crm in dict.fromkeys(c for _, c, _, _, _ in raw)},
        notes=notes,
        date_only=date_only,
    )
