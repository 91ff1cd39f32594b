"""The HTML reports of a sensitivity folder and of a backtest folder (sim.html.sensitivity,
sim.html.backtest): the numbers of their JSON, the terminal's cells, the figures drawn by the
same matplotlib code as their PNGs, markup shown as text, ``--report`` on both commands. The
browser tests are in test_report_browser.py."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from report_helpers import Page  # tests/ on sys.path
from report_kinds import (
    CUTOFFS,
    UNTIL,
    VARY,
    WIDE,
    make_backtest,
    make_history,
    make_sensitivity,
    shared_history,
    shared_kind_report,
    terminal,
)
from whatif_helpers import invoke, small_scenario_data

from sim.comparison import format_value
from sim.html import detect_kind, render_folder, write_report
from sim.html.backtest import backtest_of, quantile_ensemble
from sim.html.sensitivity import result_of
from sim.scenario import toml_dumps
from sim.scores import QUANTILES

MARKUP = "<img src=x onerror=alert(1)>"


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _page(tmp_path_factory, kind: str) -> tuple[Path, dict, Page]:
    folder, report = shared_kind_report(tmp_path_factory, kind)
    name = "backtest.json" if kind == "backtest" else "sensitivity.json"
    return folder, _json(folder / name), Page(report.read_text(encoding="utf-8"))


def _svg(uri: str) -> str:
    head, _, data = uri.partition(",")
    assert head == "data:image/svg+xml;base64", head
    return base64.b64decode(data).decode("utf-8")


def _cells(page_text: str, cells: list[str]) -> None:
    for cell in cells:
        assert cell in page_text, cell


# ---------------------------------------------------------------------------------------------
# Sensitivity
# ---------------------------------------------------------------------------------------------


def test_kinds_are_detected(tmp_path_factory):
    for kind, name in (("tornado", "sensitivity"), ("sobol", "sensitivity"), ("backtest",) * 2):
        assert detect_kind(shared_kind_report(tmp_path_factory, kind)[0]).name == name


def test_tornado_headline_is_sensitivity_json(tmp_path_factory):
    _, data, page = _page(tmp_path_factory, "tornado")
    base = page.keyed["base.mean"]
    assert float(base["value"]) == data["base"]["mean"]
    assert base["text"] == f"{format_value('money', data['base']['mean'])} EUR"
    swing = page.keyed["factors.0.swing.delta"]
    top = data["factors"][0]
    assert float(swing["value"]) == top["swing"]["delta"]
    assert abs(top["swing"]["delta"]) == max(abs(f["swing"]["delta"]) for f in data["factors"])
    assert top["key"] in page.visible


def test_tornado_rebuilt_from_json_tells_what_the_terminal_told(tmp_path_factory, monkeypatch):
    """The Sensitivity rebuilt from sensitivity.json prints the very table the command printed:
    the figure drawn from it has the same rows, caption and warnings as the folder's PNG."""
    monkeypatch.setenv("COLUMNS", WIDE)  # the width the command printed at
    for kind in ("tornado", "sobol"):
        folder, data, page = _page(tmp_path_factory, kind)
        printed = terminal(folder).split("\n\nResults in")[0].rstrip("\n")
        rebuilt = result_of(data, folder / "sensitivity.json")
        assert rebuilt.table() == printed
        assert rebuilt.caption() in page.visible  # the subtitle
        for line in printed.splitlines()[5:]:  # the table's rows, cell by cell
            if line.startswith("  ") and not line.startswith("  parameter"):
                cells = [c.strip() for c in line.split("  ") if c.strip()]
                _cells(page.visible, [c for c in cells if c != "(within the noise)"])


def test_wrong_rebuild_would_fail(tmp_path_factory, monkeypatch):
    """The check above can fail: a row changed in the JSON changes the table."""
    monkeypatch.setenv("COLUMNS", WIDE)
    folder, data, _ = _page(tmp_path_factory, "tornado")
    printed = terminal(folder).split("\n\nResults in")[0].rstrip("\n")
    changed = json.loads(json.dumps(data))
    changed["factors"][0]["swing"]["delta"] *= 1.01
    assert result_of(changed, folder / "sensitivity.json").table() != printed


