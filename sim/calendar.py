"""Days <-> dates, calendar months and the buyer's budget releases.

The engine counts time in float days from the scenario's ``start_date`` (day 0 is that date at
00:00). Everything calendar-shaped (monthly periods, quarter ends, fiscal years) is computed here
once per run as arrays of day offsets, so that the hot path only compares floats.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math

import numpy as np

DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12


def last_day(start_date: dt.date, horizon_days: float) -> dt.date:
    """The last date simulated: days run over [0, horizon), so a horizon of 730 days from
    2027-01-01 ends on 2028-12-30 (day 729), and one of 729.5 days touches day 729 too.

    "to D" in every label names this day, inclusive, as ``--until D`` does.
    """
    return start_date + dt.timedelta(days=max(math.ceil(float(horizon_days)), 1) - 1)


def parse_month_day(text: str) -> tuple[int, int]:
    """Split an ``MM-DD`` string into (month, day); the scenario layer has validated it."""
    month, day = text.split("-")
    return int(month), int(day)


class Calendar:
    """Maps simulation days to dates and calendar periods for one scenario.

    Args:
        start_date: the date of day 0.
        horizon_days: the length of the simulated window.
    """

    def __init__(self, start_date: dt.date, horizon_days: float):
        self.start_date = start_date
        self.horizon_days = float(horizon_days)
        self.period_starts, self.period_labels = self._monthly_periods()
        self._ends_before_day: np.ndarray | None = None  # see period_ends_before

    def date_of(self, day: float) -> dt.date:
        """The calendar date on which simulation day ``day`` falls."""
        return self.start_date + dt.timedelta(days=math.floor(day))

    def day_of(self, date: dt.date) -> int:
        """Day offset of a date (negative before the start)."""
        return (date - self.start_date).days

    def _monthly_periods(self) -> tuple[np.ndarray, list[str]]:
        """Start day of each calendar month that overlaps [0, horizon), and its YYYY-MM label."""
        starts = [0.0]
        labels = [f"{self.start_date:%Y-%m}"]
        year, month = self.start_date.year, self.start_date.month
        while True:
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            if year > dt.MAXYEAR:  # no date after 9999-12-31: the last month runs to the horizon
                break
            day = self.day_of(dt.date(year, month, 1))
            if day >= self.horizon_days:
                break
            starts.append(float(day))
            labels.append(f"{year:04d}-{month:02d}")
        return np.asarray(starts), labels

    @property
    def n_periods(self) -> int:
        return len(self.period_labels)

    def period_ends(self) -> np.ndarray:
        """End day (exclusive) of each period; the last one is cut at the horizon."""
        return np.append(self.period_starts[1:], self.horizon_days)

    def period_ends_before(self, days: np.ndarray) -> np.ndarray:
        """How many period ends lie strictly before each day (>= 0): ``searchsorted(..., "left")``.

        Called for every stay of every replication (open deals by period), so when every period
        end is a whole day (month starts and a whole-day horizon) the count is read from a table
        by day, built once: the count of ends before ``x`` is the count before ``ceil(x)``. A
        fractional horizon takes the binary search.
        """
        ends = self.period_ends()
        last = ends[-1]
        if last != int(last):
            return np.searchsorted(ends, days, side="left")
        if self._ends_before_day is None:
            self._ends_before_day = np.searchsorted(ends, np.arange(int(last) + 2), side="left")
        day = np.ceil(np.minimum(days, last + 1)).astype(np.int64)
        return self._ends_before_day.take(day)

    def period_index(self, days: np.ndarray) -> np.ndarray:
        """Index of the monthly period of each day (days must lie in [0, horizon))."""
        return np.searchsorted(self.period_starts, days, side="right") - 1

    def quarter_end_periods(self) -> list[int]:
        """Indices of the periods that end a quarter (Mar, Jun, Sep, Dec), plus the last one."""
        idx = [i for i, label in enumerate(self.period_labels) if int(label[5:]) % 3 == 0]
        if not idx or idx[-1] != self.n_periods - 1:
            idx.append(self.n_periods - 1)
        return idx

    def budget_release_days(self, fiscal_year_start: str, lag_days: float) -> list[float]:
        """Days on which fiscal-year money arrives, from a year before day 0 to past the horizon.

        A release is the fiscal-year start (``MM-DD`` in each calendar year) plus the lag. The list
        is sorted; the engine looks up the first release strictly after a given moment.
        """
        month, day = parse_month_day(fiscal_year_start)
        first_year = self.start_date.year - 1
        last_year = self.start_date.year + math.ceil(self.horizon_days / DAYS_PER_YEAR) + 2
        return [
            self._fiscal_start(year, month, day) + lag_days
            for year in range(first_year, last_year + 1)
        ]

    def _fiscal_start(self, year: int, month: int, day: int) -> float:
        """The day of MM-DD in ``year``; past the years a date can hold (before year 1, after
        9999: a scenario starting on 0001-01-01 asks for the year before), a year of 365.25 days
        from the nearest one that can."""
        held = min(max(year, dt.MINYEAR), dt.MAXYEAR)
        return float(self.day_of(dt.date(held, month, day))) + (year - held) * DAYS_PER_YEAR


def next_release(releases: list[float], day: float) -> float:
    """The first release strictly after ``day`` (the list must extend past it)."""
    return releases[bisect.bisect_right(releases, day)]
