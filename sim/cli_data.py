"""CLI commands for data in and out: ``fit``, ``export-history``, ``export-log``.

Standalone click commands, added to the main group by ``register(cli)``. Each turns a
``UserError`` into one line on stderr and exit code 2 itself, so they behave the same inside any
group (or alone).
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import click

from sim.cli_options import FiniteFloat, OutputPath, date_format_option, decimal_mark_option
from sim.errors import UserError
from sim.scenario_bounds import MAX_HORIZON_DAYS
from sim.status import status


def _user_errors(func):
    """Print a UserError as one line and exit 2 (no traceback), like the main group does."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            click.echo(f"Error: {exc}", err=True)
            click.get_current_context().exit(2)

    return wrapper


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for text in values:
        key, sep, value = text.rpartition("=")
        if not sep or not key.strip() or not value.strip():
            raise UserError(f"{option} {text}: expected LEFT=RIGHT, e.g. {option} 'Opp Id=deal_id'")
        out[key.strip()] = value.strip()
    return out


def _as_of(
    text: str, date_format: str | None = None, option: str = "--as-of"
) -> dt.date | dt.datetime:
    """``--as-of`` (or the date ``option``) as the files write dates: a date (the end of that
    day), or an instant when a time is given (``2017-12-31T12:00``)."""
    from sim.crm_values import parse_as_of_time

    instant = parse_as_of_time(text, date_format, option)  # in the order of --date-format
    return instant if ":" in text else instant.date()


def stage_map_option(values: tuple[str, ...]) -> dict[str, str]:
    """``--stage-map CRM=NAME``: NAME a stage key, an outcome or ``dormant``, said here and not
    as a fitted scenario that fails its own validation."""
    import re

    from sim.crm import OUTCOMES, STATES_BEYOND_STAGES, outcome_of, stage_slug
    from sim.scenario import RESERVED_NAMES, STAGE_KEY_PATTERN

    out = _pairs(values, "--stage-map")
    for crm, name in out.items():
        key = re.match(STAGE_KEY_PATTERN, name) and name not in RESERVED_NAMES
        if key or name in STATES_BEYOND_STAGES:
            continue
        if name in RESERVED_NAMES:  # "open": the stage CRM becomes without a map is the hint
            why, hint = "reserved (the results' name for deals still open)", stage_slug(crm)
        else:
            why, hint = "not a stage key", outcome_of(name) or stage_slug(name)
        raise UserError(
            f"--stage-map {crm}={name}: {name!r} is {why}; NAME is a stage key (lower-case "
            "letters, digits, _ and -, starting with a letter), an outcome "
            f"({', '.join(OUTCOMES)}) or dormant"
            + (f"; did you mean {crm}={hint}?" if hint else "")
        )
    return out


def stage_maps_of(stage_maps: tuple[str, ...], outcomes: tuple[str, ...]) -> dict[str, str]:
    """``--stage-map`` and ``--outcome`` as one stage map for the history reader."""
    return {**stage_map_option(stage_maps), **_outcomes(outcomes)}


def _outcomes(values: tuple[str, ...]) -> dict[str, str]:
    """``--outcome NAME=won``: CRM outcome spellings in any language."""
    from sim.crm import OUTCOMES

    out = _pairs(values, "--outcome")
    for name, target in out.items():
        if target not in OUTCOMES:
            raise UserError(
                f"--outcome {name}={target}: {target!r} is not an outcome ({', '.join(OUTCOMES)})"
            )
    return out


#: How fit and backtest read what a history file cannot say (``_read_options`` makes them one
#: ``sim.crm.ReadOptions``); the reader's messages name these options.
_READ_OPTIONS = (
    click.option("--encoding", help="The file's text encoding when it cannot be told (cp1251...)."),
    date_format_option,
    decimal_mark_option,
    click.option(
        "--fx",
        multiple=True,
        metavar="CODE=RATE,...",
        help="Exchange rates into --currency for amounts in other currencies (USD=0.92,GBP=1.17).",
    ),
    click.option(
        "--currency",
        help="The amounts' currency, and the fitted scenario's (default: the history's own, when "
        "it names one).",
    ),
)


def read_options(func):
    """Add ``--encoding``, ``--date-format``, ``--decimal-mark``, ``--fx`` and ``--currency``
    to a command that reads a history."""
    for option in reversed(_READ_OPTIONS):
        func = option(func)
    return func


