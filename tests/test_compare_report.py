"""The words and numbers of a comparison's HTML report (sim.html.whatif.read_compare): its
figure caption says what the figure draws, and money is written as the table writes it.

The folder is written by hand with the numbers of ``dealsim compare erp equipment -n 20``
(before compare refused their two currencies), which showed both defects: cards '7.671M' next
to '14.42M', a headline '6.745M ... [+5.693M, +7.796M]' under a table row '+6.74M [+5.69M,
+7.80M]', and a caption about medians and a bottom panel that the figure does not have.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sim.comparison import COMPARE_PLOT, COMPARISON_JSON
from sim.html.whatif import read_compare


def _bookings(mean: float, low: float, high: float) -> dict:
    return {"bookings": {"mean": mean, "se": 1.0, "ci_low": low, "ci_high": high, "n": 20}}


def _scenario(label: str, mean: float, low: float, high: float) -> dict:
    return {"label": label, "name": label, "path": None, "sets": {}, "scenario_hash": "0" * 64,
            "metrics": _bookings(mean, low, high)}  # fmt: skip


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    delta = {"a": 7_671_000.0, "b": 14_415_700.0, "delta": 6_744_800.0, "ci_low": 5_693_000.0,
             "ci_high": 7_796_000.0, "se": 500_000.0, "n": 20}  # fmt: skip
    data = {
        "scenarios": [
            _scenario("erp", 7_671_000.0, 7_058_000.0, 8_284_000.0),
            _scenario("equipment", 14_415_700.0, 13_260_000.0, 15_570_000.0),
        ],
        "seed": 1,
        "replications": 20,
        "level": 0.95,
        "currency": "EUR",
        "metrics": {"bookings": delta},
        "comparisons": [{"a": "erp", "b": "equipment", "metrics": {"bookings": delta}}],
    }
    (tmp_path / COMPARISON_JSON).write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / COMPARE_PLOT).write_bytes(b"\x89PNG\r\n\x1a\n")  # the report only inlines it
    return tmp_path


def _decimals(text: str) -> set[int]:
    """How many decimals each number of a text has: '7.67M to 8.28M' -> {2}."""
    return {len(d) for d in re.findall(r"\d+\.?(\d*)M", text)}


def test_the_cards_write_every_amount_with_one_scale(folder: Path) -> None:
    cards = read_compare(folder)["cards"]
    assert [c["text"] for c in cards] == ["7.67M EUR", "14.42M EUR"]
    assert [c["interval"] for c in cards] == ["7.06M to 8.28M", "13.26M to 15.57M"]
    assert _decimals(" ".join(c["text"] + " " + c["interval"] for c in cards)) == {2}


def test_the_headline_writes_the_bookings_row_of_the_table(folder: Path) -> None:
    context = read_compare(folder)
    (block,) = context["blocks"]
    row = block["rows"][0]  # bookings
    text = block["headline"]["text"]
    assert f"books {row['delta'].lstrip('+')} EUR more" in text
    assert f"difference {row['interval']} EUR" in text
    assert _decimals(text) == {2}


def test_the_caption_says_what_the_figure_draws(folder: Path) -> None:
    """compare_bookings draws means (left) and the paired difference (right); no median and no
    bottom difference panel (sim.compare_plots.compare_bookings)."""
    caption = read_compare(folder)["figure"].caption
    assert "median" not in caption and "bottom, the difference" not in caption
    for words in ("mean bookings by month", "mean cumulative", "P10-P90", "Right:",
                  "mean of the paired differences", "95% paired interval"):  # fmt: skip
        assert words in caption, words
