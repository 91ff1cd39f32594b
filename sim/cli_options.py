"""Options shared by several commands (``run``, ``compare``, ``sweep``, ``trace``, ``weighted``):
``--set`` and the CRM pipeline options. One definition, so that every command spells and checks
them the same way.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import click

from sim.plural import verb
from sim.status import quiet

_SET_HELP = (
    "Change the scenario: a dotted KEY=VALUE, e.g. stages.need.duration.median=90 or "
    "budget.funded_share=0.2 (stages and roles by name; VALUE as TOML). Repeatable."
)


#: The options that stand for a keyword of ``sim.overrides.SAME_AS_SET`` (a scenario key):
#: parameter -> (the option, the API keyword it maps onto).
OPTION_KEYWORDS = {
    "replications": ("-n/--replications", "replications"),
    "seed": ("--seed", "seed"),
    "until": ("--until", "until"),
    "no_parameter_uncertainty": ("--no-parameter-uncertainty", "parameter_uncertainty"),
}


#: The parameters that name what a command writes; every other one that names a file is read.
OUTPUT_PARAMETERS = frozenset({"output", "report", "picture"})


def command_inputs() -> list[Path]:
    """The files the running command reads: those its arguments and options name (any but its
    outputs), which none of its outputs may replace, --force or not."""
    ctx = click.get_current_context(silent=True)
    found = []
    for name, value in (ctx.params if ctx is not None else {}).items():
        if name in OUTPUT_PARAMETERS:
            continue
        for item in value if isinstance(value, tuple | list) else (value,):
            if isinstance(item, str | Path) and str(item).strip() and Path(item).is_file():
                found.append(Path(item))
    return found


class OutputPath(click.Path):
    """A ``click.Path`` to write to that is not empty: click reads ``-o ''`` as the current
    folder, where a run would then write (or, with --force, replace) what nobody asked for."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("an empty name; give a file or folder name", param, ctx)
        return super().convert(value, param, ctx)


class FiniteFloat(click.ParamType):
    """A number as click's float reads it, but finite: ``1e400`` would be read as infinity
    and ``nan`` as no number, and the messages further on would name those, not what was typed."""

    name = "float"

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


#: How a CRM file's slash dates and amounts are read when it cannot tell (--pipeline's
#: options, and fit's and backtest's, sim.cli_data).
date_format_option = click.option(
    "--date-format",
    metavar="DD/MM/YYYY|MM/DD/YYYY",
    help="The order of slash dates, when the file cannot tell (every day <= 12).",
)
decimal_mark_option = click.option(
    "--decimal-mark",
    metavar=",|.",
    help="The decimal mark of the amounts, when the file cannot tell (every amount like 1,500 "
    "or 1.500).",
)


def set_option(help_text: str = _SET_HELP):
    """--set, and the check that no other option of the command sets the same key otherwise."""

    def decorate(func):
        @functools.wraps(func)
        def checked(*args, **kwargs):
            check_same_as_set(kwargs.get("sets") or (), kwargs)
            return func(*args, **kwargs)

        return click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help=help_text)(
            checked
        )

    return decorate


def check_same_as_set(texts, params: dict) -> None:
    """Refuse an option and a --set of the same key with different values: the API's rule
    (``sim.overrides.check_same_as_set``), on the options given on the command line."""
    from sim.overrides import check_same_as_set as check
    from sim.scenario import parse_override

    sets = {}
    for text in texts:
        key, sep, value_text = text.partition("=")
        # A malformed --set, or a list of values (sweep's, whose own check refuses sweeping
        # seed or replications), is the command's own message.
        if sep and key.strip() and "," not in value_text:
            key, value = parse_override(text)
            sets[key] = value
    ctx = click.get_current_context(silent=True)
    keywords, names = {}, {}
    for name, (option, keyword) in OPTION_KEYWORDS.items():
        if not _option_given(ctx, name, params):
            continue
        keywords[keyword] = params[name]
        names[keyword] = f"{option} {params[name]}"
        if name == "no_parameter_uncertainty":  # the flag means uncertainty.enabled = false
            keywords[keyword], names[keyword] = False, option
        elif name == "until":  # refused with any horizon_days: its value need not be shown
            names[keyword] = option
    check(sets, keywords, names=names, set_option="--set")


