"""The ``dealsim`` command line: parse, call the API, print. No simulation logic lives here.

Exit codes: 0 done, 2 the user's input is wrong (one clear message, no traceback), 1 a bug.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import warnings
from contextlib import closing
from pathlib import Path

import click

from sim import __version__
from sim.cli_cluster import scheduler_option
from sim.cli_options import (
    FOLDER_HELP,
    FiniteFloat,
    OutputPath,
    arms_engine_line,
    echo_day0_pipeline,
    engine_line,
    engine_option,
    jobs_option,
    refuse_other_kinds,
)
from sim.cli_options import pipeline_options as _pipeline_options
from sim.cli_options import set_option as _set_option
from sim.cli_report import check_report_path, report_option, write_folder_report
from sim.cli_verbosity import verbosity_params
from sim.errors import Interrupted, UserError
from sim.plural import counted
from sim.run_cost import FORCE_HELP, force_option
from sim.status import NORMAL, quiet, set_level, status


class _ReaderGone(Exception):
    """Standard output's reader closed the pipe (``dealsim ... | head``)."""


class _Group(click.Group):
    """Turns every UserError into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)
        except BrokenPipeError:  # not an OSError past here: click would make it exit 1
            raise _ReaderGone() from None


#: The commands that only read and print: an interruption of one of them loses no files.
WRITES_NOTHING = frozenset({"explain", "scenarios", "schema", "validate", "weighted"})
#: The command of this invocation, for the message of an interruption (which comes once the
#: click context is gone).
_command: str | None = None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dealsim")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Monte Carlo simulator of long-cycle B2B deals."""
    global _command
    _command = ctx.invoked_subcommand
    set_level(NORMAL)  # each invocation starts at the normal level (tests run many in one process)


