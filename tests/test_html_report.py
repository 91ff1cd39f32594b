"""HTML reports (sim.html, ``dealsim report``, ``--report``): self-contained, escaped, with the
numbers of the folder they report. The browser tests are in test_report_browser.py."""

from __future__ import annotations

import base64
import json
import shlex
from pathlib import Path

import pytest
import report_helpers  # tests/ on sys.path
from report_helpers import Page, make_injected_run, shared_report
from whatif_helpers import invoke

from sim.aggregate import clean_for_json
from sim.comparison import format_interval, format_value, money_scale, row_scale
from sim.errors import UserError
from sim.html import KINDS, detect_kind, render_folder, write_report
from sim.html.run import RUN_FIGURES
from sim.report import bookings_texts, cost_of_sale_texts, money, run_summary

INJECTION = "<script>alert('owned')</script>"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return shared_report(tmp_path_factory, "run")[0]


@pytest.fixture(scope="module")
def run_page(tmp_path_factory) -> tuple[str, Page]:
    html = shared_report(tmp_path_factory, "run")[1].read_text(encoding="utf-8")
    return html, Page(html)


@pytest.fixture
def cheap_figures(monkeypatch):
    report_helpers.cheap_figures(monkeypatch)


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory) -> Path:
    return shared_report(tmp_path_factory, "compare")[0]


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def _svg(uri: str) -> str:
    head, _, data = uri.partition(",")
    assert head == "data:image/svg+xml;base64", head
    return base64.b64decode(data).decode("utf-8")


def test_every_kind_has_its_template_and_reader():
    from sim.html.page import TEMPLATES

    for kind in KINDS:
        assert (TEMPLATES / kind.template).is_file(), kind
        module, function = kind.reader.split(":")
        assert callable(getattr(__import__(module, fromlist=[function]), function)), kind


def test_run_report_headline_is_summary_json(run_dir, run_page):
    _, page = run_page
    summary = _summary(run_dir)
    bookings, currency = summary["bookings"], summary["currency"]
    said = bookings_texts(summary)
    assert f"mean {said['mean']} +- {said['se']}" in run_summary(summary, None)
    for key in ("p10", "p50", "p90"):
        shown = page.keyed[f"bookings.{key}"]
        assert float(shown["value"]) == bookings[key]
        assert shown["text"].strip() == said[key]  # the terminal's text, one scale for all
    assert page.keyed["bookings.mean"]["text"] == f"{said['mean']} ± {said['se']}"
    assert said["se"] == money(bookings["se"], currency)
    for row in summary["target"]["by_period"]:  # the chance of the target by quarter
        shown = page.keyed[f"target.{row['period']}"]
        assert float(shown["value"]) == row["probability"]
        assert shown["text"] == f"{100 * row['probability']:.1f}%"


def test_run_report_is_self_contained(run_page):
    html, page = run_page
    assert 'http-equiv="Content-Security-Policy"' in html and "default-src 'none'" in html
    # every reference is inside the page: images as data URIs, links to its own sections
    for url in page.urls:
        assert url.startswith(("data:image/", "#")), url
    assert "http://" not in html.replace("http://www.w3.org", "")  # SVG namespaces only
    assert "https://" not in html
    assert [s.get("type") for s in page.scripts] == ["application/json"]  # data, not code


def test_run_report_embeds_the_data(run_dir, run_page):
    html, _ = run_page
    start = html.index('<script type="application/json" id="dealsim-data">') + len(
        '<script type="application/json" id="dealsim-data">'
    )
    data = json.loads(html[start : html.index("</script>", start)])
    assert data == clean_for_json(_summary(run_dir))


def _fake_svg(name: str) -> str:
    return f"<svg xmlns='http://www.w3.org/2000/svg'><!--{name}--></svg>"


