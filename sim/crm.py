"""Reading CRM exports: the open pipeline at a date, and the stage history of deals.

Planners start from what their CRM says, not from invented counts, and the CRMs disagree on
everything: column names, date formats, how a closed deal is spelt. This module turns an export
into two plain shapes the rest of the package can trust:

- ``read_pipeline`` -> ``PipelineDeal`` rows (the open deals at ``as_of``, one per deal), for
  ``--pipeline FILE --as-of DATE``;
- ``read_history`` -> ``History`` (rows ``deal_id, state, entered_at``), for ``dealsim fit``.

The format is detected from the header (plain, Salesforce report / Data Loader /
OpportunityHistory, HubSpot, Pipedrive, and the Maven Analytics CRM sample); ``mapping``
(``--map column=field``) names the columns of anything else. Every problem is one ``UserError``
naming the file, the row (1-based data row, and the line) and the column; nothing is returned
half-read.

Decisions (documented here because users will ask):

- Dates: ISO dates and date-times (``2024-03-05``, ``2024-03-05T10:00:00.000Z``: offsets are
  converted to UTC), ``MM/DD/YYYY`` (Salesforce reports; switched to ``DD/MM/YYYY`` for the
  whole file when a value can only be read that way) and ``DD.MM.YYYY``, each optionally with a
  time (``3/5/2024 10:00 AM``).
- Amounts: currency symbols/codes and thousands separators are dropped (``$1,234.50``,
  ``1 234,50 EUR``); negative amounts are errors; a blank amount is ``nan`` (the simulator can
  draw one from ``deals.amount``).
- Pipeline: rows whose stage maps to an outcome (closed deals) are skipped and counted; a blank
  stage-entered date means the deal never changed stage (Salesforce leaves
  ``LastStageChangeDate`` empty then), so it is the created date; dates after ``as_of`` are
  errors (the export is newer than the date asked for: another ``--as-of`` is needed).
- History: consecutive rows of the same stage for a deal are merged (Salesforce writes an
  OpportunityHistory row for every amount or close-date edit); rows may come in any order, they
  are sorted by time per deal, but an outcome followed by anything later is an error.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sim.errors import UserError

OUTCOMES = ("won", "lost", "no_decision")
STATES_BEYOND_STAGES = (*OUTCOMES, "dormant")

#: Fields of an open-pipeline row and of a history row (the targets of ``--map``).
PIPELINE_FIELDS = ("deal_id", "stage", "amount", "created", "stage_entered")
HISTORY_FIELDS = ("deal_id", "stage", "entered_at", "amount")

_MAX_LISTED = 8  # rows listed per problem before "... and N more"


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
    skipped, so that the CLI can say "12 closed deals skipped" instead of silently dropping them.
    """

    def __init__(self, deals: Iterable[PipelineDeal], *, source: str, fmt: str, skipped: int):
        super().__init__(deals)
        self.source = source
        self.format = fmt
        self.skipped_closed = skipped


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
    ``date_only`` is True when no row carries a time of day (durations are whole days then).
    """

    source: str
    format: str
    rows: list[HistoryRow]
    amounts: dict[str, float] = field(default_factory=dict)
    stage_names: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    date_only: bool = True

    def by_deal(self) -> dict[str, list[HistoryRow]]:
        """Rows grouped per deal, in time order (the order of ``rows``)."""
        out: dict[str, list[HistoryRow]] = defaultdict(list)
        for r in self.rows:
            out[r.deal_id].append(r)
        return dict(out)


# --------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Format:
    """A CRM export style: the accepted column names of each field (matched case-insensitively)."""

    name: str
    fields: dict[str, tuple[str, ...]]
    optional: frozenset[str] = frozenset()
    date_entered: bool = False  # HubSpot: dates live in `Date entered "<stage>"` columns


_PIPELINE_FORMATS = (
    _Format("plain", {f: (f,) for f in PIPELINE_FIELDS}),
    _Format(
        "Salesforce",
        {
            "deal_id": ("Opportunity ID", "Id", "Opportunity Id"),
            "stage": ("Stage", "StageName"),
            "amount": ("Amount",),
            "created": ("Created Date", "CreatedDate"),
            "stage_entered": ("Last Stage Change Date", "LastStageChangeDate"),
        },
    ),
    _Format(
        "HubSpot",
        {
            "deal_id": ("Record ID",),
            "stage": ("Deal Stage",),
            "amount": ("Amount",),
            "created": ("Create Date",),
        },
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
        },
    ),
)

_HISTORY_FORMATS = (
    _Format(
        "plain",
        {f: (f,) for f in HISTORY_FIELDS},
        optional=frozenset({"amount"}),
    ),
    _Format(
        "Salesforce OpportunityHistory",
        {
            "deal_id": ("OpportunityId", "Opportunity ID"),
            "stage": ("StageName", "Stage"),
            "entered_at": ("CreatedDate", "Created Date", "Edit Date"),
            "amount": ("Amount",),
        },
        optional=frozenset({"amount"}),
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
        optional=frozenset({"amount"}),
    ),
    _Format(
        "HubSpot",
        {"deal_id": ("Record ID",), "amount": ("Amount",)},
        optional=frozenset({"amount"}),
        date_entered=True,
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

    def where(self, row: int, line: int, column: str | None = None) -> str:
        col = f", column {column!r}" if column else ""
        return f"{self.path}: row {row} (line {line}){col}"


def _read_table(path: Path | str) -> _Table:
    """Read a CSV export: UTF-8 (with or without BOM), comma/semicolon/tab, report footers off."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a CSV file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not data.strip():
        raise UserError(f"{path}: the file is empty (expected a CSV export with a header row)")
    if b"\x00" in data[:8192]:
        raise UserError(f"{path}: not a CSV text file (binary content; export the report as CSV)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise UserError(
                f"{path}: not a CSV text file (not UTF-8: {exc.reason} at byte {exc.start})"
            ) from None
    first = text.lstrip("\r\n").split("\n", 1)[0]
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
    try:
        for cells in reader:
            cells = [c.strip() for c in cells]
            if header is None:
                if not any(cells):
                    continue
                header = cells
                continue
            if not any(cells):
                blank_seen = True
                continue
            entry = (len(rows) + len(footer) + 1, reader.line_num, cells)
            if blank_seen and sum(1 for c in cells if c) == 1:
                footer.append(entry)  # Salesforce report footer ("Copyright ...", "Generated By")
                continue
            rows.extend(footer)
            footer = []
            rows.append(entry)
    except csv.Error as exc:
        raise UserError(f"{path}: line {reader.line_num}: not valid CSV ({exc})") from None
    assert header is not None
    if not rows:
        raise UserError(f"{path}: the file has a header but no data rows")
    _check_shape(path, header, rows)
    return _Table(path, header, rows)


