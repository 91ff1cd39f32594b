"""The trainer's page (``dealsim trace ... --report story.html``): one deal's dated story with
its timeline picture, set large enough to be read from the back of a room.

It is made from the stories ``sim.trace`` tells (not from a results folder): the sentences and
the verdict are the terminal's, the picture is ``sim.trace.draw_timeline`` drawn as SVG.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from sim.html.page import render, svg_figure, write_page
from sim.report import money
from sim.trace import PICKS, Story, draw_timeline


def story_entry(story: Story) -> dict:
    """One deal: its amount, why it was picked, its dated lines and its verdict."""
    calendar = story.model.calendar
    lines = story.lines()
    return {
        "deal": story.deal,
        "amount": money(story.amount, story.scenario.currency),
        "picked": PICKS[story.pick] if story.pick else None,
        "lines": [(calendar.date_of(day).isoformat(), _arrows(text)) for day, text in lines],
        # the terminal's last line says how the deal ended and where its time went
        "verdict": story.text().rsplit("\n", 1)[-1],
    }


def _arrows(text: str) -> str:
    """The terminal's '->' set as an arrow, for the wall."""
    return text.replace(" -> ", " \u2192 ")


def story_context(stories: list[Story], command: list[str] | None = None) -> dict:
    """The template context of the trainer's page for one or a few deals of one replication.

    Args:
        command: the command line that told the story (it tells the same story again).
    """
    first = stories[0]
    scenario = first.scenario
    deals = ", ".join(str(s.deal) for s in stories)
    title = (
        f"{scenario.name}: the story of deal {first.deal}"
        if len(stories) == 1
        else f"{scenario.name}: the stories of deals {deals}"
    )
    picture = svg_figure(
        lambda path: draw_timeline(stories, path),
        "The timeline",
        "Bars: the stage the deal is in, over dates (0 = dormant, the client doing without); "
        "hatching: waiting for budget or for a better exchange rate; marks above the bar: what "
        "happened to the deal.",
    )
    return {
        "title": title,
        "subtitle": scenario.description,
        "figure": picture,
        "stories": [story_entry(s) for s in stories],
        "provenance": [
            ("Scenario", scenario.name),
            ("Replication", str(first.replication)),
            ("Seed", str(first.seed)),
            ("Deal" if len(stories) == 1 else "Deals", deals),
            *([("Command", shlex.join(command))] if command else []),
        ],
    }


def write_story_report(stories: list[Story], path: Path, command: list[str] | None = None) -> Path:
    """Write the trainer's page for ``stories`` to ``path`` (an .html file), atomically."""
    return write_page(Path(path), render("story.html.j2", story_context(stories, command)))
