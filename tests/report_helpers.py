"""Results folders and an HTML reader shared by the report tests (test_html_report.py and
test_report_browser.py)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

from whatif_helpers import invoke, small_scenario_data  # tests/ on sys.path

from sim.scenario import toml_dumps

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


_SHARED: dict[tuple[str, str], tuple[Path, Path]] = {}


def shared_report(tmp_path_factory, kind: str) -> tuple[Path, Path]:
    """A run (``kind='run'``) or comparison folder and its report, made once per test session
    for both report test modules: drawing a run's figures takes seconds on a busy machine.
    Tests must not change them."""
    from sim.html import write_report

    key = (str(tmp_path_factory.getbasetemp()), kind)
    if key not in _SHARED:
        root = tmp_path_factory.mktemp(f"shared-{kind}")
        folder = make_run(root / kind, "--no-plots") if kind == "run" else make_compare(root / kind)
        _SHARED[key] = (folder, write_report(folder, root / f"{kind}-report.html"))
    return _SHARED[key]


def make_injected_run(folder: Path, markup: str) -> Path:
    """A run whose scenario carries ``markup`` in its description (``Plan <markup>``), its first
    stage's label (``Need <markup>``) and its name (``small<markup>``, in summary.json: a name
    in a scenario file cannot hold markup, a hand-edited summary can)."""
    data = small_scenario_data()
    data["description"] = f"Plan {markup}"
    data["stages"][0]["label"] = f"Need {markup}"
    folder.mkdir(parents=True)
    path = folder / "small.toml"
    path.write_text(toml_dumps(data), encoding="utf-8")
    run = folder / "run"
    assert invoke("run", path, "-n", 2, "-j", 1, "--no-plots", "-o", run).exit_code == 0
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    summary["scenario"] = f"small{markup}"
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return run


def cheap_figures(monkeypatch) -> None:
    """Run reports without drawing (about a second a figure on a busy machine), for the tests
    of what surrounds the figures; the real ones are checked elsewhere."""
    import sim.html.run
    from sim.html.page import Figure
    from sim.html.run import RUN_FIGURES

    def figures(summary):
        return {name: Figure(title, "", "data:,") for name, (title, _) in RUN_FIGURES.items()}

    monkeypatch.setattr(sim.html.run, "figures", figures)
    monkeypatch.setattr(
        sim.html.run, "team_figure", lambda summary, name: Figure(name, "", "data:,")
    )


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
