"""Colours shared by every figure, so that a stage looks the same on every slide.

Kept apart from the drawing modules (and free of matplotlib) so that the run's figures
(:mod:`sim.plots`) and the trainer's timeline (:mod:`sim.trace`) read one palette.
"""

from __future__ import annotations

#: One colour per stage in funnel order: distinct hues (Tableau 10 without its grey), so that
#: neighbouring stages never look alike, in a stacked chart or on a timeline.
STAGE_PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#b07aa1",
    "#edc948",
    "#76b7b2",
    "#e15759",
    "#9c755f",
    "#ff9da7",
)
#: Dormant ("stage zero", doing without): a muted grey, clearly not one of the stages.
DORMANT_COLOR = "#c3c8cf"


def stage_colors(n_stages: int) -> list[str]:
    """The colour of each of ``n_stages`` stages, in order (the palette repeats after nine)."""
    return [STAGE_PALETTE[s % len(STAGE_PALETTE)] for s in range(n_stages)]
