"""The ``dealsim`` command line: parse, call the API, print. No simulation logic lives here.

Exit codes: 0 done, 2 the user's input is wrong (one clear message, no traceback), 1 a bug.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from contextlib import closing
from pathlib import Path

import click

from sim import __version__
from sim.cli_cluster import scheduler_option
from sim.errors import UserError


class _Group(click.Group):
    """Turns every UserError into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dealsim")
def cli() -> None:
    """Monte Carlo simulator of long-cycle B2B deals."""


class _Progress:
    """A progress bar on stderr, shown only once a run has lasted more than a moment."""

    def __init__(self, total: int, label: str, delay: float = 0.7):
        self.total, self.label, self.delay = total, label, delay
        self.started = time.monotonic()
        self.bar = None
        self.shown = 0

    def __call__(self, done: int) -> None:
        if self.bar is None:
            if time.monotonic() - self.started < self.delay or done >= self.total:
                return
            self.bar = click.progressbar(length=self.total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


_SET_HELP = (
    "Change the scenario: a dotted KEY=VALUE, e.g. stages.need.duration.median=90 or "
    "budget.funded_share=0.2 (stages and roles by name; VALUE as TOML). Repeatable."
)


def _set_option(help_text: str = _SET_HELP):
    return click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help=help_text)


def _common_run_options(func):
    """-n, --seed, -j, -o, --force: the same meaning on run, compare and sweep."""
    for option in reversed(
        [
            click.option(
                "-n", "--replications", type=int, help="Replications (default: the scenario's)."
            ),
            click.option("--seed", type=int, help="Random seed (default: the scenario's)."),
            click.option("-j", "--jobs", type=int, help="Worker processes (default: all cores)."),
            click.option("-o", "--output", type=click.Path(path_type=Path), help="Results folder."),
            click.option("--force", is_flag=True, help="Replace a non-empty results folder."),
        ]
    ):
        func = option(func)
    return func


def _pipeline_options(func):
    """--pipeline, --as-of, --map: start from today's open deals in a CRM export."""
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
                type=click.DateTime(formats=["%Y-%m-%d"]),
                help="The export's day, YYYY-MM-DD: day 0 (default: the scenario's start_date).",
            ),
            click.option(
                "--map",
                "column_map",
                multiple=True,
                metavar="COLUMN=FIELD",
                help="Read a column as a field (deal_id, stage, amount, created, "
                "stage_entered) for exports of no known style. Repeatable.",
            ),
        ]
    ):
        func = option(func)
    return func


def _pipeline_source(pipeline, as_of, column_map):
    """The PipelineSource the options describe, or None without --pipeline."""
    from sim.errors import UserError
    from sim.pipeline import PipelineSource, parse_mapping

    if pipeline is None:
        if as_of is not None or column_map:
            raise UserError("--as-of and --map need --pipeline FILE")
        return None
    return PipelineSource(
        Path(pipeline), as_of.date() if as_of is not None else None, parse_mapping(column_map)
    )


def _run_arms(
    arms, folder, force, replications, seed, jobs, source, label, scheduler=None
) -> tuple[int, int]:
    """Check the output folder, then run every arm of a compare or sweep with a progress bar.

    Returns the (replications, seed) actually used.
    """
    from sim.cluster import connect
    from sim.comparison import run_arms
    from sim.results import check_output_dir

    check_output_dir(folder, force)
    per_run = replications if replications is not None else arms[0].scenario.replications
    with connect(scheduler) as executor:
        progress = _Progress(per_run * len(arms), label)
        try:
            return run_arms(
                arms,
                replications=replications,
                seed=seed,
                jobs=jobs,
                progress=progress,
                command=["dealsim", *sys.argv[1:]],
                pipeline=source,
                executor=executor,
            )
        finally:
            progress.close()