def _read_options(encoding, date_format, decimal_mark, fx, currency):
    from sim.crm import ReadOptions
    from sim.crm_values import parse_fx

    if currency is not None and not (len(currency) == 3 and currency.isalpha()):
        raise UserError(f"--currency {currency}: expected a three-letter code such as EUR")
    return ReadOptions(
        encoding=encoding,
        date_format=date_format,
        decimal_mark=decimal_mark,
        currency=currency.upper() if currency else None,
        fx=parse_fx(fx),
    )


def _check_output(path: Path, force: bool, standard_output: bool = False) -> None:
    """Before the work: an output file that can be written and is only replaced on request;
    ``-`` (standard output) where the command can print its file (``standard_output``)."""
    from sim.atomic import check_output_file
    from sim.cli_options import command_inputs
    from sim.exports import to_standard_output

    if to_standard_output(path):
        if standard_output:
            return
        raise UserError(f"-o {path}: this command writes files only; give a file name")
    check_output_file(path, force, command_inputs())


#: Shared by fit and backtest (the reader's message on an unknown "Closed ..." names it).
OUTCOME_OPTION = click.option(
    "--outcome",
    "outcomes",
    multiple=True,
    metavar="CRM=won|lost|no_decision",
    help="An outcome spelt in the CRM's language, e.g. 'Выиграна=won'. Repeatable.",
)
#: Shared by fit and backtest: how stage durations are chosen, and how arrivals are weighted.
DURATIONS_OPTION = click.option(
    "--durations",
    type=click.Choice(["auto", "parametric", "empirical"]),
    default="auto",
    show_default=True,
    help="Stage durations: a family, the Kaplan-Meier curve when none follows it (auto), or "
    "one kind always.",
)
HALF_LIFE_OPTION = click.option(
    "--half-life",
    type=FiniteFloat(),
    default=3.0,
    show_default=True,
    help="Months: the weight of a month's arrivals halves every that many months before as-of.",
)


@click.command("fit")
@click.argument("history", type=click.Path(path_type=Path))
@click.option(
    "--as-of",
    "as_of",
    required=True,
    help="Export day (YYYY-MM-DD, or as the file writes dates): open visits are censored there.",
)
@click.option(
    "-o",
    "--output",
    type=OutputPath(path_type=Path),
    required=True,
    help="The file to write: the fitted scenario (.toml).",
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="Name a column (deal_id, stage, entered_at, amount, currency, status).",
)
@click.option(
    "--stage-map",
    "stage_maps",
    multiple=True,
    metavar="CRM=NAME",
    help="Rename a CRM stage (or send it to an outcome, won/lost/no_decision, or to dormant).",
)
@click.option(
    "--horizon",
    type=FiniteFloat(),
    default=365.0,
    show_default=True,
    help="Horizon of the fitted scenario, days.",
)
@OUTCOME_OPTION
@read_options
@DURATIONS_OPTION
@HALF_LIFE_OPTION
@click.option("--no-fidelity", is_flag=True, help="Skip the check against the history itself.")
@click.option("--no-plots", "no_plot", is_flag=True, help="Skip the PNG figures.")
@click.option("--force", is_flag=True, help="Replace an existing output file (and its figure).")
@_user_errors
def fit_command(
    history,
    as_of,
    output,
    maps,
    stage_maps,
    outcomes,
    encoding,
    date_format,
    decimal_mark,
    fx,
    currency,
    horizon,
    durations,
    half_life,
    no_fidelity,
    no_plot,
    force,
):
    """Fit a scenario to a CRM stage HISTORY (CSV) and write it to -o FILE.toml.

    Rows dated after --as-of are left out: the fit sees the history as known on that day.
    """
    from sim.crm import read_history
    from sim.fit import (
        fidelity_picture_path,
        fit_history,
        fit_picture_path,
        fit_report,
        require_currency,
        write_fit,
    )
    from sim.pipeline import parse_mapping

    when = _as_of(as_of, date_format)
    options = _read_options(encoding, date_format, decimal_mark, fx, currency)
    if not 0 < horizon <= MAX_HORIZON_DAYS:  # the bound of the scenario it writes
        raise UserError(
            f"--horizon {horizon}: days, more than 0 and at most {MAX_HORIZON_DAYS:,.0f}"
        )
    if output.suffix.lower() != ".toml":
        raise UserError(f"-o {output}: the fitted scenario is a .toml file")
    _check_output(output, force)
    if not no_plot:
        _check_output(fit_picture_path(output), force)
        if not no_fidelity:  # its figure too: a file of the user's is replaced only on request
            _check_output(fidelity_picture_path(output), force)
    with status("Reading the history"):
        hist = read_history(
            history,
            mapping=parse_mapping(maps),
            stage_map=stage_maps_of(stage_maps, outcomes),
            options=options,
        )
    require_currency(hist, currency)  # before the fit: a run of it would say EUR otherwise
    with status("Fitting"):
        result = fit_history(
            hist,
            when,
            horizon_days=horizon,
            currency=currency,
            durations=durations,
            half_life=half_life,
        )
    check = None
    if not no_fidelity:  # before anything is written: a check that fails leaves no files
        from sim.fidelity import check_fidelity, fidelity_text, plot_fidelity

        with status("Checking the fit against its own history"):
            check = check_fidelity(result)
    with status("Writing the scenario" if no_plot else "Writing the scenario and its figure"):
        toml_path, png = write_fit(result, output, plot=not no_plot, force=force)
    click.echo(fit_report(result, toml_path))
    click.echo("")
    if check is not None:
        click.echo(fidelity_text(check))
        click.echo("")
        if not no_plot:
            with status("Drawing the fidelity figure"):
                png_fidelity = plot_fidelity(check, fidelity_picture_path(output))
            click.echo(f"wrote {png_fidelity}")
    click.echo(f"wrote {toml_path}")
    if png is not None:
        click.echo(f"wrote {png}")