def _option_given(ctx, name: str, params: dict) -> bool:
    """Given on the command line (or by an environment variable), not left at its default."""
    if name not in params:
        return False
    if ctx is not None:
        source = ctx.get_parameter_source(name)
        if source is not None:
            return source not in (
                click.core.ParameterSource.DEFAULT,
                click.core.ParameterSource.DEFAULT_MAP,
            )
    return params[name] not in (None, False)


def echo_day0_pipeline(imported: dict | None) -> None:
    """The stderr line saying which CRM deals a run started from (``manifest["pipeline"]``);
    nothing with -q, nothing without --pipeline."""
    if imported and not quiet():
        click.echo(
            f"Day-0 pipeline: {imported['open_deals']} open deals from {imported['source']} "
            f"as of {imported['as_of']} ({imported['closed_deals_skipped']} closed deals skipped)",
            err=True,
        )


def pipeline_options(func):
    """--pipeline and the options that say how to read it: start from today's open deals in a
    CRM export. The command receives them as one ``pipeline`` argument, a
    ``sim.pipeline.PipelineSource`` (None without --pipeline)."""

    @functools.wraps(func)
    def with_source(
        *args, pipeline, as_of, column_map, encoding, date_format, decimal_mark, fx, **kwargs
    ):
        source = _pipeline_source(
            pipeline, as_of, column_map, encoding, date_format, fx, decimal_mark
        )
        return func(*args, pipeline=source, **kwargs)

    for option in reversed(
        [
            click.option(
                "--pipeline",
                type=click.Path(path_type=Path),
                help="CSV export of the open deals (Salesforce, HubSpot, Pipedrive or plain): "
                "replaces the scenario's day-0 pipeline.",
            ),
            click.option(
                "--as-of",
                metavar="DATE",
                help="The export's day: day 0 (default: the scenario's start_date). "
                "YYYY-MM-DD, or as the files write dates (DD.MM.YYYY, slash dates).",
            ),
            click.option(
                "--map",
                "column_map",
                multiple=True,
                metavar="COLUMN=FIELD",
                help="Read a column as a field (deal_id, stage, amount, created, "
                "stage_entered, stage_days, age_days, status, currency) for exports of no known "
                "style; one column may feed several: COLUMN=created,stage_entered. Repeatable.",
            ),
            click.option(
                "--encoding",
                help="The export's text encoding when it cannot be told (utf-8, utf-16, "
                "cp1251, cp1252...).",
            ),
            date_format_option,
            decimal_mark_option,
            click.option(
                "--fx",
                multiple=True,
                metavar="CODE=RATE,...",
                help="Exchange rates into the scenario's currency for amounts in other "
                "currencies, e.g. USD=0.92,GBP=1.17. Repeatable.",
            ),
        ]
    ):
        with_source = option(with_source)
    return with_source


def _pipeline_source(
    pipeline, as_of, column_map, encoding=None, date_format=None, fx=(), decimal_mark=None
):
    """The PipelineSource the options describe, or None without --pipeline."""
    from sim.crm_values import parse_as_of, parse_fx
    from sim.errors import UserError
    from sim.pipeline import PipelineSource, parse_mapping

    if pipeline is None:
        given = [
            name
            for name, value in (
                ("--as-of", as_of),
                ("--map", column_map),
                ("--encoding", encoding),
                ("--date-format", date_format),
                ("--decimal-mark", decimal_mark),
                ("--fx", fx),
            )
            if value
        ]
        if given:
            needs = verb(len(given), "needs", "need")
            raise UserError(f"{' and '.join(given)} {needs} --pipeline FILE")
        return None
    return PipelineSource(
        Path(pipeline),
        parse_as_of(as_of, date_format) if as_of is not None else None,
        parse_mapping(column_map),
        encoding=encoding,
        date_format=date_format,
        decimal_mark=decimal_mark,
        fx=parse_fx(fx),
        report=_echo_once(),
    )


