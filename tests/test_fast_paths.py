"""The engines' shortcuts give what the plain computations give."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sim import aggregate, api
from sim.draws import _first_at_or_below


def scan_for_first_at_or_below(levels: np.ndarray, bound: np.ndarray, width: int) -> np.ndarray:
    """The plain answer: for each day j, scan days j+1 .. j+width for the first level at or
    below ``bound[j]``; how many days come before it (``width`` when none does)."""
    ahead = np.lib.stride_tricks.sliding_window_view(levels[1:], width)[: len(bound)]
    hit = ahead <= bound[:, None]
    return np.where(hit.any(axis=1), hit.argmax(axis=1), width)


@pytest.mark.parametrize("width", [1, 2, 3, 7, 8, 9, 64, 120])
def test_the_first_day_at_or_below_a_bound_is_the_one_a_scan_finds(width):
    """Binary lifting on range minima (the timing stage's release days) against a scan, on
    integer walks so that levels equal to the bound (ties) come up often."""
    rng = np.random.default_rng(width)
    ties = 0
    for _ in range(30):
        days = int(rng.integers(1, 400))
        levels = np.concatenate([[0.0], np.cumsum(rng.integers(-2, 3, days + width - 1))])
        bound = levels[:days] + rng.integers(-4, 1, days)
        expected = scan_for_first_at_or_below(levels, bound, width)
        np.testing.assert_array_equal(_first_at_or_below(levels, bound, width), expected)
        # A strict "below" would give other answers where a level meets the bound: the
        # comparison above can tell them apart.
        strict = scan_for_first_at_or_below(levels, bound - 0.5, width)
        ties += int((strict != expected).sum())
    assert ties > 0


def test_cycle_times_counted_in_bulk_give_the_same_summary_as_counted_at_once(monkeypatch):
    """The pooled cycle-time histograms are integer counts: counting every replication's
    cycle times as it comes, or a few hundred thousand at a time, gives the same summary."""

    def summary(pending: int) -> str:
        monkeypatch.setattr(aggregate, "PENDING_CYCLE_TIMES", pending)
        run = api.simulate("portfolio", replications=6, seed=3, jobs=1, write=False)
        return json.dumps(run.summary, sort_keys=True)

    assert summary(1) == summary(aggregate.PENDING_CYCLE_TIMES) == summary(10**9)


@pytest.mark.parametrize(
    "cumulative",
    [[0.3, 0.7, 1.0], [0.0, 0.0, 0.5, 0.5, 1.0], [0.25, 0.25, 0.25, 1.0], [1.0]],
)
def test_exits_are_counted_as_a_binary_search_would_pick_them(cumulative):
    """sim.draws counts the cumulative probabilities at or below each uniform one distinct value
    at a time; ties (exits of probability 0) and uniforms exactly on a boundary included."""
    from sim.draws import _count_at_or_below

    cumulative = np.array(cumulative)
    u = np.concatenate([np.random.default_rng(3).random(10_000), cumulative, [0.0]])
    out = np.empty(u.shape, dtype=np.uint8)
    _count_at_or_below(cumulative, u, out, np.empty(u.shape, dtype=bool))
    assert np.array_equal(out, np.searchsorted(cumulative, u, side="right"))