def _check_shape(path: Path, header: list[str], rows: list[tuple[int, int, list[str]]]) -> None:
    """Reject a header with a column twice, and rows whose fields do not line up with it:
    reading them anyway would silently take values from the wrong columns."""
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
            raise UserError(
                f"{path}: row {row} (line {line}) has {len(cells)} fields but the header has "
                f"{width}: a missing or extra separator (quote fields that contain one)"
            )


def _norm(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").strip().lower().split())


def _resolve(
    table: _Table, formats: tuple[_Format, ...], mapping: Mapping[str, str] | None, known: tuple
) -> tuple[_Format, dict[str, int]]:
    """Pick the export style from the header: field -> column index, or one clear error."""
    index = {}
    for i, name in enumerate(table.header):
        index.setdefault(_norm(name), i)
    mapped: dict[str, int] = {}
    for column, fld in (mapping or {}).items():
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
    best: tuple[int, _Format, dict[str, int], list[str]] | None = None
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
        if fmt.date_entered and not any(_DATE_ENTERED.match(h) for h in table.header):
            missing.append('Date entered "<stage>"')
        if not missing:
            return fmt, found
        score = sum(1 for f in fmt.fields if f in found and f not in mapped)
        if best is None or score > best[0]:
            best = (score, fmt, found, missing)
    assert best is not None
    _, fmt, _, missing = best
    names = [" / ".join(repr(n) for n in fmt.fields[m]) if m in fmt.fields else m for m in missing]
    styles = ", ".join(f.name for f in formats)
    raise UserError(
        f"{table.path}: missing required column(s) {'; '.join(names)} "
        f"(closest export style: {fmt.name}; styles understood: {styles}); "
        f"columns found: {', '.join(table.header)}; "
        f"name other columns with --map COLUMN=FIELD (fields: {', '.join(known)})"
    )


def _cell(cells: list[str], i: int | None) -> str:
    return cells[i] if i is not None and i < len(cells) else ""


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------

_ISO = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$"
)
_SLASH = re.compile(
    r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:,?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?$"
)
_DOT = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:,?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def _slash_day_first(values: Iterable[str]) -> bool:
    """True when the file's slash dates can only be DD/MM/YYYY (some first part is over 12)."""
    for v in values:
        m = _SLASH.match(v)
        if m and int(m[1]) > 12:
            return True
    return False


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
            if tz:
                if tz == "Z":
                    offset = dt.timedelta(0)
                else:
                    digits = tz[1:].replace(":", "")
                    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
                    offset = dt.timedelta(hours=hours, minutes=minutes)
                    if tz[0] == "-":
                        offset = -offset
                value = value - offset
            return value
        m = _SLASH.match(text)
        if m:
            a, b, y, hh, mm, ss, ampm = m.groups()
            month, day = (int(b), int(a)) if day_first else (int(a), int(b))
            hour = int(hh or 0)
            if ampm:
                if not 1 <= hour <= 12:
                    return None
                hour = hour % 12 + (12 if ampm.lower() == "pm" else 0)
            return dt.datetime(int(y), month, day, hour, int(mm or 0), int(ss or 0))
        m = _DOT.match(text)
        if m:
            d, mo, y, hh, mm, ss = m.groups()
            return dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0))
    except ValueError:  # day 31 of February and the like
        return None
    return None


