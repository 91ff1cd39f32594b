"""Results folders and an HTML reader shared by the report tests (test_html_report.py and
test_report_browser.py)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from whatif_helpers import invoke  # tests/ on sys.path

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


def make_run(folder: Path, *args: object) -> Path:
    """A small run of the default scenario (every mechanism on) with a target, in ``folder``."""
    result = invoke("run", "equipment", "-n", 4, "-j", 1, "--target", "3e6", "-o", folder, *args)
    assert result.exit_code == 0, result.output
    return folder


def make_compare(folder: Path, *args: object) -> Path:
    """Two bundled scenarios compared on a few replications, in ``folder``."""
    result = invoke("compare", "equipment", "recession", "-n", 4, "-j", 1, "-o", folder, *args)
    assert result.exit_code == 0, result.output
    return folder


class Page(HTMLParser):
    """What a report holds: elements with a data-key, images, scripts, links, visible text."""

    def __init__(self, html: str):
        super().__init__()
        self.keyed: dict[str, dict] = {}  # data-key -> {value, text}
        self.images: list[dict[str, str]] = []
        self.scripts: list[dict[str, str]] = []
        self.urls: list[str] = []  # every src/href
        self.text: list[str] = []
        self._open: list[dict] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href", "action", "srcset", "poster"):
            if name in attrs:
                self.urls.append(attrs[name] or "")
        if tag == "img":
            self.images.append(attrs)
        if tag == "script":
            self.scripts.append(attrs)
        if tag in ("script", "style"):
            self._in_script = True
        if "data-key" in attrs:
            entry = {"value": attrs.get("data-value"), "text": "", "tag": tag}
            self.keyed[attrs["data-key"]] = entry
            self._open.append(entry)
        elif self._open and tag not in VOID:
            self._open.append({"nested": True})

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._in_script = False
        if self._open and tag not in VOID:
            self._open.pop()

    def handle_data(self, data):
        if self._in_script:
            return
        self.text.append(data)
        for entry in self._open:
            if "text" in entry:
                entry["text"] += data

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())