def test_sensitivity_figures_are_drawn_by_sensitivity_plots(tmp_path_factory, monkeypatch):
    import sim.sensitivity_plots

    calls = []

    def fake(name):
        def draw(result, path):
            calls.append((name, Path(path).suffix, result.method, result.rows))
            Path(path).write_text(f"<svg xmlns='http://www.w3.org/2000/svg'><!--{name}--></svg>")
            return path

        return draw

    for kind in ("tornado", "sobol"):  # the shared reports are built with the real figures
        shared_kind_report(tmp_path_factory, kind)
    monkeypatch.setattr(sim.sensitivity_plots, "tornado_figure", fake("tornado"))
    monkeypatch.setattr(sim.sensitivity_plots, "sobol_figure", fake("sobol"))
    for kind in ("tornado", "sobol"):
        folder, data, _ = _page(tmp_path_factory, kind)
        page = Page(render_folder(folder))
        name, suffix, method, rows = calls[-1]
        assert (name, suffix, method) == (kind, ".svg", kind)
        assert [r["key"] for r in rows] == [f["key"] for f in data["factors"]]
        assert [_svg(img["src"]) for img in page.images] == [
            f"<svg xmlns='http://www.w3.org/2000/svg'><!--{kind}--></svg>"
        ]


def test_sensitivity_report_figure_is_real_svg(tmp_path_factory):
    for kind in ("tornado", "sobol"):
        _, _, page = _page(tmp_path_factory, kind)
        (image,) = page.images
        svg = _svg(image["src"])
        assert "<svg" in svg and len(svg) > 5000 and image["alt"]


def test_sobol_headline_warnings_and_scenario(tmp_path_factory):
    _, data, page = _page(tmp_path_factory, "sobol")
    top = page.keyed["factors.0.ST.value"]
    assert float(top["value"]) == data["factors"][0]["ST"]["value"]
    assert float(page.keyed["sum_S1"]["value"]) == pytest.approx(data["sum_S1"], rel=1e-5)
    assert data["warnings"], "4 samples: the intervals are too wide, a warning says so"
    for warning in data["warnings"]:
        assert f"Warning: {warning}" in page.visible
    assert f"{data['points']} points" in page.visible
    # the base scenario in plain words: its file still gives the same scenario
    assert "Entering Decide needs money. 40% of buyers have it allocated" in page.visible


def test_sensitivity_scenario_changed_since(tmp_path):
    folder = make_sensitivity(tmp_path, "tornado")
    (tmp_path / "small.toml").write_text(
        toml_dumps({**small_scenario_data(), "seed": 99}), encoding="utf-8"
    )
    page = Page(render_folder(folder))
    assert "The scenario file has changed since the analysis ran" in page.visible
    assert "needs money" not in page.visible


def test_sensitivity_injection_shows_as_text(tmp_path):
    """Markup in a factor's name (a hand-edited sensitivity.json), in a stage label and in the
    scenario's description is shown as text everywhere, the figure included."""
    data = small_scenario_data()
    data["description"] = f"Plan {MARKUP}"
    data["stages"][1]["label"] = f"Decide {MARKUP}"
    (tmp_path / "small.toml").write_text(toml_dumps(data), encoding="utf-8")
    out = tmp_path / "tornado"
    args = ("sensitivity", tmp_path / "small.toml", *VARY, "-n", 2, "-j", 1, "--no-plots")
    assert invoke(*args, "-o", out).exit_code == 0
    sensitivity = _json(out / "sensitivity.json")
    sensitivity["factors"][0]["key"] = f"budget.funded_share{MARKUP}"
    sensitivity["warnings"] = [f"careful {MARKUP}"]
    (out / "sensitivity.json").write_text(json.dumps(sensitivity), encoding="utf-8")
    html = render_folder(out)
    assert MARKUP not in html and "<img src=x" not in html
    page = Page(html)
    for text in (f"budget.funded_share{MARKUP}", f"Decide {MARKUP}", f"Plan {MARKUP}"):
        assert text in page.visible, text
    assert f"Warning: careful {MARKUP}" in page.visible
    svg = _svg(page.images[0]["src"])  # text drawn as paths, written escaped in comments
    assert "<img" not in svg and "budget.funded_share&lt;img" in svg
    assert [s.get("type") for s in page.scripts] == ["application/json"]


