"""The ``--scheduler`` option, the same on every command that runs replications.

``--scheduler ADDRESS`` (or the environment variable ``DEALSIM_SCHEDULER``) sends the batches
of replications to a Dask cluster; the command opens the connection with
:func:`sim.cluster.connect`, which turns every problem (Dask not installed, no scheduler there,
no workers, other versions on the workers) into one message and exit code 2.
"""

from __future__ import annotations

import click

from sim.cluster import SCHEDULER_ENV

SCHEDULER_HELP = (
    "Run the replications on a Dask cluster: the scheduler's address, e.g. tcp://10.0.0.5:8786 "
    f"(default: ${SCHEDULER_ENV}; without either, local processes). Results are the same. "
    'Needs pip install "dealsim[dask]".'
)


def scheduler_option(func):
    """``--scheduler ADDRESS``, read from ``DEALSIM_SCHEDULER`` when not given."""
    return click.option(
        "--scheduler",
        is_eager=True,  # -j reads it: a cluster decides its own parallelism
        metavar="ADDRESS",
        envvar=SCHEDULER_ENV,
        show_envvar=True,
        callback=_no_empty_address,
        help=SCHEDULER_HELP,
    )(func)


def _no_empty_address(ctx: click.Context, param: click.Parameter, value: str | None):
    """``--scheduler ''`` ran on this machine without a word; an empty DEALSIM_SCHEDULER is the
    usual way of leaving the variable unset, and means this machine."""
    source = ctx.get_parameter_source(param.name)
    if value is not None and not value.strip():
        if source == click.core.ParameterSource.COMMANDLINE:
            raise click.BadParameter("an empty address; give tcp://HOST:PORT, or leave it out")
        return None
    return value
