"""Sensitivity and backtest folders for the report tests (test_html_report.py and
test_report_browser.py), sized small: made once per test session and shared, like
report_helpers.shared_report. Tests must not change them."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from whatif_helpers import invoke, write_small_file  # tests/ on sys.path

#: Two parameters of the small scenario (whatif_helpers.small_scenario_data) with clear effects.
VARY = ("--vary", "budget.funded_share=0.2..0.8", "--vary", "shocks.rate_per_year=0.2..2")

#: A market with a wandering inflow, to make a stage history from (as tests/test_backtest.py).
TRUTH = {
    "name": "truth",
    "start_date": dt.date(2020, 1, 1),
    "horizon_days": 640,
    "seed": 5,
    "deals": {
        "arrivals_per_month": 12,
        "amount": {"dist": "lognormal", "median": 1000, "p90": 3000},
    },
    "stages": [
        {
            "name": "work",
            "duration": {"dist": "lognormal", "median": 40, "p90": 120},
            "exits": {"won": 0.45, "lost": 0.55},
        }
    ],
    "uncertainty": {"arrivals_walk_sd": 0.2},
}
CUTOFFS = "2020-09-30,2021-03-31"
UNTIL = "2021-06-30"


#: The terminal width the commands here print at: wide enough that no table wraps or stacks,
#: since the report's cells are compared with the terminal's one by one.
WIDE = "1000"


def terminal(folder: Path) -> str:
    """What the command that made ``folder`` printed (kept beside it), at :data:`WIDE` columns."""
    return folder.with_suffix(".txt").read_text(encoding="utf-8")


def _invoke_wide(*args: object):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", WIDE)
        return invoke(*args)


def make_sensitivity(folder: Path, method: str = "tornado", *args: object) -> Path:
    """A tornado (or Sobol analysis) of the small scenario's bookings, in ``folder / method``;
    what it printed in ``folder / f'{method}.txt'``."""
    folder.mkdir(parents=True, exist_ok=True)
    scenario = write_small_file(folder)
    sobol = ("--method", "sobol", "--samples", 4) if method == "sobol" else ()
    out = folder / method
    result = _invoke_wide(
        "sensitivity", scenario, *VARY, *sobol, "-n", 4 if method == "tornado" else 2,
        "-j", 1, "--no-plots", "-o", out, *args,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out.with_suffix(".txt").write_text(result.stdout, encoding="utf-8")
    return out


def make_history(folder: Path, stage: str = "work") -> Path:
    """One simulated stage history with amounts, as a CRM export would give it; its stage is
    spelt ``stage`` (any text, as a CRM writes it)."""
    from sim.api import simulate
    from sim.exports import export_history
    from sim.scenario import scenario_from_dict

    folder.mkdir(parents=True, exist_ok=True)
    run = folder / "truth"
    simulate(
        scenario_from_dict(TRUTH), replications=2, jobs=1, output=run, events=True, plots=False
    )
    plain = folder / "plain.csv"
    export_history(run, plain, replication=0)
    with plain.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    history = folder / "history.csv"
    with history.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([*rows[0], "amount"])
        for deal, state, when in rows[1:]:
            amount = 500 + 37 * (sum(map(ord, deal)) % 40)  # the same deal, the same amount
            writer.writerow([deal, stage if state == "work" else state, when, amount])
    return history


def make_backtest(folder: Path, history: Path | None = None, *args: object) -> Path:
    """A backtest at two cut-offs of a simulated history, in ``folder / 'backtest'``; what it
    printed in ``folder / 'backtest.txt'``."""
    history = history or make_history(folder / "history")
    out = folder / "backtest"
    result = _invoke_wide(
        "backtest", history, "--as-of", CUTOFFS, "--until", UNTIL, "-n", 20, "--no-plots",
        "-o", out, *args,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out.with_suffix(".txt").write_text(result.stdout, encoding="utf-8")
    return out


_SHARED: dict[tuple[str, str], tuple[Path, Path]] = {}


def shared_kind_report(tmp_path_factory, kind: str) -> tuple[Path, Path]:
    """A ``tornado``, ``sobol`` or ``backtest`` folder and its report, made once per session."""
    from sim.html import write_report

    key = (str(tmp_path_factory.getbasetemp()), kind)
    if key not in _SHARED:
        root = tmp_path_factory.mktemp(f"shared-{kind}")
        folder = make_backtest(root) if kind == "backtest" else make_sensitivity(root, kind)
        _SHARED[key] = (folder, write_report(folder, root / f"{kind}-report.html"))
    return _SHARED[key]


def shared_history(tmp_path_factory) -> Path:
    """The stage history of the shared backtest (read it, do not change it)."""
    folder, _ = shared_kind_report(tmp_path_factory, "backtest")
    return folder.parent / "history" / "history.csv"