def test_sensitivity_bad_json_is_one_clear_error(tmp_path):
    from sim.errors import UserError

    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "sensitivity.json").write_text(json.dumps({"method": "tornado"}), encoding="utf-8")
    with pytest.raises(UserError, match="sensitivity.json: missing scenario"):
        render_folder(folder)


# ---------------------------------------------------------------------------------------------
# Backtest
# ---------------------------------------------------------------------------------------------


def test_quantile_ensemble_has_exactly_the_stored_percentiles():
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(200):
        q = np.sort(rng.lognormal(3, 2, size=5)) * rng.choice([1, 1e3, 1e6])
        rows.append({f"p{round(100 * p)}": float(v) for p, v in zip(QUANTILES, q, strict=True)})
    ensemble = quantile_ensemble(rows)
    stored = np.array([[row[f"p{round(100 * p)}"] for row in rows] for p in QUANTILES])
    assert ensemble.shape == (21, 200)
    np.testing.assert_array_equal(np.quantile(ensemble, QUANTILES, axis=0), stored)
    # a wrong layout would not: 20 members put the quantiles between members
    assert not np.array_equal(np.quantile(ensemble[1:], QUANTILES, axis=0), stored)


def test_backtest_headline_and_tables_are_backtest_json_and_the_terminal(tmp_path_factory):
    folder, data, page = _page(tmp_path_factory, "backtest")
    for metric in ("won_count", "won_value"):
        total = data["pooled"][metric]["total"]
        for key in ("in80", "in50", "pit_ks_p"):
            assert float(page.keyed[f"pooled.{metric}.total.{key}"]["value"]) == total[key]
        assert page.keyed[f"pooled.{metric}.total.in80"]["text"] == (
            f"{total['in80']} of {total['n']}"
        )
        for name, b in total["baselines"].items():
            shown = page.keyed[f"pooled.{metric}.total.baselines.{name}.skill"]
            assert float(shown["value"]) == b["skill"] and shown["text"] == f"{b['skill']:+.2f}"
    printed = terminal(folder)
    # the pooled verdicts word for word, the KS p-value too (both round it as the JSON holds it)
    shown = page.visible
    for line in printed.splitlines():
        if line.startswith("  20") and ": " not in line:  # a cut-off's row, cell by cell
            _cells(page.visible, line.split())
        elif line.startswith("  20"):  # '2020-09-30: 4% (0-6%), history 5%, actual 0%'
            cutoff, _, rest = line.strip().partition(": ")
            simulated, _, rest = rest.partition(", history ")
            history, _, actual = rest.partition(", actual ")
            actual = actual.split()[0]
            assert f"{cutoff} {simulated} {history} {actual}" in page.visible
        if line.startswith(("  The actual fell", "  Mean CRPS", "  Baseline", "  By month")):
            assert line.strip() in shown
    assert printed.splitlines()[0].split(": ", 1)[1] in page.visible  # the subtitle