def parse_amount(text: str) -> float | None:
    """An amount as written by CRMs (``$1,234.50``, ``1 234,50 EUR``, ``1234``), None if not one.

    Blank is ``nan``. With both ``,`` and ``.`` the last one is the decimal mark; a lone comma
    is a thousands separator when followed by groups of exactly three digits.
    """
    s = text.strip()
    if not s:
        return math.nan
    symbols = "$\u20ac\u00a3\u00a5\u20bd"
    s = re.sub(rf"^(?:[A-Z]{{3}}|[{symbols}])\s*|\s*(?:[A-Z]{{3}}|[{symbols}])$", "", s)
    s = s.replace("\u00a0", "").replace(" ", "").replace("'", "")
    if "," in s and "." in s:
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
}


def outcome_of(crm_stage: str) -> str | None:
    """``won`` / ``lost`` / ``no_decision`` / ``dormant`` for the usual spellings, else None."""
    key = " ".join(re.sub(r"[^a-z0-9]+", " ", crm_stage.lower()).split())
    return _OUTCOME_SPELLINGS.get(key)


def _looks_closed(crm_stage: str) -> bool:
    """A stage that says it is closed but is not a known outcome ("Closed Dead"): ask the user."""
    return bool(re.match(r"^\s*closed\b", crm_stage, re.IGNORECASE))


def stage_slug(crm_stage: str) -> str:
    """A CRM stage spelling as a scenario stage name (``Needs Analysis`` -> ``needs_analysis``)."""
    slug = "_".join(re.sub(r"[^a-z0-9]+", " ", crm_stage.lower()).split())
    if not slug:
        slug = "stage"
    if not slug[0].isalpha():
        slug = f"s_{slug}"
    if slug in (*STATES_BEYOND_STAGES, "open"):
        slug = f"{slug}_stage"
    return slug


def _rows_text(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:_MAX_LISTED])
    more = f" and {len(rows) - _MAX_LISTED} more" if len(rows) > _MAX_LISTED else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


# --------------------------------------------------------------------------------------------
# Stage map
# --------------------------------------------------------------------------------------------


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