def test_run_report_figures_are_drawn_by_sim_plots(run_dir, monkeypatch):
    """Each figure is what the sim.plots (or sim.team_plots) function draws, called with an .svg
    path, not a copy of a PNG."""
    import sim.plots
    import sim.team_plots

    calls = []

    def fake(name):
        def draw(summary, path):
            calls.append((name, Path(path).suffix, summary["scenario"]))
            Path(path).write_text(_fake_svg(name))
            return path

        return draw

    def fake_team(summary, team, path):
        return fake(f"team {team}")(summary, path)

    for name in RUN_FIGURES:
        monkeypatch.setattr(sim.plots, name, fake(name))
    monkeypatch.setattr(sim.team_plots, "team_capacity", fake_team)
    page = Page(render_folder(run_dir))
    names = [*RUN_FIGURES, *(f"team {team}" for team in _summary(run_dir)["teams"])]
    assert len(names) == len(RUN_FIGURES) + 2  # equipment's presales and legal
    assert sorted(calls) == sorted((name, ".svg", "equipment") for name in names)
    drawn = [_svg(img["src"]) for img in page.images]
    assert sorted(drawn) == sorted(_fake_svg(name) for name in names)


def test_run_report_figures_are_real_svg(run_dir, run_page):
    _, page = run_page
    assert len(page.images) == len(RUN_FIGURES) + len(_summary(run_dir)["teams"])
    for img in page.images:
        svg = _svg(img["src"])
        assert "<svg" in svg and "</svg>" in svg and len(svg) > 5000
        assert img["alt"]


def test_run_report_tells_the_scenario_and_its_provenance(run_dir, run_page):
    _, page = run_page
    text = page.visible
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    for needle in (
        "Need recognition",  # a stage label
        "lognormal(median 45, p90 120)",  # its duration as written
        "35% of buyers have it allocated",  # the budget mechanism's key number
        "The general director matters in",  # a role
        manifest["scenario_hash"],
        shlex.join(manifest["command"]),
        "Waiting for budget (a budget line, no money yet)",  # the stall table
    ):
        assert needle in text, needle


def test_injection_shows_as_text(tmp_path, cheap_figures):
    """Markup in a scenario's description, a stage label and the scenario name (as a hand-edited
    summary.json could carry it) is escaped everywhere it is shown."""
    markup = f"{INJECTION} & <b>bold</b>"
    html = render_folder(make_injected_run(tmp_path / "injected", markup))
    assert "<script>" not in html and "<b>" not in html
    assert html.count("&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;") >= 4
    page = Page(html)
    assert f"Plan {markup}" in page.visible
    assert f"Need {markup}" in page.visible
    assert f"small{markup}: the forecast" in page.visible
    assert [s.get("type") for s in page.scripts] == ["application/json"]


def test_compare_report_shows_comparison_json(compare_dir):
    folder = compare_dir
    data = json.loads((folder / "comparison.json").read_text(encoding="utf-8"))
    page = Page(render_folder(folder))
    stats = [scenario["metrics"]["bookings"] for scenario in data["scenarios"]]
    scale = money_scale([s[k] for s in stats for k in ("mean", "ci_low", "ci_high")])
    for i, mean in enumerate(s["mean"] for s in stats):
        shown = page.keyed[f"scenarios.{i}.bookings"]
        assert float(shown["value"]) == mean
        assert shown["text"].strip() == f"{format_value('money', mean, scale)} EUR"  # one scale
    b = data["metrics"]["bookings"]
    assert float(page.keyed["delta.0.bookings"]["value"]) == b["delta"]
    # the headline's interval is the table's bookings row, digit for digit
    interval = format_interval("money", b["ci_low"], b["ci_high"], row_scale("money", b))
    assert f"difference {interval} EUR" in page.visible
    assert "shocks.rate_per_year" in page.visible  # what differs between the two scenarios
    assert len(page.images) == 1 and page.images[0]["src"].startswith("data:image/png;base64,")


def test_compare_with_injected_label_escapes_it(tmp_path):
    folder = tmp_path / "cmp"
    label = f"stages.need.label=Need {INJECTION}"
    args = ("compare", "equipment", "--set", label, "-n", 2, "-j", 1, "--no-plots", "-o", folder)
    assert invoke(*args).exit_code == 0
    html = render_folder(folder)
    assert "<script>" not in html
    assert f"Need {INJECTION}" in Page(html).visible


