"""Exceptions shared by the package.

The CLI tells the two kinds apart: a ``UserError`` is the user's input being wrong (print the
message, exit 2, no traceback); anything else is a bug (exit 1).
"""


class UserError(Exception):
    """An error the user caused (bad file, field, option): the CLI prints str(err) and exits 2."""


class ScenarioError(UserError):
    """A scenario file (or override) that cannot be read or does not validate."""