def test_backtest_report_says_what_it_does_not_capture(tmp_path_factory, tmp_path):
    _, data, page = _page(tmp_path_factory, "backtest")
    text = page.visible
    assert f"The 2 forecast windows overlap (they share months up to {UNTIL})" in text
    assert "With 2 cut-offs, chance alone moves the 80% band's count by about ±1.1" in text
    assert "The fit draws a deal's outcome independently of how long it took" in text
    assert "What the history cannot tell" in text
    for cutoff in data["cutoffs"]:  # a share still open outside its band is pointed out
        still = cutoff["still_open"]
        outside = not still["simulated"]["p10"] <= still["actual"] <= still["simulated"]["p90"]
        assert (f"Of the deals open on {cutoff['cutoff']}" in text) == outside
    # three months ahead, the two windows (Sep-Dec, Apr-Jun) do not overlap
    ahead = make_backtest(tmp_path, shared_history(tmp_path_factory), "--months-ahead", 3)
    text = Page(render_folder(ahead)).visible
    assert "The forecast windows do not overlap" in text and "windows overlap (" not in text


def test_backtest_figures_are_the_pngs_redrawn_from_the_json(tmp_path_factory, tmp_path):
    """The report's figures come from sim.backtest_plots fed with what backtest.json keeps:
    drawn from the rebuilt backtest, each is the picture drawn from the backtest itself."""
    import matplotlib.image as mpimg

    from sim import api
    from sim.backtest_plots import fan_chart, pit_histogram, totals_chart
    from sim.backtest_report import write

    history = shared_history(tmp_path_factory)
    cutoffs = [dt.date.fromisoformat(c) for c in CUTOFFS.split(",")]
    bt = api.backtest(history, cutoffs, dt.date.fromisoformat(UNTIL), replications=20)
    write(bt, tmp_path / "bt", plots=False)
    rebuilt = backtest_of(_json(tmp_path / "bt" / "backtest.json"), tmp_path / "bt")

    def same(draw, name: str) -> None:
        a = mpimg.imread(draw(bt, tmp_path / f"{name}-a.png"))
        b = mpimg.imread(draw(rebuilt, tmp_path / f"{name}-b.png"))
        assert a.shape == b.shape, name
        assert np.mean(np.abs(a - b) > 0.1) < 2e-4, name  # a few anti-aliased pixels at most

    same(lambda b, p: fan_chart(b.results[-1], p, b.currency), "fan")  # the others alike
    same(totals_chart, "totals")
    same(pit_histogram, "pit")
    # and a wrong rebuild would differ: the actuals of the first cut-off doubled
    rebuilt.results[0].actual = {m: 2 * v for m, v in rebuilt.results[0].actual.items()}
    a = mpimg.imread(fan_chart(bt.results[0], tmp_path / "x-a.png"))
    b = mpimg.imread(fan_chart(rebuilt.results[0], tmp_path / "x-b.png"))
    assert np.mean(np.abs(a - b) > 0.1) > 1e-3


def test_backtest_report_figures(tmp_path_factory, tmp_path):
    folder, data, page = _page(tmp_path_factory, "backtest")
    assert len(page.images) == len(data["cutoffs"]) + 2  # a fan each, the totals, the PIT
    for image in page.images:
        assert "<svg" in _svg(image["src"]) and image["alt"]
    assert "Forecast made on 2020-09-30, month by month" in page.visible
    # the fit's check against its own history is not in the JSON: its PNG is inlined
    copy = tmp_path / "with-fidelity"
    shutil.copytree(folder, copy)
    import matplotlib.pyplot as plt

    plt.imsave(copy / "fidelity.png", np.zeros((8, 8)))
    fidelity = Page(render_folder(copy))
    assert len(fidelity.images) == len(page.images) + 1
    assert fidelity.images[-1]["src"].startswith("data:image/png;base64,")


def test_backtest_injection_shows_as_text(tmp_path):
    """A CRM stage name and a history file name with markup (both legal in a CRM export) and a
    note (a hand-edited backtest.json): all shown as text."""
    history = make_history(tmp_path / "h", stage=f"Engaging {MARKUP}")
    named = tmp_path / f"deals {MARKUP}.csv"
    shutil.copy(history, named)
    folder = make_backtest(tmp_path, named)
    data = _json(folder / "backtest.json")
    data["notes"] = [f"note {MARKUP}"]
    (folder / "backtest.json").write_text(json.dumps(data), encoding="utf-8")
    html = render_folder(folder)
    assert MARKUP not in html
    page = Page(html)
    assert f"Backtest of deals {MARKUP}.csv" in page.visible
    assert f"note {MARKUP}" in page.visible
    assert [s.get("type") for s in page.scripts] == ["application/json"]


