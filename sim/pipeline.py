"""Start a simulation from today's open deals in a CRM export (``--pipeline FILE --as-of DATE``).

The export replaces the scenario's ``deals.initial`` counts: every open deal starts on day 0 in
its (mapped) stage, with the time it has already spent there, its creation date and its amount,
and day 0 becomes the export day. Reading and checking the file is :mod:`sim.crm`'s job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.crm import ReadOptions, read_pipeline
from sim.errors import UserError
from sim.model import InitialPipeline
from sim.scenario import Scenario, _key_parts, moved_scenario


@dataclass(frozen=True)
class PipelineSource:
    """Where the day-0 deals come from: a CSV export, its day, any column mapping, and how to
    read what the file cannot say (encoding, date order, decimal mark, exchange rates).

    ``report`` receives each note on what was skipped, converted or assumed (the CLI prints
    them); the import still succeeds without one.
    """

    path: Path
    as_of: dt.date | None = None  # default: the scenario's start_date
    mapping: dict[str, list[str]] = field(default_factory=dict)
    encoding: str | None = None
    date_format: str | None = None
    decimal_mark: str | None = None
    fx: dict[str, float] = field(default_factory=dict)
    report: Callable[[str], None] | None = field(default=None, compare=False)


def parse_mapping(items: tuple[str, ...] | list[str]) -> dict[str, list[str]]:
    """``--map column=field`` options into column -> fields, with a clear message for a
    malformed one. One column may feed several fields: ``--map engage_date=created,stage_entered``
    or the option twice."""
    mapping: dict[str, list[str]] = {}
    for item in items:
        column, sep, names = item.rpartition("=")
        fields = [n.strip() for n in names.split(",") if n.strip()]
        if not sep or not column.strip() or not fields:
            raise UserError(f"--map: {item!r} is not COLUMN=FIELD (e.g. 'Deal Name=deal_id')")
        mapping.setdefault(column.strip(), []).extend(fields)
    return mapping


def check_sets_with_pipeline(
    sets: Mapping[str, object], scenario: Scenario, source: PipelineSource
) -> None:
    """Refuse a --set that the export would override, before anything runs: one that it
    would silently undo runs one thing and labels another.

    ``scenario`` is the one with ``sets`` applied. ``deals.initial`` is replaced by the
    export's open deals, whatever it says; ``start_date`` becomes ``--as-of`` (the same day
    twice is no conflict; without ``--as-of`` the export is read as of that start date).
    """
    from sim.overrides import value_text

    for key, value in sets.items():
        parts = _key_parts(str(key))
        shown = f"--set {key}={value_text(value)}"
        if parts[:2] == ["deals", "initial"] or (
            parts == ["deals"] and isinstance(value, Mapping) and "initial" in value
        ):
            raise UserError(
                f"--pipeline {source.path} and {shown}: the export's open deals replace "
                "deals.initial, so the --set would be ignored: leave it out, or run without "
                "--pipeline"
            )
        if parts == ["start_date"] and source.as_of is not None:
            if scenario.start_date != source.as_of:
                raise UserError(
                    f"--as-of {source.as_of} and {shown} disagree: with --pipeline, the "
                    "simulation starts on the export's day; give one of them, or both the "
                    "same date"
                )


def apply_pipeline(scenario: Scenario, source: PipelineSource) -> tuple[Scenario, InitialPipeline]:
    """The scenario moved to the export day, and the export's open deals as its day-0 pipeline."""
    as_of = source.as_of or scenario.start_date
    if source.as_of is None and source.report is not None:
        # Said once here, where every command with --pipeline reads the export: an export
        # taken on another day would age its deals wrongly, and nothing else would tell.
        source.report(
            f"{Path(source.path).name}: read as of the scenario's start_date, {as_of} (no "
            "--as-of given); give --as-of with the export's day if it was taken on another"
        )
    stage_map = dict(scenario.crm.stage_map) if scenario.crm is not None else {}
    deals = read_pipeline(
        source.path,
        stages=scenario.stage_names,
        as_of=as_of,
        stage_map=stage_map,
        mapping=source.mapping,
        labels={s.label: s.name for s in scenario.stages if s.label},
        options=ReadOptions(
            encoding=source.encoding,
            date_format=source.date_format,
            decimal_mark=source.decimal_mark,
            currency=scenario.currency,
            fx=source.fx,
        ),
    )
    if source.report is not None:
        for note in deals.notes:
            source.report(f"{Path(source.path).name}: {note}")
    if not deals:
        raise UserError(
            f"{source.path}: no open deal at {as_of} ({deals.skipped_closed} closed deals "
            "skipped): nothing to start the simulation from"
        )
    index = {name: i for i, name in enumerate([*scenario.stage_names, "dormant"])}
    if scenario.dormant is None and any(d.stage == "dormant" for d in deals):
        raise UserError(
            f"{source.path}: deals mapped to 'dormant' (crm.stage_map), but the scenario has no "
            "[dormant] section: add one (reactivate_mean_days, give_up_after_days)"
        )
    moved = moved_scenario(scenario, start_date=as_of)
    initial = InitialPipeline(
        states=np.array([index[d.stage] for d in deals], dtype=np.int64),
        age_in_stage=np.array([max((as_of - d.stage_entered).days, 0) for d in deals], float),
        created=np.array([min((d.created - as_of).days, 0) for d in deals], dtype=float),
        amounts=np.array([d.amount for d in deals], dtype=float),
        ids=tuple(d.deal_id for d in deals),
        skipped_closed=deals.skipped_closed,
        source=str(source.path),
    )
    return moved, initial


def pipeline_csv(scenario: Scenario, initial: InitialPipeline) -> str:
    """The day-0 deals in the plain pipeline format, for the results folder (so that a later
    ``dealsim explain`` re-runs from the same deals)."""
    names = [*scenario.stage_names, "dormant"]
    day0 = scenario.start_date
    lines = ["deal_id,stage,amount,created,stage_entered"]
    for deal_id, state, age, created, amount in zip(
        initial.ids,
        initial.states.tolist(),
        initial.age_in_stage.tolist(),
        initial.created.tolist(),
        initial.amounts.tolist(),
        strict=True,
    ):
        made = day0 + dt.timedelta(days=created)
        entered = day0 - dt.timedelta(days=age)
        quoted = '"' + deal_id.replace('"', '""') + '"'
        lines.append(
            f"{quoted},{names[state]},{'' if amount != amount else amount},{made},{entered}"
        )
    return "\n".join(lines) + "\n"
