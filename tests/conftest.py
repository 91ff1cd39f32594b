"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder of test fixture files (``tests/data``)."""
    return DATA


@pytest.fixture(scope="session")
def tiny_scenario_text() -> str:
    """The text of a tiny valid scenario: 2 stages, 8 initial deals, arrivals, 180 days."""
    return (DATA / "cli" / "tiny.toml").read_text(encoding="utf-8")


@pytest.fixture
def write_scenario(tmp_path: Path, tiny_scenario_text: str) -> Callable[..., Path]:
    """Write a variant of the tiny scenario into ``tmp_path`` and return its path.

    ``write_scenario("bad.toml", {"old line": "new line"})`` replaces each exact substring once
    (it must be present, so a stale fixture cannot make a test silently pass), and
    ``text=...`` writes that text as is.
    """

    def write(
        name: str = "tiny.toml",
        replace: dict[str, str] | None = None,
        text: str | None = None,
    ) -> Path:
        body = tiny_scenario_text if text is None else text
        for old, new in (replace or {}).items():
            assert body.count(old) == 1, f"fixture text must contain {old!r} exactly once"
            body = body.replace(old, new)
        path = tmp_path / name
        path.write_text(body, encoding="utf-8")
        return path

    return write


@pytest.fixture
def tiny_scenario(write_scenario: Callable[..., Path]) -> Path:
    """A copy of the tiny valid scenario in ``tmp_path``."""
    return write_scenario()


@pytest.fixture(autouse=True, scope="session")
def _terminal_width():
    """Every test reads the terminal output at dealsim's default width (100 columns), whatever
    the terminal running pytest (pytest-xdist's workers set COLUMNS to 80): a phrase a test
    looks for is not split by a line break one day and whole the next. Session-wide, so that
    the outputs module fixtures keep are printed at that width too; tests of the width itself
    set COLUMNS again."""
    from sim.tables import DEFAULT_WIDTH

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", str(DEFAULT_WIDTH))
        yield