@click.command("export-history")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=OutputPath(path_type=Path),
    required=True,
    help="The file to write (CSV: a name ending in .csv, or no suffix; - for standard output).",
)
@click.option(
    "-r", "--replication", type=int, default=0, show_default=True, help="Which replication."
)
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@_user_errors
def export_history_command(folder, output, replication, force):
    """Write a run's stage history (deal_id, stage, entered_at) from its events.csv."""
    from sim.exports import export_history, history_name

    # A .xlsx name is refused before anything.
    _check_output(history_name(output), force, standard_output=True)
    with status("Exporting the history"):
        path, deals, rows = export_history(folder, output, replication, force=force)
    _tell_written(path, f"replication {replication}: {deals} deals, {rows} rows")


@click.command("export-log")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["xes", "csv"], case_sensitive=False),
    help="xes or csv (default: told by the -o name, .xes or .csv).",
)
@click.option(
    "-o",
    "--output",
    type=OutputPath(path_type=Path),
    required=True,
    help="The file to write: a name ending in .xes or .csv (or no suffix, with --format; - for "
    "standard output, with --format).",
)
@click.option(
    "-r",
    "--replication",
    type=int,
    default=None,
    help="Which replication: one simulated history on one calendar (default: the first, 0).",
)
@click.option(
    "--all-replications",
    is_flag=True,
    help="Every replication of the run (cases r<rep>-d<deal>, calendars overlaid).",
)
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@_user_errors
def export_log_command(folder, fmt, output, replication, all_replications, force):
    """Write a run's event log for process-mining tools (XES or CSV)."""
    from sim.exports import export_log, log_format

    if all_replications and replication is not None:
        raise UserError("--replication and --all-replications: choose one")
    fmt = log_format(output, fmt)  # a name that says another format is refused before anything
    _check_output(output, force, standard_output=True)
    chosen = None if all_replications else (0 if replication is None else replication)
    with status("Exporting the event log"):
        path, cases, events = export_log(folder, output, fmt, chosen, force=force)
    which = "all replications" if chosen is None else f"replication {chosen}"
    _tell_written(path, f"{which}: {cases} cases, {events} events")


def _tell_written(path: Path, counts: str) -> None:
    """What an export wrote; on stderr when the export itself went to standard output."""
    from sim.exports import to_standard_output

    if to_standard_output(path):
        click.echo(f"{counts}, on standard output", err=True)
        return
    click.echo(counts)
    click.echo(f"wrote {path}")


COMMANDS = (fit_command, export_history_command, export_log_command)


def register(group: click.Group) -> None:
    """Add ``fit``, ``export-history`` and ``export-log`` to ``group`` (the ``dealsim`` CLI)."""
    for command in COMMANDS:
        group.add_command(command)
