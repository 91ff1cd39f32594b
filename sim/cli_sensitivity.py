"""``dealsim sensitivity``: which assumption moves the forecast (thin: parse, call, print).

``register(group)`` adds the command to the ``dealsim`` group, whose ``invoke`` turns a
:class:`sim.errors.UserError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from contextlib import closing
from pathlib import Path

import click

from sim.cli_cluster import scheduler_option
from sim.cli_options import FOLDER_HELP, OutputPath, jobs_option, set_option
from sim.cli_report import check_report_path, report_option, write_folder_report
from sim.errors import UserError
from sim.run_cost import FORCE_HELP, force_option
from sim.sensitivity_analysis import (
    DEFAULT_SAMPLES,
    DEFAULT_SOBOL_REPLICATIONS,
    METHODS,
    SENSITIVITY_METRICS,
)
from sim.status import status


@click.command("sensitivity")
@click.argument("scenario")
@click.option(
    "--vary",
    multiple=True,
    required=True,
    metavar="KEY=LOW..HIGH",
    help="A parameter and its range, keys as --set (stages and roles by name), e.g. "
    "budget.funded_share=0.2..0.5. Repeatable.",
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="tornado",
    show_default=True,
    help="tornado: each parameter at its ends, paired intervals; sobol: Sobol indices over "
    "the whole box (SALib), bootstrap intervals.",
)
@click.option(
    "--metric",
    type=click.Choice(list(SENSITIVITY_METRICS)),
    default="bookings",
    show_default=True,
    help="What to explain (per replication; cycle_pXX: percentiles of won cycles).",
)
@click.option(
    "-n",
    "--replications",
    type=int,
    help="Replications per point (default: the scenario's for tornado, at most "
    f"{DEFAULT_SOBOL_REPLICATIONS} for sobol).",
)
@click.option(
    "--samples",
    type=int,
    help=f"sobol: base samples N, a power of 2 (N x (parameters + 2) points; default "
    f"{DEFAULT_SAMPLES}).",
)
@click.option("--seed", type=int, help="Random seed (default: the scenario's).")
@jobs_option
@click.option("-o", "--output", type=OutputPath(path_type=Path), help=FOLDER_HELP)
@click.option("--force", is_flag=True, callback=force_option, help=FORCE_HELP)
@set_option("Change the scenario at every point (as on run). Repeatable.")
@click.option("--no-plots", is_flag=True, help="Skip the figure.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print sensitivity.json, with the results folder, instead of the table.",
)
@scheduler_option
@report_option
def sensitivity_command(
    scenario,
    vary,
    method,
    metric,
    replications,
    samples,
    seed,
    jobs,
    output,
    force,
    sets,
    no_plots,
    as_json,
    scheduler,
    report,
):
    """Which parameters move the forecast most: a tornado or Sobol indices.

    Every point runs SCENARIO with some --vary keys changed, on the same seed (common random
    numbers). Writes sensitivity.json, sensitivity.csv and tornado.png or sobol.png (sobol also
    sobol_points.csv) to the results folder (default results/sensitivity-<scenario>-<method>-
    <time>). Example: dealsim sensitivity equipment --vary budget.funded_share=0.2..0.5
    --vary stages.market.duration.median=40..90
    """
    from sim.cli import _print_json, _Progress
    from sim.cluster import connect
    from sim.results import check_output_dir, input_files
    from sim.sensitivity_analysis import plan_sensitivity, run_plan, sensitivity_folder

    check_report_path(report, force)
    if samples is not None and method != "sobol":  # it would be ignored without a word
        raise UserError(
            f"--samples goes with --method sobol (a {method} runs each --vary at its ends)"
        )
    samples = DEFAULT_SAMPLES if samples is None else samples
    with connect(scheduler) as executor:  # first: a design's duration is told for its workers
        plan = plan_sensitivity(
            scenario,
            list(vary),
            method,
            metric,
            replications,
            seed,
            samples,
            sets,
            jobs=jobs,
            executor=executor,
        )
        folder = output
        if folder is not None:
            check_output_dir(folder, force, inputs=input_files(plan.path))
        command = ["dealsim", *sys.argv[1:]]
        label = f"{method.capitalize()} on {len(plan.points)} points"
        with closing(_Progress(plan.total_replications, label)) as progress:
            result = run_plan(
                plan, jobs=jobs, progress=progress, executor=executor, command=command
            )
    folder = folder if folder is not None else sensitivity_folder(result)
    with status("Writing the files and figures"):
        written = result.write(folder, force=force, plots=not no_plots, command=command)
    if as_json:
        _print_json(result.to_dict(), written)
        for warning in result.warnings:
            click.echo(f"Warning: {warning}", err=True)
    else:
        click.echo(result.table(written))
    write_folder_report(written, report, err=as_json)


def register(group: click.Group) -> None:
    """Add ``sensitivity`` to a click group (``sim.cli.cli``)."""
    group.add_command(sensitivity_command)
