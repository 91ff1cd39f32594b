"""The reports in a real browser: headless Chromium from the system's packages (Debian
``chromium``), driven by playwright without any browser download.

For the report of a run, a comparison, a sensitivity analysis (tornado and Sobol) and a
backtest: no console error, no request leaves the page (every request is recorded and any but
the page itself is refused), every figure is loaded and visible with a non-zero size, the
headline numbers on the page are those of the folder's JSON (summary.json, comparison.json,
sensitivity.json, backtest.json), the page fits a laptop's width and prints, and a screenshot is
taken (set DEALSIM_SCREENSHOTS=DIR to keep them). Where Chromium or playwright is missing the
tests skip and say what to install; ``.ci/run`` installs both.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from report_helpers import cheap_figures, make_injected_run, shared_report
from report_kinds import make_backtest, make_sensitivity, shared_history, shared_kind_report

from sim.comparison import format_value
from sim.html import write_report
from sim.html.run import RUN_FIGURES
from sim.report import bookings_texts, cost_of_sale_texts

CHROMIUM = os.environ.get("DEALSIM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One Chromium for the module, with a fresh profile (--user-data-dir) of its own."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the browser tests need playwright: pip install '.[test]'")
    if not Path(CHROMIUM).is_file():
        pytest.skip(
            f"the browser tests need Chromium at {CHROMIUM}: apt-get install -y chromium "
            "chromium-driver (as root; .ci/run does it), or set DEALSIM_CHROMIUM"
        )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport=LAPTOP,
        )
        try:
            yield context
        finally:
            context.close()


class Opened:
    """A report opened in the browser, with everything the page did while loading."""

    def __init__(self, context, path: Path):
        self.url = path.resolve().as_uri()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page = context.new_page()
        self.page.route("**/*", self._route)
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on(
            "console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None
        )
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", self._dialog)
        self.page.goto(self.url, wait_until="load")

    def _route(self, route):
        if route.request.url == self.url:
            route.continue_()
        else:  # nothing but the page itself may be fetched
            route.abort()

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def assert_self_contained(self) -> None:
        assert self.errors == []
        assert self.dialogs == []
        assert self.requests == [self.url], self.requests

    def assert_figures_visible(self, count: int) -> None:
        images = self.page.locator("figure img")
        assert images.count() == count
        for i in range(count):
            image = images.nth(i)
            image.scroll_into_view_if_needed()
            assert image.is_visible()
            box = image.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100, box
            loaded = image.evaluate("img => img.complete && img.naturalWidth > 0")
            assert loaded, f"figure {i} did not load"

    def number(self, key: str) -> tuple[float, str]:
        """The raw value and the visible text of the element with this data-key."""
        element = self.page.locator(f'[data-key="{key}"]')
        assert element.count() == 1 and element.is_visible(), key
        return float(element.get_attribute("data-value")), element.inner_text().strip()

    def fits_the_width(self) -> bool:
        return self.page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )

    def screenshot(self, path: Path) -> Path:
        self.page.screenshot(path=str(path), full_page=True)
        keep = os.environ.get("DEALSIM_SCREENSHOTS")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(keep) / path.name)
        return path

    def pdf_pages(self) -> int:
        pdf = self.page.pdf(format="A4")
        return len(re.findall(rb"/Type\s*/Page\b", pdf))


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_run_report_in_the_browser(browser, tmp_path, tmp_path_factory):
    folder, report = shared_report(tmp_path_factory, "run")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    opened = Opened(browser, report)
    opened.assert_self_contained()
    opened.assert_figures_visible(len(RUN_FIGURES) + len(summary["teams"]))  # a figure a team
    for key in ("p10", "p50", "p90"):
        value, text = opened.number(f"bookings.{key}")
        assert value == summary["bookings"][key]
        assert text == bookings_texts(summary)[key]
        value, text = opened.number(f"totals.won_count.{key}")
        assert value == summary["totals"]["won_count"][key] and text == f"{value:.0f}"
    for name, team in summary["teams"].items():
        value, text = opened.number(f"teams.{name}.utilisation")
        assert value == team["utilisation"] and text == f"{100 * value:.0f}%"
    value, text = opened.number("cost_of_sale.per_won_deal.mean")
    assert value == summary["cost_of_sale"]["per_won_deal"]["mean"]
    assert text == cost_of_sale_texts(summary)["per_won"]
    for row in summary["target"]["by_period"]:
        value, text = opened.number(f"target.{row['period']}")
        assert value == row["probability"] and text == f"{100 * row['probability']:.1f}%"
    assert opened.fits_the_width()
    assert 3 <= opened.pdf_pages() <= 20
    _assert_png(opened.screenshot(tmp_path / "run-report.png"))
    opened.assert_self_contained()  # still nothing fetched after scrolling and printing


def test_compare_report_in_the_browser(browser, tmp_path, tmp_path_factory):
    folder, report = shared_report(tmp_path_factory, "compare")
    data = json.loads((folder / "comparison.json").read_text(encoding="utf-8"))
    opened = Opened(browser, report)
    opened.assert_self_contained()
    opened.assert_figures_visible(1)
    for i, scenario in enumerate(data["scenarios"]):
        mean = scenario["metrics"]["bookings"]["mean"]
        value, text = opened.number(f"scenarios.{i}.bookings")
        assert value == mean and text == f"{format_value('money', mean)} {data['currency']}"
    value, _ = opened.number("delta.0.bookings")
    assert value == data["metrics"]["bookings"]["delta"]
    assert opened.fits_the_width()
    _assert_png(opened.screenshot(tmp_path / "compare-report.png"))


def test_injected_markup_stays_text_in_the_browser(browser, tmp_path, monkeypatch):
    """A scenario whose name (in summary.json), description and stage label carry a script:
    the page shows them as text and runs nothing."""
    cheap_figures(monkeypatch)
    script = "<script>alert('owned')</script><img src=x onerror=alert(2)>"
    folder = make_injected_run(tmp_path / "injected", script)
    opened = Opened(browser, write_report(folder, tmp_path / "injected.html"))
    opened.assert_self_contained()  # no alert, no error, no request for "x"
    page = opened.page
    assert page.locator("h1").inner_text() == f"small{script}: the forecast"
    assert f"Plan {script}" in page.locator(".subtitle").inner_text()
    assert f"Need {script}" in page.locator("#scenario").inner_text()
    assert page.locator("script").count() == 1  # the JSON data block, never run
    assert page.locator('img[src="x"]').count() == 0


def test_sensitivity_reports_in_the_browser(browser, tmp_path, tmp_path_factory):
    """A tornado and a Sobol report: self-contained, the figure visible, the headline numbers
    those of sensitivity.json, a screenshot."""
    for kind in ("tornado", "sobol"):
        folder, report = shared_kind_report(tmp_path_factory, kind)
        data = json.loads((folder / "sensitivity.json").read_text(encoding="utf-8"))
        opened = Opened(browser, report)
        opened.assert_self_contained()
        opened.assert_figures_visible(1)
        value, text = opened.number("base.mean")
        assert value == data["base"]["mean"]
        assert text == f"{format_value('money', value)} {data['currency']}"
        if kind == "tornado":
            value, _ = opened.number("factors.0.swing.delta")
            assert value == data["factors"][0]["swing"]["delta"]
        else:
            value, text = opened.number("factors.0.ST.value")
            from sim.sensitivity_text import index_text
            from sim.sobol import index_noise

            top = data["factors"][0]  # written as the terminal's table writes it
            assert value == top["ST"]["value"]
            assert text == index_text(top["ST"], index_noise(top, "ST"))
            warning = opened.page.locator(".warning").first
            assert warning.is_visible() and data["warnings"][0] in warning.inner_text()
        assert opened.fits_the_width()
        assert 1 <= opened.pdf_pages() <= 6
        _assert_png(opened.screenshot(tmp_path / f"{kind}-report.png"))
        opened.assert_self_contained()


def test_backtest_report_in_the_browser(browser, tmp_path, tmp_path_factory):
    folder, report = shared_kind_report(tmp_path_factory, "backtest")
    data = json.loads((folder / "backtest.json").read_text(encoding="utf-8"))
    opened = Opened(browser, report)
    opened.assert_self_contained()
    opened.assert_figures_visible(len(data["cutoffs"]) + 2)  # a fan each, the totals, the PIT
    for metric in ("won_count", "won_value"):
        total = data["pooled"][metric]["total"]
        value, text = opened.number(f"pooled.{metric}.total.in80")
        assert value == total["in80"] and text == f"{total['in80']} of {total['n']}"
        value, text = opened.number(f"pooled.{metric}.total.pit_ks_p")
        assert value == total["pit_ks_p"] and text == f"p = {value:.2g}"
        for name, b in total["baselines"].items():
            value, text = opened.number(f"pooled.{metric}.total.baselines.{name}.skill")
            assert value == b["skill"] and text == f"{b['skill']:+.2f}"
    limits = opened.page.locator("#limits li")
    assert limits.count() >= 3 and limits.first.is_visible()
    assert opened.fits_the_width()
    assert 3 <= opened.pdf_pages() <= 15
    _assert_png(opened.screenshot(tmp_path / "backtest-report.png"))
    opened.assert_self_contained()


def test_injected_markup_in_new_kinds_stays_text_in_the_browser(
    browser, tmp_path, tmp_path_factory
):
    """A factor's name (a hand-edited sensitivity.json) and a history file name with markup:
    shown as text, nothing run, nothing fetched (a CRM stage name with markup: in
    test_html_kinds.py)."""
    script = "<img src=x onerror=alert(2)><b>bold</b>"
    folder = make_sensitivity(tmp_path / "s", "tornado")
    data = json.loads((folder / "sensitivity.json").read_text(encoding="utf-8"))
    data["factors"][0]["key"] = f"budget.funded_share{script}"
    (folder / "sensitivity.json").write_text(json.dumps(data), encoding="utf-8")
    opened = Opened(browser, write_report(folder, tmp_path / "s.html"))
    opened.assert_self_contained()  # no alert, no error, no request for "x"
    page = opened.page
    assert f"budget.funded_share{script}" in page.locator("#table").inner_text()
    assert f"budget.funded_share{script}" in page.locator("#headline").inner_text()
    assert page.locator("b").count() == 0 and page.locator('img[src="x"]').count() == 0

    name = "deals <img src=x onerror=alert(3)>.csv"  # no slash: a legal file name
    (tmp_path / name).write_bytes(shared_history(tmp_path_factory).read_bytes())
    folder = make_backtest(tmp_path / "b", tmp_path / name)
    opened = Opened(browser, write_report(folder, tmp_path / "b.html"))
    opened.assert_self_contained()
    assert opened.page.locator("h1").inner_text() == f"Backtest of {name}"
    assert opened.page.locator('img[src="x"]').count() == 0
    assert opened.page.locator("script").count() == 1  # the JSON data block, never run
