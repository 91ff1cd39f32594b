"""``dealsim trace``: picking a deal with a story, telling it in dated plain sentences, drawing it.

The engine is deterministic for a scenario, seed and replication, and the selection rules break
ties by deal number, so every pick here must be the same on every run, and must really have the
story it was picked for (checked against the deal's own events and stall days).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from figure_helpers import keep_figures  # tests/ is on sys.path
from matplotlib.collections import PolyCollection

from sim.errors import UserError
from sim.model import compile_scenario
from sim.scenario import load_scenario
from sim.trace import (
    PICTURE_WIDTH,
    RICH_STORY,
    _n_lines,
    deal_events,
    draw_timeline,
    find_stories,
    find_story,
    parse_deal_list,
    picture_height,
    run_with_events,
    select_deal,
    stories_of,
)

DATE_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2})  (\S.*)$")


@pytest.fixture(scope="module")
def cli() -> click.Group:
    """The real `dealsim` group, where these commands are registered."""
    from sim.cli import cli as dealsim

    return dealsim


@pytest.fixture(scope="module")
def equipment():
    scenario = load_scenario("equipment")
    model = compile_scenario(scenario)
    return scenario, model, run_with_events(model, scenario.seed, 0)


def dated_lines(text: str) -> list[tuple[dt.date, str]]:
    out = []
    for line in text.splitlines():
        m = DATE_LINE.match(line)
        if m:
            out.append((dt.date.fromisoformat(m.group(1)), m.group(2)))
    return out


def test_explicit_deal_is_told_in_dated_plain_lines_in_order():
    story = find_story("equipment", deal=3, replication=0)
    assert (story.deal, story.replication, story.seed) == (3, 0, 1)
    lines = dated_lines(story.text())
    assert len(lines) >= 3
    dates = [d for d, _ in lines]
    assert dates == sorted(dates)
    assert dates[0] == dt.date(2027, 1, 1)  # deal 3 is in the day-0 pipeline
    assert lines[0][1].startswith("Already in the pipeline at the start: ")
    texts = [t for _, t in lines]
    assert all(t[0].isupper() for t in texts)  # sentences, not codes
    # no engine vocabulary leaks into the story
    for word in ("group_change", "budget_recheck", "no_decision", "timing_wait"):
        assert word not in story.text()
    # the last line is the outcome or the horizon
    last = texts[-1]
    assert any(k in last for k in ("WON", "LOST", "NO DECISION", "Still open at the horizon"))


def test_stalled_picks_the_most_stalled_rich_story(equipment):
    scenario, model, records = equipment
    story = find_story(scenario, pick="stalled", replication=0)
    stalled = records.stall.sum(axis=1)
    events = deal_events(records)
    rich = [i for i in range(records.n_deals) if _n_lines(model, events.get(i, [])) >= RICH_STORY]
    assert rich
    assert story.stalled_days == pytest.approx(max(stalled[i] for i in rich))
    assert story.stalled_days > 200
    assert "days stalled" in story.text()


def test_reset_pick_really_was_sent_back(equipment):
    scenario, model, _ = equipment
    story = find_story(scenario, pick="reset", replication=0)
    backs = [
        e
        for e in story.events
        if e[2] == "move"
        and e[5].startswith(("budget_recheck", "shock", "group_change"))
        and (e[4] == model.dormant or e[4] < e[3])
    ]
    assert backs
    text = story.text()
    assert any(
        phrase in text
        for phrase in ("Final doubts", "Market shock", "must be presented again", "freezes")
    )


def test_won_pick_is_won_and_ends_with_the_signature():
    story = find_story("equipment", pick="won", replication=0)
    assert story.outcome == "won"
    assert "Contract signed: WON" in dated_lines(story.text())[-1][1]
    assert len(story.lines()) >= RICH_STORY


def test_picks_are_deterministic():
    for pick in ("stalled", "reset", "won"):
        a = find_story("equipment", pick=pick, seed=5)
        b = find_story("equipment", pick=pick, seed=5)
        assert (a.replication, a.deal, a.text()) == (b.replication, b.deal, b.text())


def test_select_deal_returns_none_without_such_story(tiny_scenario: Path):
    scenario = load_scenario(tiny_scenario)
    model = compile_scenario(scenario)
    records = run_with_events(model, 7, 0)
    assert select_deal(model, records, "reset") is None  # no budget, people or shocks
    with pytest.raises(UserError, match="--reset: .* has no mechanism that resets a deal"):
        find_story(scenario, pick="reset")


def test_bad_selections_are_user_errors():
    with pytest.raises(UserError, match="--deal: 100000"):
        find_story("equipment", deal=100000, replication=0)
    with pytest.raises(UserError, match="cannot be used together"):
        find_story("equipment", deal=1, pick="won")
    with pytest.raises(UserError, match="--deals"):
        parse_deal_list("3,x")
    assert parse_deal_list(" 3, 17,") == [3, 17]
    for gap in ("3,,4", "", ","):
        with pytest.raises(UserError, match="an empty deal number"):
            parse_deal_list(gap)


def test_plain_words_for_every_kind_of_event():
    """Across a few stories of equipment every mechanism shows up in plain words."""
    text = "\n".join(
        find_story("equipment", pick=pick, replication=0).text()
        for pick in ("stalled", "reset", "won")
    )
    for phrase in (
        "Budget line only: waits for the next fiscal year's money (released ",
        "Ready to buy, waiting for a better exchange rate",
        "New general director",
        "-> dormant",
        "Moves on -> ",
    ):
        assert phrase in text


def test_timeline_picture_is_written(tmp_path: Path):
    story = find_story("equipment", pick="reset", replication=0)
    stories = [story, *stories_of(story, [0, 1])]
    path = draw_timeline(stories, tmp_path / "timeline.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000
    with pytest.raises(UserError, match=".png"):
        draw_timeline(stories, tmp_path / "timeline.pdf")


def test_cli_trace(cli, tmp_path: Path):
    picture = tmp_path / "deal.png"
    result = CliRunner().invoke(
        cli, ["trace", "equipment", "--won", "--picture", str(picture), "--deals", "0"]
    )
    assert result.exit_code == 0, result.output
    assert picture.is_file()
    assert "Contract signed: WON" in result.output
    assert result.output.count("Deal ") >= 2
    bad = CliRunner().invoke(cli, ["trace", "equipment", "--deal", "-1", "-r", "0"])
    assert bad.exit_code == 2
    assert "--deal" in bad.stderr


def test_deals_draws_exactly_those_deals(cli, tmp_path: Path, request):
    """--deals alone: those deals of replication 0, in the order given, each once; no picked
    deal is slipped in first (it used to draw the most stalled deal as well)."""
    kept = keep_figures(request)
    picture = tmp_path / "deals.png"
    result = CliRunner().invoke(
        cli, ["trace", "equipment", "--deals", "17,3,17", "--picture", str(picture)]
    )
    assert result.exit_code == 0, result.output
    heads = re.findall(r"^Deal (\d+) of 'equipment' \(replication (\d+)", result.output, re.M)
    assert heads == [("17", "0"), ("3", "0")]
    ax = kept[0].axes[0]
    rows = [t.get_text().split("\n")[0] for t in ax.get_yticklabels()]
    assert rows == ["Deal 3", "Deal 17"]  # bottom to top: the first deal on top
    assert ax.get_title(loc="left") == "equipment: the stories of deals 17 and 3"
    bars = [c for c in ax.collections if isinstance(c, PolyCollection)]  # broken_barh's
    rows_drawn = {
        round(float(p.vertices[:, 1].min() + p.vertices[:, 1].max()) / 2, 6)
        for c in bars
        for p in c.get_paths()
    }
    assert rows_drawn == {0.0, 1.0}  # two rows of bars, no third deal


def test_deals_after_a_pick_come_from_its_replication():
    picked = find_stories("equipment", [3], pick="won", replication=2)
    assert [s.replication for s in picked] == [2, 2]
    assert picked[0].outcome == "won" and picked[1].deal == 3
    alone = find_stories("equipment", [picked[0].deal, 3], replication=2)
    assert [s.deal for s in alone] == [picked[0].deal, 3]
    with pytest.raises(UserError, match="--deals: 100000 is not a deal of replication 0"):
        find_stories("equipment", [3, 100000])


def test_timeline_fits_a_slide():
    """Up to six deals the picture is at most 16:9 (wider is fine: it letterboxes)."""
    for n in range(1, 7):
        assert picture_height(n) <= PICTURE_WIDTH * 9 / 16 + 1e-9
    assert picture_height(12) > picture_height(7) > PICTURE_WIDTH * 9 / 16 - 1e-9


def test_control_characters_in_labels_are_escaped_on_the_terminal():
    from sim.trace import printable

    assert printable("Need\x1b[2J analysis\r\x07") == "Need\\x1b[2J analysis\\r\\x07"
    assert printable("Квалификация — план") == "Квалификация — план"
    assert printable("a\u202eb") == "a\\u202eb"


def test_ctrl_c_before_the_handlers_are_set_ends_quietly(monkeypatch, capsys):
    import pytest

    from sim import console, signals

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(signals, "install", interrupted)
    with pytest.raises(SystemExit) as stop:
        console.entry()
    assert stop.value.code == 130
    assert capsys.readouterr().err == "Interrupted (SIGINT).\n"


def test_two_pick_selectors_are_refused():
    from click.testing import CliRunner

    from sim.cli import cli

    out = CliRunner().invoke(cli, ["trace", "--reset", "--won"])
    assert out.exit_code == 2
    assert "--reset and --won cannot be used together" in out.output
    assert "Traceback" not in out.output


def test_a_request_for_our_people_tells_a_queue_only_when_the_deal_waited():
    """The log has a request whether or not a person was free; "queued behind other deals"
    was written for every one, waits of zero days included. Capacity's presales and legal
    queue for some deals and not for others: each request is told as what happened to it."""
    first = find_story("capacity", deal=0, replication=0)
    stories = [first, *stories_of(first, list(range(1, 80)))]
    told = {"waited": 0, "at once": 0}
    for story in stories:
        events = story.events
        texts = iter(text for _, text in story.lines() if re.search(r"\bour\b", text, re.I))
        for k, (_, day, kind, _, _, cause) in enumerate(events):
            if kind.startswith("seller_"):
                text = next(texts)
            if kind not in ("seller_wait", "seller_queued"):
                continue
            ends = (e[1] for e in events[k + 1 :] if e[2] == "seller_start" and e[5] == cause)
            start = next(ends, None)  # None: still queued when the deal moved or the story ended
            waited = start is None or start > day
            queue_words = "queued behind other deals" in text or "everyone is busy" in text
            assert queue_words == waited, (story.deal, text)
            told["waited" if waited else "at once"] += 1
            if start is not None and 1.5 <= start - day < 60:  # how long, in days
                assert f" {round(start - day)} days" in text, text
    assert told["waited"] > 0 and told["at once"] > 0, told


def test_picture_legend_names_each_event_as_the_story_does(tmp_path: Path, request):
    """Deal 29's new general director freezes the project: the story said so, the picture's
    legend called it 'New decision-maker: deal sent back'."""
    kept = keep_figures(request)
    story = find_story("equipment", pick="stalled", replication=0)
    told = story.text()
    assert "New general director freezes the project -> dormant" in told
    draw_timeline([story], tmp_path / "deal.png")
    legend = [t.get_text() for t in kept[0].axes[0].get_legend().get_texts()]
    assert "New decision-maker freezes the project -> dormant" in legend
    assert not any("sent back" in label for label in legend)
    # and every named event of the story is in the legend in the story's words
    from sim.trace import EVENT_NAMES, event_kind

    kinds = {event_kind(story.model, e) for e in story.events} - {None}
    assert {"group_freeze", "released"} <= kinds
    for kind in kinds:
        words = EVENT_NAMES[kind][1]
        assert words in told
        assert any(label.endswith(words) for label in legend), (kind, legend)


def test_every_reset_shelve_and_cancel_has_its_own_name(equipment):
    from sim.trace import MARKS, event_kind, mark_label

    _, model, _ = equipment
    lost = model.won + 1

    def kind(kind_, dst, cause):
        return event_kind(model, (0, 5.0, kind_, 2, dst, cause))

    assert kind("move", 0, "group_change:cfo") == "group_reset"
    assert kind("move", model.dormant, "group_change:cfo") == "group_freeze"
    assert kind("close", lost, "group_change:cfo") == "group_cancel"
    assert kind("move", 0, "shock") == "shock_reset"
    assert kind("move", model.dormant, "shock") == "shock_shelve"
    assert kind("close", lost, "shock") == "shock_cancel"
    assert kind("move", 1, "budget_recheck") == "recheck"
    assert kind("move", 3, "") is None
    labels = [mark_label(m) for m in MARKS]
    assert len(set(labels)) == len(labels)  # no two marks share a legend text


def test_a_repeated_deal_and_a_replication_past_the_count_are_said(cli):
    """--deals 3,3 told deal 3 once without a word; -r past the scenario's replications traced
    that replication without saying it is in no run of the scenario as written."""
    result = CliRunner().invoke(cli, ["trace", "equipment", "--deals", "3,3", "-r", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("Deal 3 of 'equipment' (replication 1,") == 1
    assert "--deals: 3 listed more than once: each story is told once" in result.stderr
    assert "past the scenario's" not in result.stderr  # replication 1 of 200: in every run
    far = CliRunner().invoke(cli, ["trace", "equipment", "--deals", "3", "-r", "100000"])
    assert far.exit_code == 0, far.output
    assert "Deal 3 of 'equipment' (replication 100000," in far.stdout
    assert "replication 100000 is past the scenario's 200 (run simulates 0..199)" in far.stderr


def test_a_replication_past_the_count_is_the_one_a_longer_run_has():
    """Replications are keyed by number: -r N is replication N of any run long enough to have
    it (what the note says of one past the scenario's count), not a fallback to another."""
    from sim.engine import simulate_replications

    scenario = load_scenario("equipment")
    model = compile_scenario(scenario)
    traced = find_stories(scenario, [3], replication=5)[0]
    *_, fifth = simulate_replications(model, scenario.seed, range(6))
    assert traced.replication == 5
    assert traced.amount == float(fifth.amount[3])
    assert (traced.created, traced.state) == (float(fifth.created[3]), int(fifth.state[3]))
    first = find_stories(scenario, [3], replication=0)[0]
    assert first.amount != traced.amount


def test_a_wait_for_our_work_alongside_ends_when_that_work_ends():
    """A deal done with its part of a stage waits for the work our people do alongside (logged
    with the cause "team"): the story told it as lasting to the story's end (3.5 months for a
    wait of 0.6 days) and as "everyone is busy with other deals"."""
    from sim import trace
    from sim.model import compile_scenario
    from sim.overrides import resolve_scenario

    scenario, _ = resolve_scenario("capacity", {"team.legal.work.0.stage": "qualify"})
    model = compile_scenario(scenario)
    told = 0
    for rep in range(3):
        events = trace.deal_events(trace.run_with_events(model, scenario.seed, rep))
        for deal, evs in events.items():
            waits = [k for k, e in enumerate(evs) if e[2] == "seller_wait" and e[5] == "team"]
            if not waits or told >= 5:
                continue
            k = waits[0]
            end = next(e[1] for e in evs[k + 1 :] if e[2] in ("seller_done", "seller_left", "move"))
            story = trace.find_stories(scenario, [], deal=deal, replication=rep)[0]
            lines = [text for day, text in trace.story_lines(story) if abs(day - evs[k][1]) < 1e-9]
            said = [text for text in lines if "to finish the work alongside" in text]
            assert said, lines
            assert trace._wait_length(float(end - evs[k][1])) in said[0]
            assert "busy with other deals" not in said[0]
            drawn = [w for w in trace._waits(story) if w[0] == evs[k][1] and w[2] == "seller"]
            assert drawn and drawn[0][1] == pytest.approx(end), drawn  # the picture agrees
            told += 1
    assert told > 0


def test_a_picture_name_that_is_only_the_suffix_is_told_what_is_missing(cli):
    result = CliRunner().invoke(cli, ["trace", "chain", "--deal", "1", "--picture", ".png"])
    assert result.exit_code == 2 and "needs a name before .png" in result.output


def test_trace_of_a_scenario_without_stalls_says_why_no_deal_is_picked(tmp_path):
    """A first-hour user's `dealsim trace base.toml` (no stall mechanism) was told no deal in
    replications 0..19 is "the deal with the most stalled days", as if unlucky."""
    from sim.cli import cli

    path = tmp_path / "plain.toml"
    path.write_text(
        'name = "plain"\nstart_date = 2027-01-01\nhorizon_days = 365\n[deals]\n'
        'initial = { a = 5 }\namount = { dist = "fixed", value = 1000 }\n[[stages]]\n'
        'name = "a"\nduration = { dist = "exponential", mean = 30 }\n'
        "exits = { won = 0.5, lost = 0.5 }\n",
        encoding="utf-8",
    )
    default = CliRunner().invoke(cli, ["trace", str(path)])
    assert default.exit_code == 2, default.output
    assert "a stalled deal (the default when no --deal is given): 'plain' has no stall" in (
        default.output
    )
    assert "give --won, or --deal N" in default.output
    reset = CliRunner().invoke(cli, ["trace", str(path), "--reset"])
    assert reset.exit_code == 2 and "--reset: 'plain' has no mechanism that resets" in reset.output
    won = CliRunner().invoke(cli, ["trace", str(path), "--won"])
    assert won.exit_code == 0, won.output
