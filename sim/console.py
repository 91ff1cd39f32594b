"""The ``dealsim`` console script: stop signals are handled before anything heavy is imported.

Importing the CLI (click, then numpy and the rest on the first command) takes a good part of a
second; a Ctrl-C in it would print a ``KeyboardInterrupt`` traceback if the handlers were set
only once the CLI was loaded.
"""

from __future__ import annotations

import signal
import sys


def entry() -> None:
    """Run ``dealsim`` (the ``[project.scripts]`` entry point and ``python -m sim``)."""
    try:  # until install(), Python's own handler turns a Ctrl-C into KeyboardInterrupt
        from sim import signals
        from sim.errors import Interrupted

        signals.install()
    except KeyboardInterrupt:
        print("Interrupted (SIGINT).", file=sys.stderr)
        sys.exit(130)
    try:
        from sim.cli import entry as run_cli
    except Interrupted as exc:  # nothing was started yet: nothing to clean up
        print(f"Interrupted ({exc.name}).", file=sys.stderr)
        signals.exit_now(exc.exit_code)
    except Exception:
        if signals.received() is None:
            raise
        # The signal's exception raised inside an extension module's code while it was
        # imported (pydantic-core makes it a RuntimeError): still only an interruption.
        signum = signals.received()
        print(f"Interrupted ({signal.Signals(signum).name}).", file=sys.stderr)
        signals.exit_now(128 + signum)
    run_cli()