class _Progress:
    """A progress bar on stderr, shown only once a run has lasted more than a moment."""

    def __init__(self, total: int, label: str, delay: float = 0.7):
        self.total, self.label, self.delay = total, label, delay
        self.started = time.monotonic()
        self.bar = None
        self.shown = 0

    def __call__(self, done: int) -> None:
        if self.bar is None:
            if quiet():
                return
            if time.monotonic() - self.started < self.delay or done >= self.total:
                return
            self.bar = click.progressbar(length=self.total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _common_run_options(func):
    """-n, --seed, -j, -o, --force: the same meaning on run, compare and sweep."""
    for option in reversed(
        [
            click.option(
                "-n", "--replications", type=int, help="Replications (default: the scenario's)."
            ),
            click.option("--seed", type=int, help="Random seed (default: the scenario's)."),
            jobs_option,
            click.option("-o", "--output", type=OutputPath(path_type=Path), help=FOLDER_HELP),
            click.option("--force", is_flag=True, callback=force_option, help=FORCE_HELP),
        ]
    ):
        func = option(func)
    return func


def _run_arms(
    arms,
    folder,
    force,
    unique,
    replications,
    seed,
    jobs,
    source,
    label,
    engine,
    scheduler=None,
    swept=None,
) -> tuple[int, int]:
    """Check the output folder, then run every arm of a compare or sweep (of the key ``swept``)
    with a progress bar.

    ``unique``: ``folder`` is a default name; one taken is not an error (the next free one is
    used when writing). Otherwise a non-empty folder needs ``force``.

    Returns the (replications, seed) actually used.
    """
    from sim.cluster import connect
    from sim.comparison import run_arms
    from sim.results import check_output_dir, input_files

    inputs = input_files(*(arm.path for arm in arms), source)
    check_output_dir(folder, force, unique, inputs)
    per_run = replications if replications is not None else arms[0].scenario.replications
    with connect(scheduler) as executor, closing(_Progress(per_run * len(arms), label)) as bar:
        return run_arms(
            arms,
            replications=replications,
            seed=seed,
            jobs=jobs,
            progress=bar,
            command=["dealsim", *sys.argv[1:]],
            pipeline=source,
            engine=engine,
            executor=executor,
            swept=swept,
        )


def _arms_what_if(sets: dict, source, arms) -> dict | None:
    """The what-if label of a compare or sweep: its --set options other than the swept one (for
    one scenario compared with its changed self, the change itself) and the --pipeline export."""
    from sim.whatif import what_if

    if source is None:
        return what_if(sets)
    return what_if(sets, source.path, source.as_of or arms[0].scenario.start_date)


def _write_and_show(
    result,
    folder: Path,
    force: bool,
    no_plots: bool,
    as_json: bool,
    unique: bool,
    report: str | None = None,
) -> None:
    """Write a comparison's or a sweep's files, then print its JSON or its table.

    ``unique``: ``folder`` is a default name, replaced by the next free one if it is taken.
    """
    with status("Writing the files" if no_plots else "Writing the files and figures"):
        written = result.write(
            folder,
            force=force,
            plots=not no_plots,
            command=["dealsim", *sys.argv[1:]],
            unique=unique,
        )
    if as_json:
        _print_json(result.to_dict(), written)
    else:
        _echo_what_if(result.what_if)
        click.echo(result.table(written))
        click.echo(arms_engine_line([(arm.label, arm.result.manifest) for arm in result.arms]))
    write_folder_report(written, report, err=as_json)


def _echo_what_if(info: dict | None) -> None:
    """The terminal header's first line for a what-if: never mistaken for the base case."""
    if info:
        click.echo(f"WHAT-IF, not the base case: {info['label']}")


def _print_json(data: dict, folder: Path) -> None:
    """The command's JSON on stdout, with the results folder it wrote first (the files
    themselves do not name their folder)."""
    data = {"results_folder": str(folder), **data}
    from sim.aggregate import clean_for_json
    from sim.comparison import jsonable

    click.echo(json.dumps(clean_for_json(jsonable(data)), indent=2))


@cli.command("run")
@click.argument("scenario", required=False)
@_common_run_options
@_set_option()
@click.option("--events", is_flag=True, help="Also write every event to events.csv.")
@click.option(
    "--deals",
    "deals",
    type=click.Choice(["csv", "none"]),
    default="csv",
    show_default=True,
    help="deals.csv, one row per deal and replication; none: leave it out (big runs that "
    "only need the summary).",
)
@click.option("--no-plots", is_flag=True, help="Skip the PNG figures.")
@click.option(
    "--target", type=FiniteFloat(), help="Bookings target: chance of reaching it by quarter."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print summary.json, with the results folder, instead of the table.",
)
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Last day simulated, YYYY-MM-DD (instead of the scenario's horizon_days).",
)
@click.option(
    "--no-parameter-uncertainty",
    is_flag=True,
    help="Every replication on the scenario's values, ignoring its [uncertainty].",
)
@_pipeline_options
@engine_option
@report_option
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
    deals,
    no_plots,
    target,
    as_json,
    until,
    no_parameter_uncertainty,
    pipeline,
    engine,
    report,
    scheduler,
):
    """Run SCENARIO (a bundled name or a TOML file; default: equipment)."""
    from sim.api import simulate
    from sim.overrides import parse_sets, resolve_scenario
    from sim.report import run_summary
    from sim.results import check_output_dir, input_files

    check_report_path(report, force)
    changes = parse_sets(sets)
    loaded, path = resolve_scenario(scenario, changes)
    if output is not None:
        check_output_dir(output, force, inputs=input_files(path, pipeline))
    total = replications if replications is not None else loaded.replications
    from sim.cluster import connect
    from sim.scenario import unreachable_stage_notes
    from sim.status import note

    if pipeline is None:  # an export may put deals anywhere
        for text in unreachable_stage_notes(loaded):
            note(text)
    progress = _Progress(total, f"Simulating {loaded.name}")
    with connect(scheduler) as executor, closing(progress):
        result = simulate(
            scenario,  # simulate applies the changes again, and labels the run a what-if
            sets=changes,
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
            pipeline=pipeline,
            engine=engine,
            deals=deals,
            until=until.date() if until is not None else None,
            parameter_uncertainty=False if no_parameter_uncertainty else None,
            executor=executor,
        )
    echo_day0_pipeline(result.manifest.get("pipeline"))
    if not result.summary["deals"]["total"]:
        from sim.status import note

        # The shares below would read as 0% won, 0% lost... of deals that never were.
        note(
            "no replication had a single deal (no day-0 pipeline, and arrivals too rare to "
            "bring one within the horizon): every share and amount below is of no deals"
        )
    if as_json:
        _print_json(result.summary, result.folder)
    else:
        from sim.explain import explain_text
        from sim.report import stall_table_wanted

        _echo_what_if(result.summary.get("what_if"))
        click.echo(run_summary(result.summary, result.folder))
        click.echo(engine_line(result.manifest))
        if stall_table_wanted(result.scenario):
            click.echo("")
            click.echo(explain_text(result.summary))
    write_folder_report(result.folder, report, err=as_json)


