"""Looking into the figures a test draws: the data on their Axes and their text, not pixels.

Every figure module closes its figure with ``matplotlib.pyplot.close`` once saved;
:func:`keep_figures` and :func:`keeping` swap that for a list that keeps them, so a test can
read what was drawn.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.text import Text


@contextmanager
def keeping() -> Iterator[list]:
    """Within the block, figures closed are kept in the list yielded (see :func:`close_all`)."""
    kept: list = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plt, "close", lambda fig=None: kept.append(fig))
        yield kept


def close_all(figures: list) -> None:
    """Really close kept figures (matplotlib holds every open one in memory)."""
    for fig in figures:
        plt.close(fig)


def keep_figures(request: pytest.FixtureRequest) -> list:
    """Figures closed during this test are kept in the returned list; closed when it ends."""
    block = keeping()
    kept = block.__enter__()

    def finish() -> None:
        block.__exit__(None, None, None)
        close_all(kept)

    request.addfinalizer(finish)
    return kept


def all_text(fig) -> str:
    """Every string shown on a figure: titles, labels, tick labels, legends, notes."""
    texts = [t.get_text() for t in fig.findobj(Text)]
    return "\n".join(t for t in texts if t)


def band(ax, label: str) -> PolyCollection:
    """The area drawn by ``fill_between`` with this legend label."""
    found = [c for c in ax.collections if c.get_label() == label]
    assert len(found) == 1, [c.get_label() for c in ax.collections]
    return found[0]


def band_edges(collection: PolyCollection, xs) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) edge of a ``fill_between`` area at each of ``xs`` (dates or numbers)."""
    xs = np.asarray(mdates.date2num(list(xs)) if _dates(xs) else xs, dtype=float)
    vertices = np.concatenate([p.vertices for p in collection.get_paths()])
    low, high = [], []
    for x in xs:
        ys = vertices[np.isclose(vertices[:, 0], x), 1]
        assert len(ys), f"no vertex at x={x}"
        low.append(ys.min())
        high.append(ys.max())
    return np.array(low), np.array(high)


def line(ax, label: str):
    """The Line2D with this legend label."""
    found = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert len(found) == 1, [ln.get_label() for ln in ax.get_lines()]
    return found[0]


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels, from the PNG header."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])


def _dates(xs) -> bool:
    import datetime as dt

    return len(xs) > 0 and isinstance(list(xs)[0], dt.date)