def _map_stage(crm_stage: str, stage_map: Mapping[str, str], stages: Iterable[str]) -> str | None:
    """CRM stage -> scenario state: the stage map (exact, then case-insensitive), a stage name
    (exact, then case-insensitive / slug), or a usual outcome spelling; None if unknown."""
    if crm_stage in stage_map:
        return stage_map[crm_stage]
    lowered = {k.strip().lower(): v for k, v in stage_map.items()}
    if crm_stage.strip().lower() in lowered:
        return lowered[crm_stage.strip().lower()]
    stages = list(stages)
    if crm_stage in stages or crm_stage == "dormant":  # scenario names (a results folder's file)
        return crm_stage
    slug = stage_slug(crm_stage)
    if slug in stages:
        return slug
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
    mapping: Mapping[str, str] | None = None,
) -> PipelineImport:
    """The open deals of a CRM export at ``as_of``, in the scenario's stages.

    Args:
        path: the CSV export.
        stages: the scenario's stage names (targets of the stage map).
        as_of: the export day: day 0 of the simulation.
        stage_map: CRM stage name -> scenario stage or outcome (``[crm.stage_map]``).
        mapping: column -> field for exports of no known style (``--map column=field``).

    Raises:
        UserError: all rows' problems of one kind at once, naming file, rows and columns.
    """
    stages = list(stages)
    stage_map = dict(stage_map or {})
    table = _read_table(path)
    fmt, cols = _resolve(table, _PIPELINE_FORMATS, mapping, PIPELINE_FIELDS)
    entered_cols = _date_entered_columns(table) if fmt.date_entered else {}
    day_first = _slash_day_first(
        _cell(cells, i)
        for _, _, cells in table.rows
        for i in [cols.get("created"), cols.get("stage_entered"), *entered_cols.values()]
    )
    header = table.header

    def col(fld: str) -> str:
        return header[cols[fld]]

    deals: list[PipelineDeal] = []
    skipped = 0
    unknown: dict[str, list[int]] = defaultdict(list)
    seen: dict[str, list[int]] = defaultdict(list)
    for row, line, cells in table.rows:
        deal_id = _cell(cells, cols["deal_id"])
        if not deal_id:
            raise UserError(f"{table.where(row, line, col('deal_id'))}: empty deal id")
        crm_stage = _cell(cells, cols["stage"])
        if not crm_stage:
            raise UserError(f"{table.where(row, line, col('stage'))}: empty stage")
        target = _map_stage(crm_stage, stage_map, stages)
        if target is None:
            unknown[crm_stage].append(row)
            continue
        seen[deal_id].append(row)
        if target in OUTCOMES:
            skipped += 1
            continue
        amount_text = _cell(cells, cols["amount"])
        amount = parse_amount(amount_text)
        if amount is None or amount < 0:
            raise UserError(
                f"{table.where(row, line, col('amount'))}: {amount_text!r} is not an amount"
                + (" (negative)" if amount is not None else "")
            )
        created = _date_cell(table, row, line, cells, cols["created"], day_first)
        if created is None:
            raise UserError(f"{table.where(row, line, col('created'))}: empty created date")
        if fmt.date_entered:
            entered_col = _entered_column_for(crm_stage, target, entered_cols)
            if entered_col is None:
                raise UserError(
                    f"{table.where(row, line)}: no 'Date entered \"{crm_stage}\"' column for "
                    f"the deal's stage (date-entered columns: "
                    f"{', '.join(header[i] for i in entered_cols.values())})"
                )
        else:
            entered_col = cols.get("stage_entered")
        entered = _date_cell(table, row, line, cells, entered_col, day_first) or created
        stage_entered_name = header[entered_col] if entered_col is not None else "stage_entered"
        if entered.date() < created.date():
            raise UserError(
                f"{table.where(row, line, stage_entered_name)}: the deal entered its stage on "
                f"{entered.date()}, before it was created ({created.date()})"
            )
        for name, value in ((col("created"), created), (stage_entered_name, entered)):
            if value.date() > as_of:
                raise UserError(
                    f"{table.where(row, line, name)}: {value.date()} is after --as-of {as_of} "
                    "(the export is newer than the date asked for: use its export day)"
                )
        deals.append(PipelineDeal(deal_id, target, amount, created.date(), entered.date()))
    if unknown:
        listed = "; ".join(f"{s!r} on {_rows_text(r)}" for s, r in unknown.items())
        keys = ", ".join(stage_map) if stage_map else "(none)"
        raise UserError(
            f"{table.path}, column {col('stage')!r}: unknown stage(s): {listed}. "
            f"Scenario stages: {', '.join(stages)}; [crm.stage_map] keys: {keys} "
            "(add the CRM names to [crm.stage_map])"
        )
    dups = {d: r for d, r in seen.items() if len(r) > 1}
    if dups:
        listed = "; ".join(f"{d!r} on {_rows_text(r)}" for d, r in list(dups.items())[:_MAX_LISTED])
        raise UserError(
            f"{table.path}, column {col('deal_id')!r}: duplicate deal id(s): {listed}"
            + (f" and {len(dups) - _MAX_LISTED} more" if len(dups) > _MAX_LISTED else "")
        )
    return PipelineImport(deals, source=str(table.path), fmt=fmt.name, skipped=skipped)


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