@cli.command("compare")
@click.argument("scenarios", nargs=-1, required=True)
@_common_run_options
@_set_option(
    "Change the scenarios (dotted KEY=VALUE, as on run). With ONE scenario, it is compared "
    "with its changed self; with several, the change applies to each. Repeatable."
)
@click.option("--no-plots", is_flag=True, help="Skip the overlay plot.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print comparison.json, with the results folder, instead of the table.",
)
@_pipeline_options
@engine_option
@report_option
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
    engine,
    report,
    scheduler,
):
    """Compare SCENARIOS on common random numbers: A B [C...], or A --set KEY=VALUE.

    Every scenario runs with the same seed and replications; each metric's paired difference
    to the first scenario gets a 95% confidence interval. Writes comparison.json and
    compare_bookings.png to the results folder (default results/compare-<names>-<time>, with
    a whatif-... part when --set or --pipeline change every scenario or the only one).
    """
    from sim.comparison import LEVEL, Comparison, compare_folder, prepare_arms
    from sim.overrides import parse_sets

    check_report_path(report, force)
    changes = parse_sets(sets)
    starts_on = pipeline.as_of if pipeline is not None else None  # --as-of: every arm's day 0
    arms = prepare_arms(list(scenarios), changes, starts_on)
    label = _arms_what_if(changes, pipeline, arms)
    folder = output if output is not None else compare_folder(arms, label)
    replications, seed = _run_arms(
        arms,
        folder,
        force,
        output is None,
        replications,
        seed,
        jobs,
        pipeline,
        f"Comparing {len(arms)} scenarios",
        engine,
        scheduler,
    )
    result = Comparison(arms, replications, seed, LEVEL, label)
    _write_and_show(result, folder, force, no_plots, as_json, output is None, report)


@cli.command("sweep")
@click.argument("scenario")
@_common_run_options
@_set_option(
    "KEY=V1,V2,... : the parameter to sweep (one run per value); other --set KEY=VALUE "
    "options (one value) apply to every run. Repeatable."
)
@click.option("--no-plots", is_flag=True, help="Skip sweep.png.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print sweep.json, with the results folder, instead of the table.",
)
@_pipeline_options
@engine_option
@report_option
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
    engine,
    report,
    scheduler,
):
    """Run SCENARIO once per value of a parameter, on common random numbers.

    Example: dealsim sweep equipment --set budget.funded_share=0.2,0.35,0.5. Writes sweep.json,
    sweep.csv and sweep.png (default folder results/sweep-<scenario>-<key>-<time>, with a
    whatif-... part for other --set options or --pipeline).
    """
    from sim.comparison import LEVEL
    from sim.sweeps import Sweep, parse_sweep_options, prepare_sweep, sweep_folder

    check_report_path(report, force)
    parameter, values, labels, others = parse_sweep_options(sets)
    arms = prepare_sweep(scenario, parameter, values, labels, others)
    label = _arms_what_if(others, pipeline, arms)
    folder = output if output is not None else sweep_folder(arms, parameter, label)
    replications, seed = _run_arms(
        arms,
        folder,
        force,
        output is None,
        replications,
        seed,
        jobs,
        pipeline,
        f"Sweeping {parameter}",
        engine,
        scheduler,
        swept=parameter,
    )
    result = Sweep(parameter, arms, values, labels, others, replications, seed, LEVEL, label)
    _write_and_show(result, folder, force, no_plots, as_json, output is None, report)


