"""The machinery every HTML report shares: the Jinja2 environment, its number filters, the
figures as data URIs, and the atomic write of one self-contained file.

A report must open anywhere without a network: styles are inlined from ``templates/report.css``,
figures are images whose bytes are inside the page (``data:`` URIs), and the page's Content
Security Policy forbids every request and every script, so that nothing in a scenario's text
can reach out or run even if it slipped past the escaping.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import shlex
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2

from sim import __version__
from sim.atomic import atomic_file
from sim.errors import UserError
from sim.report import compact, money

TEMPLATES = Path(__file__).with_name("templates")


@dataclass(frozen=True)
class Figure:
    """One picture of a report: its title, a sentence of what it shows, and its bytes."""

    title: str
    caption: str
    uri: str  # data:image/...;base64,...

    @property
    def alt(self) -> str:
        return f"{self.title}. {self.caption}"


def svg_figure(draw: Callable[[Path], Path], title: str, caption: str) -> Figure:
    """A figure from one of the PNG-drawing functions (sim.plots, sim.compare_plots,
    sim.trace), drawn as SVG instead: ``draw`` gets a path ending in ``.svg`` and matplotlib
    picks the format from the suffix, so the picture is exactly the PNG's, but sharp on a
    projector and in print."""
    with tempfile.TemporaryDirectory(prefix="dealsim-figure-") as tmp:
        path = draw(Path(tmp) / "figure.svg")
        data = Path(path).read_bytes()
    return Figure(title, caption, _data_uri("image/svg+xml", data))


def png_figure(path: Path, title: str, caption: str) -> Figure | None:
    """A figure already drawn into a results folder (None when it was not drawn)."""
    path = Path(path)
    if not path.is_file():
        return None
    return Figure(title, caption, _data_uri("image/png", path.read_bytes()))


def read_json(path: Path) -> dict:
    """A JSON file of a results folder, or one clear error naming it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object")
    return data


def optional_json(path: Path) -> dict:
    """A JSON file a folder may lack (a manifest): its object, or {} when it is not there."""
    return read_json(path) if Path(path).is_file() else {}


def nan_for_null(value):
    """JSON's nulls (a nan or an infinity when it was written) back to nan, recursively, for
    the arithmetic of figures redrawn from a folder's JSON."""
    if isinstance(value, dict):
        return {k: nan_for_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nan_for_null(v) for v in value]
    return math.nan if value is None else value


def value_text(value) -> str:
    """A manifest value for a table: a command as the shell line, a dict as key: value."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return shlex.join(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {value_text(v)}" for k, v in value.items())
    return str(value)


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# ---------------------------------------------------------------------------------------------
# Numbers, written as the terminal writes them (sim.report)
# ---------------------------------------------------------------------------------------------


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def pct(share: float | None, digits: int = 1) -> str:
    """0.1965 -> '19.6%' ('-' for a missing value)."""
    return f"{100 * share:.{digits}f}%" if _finite(share) else "-"


def pct_pm(share: float | None, se: float | None) -> str:
    """A share with its standard error, as the run summary prints it: '19.6% ± 0.5'."""
    if not _finite(share):
        return "-"
    return f"{100 * share:.1f}% ± {100 * (se if _finite(se) else 0.0):.1f}"


def days(value: float | None, digits: int = 0) -> str:
    """Days as the terminal prints them: '313' ('-' for a missing value)."""
    return f"{value:.{digits}f}" if _finite(value) else "-"


def amount(value: float | None, currency: str = "") -> str:
    """'14.2M EUR' (with a currency) or '14.2M'."""
    if not _finite(value):
        return "-"
    return money(value, currency) if currency else compact(value)


def number(value: float | None, digits: int = 3) -> str:
    """A mean count or any plain number: '156', '4.17'."""
    return compact(value, digits) if _finite(value) else "-"


# ---------------------------------------------------------------------------------------------
# The environment and the page
# ---------------------------------------------------------------------------------------------


class _Environment(jinja2.Environment):
    """``row.values`` in a template means the key 'values' of a dict, not the dict's method."""

    def getattr(self, obj, attribute):
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


def environment() -> jinja2.Environment:
    """Templates from the package's ``templates`` folder, HTML-escaped everywhere: a name or a
    description with markup in it shows as text. Undefined names are errors, not blanks."""
    from sim.plots import pretty  # a state's name as the figures write it: 'No decision'

    env = _Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        pct=pct, pct_pm=pct_pm, days=days, amount=amount, number=number, state=pretty
    )
    return env


def render(template: str, context: dict) -> str:
    """The page: ``template`` (which extends base.html.j2) with ``context``."""
    page = {
        "version": __version__,
        "made": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
    }
    return environment().get_template(template).render(page=page, **context)


def check_output(path: Path) -> Path:
    """A report's path must name an HTML file (catches ``--report`` taking the next word)."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"{path}: a report is an HTML file; give a name ending in .html")
    if path.is_dir():
        raise UserError(f"{path}: is a folder; give the report's file name (e.g. report.html)")
    return path


def write_page(path: Path, html: str) -> Path:
    """Write the page atomically: a reader never sees half a report."""
    path = check_output(path)
    atomic_file(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return path
