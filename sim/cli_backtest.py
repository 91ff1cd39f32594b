"""CLI command ``dealsim backtest``: parse, call :mod:`sim.backtest`, write, print."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from sim.cli_data import (
    DURATIONS_OPTION,
    HALF_LIFE_OPTION,
    OUTCOME_OPTION,
    _as_of,
    _read_options,
    _user_errors,
    read_options,
    stage_maps_of,
)
from sim.cli_options import FOLDER_HELP, OutputPath, jobs_option
from sim.cli_report import check_report_path, report_option, write_folder_report
from sim.errors import UserError
from sim.runner import default_jobs
from sim.scenario_bounds import MAX_DAYS
from sim.status import status

#: The longest --months-ahead: a century, the longest horizon a scenario allows.
MAX_MONTHS_AHEAD = round(MAX_DAYS / 365.25 * 12)


def _dates(
    values: tuple[str, ...], option: str = "--as-of", date_format: str | None = None
) -> list[dt.date]:
    """``--as-of 2017-03-31 --as-of 2017-06-30`` or ``--as-of 2017-03-31,2017-06-30``."""
    out = []
    for text in values:
        for part in text.split(","):
            if not part.strip():
                raise UserError(f"{option} {text}: an empty date (between commas, or none)")
            when = _as_of(part, date_format, option)
            day = when.date() if isinstance(when, dt.datetime) else when
            if day in out:  # a cut-off twice would be scored twice in the pooled figures
                raise UserError(f"{option}: {day} given twice")
            out.append(day)
    return out


def _one_date(text: str | None, option: str, date_format: str | None = None) -> dt.date | None:
    if text is None:
        return None
    if not text.strip():
        raise UserError(f"{option}: a date is needed (YYYY-MM-DD)")
    dates = _dates((text,), option, date_format)
    if len(dates) > 1:
        raise UserError(f"{option} {text}: one date, not {len(dates)}")
    return dates[0]


def cutoffs_from(as_of, every, first, last, date_format=None) -> list[dt.date]:
    """The cut-offs the options name: the listed ones, and with ``--every month`` every month
    end from --from to --to besides (a day both name is one cut-off)."""
    from sim.backtest import month_ends

    listed = _dates(as_of, date_format=date_format)
    if every is None:
        if first is not None or last is not None:
            raise UserError("--from and --to go with --every month")
        return listed
    if first is None or last is None:
        raise UserError("--every month needs --from DATE and --to DATE")
    if last < first:
        raise UserError(f"--to {last} is before --from {first}")
    return sorted({*listed, *month_ends(first, last)})


@click.command("backtest")
@click.argument("history", type=click.Path(path_type=Path))
@click.option(
    "--as-of",
    "as_of",
    multiple=True,
    metavar="DATE[,DATE...]",
    help="Cut-off day(s); with --every month, cut-offs besides its month ends.",
)
@click.option("--every", type=click.Choice(["month"]), help="Rolling cut-offs: every month end")
@click.option("--from", "first", metavar="DATE", help="... from this month (with --every).")
@click.option("--to", "last", metavar="DATE", help="... to this day (with --every).")
@click.option("--until", required=True, metavar="DATE", help="Last day forecast and scored.")
@click.option(
    "--months-ahead",
    type=int,
    help="End each forecast this many month ends after its cut-off (and by --until).",
)
@click.option(
    "--scenario",
    metavar="SCENARIO",
    help="Backtest this scenario (a bundled name or a TOML file, with [crm.stage_map]) instead "
    "of fitting at each cut-off.",
)
@click.option("--map", "maps", multiple=True, metavar="COLUMN=FIELD", help="Name a column.")
@click.option(
    "--stage-map", "stage_maps", multiple=True, metavar="CRM=NAME", help="Rename a stage."
)
@OUTCOME_OPTION
@read_options
@click.option("-n", "--replications", type=int, default=200, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@jobs_option
@click.option("-o", "--output", type=OutputPath(path_type=Path), help=FOLDER_HELP)
@click.option("--force", is_flag=True, help="Replace a non-empty results folder.")
@click.option(
    "--no-parameter-uncertainty",
    is_flag=True,
    help="Every replication on the point values (the forecast as if the fit were certain).",
)
@DURATIONS_OPTION
@HALF_LIFE_OPTION
@click.option("--fidelity", is_flag=True, help="Also check each fit against its own history.")
@click.option("--no-plots", is_flag=True, help="Skip the figures.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print backtest.json, with the results folder, instead of the table.",
)
@report_option
@_user_errors
def backtest_command(
    history,
    as_of,
    every,
    first,
    last,
    until,
    months_ahead,
    scenario,
    maps,
    stage_maps,
    outcomes,
    encoding,
    date_format,
    decimal_mark,
    fx,
    currency,
    replications,
    seed,
    jobs,
    output,
    force,
    no_parameter_uncertainty,
    durations,
    half_life,
    fidelity,
    no_plots,
    as_json,
    report,
):
    """Forecast from past cut-offs of a stage HISTORY and score against what happened.

    Each cut-off uses only what was known then: the history up to it is fitted (or --scenario
    is used), the deals open then are the pipeline with their age in stage, and the forecast
    runs to --until. Writes backtest.json, backtest.csv and figures (default folder
    results/backtest-<history>-<time>).
    """
    from sim.backtest import BacktestOptions, run_backtest
    from sim.backtest_report import table, to_dict, write
    from sim.cli import _Progress
    from sim.crm import read_history
    from sim.overrides import resolve_scenario
    from sim.pipeline import parse_mapping
    from sim.results import check_output_dir, default_output_dir, input_files
    from sim.stage_keys import name_slug

    check_report_path(report, force)
    end = _one_date(until, "--until", date_format)
    first, last = _one_date(first, "--from", date_format), _one_date(last, "--to", date_format)
    cutoffs = cutoffs_from(as_of, every, first, last, date_format)
    reading = _read_options(encoding, date_format, decimal_mark, fx, currency)
    if months_ahead is not None and not 1 <= months_ahead <= MAX_MONTHS_AHEAD:
        raise UserError(
            f"--months-ahead {months_ahead}: outside 1..{MAX_MONTHS_AHEAD} (a century of months, "
            "the longest horizon a scenario allows)"
        )
    if not 2 <= replications <= 100_000:
        raise UserError(f"--replications {replications}: outside 2..100000")
    if jobs is None:  # cut-offs in parallel, one per core
        jobs = default_jobs()
    folder = output or default_output_dir(f"backtest-{name_slug(Path(history).stem, 'history')}")
    check_output_dir(folder, force, inputs=input_files(history, scenario))
    hist = read_history(
        history,
        mapping=parse_mapping(maps),
        stage_map=stage_maps_of(stage_maps, outcomes),
        options=reading,
    )
    planned = resolve_scenario(scenario)[0] if scenario is not None else None
    if planned is not None and hist.currency and planned.currency != hist.currency:
        raise UserError(
            f"--scenario {scenario} counts money in {planned.currency}, but {history}'s amounts "
            f"are in {hist.currency}: its won value would be scored against the history's in "
            "another currency (dealsim converts none); set the scenario's currency"
        )
    options = BacktestOptions(
        until=end,
        replications=replications,
        seed=seed,
        parameter_uncertainty=not no_parameter_uncertainty,
        durations=durations,
        half_life=half_life,
        scenario=planned,
        fidelity=fidelity,
        months_ahead=months_ahead,
    )
    progress = _Progress(len(cutoffs), "Backtesting")
    try:
        bt = run_backtest(hist, cutoffs, options, jobs=jobs, progress=progress)
    finally:
        progress.close()
    with status("Writing the scores and figures"):
        write(bt, folder, force=force, plots=not no_plots, command=["dealsim", *sys.argv[1:]])
    if as_json:
        click.echo(json.dumps({"results_folder": str(folder), **to_dict(bt)}, indent=2))
    else:
        click.echo(table(bt, folder))
    write_folder_report(folder, report, err=as_json)


def register(group: click.Group) -> None:
    """Add ``backtest`` to ``group`` (the ``dealsim`` CLI)."""
    group.add_command(backtest_command)
