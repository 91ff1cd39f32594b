"""deals.csv rows made from table look-ups (sim.records_csv.deal_rows) against the plain ``%``
formatting they replace, kept here as the oracle."""

from __future__ import annotations

import csv
import dataclasses
import io

import numpy as np
import pytest

from sim.engine import ReplicationRecords, simulate_replication
from sim.model import Model, compile_scenario
from sim.records_csv import _fixed_point_pieces, active_causes, deal_columns, deal_rows
from sim.scenario import load_scenario

TEXT_COLUMNS = ("replication", "deal", "first_stage", "state")


def reference_deal_rows(model: Model, rec: ReplicationRecords) -> str:
    """The former deal_rows: one ``%`` format a row (``%.2f`` days and amount, ``%.1f`` stalls)."""
    names = model.state_names()
    created = rec.created.tolist()
    closed_text = [
        "," if closed != closed else f"{closed:.2f},{closed - start:.2f}"  # nan: still open
        for start, closed in zip(created, rec.closed.tolist(), strict=True)
    ]
    causes = active_causes(model)
    stall_columns = [column.tolist() for column in rec.stall[:, causes].T]
    row_format = f"{rec.replication},%d,%s,%.2f,%.2f,%s,%s" + ",%.1f" * len(causes) + "\n"
    rows = zip(
        range(rec.n_deals),
        [names[s] for s in rec.first_state.tolist()],
        created,
        rec.amount.tolist(),
        [names[s] for s in rec.state.tolist()],
        closed_text,
        *stall_columns,
        strict=True,
    )
    return "".join([row_format % row for row in rows])


def percent(values, decimals: int) -> list[str]:
    """What ``%.{decimals}f`` formatting gives."""
    return [f"{v:.{decimals}f}" for v in np.asarray(values, dtype=float).tolist()]


def fixed_point(values, decimals: int) -> list[str]:
    """_fixed_point_pieces of one column, pieces put together, no separator."""
    numbers = np.asarray(values, dtype=float).reshape(1, -1)
    [pieces] = _fixed_point_pieces(numbers, [decimals], [""])
    return ["".join(value) for value in zip(*pieces, strict=True)]


def naive_fixed_point(values, decimals: int) -> list[str]:
    """Rounding the float product x * 10**d, without the fall-back to ``%`` near half-way points."""
    values = np.asarray(values, dtype=float)
    whole, fraction = np.divmod(
        np.rint(np.abs(values) * 10**decimals).astype(np.int64), 10**decimals
    )
    return [
        f"{'-' if sign else ''}{w}.{f:0{decimals}d}"
        for sign, w, f in zip(
            np.signbit(values).tolist(), whole.tolist(), fraction.tolist(), strict=True
        )
    ]


def parse(model: Model, text: str) -> list[dict[str, str]]:
    header = ",".join(deal_columns(model)) + "\n"
    return list(csv.DictReader(io.StringIO(header + text)))


def decimals_of(column: str) -> int:
    return 1 if column.startswith("stall_") else 2


def exact_values(model: Model, rec: ReplicationRecords) -> dict[str, np.ndarray]:
    causes = active_causes(model)
    values = {
        "created_day": rec.created,
        "amount": rec.amount,
        "closed_day": rec.closed,
        "cycle_days": rec.closed - rec.created,
    }
    for name, column in zip(deal_columns(model)[8:], rec.stall[:, causes].T, strict=True):
        values[name] = column
    return values


def assert_same_deals_csv(model: Model, rec: ReplicationRecords, max_text_differences: int = 0):
    """The new rows against the oracle's: text columns identical, numbers within half a unit of
    their last printed digit of the exact value (+1e-9) and of the oracle's, and (by default) no
    textual difference at all: values near a half-way point go through ``%`` too."""
    new, old = deal_rows(model, rec), reference_deal_rows(model, rec)
    new_rows, old_rows = parse(model, new), parse(model, old)
    assert len(new_rows) == len(old_rows) == rec.n_deals
    assert new.count("\n") == rec.n_deals
    for column in TEXT_COLUMNS:
        assert [r[column] for r in new_rows] == [r[column] for r in old_rows], column
    for column, exact in exact_values(model, rec).items():
        half_unit = 0.5 * 10.0 ** -decimals_of(column)
        for row, old_row, x in zip(new_rows, old_rows, exact.tolist(), strict=True):
            if x != x:  # nan: a deal still open
                assert row[column] == old_row[column] == ""
                continue
            parse_error = float(np.spacing(abs(x)))  # reading the text back: > 1e-9 beyond 1e7
            new_value, old_value = float(row[column]), float(old_row[column])
            assert abs(new_value - x) <= half_unit + 1e-9 + parse_error, (column, x, row[column])
            assert abs(new_value - old_value) <= half_unit + 1e-9 + 2 * parse_error, column
    differences = [
        (a, b) for a, b in zip(new.splitlines(), old.splitlines(), strict=True) if a != b
    ]
    assert len(differences) <= max_text_differences, differences[:5]


@pytest.fixture(scope="module", params=["portfolio", "equipment"])
def replication(request) -> tuple[Model, ReplicationRecords]:
    model = compile_scenario(load_scenario(request.param))
    return model, simulate_replication(model, 7, 3)


def test_same_csv_as_percent_formatting_on_bundled_scenarios(replication):
    model, rec = replication
    assert rec.n_deals > 100
    assert np.isnan(rec.closed).any() and not np.isnan(rec.closed).all()
    assert_same_deals_csv(model, rec)