def _entered_column_for(crm_stage: str, target: str, entered: dict[str, int]) -> int | None:
    wanted = crm_stage.strip().lower()
    for label, i in entered.items():
        if label.lower() == wanted or _hubspot_label(label).lower() == wanted:
            return i
    return None


def _date_cell(
    table: _Table, row: int, line: int, cells: list[str], i: int | None, day_first: bool
) -> dt.datetime | None:
    text = _cell(cells, i)
    if not text:
        return None
    value = parse_datetime(text, day_first)
    if value is None:
        raise UserError(
            f"{table.where(row, line, table.header[i])}: {text!r} is not a date "
            "(expected YYYY-MM-DD, an ISO date-time, MM/DD/YYYY or DD.MM.YYYY)"
        )
    return value


# --------------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------------


def read_history(
    path: Path | str,
    *,
    mapping: Mapping[str, str] | None = None,
    stage_map: Mapping[str, str] | None = None,
) -> History:
    """A stage history: one row per deal entering a stage (or an outcome), sorted per deal.

    Args:
        path: the CSV export (plain ``deal_id, stage, entered_at``; Salesforce
            OpportunityHistory; HubSpot deals with ``Date entered "<stage>"`` columns; the Maven
            CRM sample, one row per deal with engage and close dates).
        mapping: column -> field (``deal_id, stage, entered_at, amount``) for other exports.
        stage_map: CRM stage spelling -> scenario name (a stage, ``dormant`` or an outcome),
            e.g. ``{"Closed Dead": "lost"}``; other spellings become snake_case stage names,
            the usual outcome spellings (Won, Closed Won, Lost, Closed Lost...) outcomes.

    Raises:
        UserError: missing columns, unreadable dates or amounts, unknown "Closed ..." outcome
            spellings, a deal whose outcome is followed by later rows.
    """
    table = _read_table(path)
    fmt, cols = _resolve(table, _HISTORY_FORMATS, mapping, HISTORY_FIELDS)
    stage_map = dict(stage_map or {})
    notes: list[str] = []
    raw: list[tuple[str, str, dt.datetime, int, int]] = []  # deal, crm stage, when, row, line
    amounts: dict[str, float] = {}
    date_cols = [cols.get(f) for f in ("entered_at", "engage_date", "close_date")]
    entered_cols = _date_entered_columns(table) if fmt.date_entered else {}
    date_cols += list(entered_cols.values())
    day_first = _slash_day_first(_cell(c, i) for _, _, c in table.rows for i in date_cols)
    header = table.header

    def read_amount(deal: str, row: int, line: int, cells: list[str]) -> None:
        i = cols.get("amount")
        if i is None:
            return
        text = _cell(cells, i)
        value = parse_amount(text)
        if value is None or value < 0:
            raise UserError(f"{table.where(row, line, header[i])}: {text!r} is not an amount")
        if not math.isnan(value):
            amounts[deal] = value

    def need(row: int, line: int, cells: list[str], fld: str) -> str:
        text = _cell(cells, cols[fld])
        if not text:
            raise UserError(f"{table.where(row, line, header[cols[fld]])}: empty {fld}")
        return text

    if fmt.name == "Maven CRM":
        no_dates: list[int] = []
        first_row: dict[str, int] = {}
        for row, line, cells in table.rows:
            deal = need(row, line, cells, "deal_id")
            if deal in first_row:
                raise UserError(
                    f"{table.where(row, line, header[cols['deal_id']])}: duplicate deal id "
                    f"{deal!r} (also on row {first_row[deal]}; this export has one row per deal)"
                )
            first_row[deal] = row
            stage = need(row, line, cells, "stage")
            engage = _date_cell(table, row, line, cells, cols["engage_date"], day_first)
            close = _date_cell(table, row, line, cells, cols["close_date"], day_first)
            outcome = _map_outcome(stage, stage_map)
            if engage is None:
                if close is not None:
                    raise UserError(
                        f"{table.where(row, line, header[cols['engage_date']])}: "
                        "empty engage date but the deal has a close date"
                    )
                no_dates.append(row)
                continue
            raw.append((deal, "Engaging", engage, row, line))
            if outcome in OUTCOMES:
                if close is None:
                    raise UserError(
                        f"{table.where(row, line, header[cols['close_date']])}: "
                        f"the deal is {stage!r} but has no close date"
                    )
                raw.append((deal, stage, close, row, line))
            elif close is not None:
                raise UserError(
                    f"{table.where(row, line, header[cols['close_date']])}: the deal is "
                    f"{stage!r} (open) but has a close date; map its stage with a stage map "
                    "if it is an outcome"
                )
            read_amount(deal, row, line, cells)
        if no_dates:
            notes.append(
                f"{len(no_dates)} deals without an engage date (stage Prospecting or similar) "
                "skipped: they have no history"
            )
    elif fmt.date_entered:
        for row, line, cells in table.rows:
            deal = need(row, line, cells, "deal_id")
            for label, i in entered_cols.items():
                when = _date_cell(table, row, line, cells, i, day_first)
                if when is not None:
                    raw.append((deal, _hubspot_label(label), when, row, line))
            read_amount(deal, row, line, cells)
        notes.append(
            "HubSpot 'Date entered' columns hold the latest entry into each stage only: "
            "repeated visits (slip-backs) are not in this export"
        )
    else:
        for row, line, cells in table.rows:
            deal = need(row, line, cells, "deal_id")
            stage = need(row, line, cells, "stage")
            when = _date_cell(table, row, line, cells, cols["entered_at"], day_first)
            if when is None:
                raise UserError(
                    f"{table.where(row, line, header[cols['entered_at']])}: empty entered_at"
                )
            raw.append((deal, stage, when, row, line))
            read_amount(deal, row, line, cells)
    if not raw:
        raise UserError(f"{table.path}: no deal has a dated stage entry")
    return _build_history(table, fmt.name, cols, raw, amounts, stage_map, notes)


