"""Exporting a run's event log: as a stage history (to check ``fit`` against known truth) and
as a process-mining log (CSV or XES, IEEE 1849-2016, written with the standard library).

Both read ``events.csv`` of a results folder made with ``dealsim run --events``. Times are the
scenario's ``start_date`` plus the event's day (a float), so they keep the simulation's
sub-day precision; they are UTC by convention (the simulation has no time zone).

Choices:
- History (``deal_id, stage, entered_at``): a ``created`` event is the entry into the first
  stage, each ``move`` the entry into its target, outcomes included; ``dormant`` is written as a
  state row (``sim.fit`` understands it and fits ``[dormant]`` from it). Deal ids are
  ``r<replication>-d<deal>``.
- Process-mining log: valid against the IEEE 1849-2016 XSD (``tests/data/xes``): no XML
  namespace (the schema declares none), ``xes.version`` a decimal, classifier names NCNames.
  By default one replication (``--replication``, the first): one simulated history on one
  calendar, as a real CRM log would be; ``--all-replications`` writes the whole run. One case
  per deal and replication. Each stage visit is an activity with a
  ``start`` event at entry and a ``complete`` event when the deal leaves it (a visit still open
  at the horizon has no ``complete``); an outcome is one ``complete`` event; the other events
  (budget_wait, budget_released, timing_wait, person_replaced, shock_survived) are
  instantaneous ``complete`` events named after themselves. Market-wide shocks belong to no deal
  and are left out. ``close`` rows repeat the move into the outcome and are left out too.

Files are written to a temporary file and renamed: an error leaves no partial output.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import quoteattr

from sim.atomic import atomic_file
from sim.errors import UserError
from sim.results_folder import existing_folder

EVENTS = "events.csv"
SUMMARY = "summary.json"
OUTCOMES = ("won", "lost", "no_decision")
LOG_COLUMNS = ("case:concept:name", "concept:name", "time:timestamp", "lifecycle:transition")
#: The log element's ``xes.version``: the IEEE 1849-2016 schema types it ``xs:decimal``.
XES_VERSION = "1.0"
_SIDE_EVENTS = (
    "budget_wait",
    "budget_released",
    "timing_wait",
    "person_replaced",
    "shock_survived",
)
_REQUIRED = ("replication", "deal", "day", "event", "from_stage", "to_stage")
#: The name endings of each format written; a name with another suffix (``.xlsx``, or ``.xes``
#: for CSV text) would open as garbage or not at all, so it is refused. No suffix is fine.
SUFFIXES = {"csv": (".csv",), "xes": (".xes",)}


def _suffix(out: Path) -> str:
    return Path(out).suffix.lower()


def history_name(out: Path | str) -> Path:
    """``out`` for the stage history, which is CSV: refused if its name says another format.

    Raises:
        UserError: a suffix other than .csv (none is fine).
    """
    suffix = _suffix(Path(out))
    if suffix and suffix not in SUFFIXES["csv"]:
        raise UserError(
            f"-o {out}: export-history writes CSV only, not {suffix}; give a name ending in .csv"
        )
    return Path(out)


def log_format(out: Path | str, format: str | None) -> str:
    """The process-mining format to write to ``out``: ``format``, else the one its name says.

    Raises:
        UserError: an unknown format; a name ending in neither .xes nor .csv (none is fine
            with ``format``); a name of one format with ``format`` the other; neither given.
    """
    offered = "xes (.xes) or csv (.csv)"
    fmt = format.lower() if format is not None else None
    if fmt is not None and fmt not in SUFFIXES:
        raise UserError(f"--format {format}: expected {offered}")
    suffix = _suffix(Path(out))
    told = next((name for name, ends in SUFFIXES.items() if suffix in ends), None)
    if suffix and told is None:
        raise UserError(
            f"-o {out}: export-log writes {offered}, not {suffix}; give a name ending in .xes "
            "or .csv"
        )
    if fmt is not None and told is not None and fmt != told:
        raise UserError(
            f"-o {out}: a {suffix} name, but --format {fmt}; use --format {told}, or a name "
            f"ending in {SUFFIXES[fmt][0]}"
        )
    if fmt is None and told is None:
        raise UserError(f"-o {out}: no suffix to tell the format by; give --format xes or csv")
    return fmt or told


def _start_date(folder: Path) -> dt.datetime:
    """Day 0 of the run: the one key of summary.json an export needs. Not read with
    sim.results.read_summary, which refuses a summary damaged anywhere: an export of
    events.csv does not depend on a percentile someone edited (tests/test_summary_damage.py)."""
    path = existing_folder(folder) / SUMMARY
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
        return dt.datetime.combine(dt.date.fromisoformat(summary["start_date"]), dt.time(0))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        # The words of the other readers (sim.results.read_summary) for the same folder.
        raise UserError(f"{folder}: not a dealsim results folder (no {SUMMARY})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: cannot read start_date ({exc})") from None


def _scenario_name(folder: Path) -> str:
    """The summary's scenario, which names the log, or "" when it cannot be told: it is only a
    label. (A summary that cannot give the start date, which every export needs, is one message
    from :func:`_start_date`; a summary that is a list was a crash here.)"""
    try:
        summary = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    name = summary.get("scenario") if isinstance(summary, dict) else None
    return name if isinstance(name, str) else ""


def _events_path(folder: Path) -> Path:
    folder = existing_folder(folder)
    path = folder / EVENTS
    if not path.is_file():
        raise UserError(f"{folder}: has no {EVENTS}: {_how_to_get_events(folder)}")
    return path


def _how_to_get_events(folder: Path) -> str:
    """What makes the event log, as commands to paste (into new folders: run refuses this one)."""
    from sim.rerun_hint import events_commands

    commands = [f"`{command}`" for command in events_commands(folder)]
    if not commands:
        return "only `dealsim run SCENARIO --events -o NEW_FOLDER` writes one"
    if (folder / "comparison.json").is_file() or (folder / "sweep.json").is_file():
        which = "each scenario's" if len(commands) > 1 else "its first value's"
        return (
            f"a what-if folder keeps no event log; to make {which} on the same seed, each into "
            f"a new folder: {'; '.join(commands)}"
        )
    return f"the run was made without --events; again with them, into a new folder: {commands[0]}"


def _read_events(folder: Path) -> Iterator[tuple[int, int, float, str, str, str, str, int]]:
    """(replication, deal, day, event, from, to, cause, line) of the deal events, in file order."""
    path = _events_path(folder)
    try:
        yield from _event_rows(path)
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a dealsim event log (not UTF-8 text: {exc.reason})") from None


def _event_rows(path: Path) -> Iterator[tuple[int, int, float, str, str, str, str, int]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in _REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(
                f"{path}: missing column(s) {', '.join(missing)} "
                f"(found: {', '.join(reader.fieldnames or [])})"
            )
        for rec in reader:
            if None in rec or None in rec.values():  # more or fewer fields than the header
                raise UserError(
                    f"{path}: line {reader.line_num}: {len(reader.fieldnames or [])} fields "
                    "expected, as in the header (a file cut short or edited?)"
                )
            if not rec["deal"]:  # market-wide events (shocks)
                continue
            try:
                rep, deal, day = int(rec["replication"]), int(rec["deal"]), float(rec["day"])
            except (TypeError, ValueError):
                raise UserError(
                    f"{path}: line {reader.line_num}: not a dealsim event row: {rec}"
                ) from None
            yield (
                rep,
                deal,
                day,
                rec["event"],
                rec["from_stage"] or "",
                rec["to_stage"] or "",
                rec.get("cause") or "",
                reader.line_num,
            )


def _when(start: dt.datetime, day: float) -> dt.datetime:
    return start + dt.timedelta(seconds=round(day * 86400))


#: ``-o -``: the export goes to standard output (to pipe it into another tool).
STANDARD_OUTPUT = "-"


def to_standard_output(out: Path | str) -> bool:
    return str(out) == STANDARD_OUTPUT


def _atomic_text(out: Path, write, replace: bool = True) -> None:
    """Stream text into ``out`` atomically (see :func:`sim.atomic.atomic_file`); ``-``:
    onto standard output, once the whole text is made (an export refused half-way, say for a
    replication the run does not have, prints nothing)."""
    if to_standard_output(out):
        with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as held:
            write(held)
            held.seek(0)
            shutil.copyfileobj(held, sys.stdout)
        sys.stdout.flush()
        return
    out = Path(out)
    if out.is_dir():
        raise UserError(f"{out}: is a folder; -o needs a file name")

    def through_handle(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            write(fh)

    atomic_file(out, through_handle, replace=replace)


def _check_replication(folder: Path, replication: int | None, seen: set[int]) -> None:
    if replication is not None and replication not in seen:
        have = f"0..{max(seen)}" if seen else "none"
        raise UserError(f"--replication {replication}: {folder} has replications {have}")


def export_history(
    results_dir: Path | str, out_csv: Path | str, replication: int = 0, force: bool = True
) -> tuple[Path, int, int]:
    """Write one replication's stage history as ``deal_id, stage, entered_at`` (plain format).

    ``force=False`` refuses to replace ``out_csv`` if it exists when the export is done.

    Returns:
        (path written, deals, rows).

    Raises:
        UserError: a name ending in another suffix than .csv, not a results folder, no
            events.csv (run with --events), no such replication.
    """
    folder = Path(results_dir)
    out_csv = history_name(out_csv)
    start = _start_date(folder)
    counts = {"rows": 0}
    deals: set[int] = set()
    reps: set[int] = set()

    def write(fh) -> None:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["deal_id", "stage", "entered_at"])
        for rep, deal, day, event, _src, dst, _cause, _line in _read_events(folder):
            reps.add(rep)
            if rep != replication or event not in ("created", "move"):
                continue
            w.writerow([f"r{rep}-d{deal}", dst, _when(start, day).isoformat(timespec="seconds")])
            deals.add(deal)
            counts["rows"] += 1
        _check_replication(folder, replication, reps)

    _atomic_text(Path(out_csv), write, replace=force)
    return Path(out_csv), len(deals), counts["rows"]


def _log_events(folder: Path, replication: int | None):
    """Cases in order: (case id, [(activity, when, transition, cause)]) per deal."""
    start = _start_date(folder)
    cases: dict[tuple[int, int], list[tuple[str, dt.datetime, str, str]]] = {}
    current_rep: int | None = None
    done: set[int] = set()
    reps: set[int] = set()

    def flush():
        for (rep, deal), events in sorted(cases.items()):
            yield f"r{rep}-d{deal}", events
        cases.clear()

    for rep, deal, day, event, src, dst, cause, line in _read_events(folder):
        reps.add(rep)
        if replication is not None and rep != replication:
            continue
        if rep != current_rep:
            yield from flush()
            if rep in done:
                raise UserError(
                    f"{folder / EVENTS}: line {line}: replication {rep} is not contiguous"
                )
            if current_rep is not None:
                done.add(current_rep)
            current_rep = rep
        when = _when(start, day)
        trace = cases.setdefault((rep, deal), [])
        if event == "created":
            trace.append((dst, when, "start", cause))
        elif event == "move":
            if src:
                trace.append((src, when, "complete", cause))
            trace.append((dst, when, "complete" if dst in OUTCOMES else "start", cause))
        elif event in _SIDE_EVENTS:
            trace.append((event, when, "complete", cause))
    yield from flush()
    _check_replication(folder, replication, reps)


def _iso(when: dt.datetime) -> str:
    return when.isoformat(timespec="milliseconds") + "+00:00"


def export_log(
    results_dir: Path | str,
    out: Path | str,
    format: str | None,
    replication: int | None = None,
    force: bool = True,
) -> tuple[Path, int, int]:
    """Write the simulated event log for process-mining tools (``csv`` or ``xes``).

    Args:
        format: ``csv`` or ``xes``; None: the one ``out``'s suffix says (see :func:`log_format`).
        replication: only this replication; None: all of them (case ids are
            ``r<rep>-d<deal>``).
        force: False refuses to replace ``out`` if it exists when the export is done.

    Returns:
        (path written, cases, events).
    """
    folder = Path(results_dir)
    fmt = log_format(out, format)
    _events_path(folder)
    totals = {"cases": 0, "events": 0}
    scenario = _scenario_name(folder)

    def write_csv(fh) -> None:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(LOG_COLUMNS)
        for case, events in _log_events(folder, replication):
            totals["cases"] += 1
            for activity, when, transition, _cause in events:
                w.writerow([case, activity, _iso(when), transition])
                totals["events"] += 1

    def write_xes(fh) -> None:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        fh.write(f'<log xes.version="{XES_VERSION}" xes.features="">\n')
        for name, prefix in (("Concept", "concept"), ("Time", "time"), ("Lifecycle", "lifecycle")):
            fh.write(
                f'  <extension name="{name}" prefix="{prefix}" '
                f'uri="http://www.xes-standard.org/{prefix}.xesext"/>\n'
            )
        fh.write('  <global scope="trace">\n')
        fh.write('    <string key="concept:name" value="__INVALID__"/>\n  </global>\n')
        fh.write('  <global scope="event">\n')
        fh.write('    <string key="concept:name" value="__INVALID__"/>\n')
        fh.write('    <date key="time:timestamp" value="1970-01-01T00:00:00.000+00:00"/>\n')
        fh.write('    <string key="lifecycle:transition" value="complete"/>\n  </global>\n')
        fh.write('  <classifier name="Activity" keys="concept:name"/>\n')
        fh.write(
            '  <classifier name="ActivityTransition" keys="concept:name lifecycle:transition"/>\n'
        )
        fh.write(
            f'  <string key="concept:name" value={quoteattr(f"dealsim {scenario}".strip())}/>\n'
        )
        for case, events in _log_events(folder, replication):
            totals["cases"] += 1
            fh.write(f'  <trace>\n    <string key="concept:name" value={quoteattr(case)}/>\n')
            for activity, when, transition, cause in events:
                fh.write(
                    f"    <event>"
                    f'<string key="concept:name" value={quoteattr(activity)}/>'
                    f'<string key="lifecycle:transition" value="{transition}"/>'
                    f'<date key="time:timestamp" value="{_iso(when)}"/>'
                    + (f'<string key="cause" value={quoteattr(cause)}/>' if cause else "")
                    + "</event>\n"
                )
                totals["events"] += 1
            fh.write("  </trace>\n")
        fh.write("</log>\n")

    _atomic_text(Path(out), write_csv if fmt == "csv" else write_xes, replace=force)
    return Path(out), totals["cases"], totals["events"]
