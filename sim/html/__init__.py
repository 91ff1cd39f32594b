"""HTML reports: one self-contained page per results folder (``dealsim report DIR``).

A *kind* of folder is recognised by the file it holds (``summary.json`` for a run,
``comparison.json`` for a comparison...) and is one function that reads the folder into a
template context plus one template. Adding a kind (as was done for the folder of ``dealsim
sensitivity``):

1. ``sim/html/sensitivity.py``: ``read_sensitivity(folder: Path) -> dict`` returning at least
   ``title`` and ``subtitle`` (may be ""), optionally ``data`` (a JSON-able dict embedded in the
   page), and whatever its template shows. Read files with ``page.read_json`` (a clear error
   naming the file) or ``page.optional_json`` (a manifest a folder may lack);
   ``page.nan_for_null`` gives back the nans the JSON wrote as null, for a figure's arithmetic.
   Figures with ``page.svg_figure(lambda path: draw(..., path), title, caption)`` (any function
   that saves a matplotlib figure to the path it is given: the PNG's own drawing function) or
   ``page.png_figure(folder / "x.png", title, caption)``.
2. ``sim/html/templates/sensitivity.html.j2``: ``{% extends "base.html.j2" %}``, its sections
   in ``{% block content %}``, figures with the ``show_figure`` macro of ``macros.html.j2``.
   Everything is escaped; the filters ``amount``, ``pct``, ``pct_pm``, ``days``, ``number`` and
   ``state`` write numbers as the terminal does.
3. One line in ``KINDS`` below, before ``run``::

       Kind("sensitivity", "sensitivity.json", "sensitivity.html.j2",
            "sim.html.sensitivity:read_sensitivity"),

``--report`` on the command that writes the folder is ``sim.cli_report.report_option`` and
``write_folder_report(folder, report)``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from sim.errors import UserError
from sim.html.page import check_output, render, write_page
from sim.results_folder import existing_folder
from sim.whatif import KEY as WHAT_IF_KEY
from sim.whatif import banner, short_label

__all__ = ["KINDS", "Kind", "detect_kind", "render_folder", "write_report"]

REPORT_NAME = "report.html"


@dataclass(frozen=True)
class Kind:
    """A kind of results folder and how to report it.

    Attributes:
        name: what the page calls it ('run', 'compare'...).
        marker: the file whose presence says the folder is of this kind.
        template: the page template (in sim/html/templates).
        reader: 'module:function' of ``read(folder) -> dict``, the template's context; imported
            only when a folder of this kind is reported (a report needs no unused module).
    """

    name: str
    marker: str
    template: str
    reader: str

    def read(self, folder: Path) -> dict:
        module, function = self.reader.split(":")
        return getattr(importlib.import_module(module), function)(folder)


#: Checked in order; a run's summary.json comes last, the most general marker.
KINDS: tuple[Kind, ...] = (
    Kind("compare", "comparison.json", "compare.html.j2", "sim.html.whatif:read_compare"),
    Kind("sweep", "sweep.json", "sweep.html.j2", "sim.html.whatif:read_sweep"),
    Kind(
        "sensitivity",
        "sensitivity.json",
        "sensitivity.html.j2",
        "sim.html.sensitivity:read_sensitivity",
    ),
    Kind("backtest", "backtest.json", "backtest.html.j2", "sim.html.backtest:read_backtest"),
    Kind("run", "summary.json", "run.html.j2", "sim.html.run:read_run"),
)


def detect_kind(folder: Path) -> Kind:
    """The kind of a results folder, from the files it holds."""
    folder = existing_folder(folder)
    for kind in KINDS:
        if (folder / kind.marker).is_file():
            return kind
    markers = ", ".join(kind.marker for kind in KINDS)
    raise UserError(f"{folder}: not a dealsim results folder (none of {markers} in it)")


def render_folder(folder: Path) -> str:
    """The report of a results folder, as one HTML page."""
    kind = detect_kind(folder)
    context = _with_what_if(kind.read(Path(folder)))
    return render(kind.template, {"folder": str(folder), **context})


def _with_what_if(context: dict) -> dict:
    """A what-if (its results carry ``what_if``, :mod:`sim.whatif`) says so in the page's title
    and in a banner over it, as the terminal does: a page or a printout of it is never taken
    for the base case. The results a page embeds as ``data`` are the ones it shows."""
    info = (context.get("data") or {}).get(WHAT_IF_KEY)
    if not info:
        return context
    return {
        **context,
        "title": f"{context['title']} (what-if: {short_label(info)})",
        "what_if": banner(info["label"]),
    }


def write_report(folder: Path, output: Path | None = None) -> Path:
    """Write the report of ``folder`` to ``output`` (default: ``folder/report.html``)."""
    output = check_output(Path(output) if output is not None else Path(folder) / REPORT_NAME)
    return write_page(output, render_folder(folder))
