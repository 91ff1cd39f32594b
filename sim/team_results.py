"""What our own teams did, from a replication's records to summary.json (``teams``,
``cost_of_sale``).

Per replication each team is reduced to a few numbers per monthly period (busy person-days,
queue person-days, hours of effort, requests served and their waits) and a few totals (hours on
all deals, on won deals, on deals lost or ended without decision), appended to the
replication's vector (:mod:`sim.aggregate`). The waits themselves are pooled over replications
for their percentiles, in constant memory.
"""

from __future__ import annotations

import numpy as np

from sim.model import Model
from sim.stats import PooledQuantiles, describe, ratio_mean_and_se
from sim.teams import overlap_by_period

#: Per team and period, in this order.
PERIOD_FIELDS = ("busy_days", "queue_days", "hours", "served", "waited", "wait_sum")
#: Per team, in this order.
TOTAL_FIELDS = ("hours", "won_hours", "closed_unwon_hours")
WAIT_KEY = "team_wait:"  # the key prefix of a team's waits among the pooled values
WAIT_RESOLUTION = 0.25  # days: the waits' percentiles are exact to within this


def width(model: Model) -> int:
    """Numbers per replication for all the teams."""
    return len(model.teams) * (model.calendar.n_periods * len(PERIOD_FIELDS) + len(TOTAL_FIELDS))


def period_bounds(model: Model) -> np.ndarray:
    """Day boundaries of the monthly periods: starts, then the horizon."""
    return np.append(model.calendar.period_starts, model.horizon)


def reduce_teams(model: Model, rec) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The replication's team numbers (a flat vector) and each team's waits (for percentiles)."""
    if not model.teams:
        return np.zeros(0), {}
    bounds = period_bounds(model)
    periods = model.calendar.n_periods
    won = rec.state == model.won
    closed_unwon = rec.state > model.won
    parts, waits = [], {}
    for t, (team, records) in enumerate(zip(model.teams, rec.teams, strict=True)):
        busy = overlap_by_period(records.busy, bounds)
        served_at = model.calendar.period_index(records.waits[:, 0])
        per_period = np.vstack(
            [
                busy,
                overlap_by_period(records.queued, bounds),
                busy / team.days_per_hour,
                np.bincount(served_at, minlength=periods),
                np.bincount(served_at, records.waits[:, 1] > 0, minlength=periods),
                np.bincount(served_at, records.waits[:, 1], minlength=periods),
            ]
        )
        hours = records.hours
        totals = [hours.sum(), hours[won].sum(), hours[closed_unwon].sum()]
        parts += [per_period.T.ravel(), np.asarray(totals)]
        waits[f"{WAIT_KEY}{t}"] = records.waits
    return np.concatenate(parts), waits


class TeamWaits:
    """Each team's waits pooled over replications, overall and by period of service."""

    def __init__(self, model: Model):
        self.model = model
        upper = model.horizon + 1.0
        n_periods = model.calendar.n_periods
        self.overall = [PooledQuantiles(upper, WAIT_RESOLUTION) for _ in model.teams]
        self.by_period = [
            [PooledQuantiles(upper, WAIT_RESOLUTION) for _ in range(n_periods)] for _ in model.teams
        ]

    def add(self, key: str, waits: np.ndarray) -> None:
        t = int(key[len(WAIT_KEY) :])
        self.overall[t].add(waits[:, 1])
        period = self.model.calendar.period_index(waits[:, 0])
        order = np.argsort(period, kind="stable")
        period, days = period[order], waits[order, 1]
        edges = np.searchsorted(period, np.arange(self.model.calendar.n_periods + 1))
        for p in np.flatnonzero(np.diff(edges)).tolist():
            self.by_period[t][p].add(days[edges[p] : edges[p + 1]])


def team_summary(model: Model, columns: np.ndarray, waits: TeamWaits, won: np.ndarray) -> dict:
    """``teams`` and ``cost_of_sale`` of summary.json.

    Args:
        columns: (replications, width(model)) the team numbers of every replication.
        won: won deals per replication.
    """
    if not model.teams:
        return {}
    reps = len(columns)
    n_periods = model.calendar.n_periods
    per_team = n_periods * len(PERIOD_FIELDS) + len(TOTAL_FIELDS)
    bounds = period_bounds(model)
    labels = model.calendar.period_labels
    teams, total_cost, won_cost = {}, np.zeros(reps), np.zeros(reps)
    for t, team in enumerate(model.teams):
        block = columns[:, t * per_team : (t + 1) * per_team]
        periods = block[:, : n_periods * len(PERIOD_FIELDS)].reshape(reps, n_periods, -1)
        hours, won_hours, unwon_hours = (block[:, -3 + j] for j in range(3))
        available = (
            None if team.unlimited else team.person_days(bounds[:-1], bounds[1:])
        )  # the same in every replication: the schedule is given
        busy, queue = periods[:, :, 0], periods[:, :, 1]
        rows = []
        for p, label in enumerate(labels):
            pooled = waits.by_period[t][p]
            served = periods[:, p, 3].sum()
            rows.append(
                {
                    "period": label,
                    "utilisation": _share(busy[:, p].mean(), _at(available, p)),
                    "queue_mean": float(queue[:, p].mean() / (bounds[p + 1] - bounds[p])),
                    "hours": float(periods[:, p, 2].mean()),
                    "served": float(served / reps),
                    "wait_mean": _share(periods[:, p, 5].sum(), served),
                    "wait_p50": pooled.quantile(0.5) if pooled.n else None,
                    "wait_p90": pooled.quantile(0.9) if pooled.n else None,
                }
            )
        cost = hours * team.cost_per_hour
        total_cost += cost
        won_cost += won_hours * team.cost_per_hour
        overall = waits.overall[t]
        served = periods[:, :, 3].sum()
        teams[team.name] = {
            "headcount": "unlimited"
            if team.unlimited
            else [{"from_day": day, "people": people} for day, people in team.schedule],
            "utilisation": _share(
                busy.sum(axis=1).mean(), None if available is None else available.sum()
            ),
            "hours": describe(hours),
            "cost": describe(cost),
            "hours_on_won_deals": float(won_hours.mean()),
            "hours_on_lost_deals": float(unwon_hours.mean()),
            "served_per_replication": float(served / reps),
            "wait_days": {
                "mean": _share(periods[:, :, 5].sum(), served),
                "p50": overall.quantile(0.5) if overall.n else None,
                "p90": overall.quantile(0.9) if overall.n else None,
            },
            "waited_share": _share(periods[:, :, 4].sum(), served),
            "periods": rows,
        }
    per_won, per_won_se = ratio_mean_and_se(total_cost, won)
    won_only, won_only_se = ratio_mean_and_se(won_cost, won)
    return {
        "teams": teams,
        "cost_of_sale": {
            "total": describe(total_cost),
            "per_won_deal": {"mean": per_won, "se": per_won_se},
            "per_won_deal_own_hours": {"mean": won_only, "se": won_only_se},
        },
    }


def _at(values: np.ndarray | None, p: int) -> float | None:
    return None if values is None else float(values[p])


def _share(part: float, whole: float | None) -> float | None:
    if whole is None or whole <= 0:
        return None
    return float(part / whole)