@cli.command()
@click.argument("scenario", required=False)
def validate(scenario):
    """Check SCENARIO and print OK, or every problem found."""
    from sim.scenario import find_scenario, load_scenario, shown_path, unreachable_stage_notes
    from sim.status import note

    loaded = load_scenario(scenario)
    where = shown_path(find_scenario(scenario))
    click.echo(f"OK {where}: {loaded.name}, {counted(len(loaded.stages), 'stage')}")
    for text in unreachable_stage_notes(loaded):
        note(text)


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path))
def plot(folder):
    """Redraw the figures of a run folder FOLDER from its summary.json."""
    from sim.atomic import replacing_files_in
    from sim.plots import draw_all
    from sim.results import read_summary

    refuse_other_kinds(folder, "plot redraws the figures of")
    summary = read_summary(folder)
    # Drawn aside, then renamed over the old figures: a symbolic link planted under a figure's
    # name is replaced, never written through.
    with replacing_files_in(folder) as tmp, status("Drawing the figures"):
        drawn = draw_all(summary, tmp)
    for path in drawn:
        click.echo(f"wrote {folder / path.name}")


@cli.command()
def schema():
    """Print the JSON Schema of scenario files (for editors)."""
    from sim.scenario import scenario_json_schema

    click.echo(json.dumps(scenario_json_schema(), indent=2))


@cli.command("new")
@click.argument("name")
@click.option(
    "--from",
    "source",
    metavar="SCENARIO",
    help="Bundled scenario name or TOML file to start from (default: equipment).",
)
@click.option(
    "-o",
    "--output",
    type=OutputPath(path_type=Path),
    help="File to write (default: NAME as a slug, .toml, in the current folder).",
)
@click.option("--force", is_flag=True, help="Replace the file if it exists.")
def new(name, source, output, force):
    """Write a commented starter scenario named NAME (a copy of a bundled one) to edit."""
    import shlex

    from sim.starter import write_starter

    written = write_starter(name, source, output, force)
    click.echo(
        f"Wrote {written.path} (scenario {name!r}, from {written.source}); "
        f"next: dealsim run {shlex.quote(str(written.path))}"
    )


@cli.command()
def scenarios():
    """List the bundled scenarios."""
    from sim.scenario import bundled_scenarios
    from sim.tables import render

    rows = [[name, description] for name, description, _ in bundled_scenarios()]
    for line in render(rows, text={1}, header=False, indent=0):
        click.echo(line)


def _register_plugins() -> None:
    """Commands that live in their own modules: data in and out, and the trainer's tools."""
    from sim.cli_backtest import register as register_backtest
    from sim.cli_data import register as register_data
    from sim.cli_report import register as register_report
    from sim.cli_sensitivity import register as register_sensitivity
    from sim.cli_trainer import register as register_trainer

    register_data(cli)
    register_trainer(cli)
    register_sensitivity(cli)
    register_backtest(cli)
    register_report(cli)


def _add_verbosity_options() -> None:
    """--quiet and --verbose on every command, however it was registered."""
    for command in cli.commands.values():
        command.params.extend(verbosity_params())


