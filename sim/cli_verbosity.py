"""--quiet and --verbose, on every command (``sim.cli`` adds them to each one, so no command can
be without them): how much goes to stderr besides the command's result (``sim.status``)."""

from __future__ import annotations

import time

import click

from sim.status import QUIET, VERBOSE, detail, set_level


def _set_from_option(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value:
        return
    wanted = QUIET if param.name == "quiet" else VERBOSE
    chosen = ctx.meta.setdefault("dealsim.verbosity", wanted)
    if chosen != wanted:
        raise click.UsageError("--quiet and --verbose cannot be used together: choose one")
    set_level(wanted)
    if wanted == VERBOSE:
        started = time.monotonic()
        ctx.call_on_close(lambda: detail(f"Took {time.monotonic() - started:.1f} s"))


def verbosity_params() -> list[click.Option]:
    """The -q/--quiet and -v/--verbose options, one pair per command (eager: the level is set
    before any other option's check can print)."""
    return [
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=_set_from_option,
            help="Nothing on stderr but warnings and errors (no progress, notes or status).",
        ),
        click.Option(
            ["-v", "--verbose"],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=_set_from_option,
            help="Also every status line with its duration, and the total time.",
        ),
    ]