def _map_outcome(crm_stage: str, stage_map: Mapping[str, str]) -> str | None:
    if crm_stage in stage_map:
        return stage_map[crm_stage]
    return outcome_of(crm_stage)


def _build_history(table, fmt_name, cols, raw, amounts, stage_map, notes) -> History:
    """Name the states, sort per deal, merge repeats, and refuse histories that cannot be."""
    stage_col = table.header[cols["stage"]] if "stage" in cols else "Date entered"
    unknown_closed: dict[str, list[int]] = defaultdict(list)
    names: dict[str, str] = {}
    for _, crm, _, row, _ in raw:
        if crm in names:
            continue
        target = _map_outcome(crm, stage_map)
        if target is None and _looks_closed(crm):
            unknown_closed[crm].append(row)
            continue
        names[crm] = target if target is not None else stage_slug(crm)
    if unknown_closed:
        for _, crm, _, row, _ in raw:
            if crm in unknown_closed and row not in unknown_closed[crm]:
                unknown_closed[crm].append(row)
        listed = "; ".join(f"{s!r} on {_rows_text(r)}" for s, r in unknown_closed.items())
        raise UserError(
            f"{table.path}, column {stage_col!r}: unknown outcome spelling(s): {listed}. "
            "Known: Won / Closed Won -> won, Lost / Closed Lost -> lost, No Decision -> "
            "no_decision; map others with --stage-map 'CRM NAME=won|lost|no_decision'"
        )
    per_deal: dict[str, list[tuple[dt.datetime, int, str, str, int]]] = defaultdict(list)
    for order, (deal, crm, when, row, _line) in enumerate(raw):
        per_deal[deal].append((when, order, crm, names[crm], row))
    rows: list[HistoryRow] = []
    merged = 0
    for deal, entries in per_deal.items():
        entries.sort(key=lambda e: (e[0], e[1]))
        prev_state = None
        closed_at: tuple[int, str, dt.datetime] | None = None
        for when, _, crm, state, row in entries:
            if closed_at is not None:
                c_row, c_state, c_when = closed_at
                what = "closes again" if state in OUTCOMES else f"enters {crm!r}"
                raise UserError(
                    f"{table.path}: deal {deal!r} goes back in time: row {c_row} closes it as "
                    f"{c_state} on {c_when:%Y-%m-%d %H:%M}, but row {row} {what} later "
                    f"({when:%Y-%m-%d %H:%M}); an outcome must be the deal's last entry "
                    f"(column {stage_col!r})"
                )
            if state == prev_state:
                merged += 1
                continue
            rows.append(HistoryRow(deal, state, when, row, crm))
            prev_state = state
            if state in OUTCOMES:
                closed_at = (row, state, when)
    if merged:
        notes.append(f"{merged} repeated rows of the same stage merged (edits within a stage)")
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