def _write_and_show(result, folder: Path, force: bool, no_plots: bool, as_json: bool) -> None:
    """Write a comparison's or a sweep's files, then print its JSON or its table."""
    written = result.write(
        folder, force=force, plots=not no_plots, command=["dealsim", *sys.argv[1:]]
    )
    if as_json:
        _print_json(result.to_dict())
    else:
        click.echo(result.table(written))


def _print_json(data: dict) -> None:
    from sim.aggregate import clean_for_json
    from sim.comparison import jsonable

    click.echo(json.dumps(clean_for_json(jsonable(data)), indent=2))


@cli.command("run")
@click.argument("scenario", required=False)
@_common_run_options
@_set_option()
@click.option("--events", is_flag=True, help="Also write every event to events.csv.")
@click.option("--no-plots", is_flag=True, help="Skip the PNG figures.")
@click.option("--target", type=float, help="Bookings target: chance of reaching it by quarter.")
@click.option("--json", "as_json", is_flag=True, help="Print summary.json instead of the table.")
@_pipeline_options
@scheduler_option
def run_command(
    scenario,
    replications,
    seed,
    jobs,
    output,
    force,
    sets,
    events,
    no_plots,
    target,
    as_json,
    pipeline,
    as_of,
    column_map,
    scheduler,
):
    """Run SCENARIO (a bundled name or a TOML file; default: equipment)."""
    from sim.api import simulate
    from sim.cluster import connect
    from sim.overrides import parse_sets, resolve_scenario
    from sim.report import run_summary

    loaded, _ = resolve_scenario(scenario, parse_sets(sets))
    source = _pipeline_source(pipeline, as_of, column_map)
    total = replications if replications is not None else loaded.replications
    progress = _Progress(total, f"Simulating {loaded.name}")
    with connect(scheduler) as executor, closing(progress):
        result = simulate(
            loaded,
            replications=replications,
            seed=seed,
            jobs=jobs,
            output=output,
            force=force,
            events=events,
            plots=not no_plots,
            target=target,
            progress=progress,
            command=["dealsim", *sys.argv[1:]],
            pipeline=source,
            executor=executor,
        )
    imported = result.manifest.get("pipeline")
    if imported:
        click.echo(
            f"Day-0 pipeline: {imported['open_deals']} open deals from {imported['source']} "
            f"as of {imported['as_of']} ({imported['closed_deals_skipped']} closed deals skipped)",
            err=True,
        )
    if as_json:
        _print_json(result.summary)
    else:
        from sim.explain import explain_text

        click.echo(run_summary(result.summary, result.folder))
        click.echo("")
        click.echo(explain_text(result.summary))


@cli.command("compare")
@click.argument("scenarios", nargs=-1, required=True)
@_common_run_options
@_set_option(
    "Change the scenarios (dotted KEY=VALUE, as on run). With ONE scenario, it is compared "
    "with its changed self; with several, the change applies to each. Repeatable."
)
@click.option("--no-plots", is_flag=True, help="Skip the overlay plot.")
@click.option("--json", "as_json", is_flag=True, help="Print comparison.json instead of the table.")
@_pipeline_options
@scheduler_option
def compare_command(
    scenarios,
    replications,
    seed,
    jobs,
    output,
    force,
    sets,
    no_plots,
    as_json,
    pipeline,
    as_of,
    column_map,
    scheduler,
):
    """Compare SCENARIOS on common random numbers: A B [C...], or A --set KEY=VALUE.

    Every scenario runs with the same seed and replications; each metric's paired difference
    to the first scenario gets a 95% confidence interval. Writes comparison.json and
    compare_bookings.png to the results folder (default results/compare-<names>-<time>).
    """
    from sim.comparison import Comparison, compare_folder, prepare_arms
    from sim.overrides import parse_sets

    arms = prepare_arms(list(scenarios), parse_sets(sets))
    folder = output if output is not None else compare_folder(arms)
    source = _pipeline_source(pipeline, as_of, column_map)
    label = f"Comparing {len(arms)} scenarios"
    replications, seed = _run_arms(
        arms, folder, force, replications, seed, jobs, source, label, scheduler
    )
    _write_and_show(Comparison(arms, replications, seed), folder, force, no_plots, as_json)