def test_sweep_report(tmp_path):
    folder = tmp_path / "sweep"
    result = invoke(
        "sweep", "equipment", "--set", "budget.funded_share=0.2,0.8", "-n", 3, "-j", 1,
        "--no-plots", "-o", folder,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((folder / "sweep.json").read_text(encoding="utf-8"))
    html = render_folder(folder)
    page = Page(html)
    assert "Sweep of budget.funded_share: equipment" in page.visible
    assert "(reference)" in page.visible
    assert "--no-plots" in page.visible  # the missing figure is explained, not left blank
    last = data["points"][-1]["metrics"]["bookings"]
    assert format_value("money", last["mean"]) + " EUR" in page.visible
    # The caption says what sweep.png draws: the paired change, not each value's mean.
    from sim.html.whatif import read_sweep

    (folder / "sweep.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    caption = read_sweep(folder)["figure"].caption
    assert "change from the first value, paired" in caption and "Mean with" not in caption


def test_detect_kind_and_bad_folders(tmp_path, run_dir):
    assert detect_kind(run_dir).name == "run"
    with pytest.raises(UserError, match="no such folder: .*missing"):
        detect_kind(tmp_path / "missing")
    with pytest.raises(UserError, match="not a dealsim results folder"):
        detect_kind(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "comparison.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="comparison.json: not valid JSON"):
        render_folder(broken)


def test_report_command(run_dir, tmp_path, cheap_figures):
    out = tmp_path / "board.html"
    result = invoke("report", run_dir, "-o", out)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    default = invoke("report", run_dir)
    assert default.exit_code == 0 and (run_dir / "report.html").is_file()
    (run_dir / "report.html").unlink()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["report", "{tmp}/nowhere"], "no such folder: "),
        (["report", "{tmp}"], "not a dealsim results folder"),
        (["report", "{run}", "-o", "{tmp}/report.pdf"], "a report is an HTML file"),
        (["run", "equipment", "-n", 2, "--report", "equipment"], "--report: equipment is not"),
        (["trace", "equipment", "--report", "{tmp}/story.txt"], "a report is an HTML file"),
    ],
)
def test_report_user_errors(args, needle, tmp_path, run_dir):
    args = [str(a).format(tmp=tmp_path, run=run_dir) for a in args]
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr and "Traceback" not in result.stderr


def test_bad_report_name_is_refused_before_running(tmp_path):
    folder = tmp_path / "never"
    result = invoke("run", "equipment", "-n", 2, "-o", folder, "--report", "x.txt")
    assert result.exit_code == 2 and not folder.exists()