def test_backtest_of_a_history_without_amounts_scores_the_count_only(tmp_path_factory, tmp_path):
    rows = shared_history(tmp_path_factory).read_text(encoding="utf-8").splitlines()
    plain = tmp_path / "no-amounts.csv"
    plain.write_text("\n".join(r.rsplit(",", 1)[0] for r in rows) + "\n", encoding="utf-8")
    page = Page(render_folder(make_backtest(tmp_path, plain)))
    assert "pooled.won_value.total.in80" not in page.keyed
    assert "The history has no amounts: only the won count is scored" in page.visible
    assert "Won value" not in page.visible


# ---------------------------------------------------------------------------------------------
# --report on the commands
# ---------------------------------------------------------------------------------------------


def test_report_option_on_sensitivity_and_backtest(tmp_path_factory, tmp_path):
    scenario = tmp_path / "small.toml"
    scenario.write_text(toml_dumps(small_scenario_data()), encoding="utf-8")
    out = tmp_path / "tornado"
    result = invoke(
        "sensitivity", scenario, *VARY, "-n", 2, "-j", 1, "--no-plots", "-o", out, "--report"
    )
    assert result.exit_code == 0, result.output
    assert f"Report in {out / 'report.html'}" in result.stdout
    assert "Tornado of bookings: small" in Page((out / "report.html").read_text()).visible
    history = shared_history(tmp_path_factory)
    report = tmp_path / "backtest.html"
    result = invoke(
        "backtest", history, "--as-of", CUTOFFS, "--until", UNTIL, "-n", 10, "--no-plots",
        "-o", tmp_path / "bt", "--json", "--report", report,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)  # stdout stays JSON; where the report went is on stderr
    assert f"Report in {report}" in result.stderr
    assert "Backtest of history.csv" in Page(report.read_text(encoding="utf-8")).visible


@pytest.mark.parametrize("command", ["sensitivity", "backtest"])
def test_bad_report_name_is_refused_before_running(command, tmp_path):
    args = {
        "sensitivity": ["sensitivity", "equipment", "--vary", "budget.funded_share=0.2..0.5"],
        "backtest": ["backtest", tmp_path / "none.csv", "--as-of", CUTOFFS, "--until", UNTIL],
    }[command]
    result = invoke(*args, "-o", tmp_path / "never", "--report", "x.txt")
    assert result.exit_code == 2, result.output
    assert "--report: x.txt is not an HTML file name" in result.stderr
    assert not (tmp_path / "never").exists()


def test_write_report_of_a_kind_is_atomic_on_failure(tmp_path_factory, tmp_path, monkeypatch):
    import sim.html.backtest

    def boom(bt, folder):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(sim.html.backtest, "figures", boom)
    with pytest.raises(RuntimeError):
        write_report(shared_kind_report(tmp_path_factory, "backtest")[0], tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []


def test_sensitivity_provenance_names_where_it_ran(tmp_path_factory):
    from sim.html.sensitivity import provenance

    folder, data, page = _page(tmp_path_factory, "tornado")
    manifest = _json(folder / "manifest.json")
    rows = dict(provenance(data, manifest))
    assert rows["Points run"] == str(manifest["points"]) == str(1 + 2 * len(data["factors"]))
    assert rows["Replications per point"] == "4" and "Where it ran" not in rows
    assert rows["Command"] in page.visible
    cluster = {**manifest, "executor": {"scheduler": "tcp://10.0.0.5:8786", "workers": 2}}
    rows = dict(provenance(data, cluster))
    assert rows["Where it ran"] == "Dask scheduler tcp://10.0.0.5:8786: 2 workers"