def _echo_once():
    """A report callback that prints each note once on stderr (compare and sweep read the same
    export once per scenario)."""
    seen: set[str] = set()

    def report(note: str) -> None:
        if note not in seen:
            seen.add(note)
            from sim.status import note as echo_note

            echo_note(note)

    return report


def engine_option(func):
    """--engine: which engine runs (the results are the same; the manifest says which ran)."""
    return click.option(
        "--engine",
        type=click.Choice(["auto", "simpy", "vectorized"]),
        default="auto",
        show_default=True,
        help="simpy: one SimPy process per deal (runs everything, writes event logs); "
        "vectorized: the same rules on arrays, faster, for deals that share nothing; "
        "auto: vectorized where it can run.",
    )(func)


def engine_line(manifest: dict) -> str:
    """Which engine ran, in a line for the terminal (two on a narrow one)."""
    from sim.tables import wrap

    if manifest.get("engine") == "vectorized":
        text = "Engine: vectorized (every deal's story decided in bulk with numpy)"
    else:
        text = f"Engine: simpy (one process per deal; {manifest.get('events'):,} SimPy events)"
    return "\n".join(wrap(text, subsequent="  ", cap=None))


def arms_engine_line(runs: list[tuple[str, dict]]) -> str:
    """Which engine ran each scenario of a compare or sweep (``(label, manifest)`` pairs), with
    each one's SimPy events and their total: the first one's count alone read as all of them."""
    from sim.tables import wrap

    if all(manifest.get("engine") == "vectorized" for _, manifest in runs):
        return engine_line(runs[0][1])
    counts = [
        f"{label}: {manifest['events']:,}"
        if manifest.get("engine") != "vectorized"
        else f"{label}: none (vectorized)"
        for label, manifest in runs
    ]
    total = sum(manifest.get("events") or 0 for _, manifest in runs)
    text = (
        f"Engine: simpy (one process per deal); SimPy events by scenario: {'; '.join(counts)}; "
        f"{total:,} in all"
    )
    return "\n".join(wrap(text, subsequent="  ", cap=None))


# -o: a folder for the commands that write a results folder, a file for those that write one file.
FOLDER_HELP = "The results folder to write (new or empty; default: a new one under results/)."

JOBS_HELP = "Worker processes (default: all cores; more than the cores are capped, with a note)."


def _cap_jobs(ctx: click.Context, param: click.Parameter, jobs: int | None) -> int | None:
    """More local workers than cores only slows a run down: capped, with a note. A cluster
    (--scheduler, an eager option, so known by now) decides its own parallelism."""
    from sim.runner import default_jobs
    from sim.status import note

    if jobs is None or ctx.params.get("scheduler"):
        return jobs
    cores = default_jobs()
    if jobs > cores:
        note(f"-j {jobs}: this machine has {cores} core(s) for dealsim; using {cores}")
        return cores
    return jobs


def jobs_option(func):
    """-j/--jobs: the same default (all cores), check and cap on every command that has it."""
    return click.option(
        "-j", "--jobs", type=click.IntRange(min=1), callback=_cap_jobs, help=JOBS_HELP
    )(func)


def refuse_other_kinds(folder: Path, does: str) -> None:
    """A command that reads a run folder (``plot``, ``explain``) names a compare, sweep,
    sensitivity or backtest folder as what it is, with the command that shows it; ``does``:
    what the command does with a run folder ("plot redraws the figures of")."""
    from sim.errors import UserError
    from sim.html import KINDS

    found = next(
        (k for k in KINDS if k.name != "run" and (Path(folder) / k.marker).is_file()), None
    )
    if found is not None:
        raise UserError(
            f"{folder}: a {found.name} folder ({found.marker}), not a run: {does} a run folder "
            f"(summary.json) only; dealsim report {folder} shows this one"
        )