def test_report_option_on_run_compare_sweep(tmp_path, cheap_figures):
    run = tmp_path / "run"
    result = invoke("run", "equipment", "-n", 2, "-j", 1, "--no-plots", "-o", run, "--report")
    assert result.exit_code == 0, result.output
    assert (run / "report.html").is_file() and f"Report in {run / 'report.html'}" in result.output
    cmp_report = tmp_path / "what-if.html"
    result = invoke(
        "compare", "equipment", "--set", "budget.funded_share=0.6", "-n", 2, "-j", 1,
        "--no-plots", "-o", tmp_path / "cmp", "--json", "--report", cmp_report,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)  # stdout stays JSON; the report's path goes to stderr
    assert (
        "Comparison: equipment vs equipment (budget.funded_share=0.6)"
        in Page(cmp_report.read_text(encoding="utf-8")).visible
    )
    sweep = tmp_path / "sweep"
    result = invoke(
        "sweep", "equipment", "--set", "shocks.rate_per_year=0.1,1", "-n", 2, "-j", 1,
        "--no-plots", "-o", sweep, "--report",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert detect_kind(sweep).name == "sweep" and (sweep / "report.html").is_file()


def test_trace_report_is_the_story(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # one terminal line per event, to compare one by one
    out = tmp_path / "story.html"
    result = invoke("trace", "equipment", "--stalled", "--report", out)
    assert result.exit_code == 0, result.output
    page = Page(out.read_text(encoding="utf-8"))
    terminal = result.output.split("\n\nwrote")[0]
    first_line = terminal.splitlines()[0]  # "Deal N of 'equipment' (replication R, ...)"
    deal = first_line.split()[1]
    assert f"equipment: the story of deal {deal}" in page.visible
    for line in terminal.splitlines()[2:-2]:  # the dated lines, as the terminal tells them
        date, text = line.split("  ", 1)
        assert date in page.visible and text.replace(" -> ", " \u2192 ") in page.visible
    assert terminal.splitlines()[-1] in page.visible  # the verdict
    assert len(page.images) == 1 and "<svg" in _svg(page.images[0]["src"])
    assert f"Deal {deal} Command" in page.visible  # provenance: the deal, the command line


def test_write_report_is_atomic_on_failure(tmp_path, run_dir, monkeypatch):
    """A report that fails to render leaves no file (and no temporary file) behind."""
    import sim.html.run

    def boom(summary):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(sim.html.run, "figures", boom)
    out = tmp_path / "r.html"
    with pytest.raises(RuntimeError):
        write_report(run_dir, out)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# What the run report gained with the teams, parameter uncertainty and a changing inflow
# ---------------------------------------------------------------------------------------------


def test_run_report_headline_has_the_deals_won(run_dir, run_page):
    _, page = run_page
    won = _summary(run_dir)["totals"]["won_count"]
    for key in ("p10", "p50", "p90"):
        shown = page.keyed[f"totals.won_count.{key}"]
        assert float(shown["value"]) == won[key] and shown["text"] == f"{won[key]:.0f}"
    assert f"mean {won['mean']:.1f}" in page.visible


def test_run_report_our_own_people(run_dir, run_page):
    """Each team's numbers as the terminal's team table prints them, and the cost of sale."""
    from sim.report import team_lines

    _, page = run_page
    summary = _summary(run_dir)
    for name, team in summary["teams"].items():
        shown = page.keyed[f"teams.{name}.utilisation"]
        assert float(shown["value"]) == team["utilisation"]
        assert shown["text"] == f"{100 * team['utilisation']:.0f}%"
        assert float(page.keyed[f"teams.{name}.cost"]["value"]) == team["cost"]["mean"]
    for line in team_lines(summary)[2:-1]:  # the terminal's rows, cell by cell
        name, *cells = line.split()
        assert name in summary["teams"]
        for cell in (c for c in cells if c not in ("d", "EUR")):
            assert cell in page.visible, cell
    sale = summary["cost_of_sale"]["per_won_deal"]["mean"]
    shown = page.keyed["cost_of_sale.per_won_deal.mean"]
    assert float(shown["value"]) == sale
    assert shown["text"] == cost_of_sale_texts(summary)["per_won"]  # the terminal's
    assert "Deals wait longest for" in page.visible and "Our presales, month by month" in (
        page.visible
    )


def test_scenario_words_of_teams():
    from sim.html.scenario_words import describe
    from sim.scenario import load_scenario

    scenario = load_scenario(Path(__file__).parents[1] / "scenarios" / "capacity.toml")
    words = describe(scenario)
    presales, legal = words["teams"]
    assert presales["name"] == "presales" and legal["name"] == "legal"
    text = " ".join(presales["texts"])
    assert "2 people at day 0, then 3 people from 2027-07-01" in text
    assert "each works 40 hours a week, and each hour of effort costs 80 EUR" in text
    assert "first come, first served (fifo)" in text
    # pert(30, 38, 50): its median hours over a person's 40 / 7 hours a calendar day
    median = scenario.team[0].work[0].effort_hours.quantile(0.5)
    assert 38 < median < 39
    assert "In Demo and evaluation: typically 39 hours a visit, 8 in 10 visits" in text
    assert f"about {median * 7 / 40:.1f} days of one person; the client waits for it" in text
    text = " ".join(legal["texts"])
    assert "1 person at day 0" in text and "largest amount first (amount)" in text
    assert "it runs alongside the client's own time" in text
    capacity = next(m for m in words["mechanisms_on"] if m["title"].startswith("Our own"))
    assert (
        "Where presales and legal work on a deal, it waits in the team's queue"
        in (capacity["texts"][0])
    )


def _with(**sections):
    from whatif_helpers import small_scenario_data

    from sim.scenario import scenario_from_dict

    return scenario_from_dict({**small_scenario_data(), **sections})


def test_scenario_words_of_parameter_uncertainty_and_inflow():
    import math

    from sim.html.scenario_words import describe

    scenario = _with(
        uncertainty={
            "arrivals_per_month": {"dist": "lognormal", "median": 4, "p90": 6},
            "arrivals_walk_sd": 0.1,
            "amount_scale": {"dist": "lognormal", "median": 1, "p90": 1.1},
            "stages": {"need": {"duration_scale": {"dist": "fixed", "value": 1}}},
        },
        inflow={"trend_per_year": -0.1, "by_month": {"2027-03": 30}},
    )
    words = describe(scenario)
    first, *drawn = words["uncertainty"]
    assert first.startswith("Each replication draws its own parameters, once")
    walk = math.exp(1.2815515655446004 * 0.1 * math.sqrt(12))  # 8 in 10 after 12 months
    expected = [
        "The inflow's level: 4 new deals a month times x0.667-x1.5 in 8 in 10 replications",
        f"within x{1 / walk:.2f}-x{walk:.2f} of where it began",  # x0.64-x1.56
        "Deal amounts: every drawn amount times x0.909-x1.1 in 8 in 10 replications",
        "Need: every duration times x1-x1 in 8 in 10 replications",
    ]
    assert len(drawn) == len(expected)
    for text, needle in zip(drawn, expected, strict=True):
        assert needle in text, (needle, text)
    facts = dict(words["facts"])
    assert "shrinking by 9.5% a year" in facts["New enquiries"]
    assert facts["Enquiries in given months"].startswith("2027-03: 30 a month")
    off = describe(_with(uncertainty={"enabled": False, "arrivals_walk_sd": 0.1}))
    assert off["uncertainty"] == [off["uncertainty"][0]] and "switched off" in off["uncertainty"][0]
    assert describe(_with())["uncertainty"] == []


def test_run_report_says_what_each_replication_drew(tmp_path, cheap_figures):
    from whatif_helpers import small_scenario_data

    from sim.scenario import toml_dumps

    data = {**small_scenario_data(), "uncertainty": {"arrivals_walk_sd": 0.2}}
    (tmp_path / "u.toml").write_text(toml_dumps(data), encoding="utf-8")
    result = invoke(
        "run", tmp_path / "u.toml", "-n", 2, "-j", 1, "--no-plots", "-o", tmp_path / "r"
    )
    assert result.exit_code == 0, result.output
    page = Page(render_folder(tmp_path / "r"))
    assert "Each replication drew its own parameters (its month-to-month wander)" in page.visible
    assert "The inflow wanders month by month" in page.visible


def test_provenance_names_the_engine_and_the_executor(run_dir):
    from sim.html.run import provenance

    summary = _summary(run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["engine"] == "simpy"  # equipment's teams share people: one process per deal
    rows = dict(provenance(summary, manifest))
    assert rows["Engine"] == "simpy: one SimPy process per deal"
    assert "Where it ran" not in rows  # local processes: the worker count says it
    cluster = {
        **manifest,
        "engine": "vectorized",
        "executor": {"scheduler": "tcp://10.0.0.5:8786", "workers": 3, "threads": 6},
    }
    rows = dict(provenance(summary, cluster))
    assert rows["Engine"] == "vectorized: every deal's story decided in bulk with numpy"
    assert rows["Where it ran"] == "Dask scheduler tcp://10.0.0.5:8786: 3 workers, 6 threads"


def test_a_team_run_without_a_won_deal_plots_and_reports(tmp_path):
    """No deal won: cost_of_sale.per_won_deal.mean is null in summary.json, which plot and
    report read back (the team figure's subtitle crashed on it, exit 1): said in words."""
    from sim.cli import main

    out = tmp_path / "run"
    nothing_won = ["--set", "stages.proposal.exits={ lost = 1.0 }", "--deals", "none"]
    argv = ["run", "capacity", *nothing_won, "-n", "2", "-j", "1", "--no-plots", "-o", str(out)]
    assert main(argv) == 0
    assert _summary(out)["cost_of_sale"]["per_won_deal"]["mean"] is None
    assert main(["plot", str(out)]) == 0
    assert (out / "team_presales.png").is_file()
    assert main(["report", str(out)]) == 0
    page = Page((out / "report.html").read_text(encoding="utf-8"))
    shown = page.keyed["cost_of_sale.per_won_deal.mean"]
    assert shown["value"] == "" and shown["text"] == "none, no deal was won"
    figure = next(img for img in page.images if "presales" in img.get("alt", ""))
    assert "no deal won, so no cost of sale per won deal" in _svg(figure["src"])


def _month_table(html: str) -> list[list[str]]:
    import re
    from html import unescape

    section = html.split('<section id="table"', 1)[1].split("</section>", 1)[0]
    body = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [unescape(cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_each_column_of_the_month_table_is_written_one_way(run_dir, run_page):
    """Per cell, a column read down the months went from 1.94k to 870 and 9.99M to 850k."""
    import re

    rows = _month_table(run_page[0])
    summary = _summary(run_dir)
    assert [r[0] for r in rows] == [p["period"] for p in summary["periods"]]
    for column in range(1, len(rows[0])):
        shapes = {re.sub(r"\d", "9", r[column]).lstrip("9") for r in rows if r[column] != "-"}
        assert len(shapes) == 1, (column, shapes)  # one suffix, one number of decimals
    for row, period in zip(rows, summary["periods"], strict=True):  # and the summary's numbers
        scale = 1e6 if row[2].endswith("M") else 1e3 if row[2].endswith("k") else 1.0
        text = row[2].rstrip("Mk")
        half = 0.5 * 10 ** -len(text.partition(".")[2]) * scale
        assert abs(float(text) * scale - period["bookings"]["p50"]) <= half * (1 + 1e-9)


def test_the_stage_flow_matrix_writes_its_numbers_one_way():
    """Mean moves per replication: 1.23k beside 456 was two ways in one table; now one count
    of decimals for the whole matrix, enough that the rarest move does not read 0."""
    from sim.html.run import flow_table

    summary = {"flows": {"need": {"decide": 1234.56, "lost": 0.31, "dormant": 0.0},
                         "decide": {"won": 456.0, "lost": 12.25}}}  # fmt: skip
    table = flow_table(summary)
    assert table["columns"] == ["need", "decide", "dormant", "won", "lost"]
    assert table["rows"] == [
        ("need", [None, "1,234.6", None, None, "0.3"]),
        ("decide", [None, None, None, "456.0", "12.2"]),
    ]
    rare = flow_table({"flows": {"need": {"decide": 5.0, "lost": 0.004}}})
    assert rare["rows"] == [("need", [None, "5.000", "0.004"])]


def test_scenario_words_group_the_thousands():
    """'1461 days' and '2000 open deals: 800 in ...' read as codes; 1.23e+03 was worse."""
    from sim.html.scenario_words import _num, describe
    from sim.scenario import load_scenario

    facts = dict(describe(load_scenario("portfolio"))["facts"])
    assert facts["Horizon"].startswith("1,461 days, to ")
    assert facts["Pipeline at day 0"].startswith("2,000 open deals: 800 in ")
    assert [_num(x) for x in (120.0, 0.25, 1234.5, 2.5)] == ["120", "0.25", "1,234", "2.5"]