_register_plugins()
_add_verbosity_options()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (testable without a subprocess).

    Exit codes: 0 done; 2 the user's input is wrong (one message); 1 an unexpected error (one
    message; the traceback goes to a log file to report); 128 + N for stop signal N (130 Ctrl-C,
    143 SIGTERM, 129 SIGHUP; 141 when the reader of standard output went away, `| head`).
    Library warnings go to a log file too, with one line saying so.
    """
    from sim.errors import collect_thread_errors, collect_warnings, set_report_folder

    set_report_folder(None)  # until this command's output is checked
    shown, thread_hook = warnings.showwarning, threading.excepthook
    collect_warnings()
    collect_thread_errors()
    try:
        code = _run(argv)
    finally:
        warnings.showwarning, threading.excepthook = shown, thread_hook
    _report_warnings()
    return code


def _run(argv: list[str] | None) -> int:
    global _command
    _command = None  # until the group has parsed which command this is
    try:
        # With standalone_mode=False, click returns the code given to ctx.exit() (click >= 8.2).
        code = cli.main(args=argv, prog_name="dealsim", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except Interrupted as exc:
        return _interrupted(exc.signum)
    except (KeyboardInterrupt, click.exceptions.Abort):  # click turns Ctrl-C into Abort
        return _interrupted(signal.SIGINT)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except UserError as exc:
        click.echo(f"Error: {exc}", err=True)
        return 2
    except (_ReaderGone, BrokenPipeError):
        return _reader_gone()
    except Exception as exc:
        from sim import signals

        if signals.received() is not None:  # the stop signal, turned into another error
            return _interrupted(signals.received())
        return _unexpected(exc)
    try:  # what is still buffered: `dealsim ... | head` may have stopped reading
        sys.stdout.flush()
    except BrokenPipeError:
        return _reader_gone()
    return code if isinstance(code, int) else 0


def _reader_gone() -> int:
    """Standard output's reader closed the pipe (``| head``): no message, the shell's code for
    SIGPIPE, and nothing more written there (Python would complain again at exit)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE


def _interrupted(signum: int) -> int:
    """Stop any workers still running and say so; the exit code a shell expects."""
    from sim.workers import stop_all

    stop_all()
    click.echo(
        f"Interrupted ({signal.Signals(signum).name}): stopped; {_what_was_kept()}", err=True
    )
    return 128 + signum


def _what_was_kept() -> str:
    """What an interruption left on disk, in the words of the command that was stopped."""
    if _command in WRITES_NOTHING:  # "unfinished results were not kept" would make one wonder
        return f"{_command} writes no files: nothing was changed."
    return "unfinished results were not kept."


def _unexpected(exc: Exception) -> int:
    """A bug (here or in a worker): one message, the traceback in a log file, exit 1."""
    from concurrent.futures.process import BrokenProcessPool

    from sim.errors import write_report
    from sim.workers import stop_all

    stop_all()
    log = write_report(exc)
    if isinstance(exc, BrokenProcessPool):
        what = "a worker process died (it may have run out of memory)"
    else:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        what = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    where = f"the details are in {log}" if log is not None else "no log file could be written"
    click.echo(
        f"Error: dealsim failed unexpectedly ({what}); no results were written. This is a bug: "
        f"{where}; please report it with that file.",
        err=True,
    )
    return 1


def _report_warnings() -> None:
    from sim.errors import write_warnings

    count, log = write_warnings()
    if count:
        where = f"written to {log}" if log is not None else "lost (no log file could be written)"
        click.echo(
            f"Note: {count} warning(s) from the libraries dealsim uses were {where}; please "
            "report them (a result may be less accurate than it looks).",
            err=True,
        )


def entry() -> None:
    """Console-script entry point (``sim.console.entry`` calls it, signal handlers set first)."""
    from sim import signals

    signals.install()
    try:
        code = main()
    except Interrupted as exc:  # a signal while an error was being reported
        code = exc.exit_code
    signals.finish()
    if signals.received() is not None:
        signals.exit_now(code)  # workers stopped already: skip exit handlers that could wait
    sys.exit(code)
