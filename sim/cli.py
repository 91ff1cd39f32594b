"""The ``dealsim`` command line: parse, call the API, print. No simulation logic lives here.

Exit codes: 0 done, 2 the user's input is wrong (one clear message, no traceback), 1 a bug.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from sim import __version__
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


@cli.command("run")
@click.argument("scenario", required=False)
@click.option("-n", "--replications", type=int, help="Replications (default: the scenario's).")
@click.option("--seed", type=int, help="Random seed (default: the scenario's).")
@click.option("-j", "--jobs", type=int, help="Worker processes (default: all cores).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Results folder.")
@click.option("--force", is_flag=True, help="Replace a non-empty results folder.")
@click.option("--events", is_flag=True, help="Also write every event to events.csv.")
@click.option("--no-plots", is_flag=True, help="Skip the PNG figures.")
@click.option("--target", type=float, help="Bookings target: chance of reaching it by quarter.")
@click.option("--json", "as_json", is_flag=True, help="Print summary.json instead of the table.")
def run_command(
    scenario, replications, seed, jobs, output, force, events, no_plots, target, as_json
):
    """Run SCENARIO (a bundled name or a TOML file; default: equipment)."""
    from sim.api import simulate
    from sim.report import run_summary
    from sim.scenario import load_scenario

    loaded = load_scenario(scenario)
    total = replications if replications is not None else loaded.replications
    progress = _Progress(total, f"Simulating {loaded.name}")
    try:
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
        )
    finally:
        progress.close()
    if as_json:
        from sim.aggregate import clean_for_json

        click.echo(json.dumps(clean_for_json(result.summary), indent=2))
    else:
        click.echo(run_summary(result.summary, result.folder))


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
    sys.exit(main())
