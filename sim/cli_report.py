"""``dealsim report DIR`` and the ``--report`` option of the commands that write results (thin).

``register(group)`` adds the command to the ``dealsim`` group, whose ``invoke`` turns a
:class:`sim.errors.UserError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

from pathlib import Path

import click

from sim.cli_options import OutputPath

#: ``--report`` given without a file name: report.html inside the results folder.
IN_FOLDER = "<folder>/report.html"


def report_option(func):
    """``--report [FILE.html]`` on run, compare and sweep: also write the HTML report."""
    return click.option(
        "--report",
        "report",
        is_flag=False,
        flag_value=IN_FOLDER,
        default=None,
        metavar="[FILE.html]",
        help="Also write the HTML report: to FILE.html, or report.html in the results folder.",
    )(func)


def check_report_path(report: str | None, force: bool = False) -> None:
    """Refuse a bad report name before anything runs (``--report`` taking the next word), and
    a file that exists without ``force`` (the one in the results folder is the folder's own)."""
    if report is None or report == IN_FOLDER:
        return
    if Path(report).suffix.lower() not in (".html", ".htm"):
        from sim.errors import UserError

        raise UserError(
            f"--report: {report} is not an HTML file name: end it in .html, or give --report "
            "alone (after the scenario) for report.html in the results folder"
        )
    check_report_file(Path(report), force)


def check_report_file(path: Path, force: bool) -> None:
    """An HTML file name, and not a file of the user's that would be overwritten silently, nor
    one the command reads."""
    from sim.atomic import check_output_file
    from sim.cli_options import command_inputs
    from sim.html.page import check_output

    check_output_file(check_output(path), force, command_inputs())


def write_folder_report(folder: Path, report: str | None, err: bool = False) -> None:
    """After a command wrote ``folder``: its report, where ``--report`` said, if it was given.

    Args:
        err: say where it went on stderr (stdout holds JSON).
    """
    if report is None:
        return
    from sim.html import write_report

    written = write_report(folder, None if report == IN_FOLDER else Path(report))
    click.echo(f"Report in {written}", err=err)


@click.command("report")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=OutputPath(path_type=Path, dir_okay=False),
    help="The HTML file (default: report.html in FOLDER, replaced if it is there).",
)
@click.option("--force", is_flag=True, help="Replace the -o file if it exists.")
def report_command(folder, output, force):
    """One self-contained HTML page of a results FOLDER: a run, compare, sweep, sensitivity or
    backtest.

    Figures, styles and data are inside the file: it opens without a network, projects and
    prints from the browser.
    """
    from sim.html import write_report

    if output is not None:
        check_report_file(output, force)
    click.echo(f"wrote {write_report(folder, output)}")


def register(group: click.Group) -> None:
    """Add ``report`` to a click group (``sim.cli.cli``)."""
    group.add_command(report_command)
