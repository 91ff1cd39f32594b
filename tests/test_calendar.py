"""Calendar arithmetic and budget releases, checked exactly (the budget cycle).

The day counts below are worked out by hand from the calendar (2028 is a leap year) rather than
with ``datetime`` arithmetic, so a helper that shares a mistake with the code cannot hide it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from sim.calendar import DAYS_PER_YEAR, Calendar, next_release
from sim.engine import simulate_replication
from sim.model import compile_scenario
from sim.scenario import scenario_from_dict

D = dt.date


# --- days <-> dates --------------------------------------------------------------------------


def test_date_of_and_day_of_are_inverse_and_floor_fractional_days():
    cal = Calendar(D(2027, 1, 1), 730)
    assert cal.date_of(0) == D(2027, 1, 1)
    assert cal.date_of(0.999) == D(2027, 1, 1)
    assert cal.date_of(-0.5) == D(2026, 12, 31)  # floor, not truncation towards 0
    assert cal.date_of(31) == D(2027, 2, 1)
    assert cal.date_of(59) == D(2027, 3, 1)  # 2027 is not a leap year
    assert cal.date_of(365) == D(2028, 1, 1)
    assert cal.date_of(365 + 59) == D(2028, 2, 29)  # 2028 is
    assert cal.date_of(365 + 60) == D(2028, 3, 1)
    assert cal.date_of(731) == D(2029, 1, 1)
    assert cal.day_of(D(2028, 2, 29)) == 424
    assert cal.day_of(D(2026, 12, 1)) == -31
    for day in (-400, -1, 0, 1, 58, 59, 364, 365, 424, 425, 730):
        assert cal.day_of(cal.date_of(day)) == day


def test_monthly_periods_from_the_first_of_a_month():
    cal = Calendar(D(2027, 11, 1), 120)  # Nov 1 -> Mar 1 2028 is day 121: not in [0, 120)
    assert cal.period_labels == ["2027-11", "2027-12", "2028-01", "2028-02"]
    np.testing.assert_array_equal(cal.period_starts, [0, 30, 61, 92])
    np.testing.assert_array_equal(cal.period_ends(), [30, 61, 92, 120])
    assert cal.n_periods == 4


def test_monthly_periods_from_mid_month_start_with_a_short_first_period():
    cal = Calendar(D(2027, 1, 15), 100)  # day 100 is 2027-04-25
    assert cal.period_labels == ["2027-01", "2027-02", "2027-03", "2027-04"]
    np.testing.assert_array_equal(cal.period_starts, [0, 17, 45, 76])
    np.testing.assert_array_equal(cal.period_ends(), [17, 45, 76, 100])
    np.testing.assert_array_equal(
        cal.period_index(np.array([0.0, 16.99, 17.0, 44.5, 45.0, 76.0, 99.9])),
        [0, 0, 1, 1, 2, 3, 3],
    )


def test_a_horizon_ending_on_a_month_start_leaves_that_month_out():
    cal = Calendar(D(2027, 1, 1), 31)  # Feb 1 is day 31 = the horizon: no day of Feb is inside
    assert cal.period_labels == ["2027-01"]
    np.testing.assert_array_equal(cal.period_ends(), [31])
    cal = Calendar(D(2027, 1, 1), 31.5)
    assert cal.period_labels == ["2027-01", "2027-02"]
    np.testing.assert_array_equal(cal.period_ends(), [31, 31.5])


def test_quarter_end_periods_are_mar_jun_sep_dec_plus_the_last_period():
    cal = Calendar(D(2027, 1, 15), 100)
    assert cal.quarter_end_periods() == [2, 3]  # 2027-03, then 2027-04 (the last)
    cal = Calendar(D(2027, 1, 1), 365)  # whole 2027: the last period is a quarter end already
    assert cal.n_periods == 12
    assert cal.quarter_end_periods() == [2, 5, 8, 11]
    cal = Calendar(D(2027, 4, 1), 20)  # one period, no quarter end: the last one is used
    assert cal.quarter_end_periods() == [0]


# --- budget releases -------------------------------------------------------------------------


def assert_releases(cal: Calendar, fiscal: str, lag: float, expected: list[float]) -> None:
    """The releases start with ``expected`` (from the year before day 0) and reach past the horizon.

    How many years past the horizon the list runs is the engine's business; the values are not.
    """
    releases = cal.budget_release_days(fiscal, lag)
    assert releases[: len(expected)] == expected
    assert releases[-1] > cal.horizon_days
    month, day = (int(x) for x in fiscal.split("-"))
    for k, release in enumerate(releases):
        date = D(cal.start_date.year - 1 + k, month, day)
        assert release == (date - cal.start_date).days + lag


def test_calendar_year_releases_span_a_year_before_day_0_to_past_the_horizon():
    cal = Calendar(D(2027, 1, 1), 730)  # 2028 is leap: day 730 is 2028-12-31, 2029-01-01 is 731
    assert_releases(cal, "01-01", 0, [-365, 0, 365, 731])
    cal = Calendar(D(2027, 1, 1), 731)  # day 731 itself is in 2029: a release after it is needed
    assert_releases(cal, "01-01", 0, [-365, 0, 365, 731, 1096])


def test_july_fiscal_year_releases():
    cal = Calendar(D(2027, 1, 1), 730)
    # 2026-07-01 = -184; 2027-07-01 = 181; +366 (2028 leap) = 547; +365 = 912 (past 730)
    assert_releases(cal, "07-01", 0, [-184, 181, 547, 912])


def test_release_lag_shifts_every_release():
    cal = Calendar(D(2027, 1, 1), 730)
    assert_releases(cal, "07-01", 10.5, [-173.5, 191.5, 557.5, 922.5])
    assert_releases(cal, "01-01", 45, [-320, 45, 410, 776])
    # A lag longer than a year still gives each calendar year's release, in order.
    assert_releases(cal, "01-01", 400, [35, 400, 765, 1131])


def test_leap_years_move_march_releases_by_one_day():
    # Start in a leap year: 2028-03-01 is day 31 + 29 = 60; in 2027 it is day 59.
    leap = Calendar(D(2028, 1, 1), 500)
    plain = Calendar(D(2027, 1, 1), 500)
    assert leap.budget_release_days("03-01", 0)[1] == 60
    assert plain.budget_release_days("03-01", 0)[1] == 59
    # 2027-03-01 = -306, 2028-03-01 = 60, 2029-03-01 = 425, 2030-03-01 = 790
    assert_releases(leap, "03-01", 0, [-306, 60, 425, 790])
    # A February 28 fiscal start is the same day count in both; the next Mar 1 is not.
    assert leap.budget_release_days("02-28", 0)[1] == 58
    assert plain.budget_release_days("02-28", 0)[1] == 58


def test_a_release_after_february_29():
    cal = Calendar(D(2028, 1, 1), 500)
    releases = cal.budget_release_days("03-01", 0)
    feb_29 = cal.day_of(D(2028, 2, 29))
    assert feb_29 == 59
    assert next_release(releases, feb_29) == 60
    assert next_release(releases, feb_29 + 0.999) == 60
    assert cal.date_of(next_release(releases, feb_29)) == D(2028, 3, 1)


def test_next_release_is_strictly_after_the_moment():
    releases = Calendar(D(2027, 1, 1), 730).budget_release_days("01-01", 0)
    assert next_release(releases, -0.5) == 0
    assert next_release(releases, 0) == 365  # arriving on a release day: next year's money
    assert next_release(releases, 1e-9) == 365
    assert next_release(releases, 364.999) == 365
    assert next_release(releases, 365) == 731
    assert next_release(releases, 729.9) == 731


# --- the engine holds a deal exactly until the release ---------------------------------------


def budget_scenario(
    start: str, prep_days: float, fiscal: str, lag: float, horizon: float = 1200
) -> dict:
    """Two fixed stages: ``prep`` (prep_days) then the gate ``decision`` (10 days), never funded."""
    return {
        "name": "budget-calendar",
        "start_date": start,
        "horizon_days": horizon,
        "deals": {
            "initial": {"prep": 3},
            "arrivals_per_month": 0,
            "amount": {"dist": "fixed", "value": 1},
        },
        "stages": [
            {
                "name": "prep",
                "duration": {"dist": "fixed", "value": prep_days},
                "exits": {"decision": 1},
            },
            {"name": "decision", "duration": {"dist": "fixed", "value": 10}, "exits": {"won": 1}},
        ],
        "budget": {
            "gate": "decision",
            "fiscal_year_start": fiscal,
            "funded_share": 0.0,
            "release_lag_days": lag,
            "recheck": {"to": "prep", "probability": 0.0},
        },
    }


ENGINE_CASES = {
    # (start, prep days, fiscal start, lag): the release day, worked out by hand
    "january": (("2027-01-01", 100, "01-01", 0), 365),
    "january-lag": (("2027-01-01", 100, "01-01", 10), 375),
    "july": (("2027-01-01", 100, "07-01", 0), 181),
    "july-lag": (("2027-01-01", 100, "07-01", 30.5), 211.5),
    "july-after-release": (("2027-01-01", 200, "07-01", 0), 547),  # 2028 is leap: 181 + 366
    "on-release-day": (("2027-01-01", 181, "07-01", 0), 547),  # strictly after: next year
    "lag-pushes-past-entry": (("2027-01-01", 5, "01-01", 10), 10),
    "leap-march": (("2028-01-01", 59.5, "03-01", 0), 60),
}


@pytest.mark.parametrize("case", list(ENGINE_CASES))
def test_engine_holds_an_unfunded_deal_until_the_computed_release(case):
    (start, prep, fiscal, lag), release = ENGINE_CASES[case]
    model = compile_scenario(scenario_from_dict(budget_scenario(start, prep, fiscal, lag)))
    rec = simulate_replication(model, 7, 0, record_events=True)
    gate = model.code("decision")
    for deal in range(3):
        mine = [e for e in rec.events if e[0] == deal]
        names = [e[2] for e in mine]
        assert names.count("budget_wait") == 1
        assert names.count("budget_released") == 1
        wait = next(e for e in mine if e[2] == "budget_wait")
        released = next(e for e in mine if e[2] == "budget_released")
        entry = next(e for e in mine if e[2] == "move" and e[4] == gate)
        assert entry[1] == wait[1] == prep  # it stands at the gate from its arrival there
        assert released[1] == release
        assert (released[3], released[4]) == (gate, gate)
        # The gate's 10 days of work start on the release: closed (won) 10 days later.
        assert rec.closed[deal] == release + 10
        assert rec.state[deal] == model.won
        assert rec.stall[deal, 0] == pytest.approx(release - prep, abs=1e-9)  # budget_wait
        assert rec.stall[deal, 1:].sum() == 0


def test_a_wrong_release_rule_would_fail_the_engine_check():
    """Release 'on or after' (not strictly after) would let the on-release-day deal go at 181."""
    (start, prep, fiscal, lag), release = ENGINE_CASES["on-release-day"]
    model = compile_scenario(scenario_from_dict(budget_scenario(start, prep, fiscal, lag)))
    rec = simulate_replication(model, 7, 0)
    assert rec.closed[0] != 181 + 10
    assert rec.closed[0] == release + 10


def test_waiting_deals_stand_at_the_gate_in_open_by_stage():
    model = compile_scenario(
        scenario_from_dict(budget_scenario("2027-01-01", 100, "01-01", 0, horizon=300))
    )
    rec = simulate_replication(model, 7, 0)
    gate = model.code("decision")
    # Periods ending after day 100 and before the release (365, past the horizon): all at the gate.
    ends = model.calendar.period_ends()
    for p, end in enumerate(ends):
        expected = 3 if end > 100 else 0
        assert rec.open_by_state[p, gate] == expected, (p, end)
    assert np.all(rec.state == gate)


@pytest.mark.parametrize("events", [False, True])
def test_a_deal_back_from_dormant_into_the_gate_needs_money_again(events):
    """The gate is the first stage, where a dormant deal comes back: entering it again asks for
    money again. Never funded, a deal that went dormant after the first release waits for the
    next one: nobody closes between the first pass (day 375) and the second release + 10."""
    data = budget_scenario("2027-01-01", 1, "01-01", 0, horizon=1500)
    data["deals"]["initial"] = {"decision": 400}
    data["stages"] = [
        {"name": "decision", "duration": {"dist": "fixed", "value": 10},
         "exits": {"won": 0.5, "dormant": 0.5}},
    ]  # fmt: skip
    data["dormant"] = {"reactivate_mean_days": 20, "give_up_after_days": 2000}
    del data["budget"]["recheck"]  # the gate is the first stage: nothing lies before it
    model = compile_scenario(scenario_from_dict(data))
    rec = simulate_replication(model, 3, 0, record_events=events)
    closed = rec.closed[~np.isnan(rec.closed)]
    first_pass, second_release = 365 + 10, 731
    assert np.count_nonzero(closed == first_pass) > 150  # half the deals, at once
    assert np.all((closed == first_pass) | (closed >= second_release + 10))
    assert np.count_nonzero(closed >= second_release + 10) > 50  # the dormant ones did come back


@pytest.mark.parametrize("horizon", [200, 200.5])
def test_period_ends_before_a_day_equal_a_binary_search(horizon):
    """Open deals by period count the period ends before each stay's start and end with a table
    by day (whole-day period ends): the counts must be a binary search's, at whole days, just
    before them, past the horizon and at infinity; a fractional horizon too."""
    cal = Calendar(D(2027, 1, 1), horizon)
    days = np.concatenate(
        [np.random.default_rng(0).random(2000) * 250, np.arange(0, 250, 0.5),
         [horizon, np.nextafter(181.0, 0), np.inf]]
    )  # fmt: skip
    expected = np.searchsorted(cal.period_ends(), days, side="left")
    np.testing.assert_array_equal(cal.period_ends_before(days), expected)
    np.testing.assert_array_equal(cal.period_ends_before(days), expected)  # table built once


def test_releases_before_year_one_and_after_9999_are_a_year_of_days_apart():
    """A scenario starting on 0001-01-01 (or ending in 9999) asks for a fiscal year no date can
    hold: it is counted 365.25 days from the nearest one, not a ValueError (issue 17)."""
    first = Calendar(dt.date(1, 1, 1), 30).budget_release_days("01-01", 10)
    assert first[:2] == [-DAYS_PER_YEAR + 10, 10.0]
    last = Calendar(dt.date(9999, 12, 1), 20).budget_release_days("01-01", 0)
    assert last[0] == (dt.date(9998, 1, 1) - dt.date(9999, 12, 1)).days
    assert last[-1] == last[-2] + DAYS_PER_YEAR and last[-1] > 20
