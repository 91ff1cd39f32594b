"""A Sobol estimate that cannot be the share it estimates (outside 0-1, or an ST below its S1)
is sampling noise: shown clipped to 0-1 and marked (one below 0 as ``~0*``), the raw estimate
and its status kept in sensitivity.json, the sum of S1 said to be of the raw estimates when the
table clips one, and one --samples advice for the whole analysis (table, warnings, report)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

import sim


@pytest.fixture(scope="module")
def one_parameter():
    """One parameter, N=4, 2 replications: S1 and ST both estimated above 1 on this seed."""
    return sim.sensitivity(
        "equipment", ["deals.arrivals_per_month=2..8"], method="sobol", samples=4, replications=2
    )


def _said(result) -> str:
    return " ".join(result.table().split())


def test_an_estimate_above_one_is_shown_clipped_marked_and_kept_raw(one_parameter):
    row = one_parameter.rows[0]
    assert row["S1"]["value"] > 1 and row["ST"]["value"] > 1  # the raw estimates, noise
    text = _said(one_parameter)
    shown = [float(v) for v in re.findall(r"(?<![\w.\-])(\d+\.\d\d)\*? \[", text)]
    assert shown and all(0 <= v <= 1 for v in shown), text  # no share above 1 on the table
    assert "1.00* [" in text
    assert f"estimate {row['ST']['value']:.2f}: outside 0-1, sampling noise" in text
    assert "S1 = ST = 1 by definition" in text
    data = one_parameter.to_dict()["factors"][0]
    assert data["ST"]["value"] == row["ST"]["value"] and data["ST"]["shown"] == 1.0
    assert "sampling noise" in data["ST"]["noise"]


@pytest.fixture(scope="module")
def one_below_zero():
    """N=16, 2 replications: the stage's median barely moves bookings, and its S1 is estimated
    a little below 0 on this seed (the inflow's S1 and ST above 1)."""
    return sim.sensitivity(
        "textbook",
        ["deals.arrivals_per_month=4..8", "stages.0.duration.median=20..40"],
        method="sobol",
        samples=16,
        replications=2,
    )


def test_an_estimate_below_zero_is_marked_like_the_others(one_below_zero):
    row = next(r for r in one_below_zero.rows if r["key"] == "stages.0.duration.median")
    value = row["S1"]["value"]
    assert -0.005 < value < 0  # the raw estimate, noise (and two decimals would read -0.00)
    line = next(x for x in one_below_zero.table().splitlines() if "stages.0" in x)
    assert line.split("20..40")[1].split()[0] == "~0*"  # its S1 cell, marked
    from sim.sobol import estimate_text

    text = _said(one_below_zero)
    assert f"* S1 of stages.0.duration.median: estimate {estimate_text(value)}: outside 0-1" in text
    assert "estimate -0.00:" not in text
    warning = next(w for w in one_below_zero.warnings if "sampling noise" in w)
    assert "S1 of stages.0.duration.median" in warning


def test_the_sum_of_s1_says_it_adds_the_raw_estimates_the_table_clips(one_below_zero):
    total = sum(r["S1"]["value"] for r in one_below_zero.rows)
    assert total > 1  # raw: above what the clipped column could add to with these intervals
    text = _said(one_below_zero)
    assert f"Sum of S1 of the raw estimates (those marked * before clipping): {total:.2f};" in text
    from sim.sensitivity_text import raw_sum_words

    unclipped = SimpleNamespace(rows=[{"S1": {"value": 0.6}}, {"S1": {"value": 0.3}}])
    assert raw_sum_words(unclipped) == ""  # nothing clipped: the column is the raw estimates


def test_an_st_below_its_s1_is_noise():
    from sim.sobol import index_noise

    row = {"S1": {"value": 0.6}, "ST": {"value": 0.5}}
    assert "below its S1" in index_noise(row, "ST")
    assert index_noise(row, "S1") is None
    assert index_noise({"S1": {"value": 0.4}, "ST": {"value": 0.5}}, "ST") is None


def test_the_report_headline_writes_the_total_index_as_the_terminal(one_parameter):
    from sim.html.sensitivity import sobol_headline

    card = sobol_headline(one_parameter)["cards"][0]
    assert card["text"] == "1.00*"
    assert "sampling noise" in card["label"]


def test_one_sample_size_advice_everywhere():
    """Two parameters at N=32: the table's notes and the warning once advised three different
    --samples (512, 1024, then about 512)."""
    result = sim.sensitivity(
        "equipment",
        ["deals.arrivals_per_month=2..8", "budget.funded_share=0.2..0.5"],
        method="sobol",
        samples=32,
        replications=4,
    )
    text = _said(result)
    advised = {int(n) for n in re.findall(r"--samples (\d+)", text)} - {32}
    assert len(advised) == 1, text
    assert advised == {result.to_dict()["recommended_samples"]}
