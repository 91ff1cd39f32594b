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

from sim.errors import UserError


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


def _as_of(text: str) -> dt.date | dt.datetime:
    try:
        if "T" in text or " " in text.strip():
            return dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00")).replace(
                tzinfo=None
            )
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UserError(
            f"--as-of {text}: not a date (YYYY-MM-DD, or YYYY-MM-DDTHH:MM for an instant)"
        ) from None


def _refuse_existing(path: Path, force: bool) -> None:
    """Like a results folder, an output file is only replaced on request."""
    if path.exists() and not force:
        raise UserError(f"{path}: already exists (use --force to replace it)")


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
    type=float,
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
    help="Export day (YYYY-MM-DD): open visits are censored there.",
)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), required=True, help="Scenario TOML to write."
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="Name a column (deal_id, stage, entered_at, amount).",
)
@click.option(
    "--stage-map",
    "stage_maps",
    multiple=True,
    metavar="CRM=NAME",
    help="Rename a CRM stage (or map it to won/lost/no_decision/dormant).",
)
@click.option(
    "--horizon",
    type=float,
    default=365.0,
    show_default=True,
    help="Horizon of the fitted scenario, days.",
)
@click.option(
    "--currency",
    help="Currency of the amounts (three letters), when the history does not say.",
)
@DURATIONS_OPTION
@HALF_LIFE_OPTION
@click.option("--no-fidelity", is_flag=True, help="Skip the check against the history itself.")
@click.option("--no-plot", is_flag=True, help="Skip the figures.")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@_user_errors
def fit_command(
    history,
    as_of,
    output,
    maps,
    stage_maps,
    horizon,
    currency,
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
    from sim.fit import fit_history, fit_report, write_fit

    when = _as_of(as_of)
    if not horizon > 0:
        raise UserError(f"--horizon {horizon}: must be > 0")
    if output.suffix.lower() != ".toml":
        raise UserError(f"-o {output}: the fitted scenario is a .toml file")
    _refuse_existing(output, force)
    hist = read_history(
        history, mapping=_pairs(maps, "--map"), stage_map=_pairs(stage_maps, "--stage-map")
    )
    result = fit_history(
        hist,
        when,
        horizon_days=horizon,
        currency=currency,
        durations=durations,
        half_life=half_life,
    )
    toml_path, png = write_fit(result, output, plot=not no_plot)
    click.echo(fit_report(result))
    click.echo("")
    if not no_fidelity:
        from sim.fidelity import check_fidelity, fidelity_text, plot_fidelity

        check = check_fidelity(result)
        click.echo(fidelity_text(check))
        click.echo("")
        if not no_plot:
            png_fidelity = plot_fidelity(check, output.with_name(f"{output.stem}-fidelity.png"))
            click.echo(f"wrote {png_fidelity}")
    click.echo(f"wrote {toml_path}")
    if png is not None:
        click.echo(f"wrote {png}")


@click.command("export-history")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), required=True, help="CSV to write."
)
@click.option(
    "-r", "--replication", type=int, default=0, show_default=True, help="Which replication."
)
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@_user_errors
def export_history_command(folder, output, replication, force):
    """Write a run's stage history (deal_id, stage, entered_at) from its events.csv."""
    from sim.exports import export_history

    _refuse_existing(output, force)
    path, deals, rows = export_history(folder, output, replication)
    click.echo(f"replication {replication}: {deals} deals, {rows} rows")
    click.echo(f"wrote {path}")


@click.command("export-log")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["xes", "csv"], case_sensitive=False), required=True
)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), required=True, help="File to write."
)
@click.option(
    "-r", "--replication", type=int, default=None, help="Only this replication (default: all)."
)
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@_user_errors
def export_log_command(folder, fmt, output, replication, force):
    """Write a run's event log for process-mining tools (XES or CSV)."""
    from sim.exports import export_log

    _refuse_existing(output, force)
    path, cases, events = export_log(folder, output, fmt, replication)
    click.echo(f"{cases} cases, {events} events")
    click.echo(f"wrote {path}")


COMMANDS = (fit_command, export_history_command, export_log_command)


def register(group: click.Group) -> None:
    """Add ``fit``, ``export-history`` and ``export-log`` to ``group`` (the ``dealsim`` CLI)."""
    for command in COMMANDS:
        group.add_command(command)