@cli.command("sweep")
@click.argument("scenario")
@_common_run_options
@_set_option(
    "KEY=V1,V2,... : the parameter to sweep (one run per value); other --set KEY=VALUE "
    "options (one value) apply to every run. Repeatable."
)
@click.option("--no-plots", is_flag=True, help="Skip sweep.png.")
@click.option("--json", "as_json", is_flag=True, help="Print sweep.json instead of the table.")
@_pipeline_options
@scheduler_option
def sweep_command(
    scenario,
    replications,
    seed,
    jobs,
    output,
    force,
    sets,
    no_plots,
    as_json,
    pipeline,
    as_of,
    column_map,
    scheduler,
):
    """Run SCENARIO once per value of a parameter, on common random numbers.

    Example: dealsim sweep equipment --set budget.funded_share=0.2,0.35,0.5. Writes sweep.json,
    sweep.csv and sweep.png (default folder results/sweep-<scenario>-<key>-<time>).
    """
    from sim.sweeps import Sweep, parse_sweep_options, prepare_sweep, sweep_folder

    parameter, values, labels, others = parse_sweep_options(sets)
    arms = prepare_sweep(scenario, parameter, values, labels, others)
    folder = output if output is not None else sweep_folder(arms, parameter)
    source = _pipeline_source(pipeline, as_of, column_map)
    replications, seed = _run_arms(
        arms, folder, force, replications, seed, jobs, source, f"Sweeping {parameter}", scheduler
    )
    result = Sweep(parameter, arms, values, labels, others, replications, seed)
    _write_and_show(result, folder, force, no_plots, as_json)


@cli.command()
@click.argument("scenario", required=False)
def validate(scenario):
    """Check SCENARIO and print OK, or every problem found."""
    from sim.scenario import find_scenario, load_scenario

    loaded = load_scenario(scenario)
    click.echo(f"OK {find_scenario(scenario)}: {loaded.name}, {len(loaded.stages)} stages")


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path))
def plot(folder):
    """Redraw the figures of a results FOLDER from its summary.json."""
    from sim.plots import draw_all
    from sim.results import read_summary

    summary = read_summary(folder)
    for path in draw_all(summary, folder):
        click.echo(f"wrote {path}")


@cli.command()
def schema():
    """Print the JSON Schema of scenario files (for editors)."""
    from sim.scenario import scenario_json_schema

    click.echo(json.dumps(scenario_json_schema(), indent=2))


@cli.command()
def scenarios():
    """List the bundled scenarios."""
    from sim.scenario import bundled_scenarios

    found = bundled_scenarios()
    width = max((len(name) for name, _, _ in found), default=0)
    for name, description, _ in found:
        click.echo(f"{name:<{width}}  {description}")


def _register_plugins() -> None:
    """Commands that live in their own modules: data in and out, and the trainer's tools."""
    from sim.cli_data import register as register_data
    from sim.cli_sensitivity import register as register_sensitivity
    from sim.cli_trainer import register as register_trainer

    register_data(cli)
    register_trainer(cli)
    register_sensitivity(cli)


_register_plugins()


def _stop_on_sigterm() -> None:
    """Let SIGTERM (a scheduler, `kill`) stop a run like Ctrl-C: the half-written results
    folder is removed and the worker processes are shut down, instead of the process vanishing
    and leaving both behind."""

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (testable without a subprocess)."""
    try:
        # With standalone_mode=False, click returns the code given to ctx.exit() (click >= 8.2).
        code = cli.main(args=argv, prog_name="dealsim", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except UserError as exc:
        click.echo(f"Error: {exc}", err=True)
        return 2
    return code if isinstance(code, int) else 0


def entry() -> None:
    """Console-script entry point."""
    _stop_on_sigterm()
    sys.exit(main())