def test_naive_rounding_would_differ_rarely_on_real_values(replication):
    """How rare the double-rounding differences are on simulated values: rounding x * 10**d as a
    float gives no different text in these replications (~20,000 numbers; one in ~10**8 expected),
    and deal_rows sends the few risky values to ``%`` anyway."""
    model, rec = replication
    differences, count = 0, 0
    for column, values in exact_values(model, rec).items():
        values = values[~np.isnan(values)]
        d = decimals_of(column)
        naive, reference = naive_fixed_point(values, d), percent(values, d)
        differences += sum(a != b for a, b in zip(naive, reference, strict=True))
        count += len(values)
    assert count > 1000
    assert differences <= 2


def test_double_rounding_near_half_way_points_is_left_to_percent():
    rng = np.random.default_rng(5)
    random_days = rng.uniform(0, 2000, 20_000)
    random_amounts = rng.uniform(0, 1e6, 20_000)
    # Written half-way between two printed values: the float lies just above or below.
    half_way_2 = (np.arange(20_000) + 0.5) / 100
    half_way_1 = np.arange(20_000) / 10 + 0.05
    # Exact ties (binary fractions): % rounds them half to even.
    ties = np.array([0.125, 0.375, 2.5, 0.25, 0.75, 1.125, 1e6 + 0.125, 4096.375])
    for values, d in [
        (random_days, 2),
        (random_amounts, 2),
        (random_days, 1),
        (half_way_2, 2),
        (half_way_1, 1),
        (ties, 2),
        (ties, 1),
    ]:
        assert fixed_point(values, d) == percent(values, d)
        assert fixed_point(-values, d) == percent(-values, d)
    # What the fall-back is for: the naive rounding is wrong on ~40% of half-way values, never on
    # 20,000 random ones (expected: about one value in 10**8).
    assert naive_fixed_point(random_amounts, 2) == percent(random_amounts, 2)
    naive, reference = naive_fixed_point(half_way_2, 2), percent(half_way_2, 2)
    wrong = sum(a != b for a, b in zip(naive, reference, strict=True))
    assert 0.3 * len(half_way_2) < wrong < 0.5 * len(half_way_2)


def test_signs_zeros_and_large_values():
    values = [
        *[0.0, -0.0, 0.004, -0.004, 0.005, -0.005, 0.006, -0.006, -0.04, -0.05, -0.06],
        *[-1.0, -1.234, -1.235, -99.995, -123456.78, -9999.994, 9999.996, 10_000.0],
        *[1e12, 1e12 + 0.125, -1e12, 123456789012.345, 4.5e13, 4.6e13, 1e15, -1e17, 2.0**60],
        *[float("inf"), float("-inf"), 5e-324, -5e-324, 1e-10],
    ]
    for d in (1, 2):
        assert fixed_point(values, d) == percent(values, d)
    assert fixed_point([-0.004, -0.0, 0.0], 2) == ["-0.00", "-0.00", "0.00"]
    assert fixed_point([float("nan"), 1.0], 2) == ["", "1.00"]  # nan: an empty field


def with_columns(rec: ReplicationRecords, **arrays) -> ReplicationRecords:
    return dataclasses.replace(rec, **{k: np.asarray(v, dtype=float) for k, v in arrays.items()})


def test_negative_and_large_amounts_and_stalls(replication):
    model, rec = replication
    n = rec.n_deals
    rng = np.random.default_rng(11)
    amount = rng.uniform(-1e12, 1e12, n)
    amount[:6] = [-0.004, -0.0, -0.005, 1e12, -1e12, 0.0]
    stall = rec.stall.copy()
    stall[:, :] = rng.uniform(-20_000, 20_000, stall.shape)
    stall[:3, :] = [-0.04], [-0.0], [12_345.65]
    changed = with_columns(rec, amount=amount, stall=stall)
    assert_same_deals_csv(model, changed)
    rows = parse(model, deal_rows(model, changed))
    assert [r["amount"] for r in rows[:6]] == [
        "-0.00",
        "-0.00",
        "-0.01",
        "1000000000000.00",
        "-1000000000000.00",
        "0.00",
    ]


def test_all_deals_closed_or_all_open(replication):
    model, rec = replication
    all_closed = with_columns(rec, closed=rec.created + np.linspace(0.0, 900.0, rec.n_deals))
    assert not np.isnan(all_closed.closed).any()
    assert_same_deals_csv(model, all_closed)
    all_open = with_columns(rec, closed=np.full(rec.n_deals, np.nan))
    assert_same_deals_csv(model, all_open)
    closed_rows = parse(model, deal_rows(model, all_closed))
    assert all(row["closed_day"] and row["cycle_days"] for row in closed_rows)
    open_rows = parse(model, deal_rows(model, all_open))
    assert all(row["closed_day"] == row["cycle_days"] == "" for row in open_rows)


def test_no_deals_and_many_deals(replication):
    model, rec = replication
    empty = dataclasses.replace(
        rec,
        **{
            field: getattr(rec, field)[:0]
            for field in ("created", "first_state", "amount", "state", "closed", "stall")
        },
    )
    assert deal_rows(model, empty) == reference_deal_rows(model, empty) == ""
    # More deals than the table of small numbers: deal numbers beyond 9999 are formatted.
    repeat = 12_000 // rec.n_deals + 1
    many = dataclasses.replace(
        rec,
        **{
            field: np.concatenate([getattr(rec, field)] * repeat)
            for field in ("created", "first_state", "amount", "state", "closed", "stall")
        },
    )
    assert many.n_deals > 10_000
    assert deal_rows(model, many) == reference_deal_rows(model, many)
