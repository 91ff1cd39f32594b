"""The per-deal and per-event CSV rows of one replication.

Formatted in the worker that ran the replication (string formatting is the costliest part of
writing a results folder, and it runs in parallel there); the main process only appends text.
"""

from __future__ import annotations

import datetime as dt
import math

from sim.engine import ReplicationRecords
from sim.model import CAUSES, Model

EVENT_COLUMNS = ("replication", "deal", "day", "date", "event", "from_stage", "to_stage", "cause")


def active_causes(model: Model) -> list[int]:
    """The stall causes a scenario can produce (the others would be all-zero columns)."""
    scenario = model.scenario
    present = {
        "budget_wait": scenario.budget is not None,
        "timing_wait": scenario.timing is not None,
        "dormant": scenario.dormant is not None,
        "budget_rework": scenario.budget is not None,
        "group_change_rework": bool(scenario.decision_group),
        "shock_rework": scenario.shocks is not None,
    }
    return [c for c, cause in enumerate(CAUSES) if present[cause]]


def deal_columns(model: Model) -> list[str]:
    causes = [f"stall_{CAUSES[c]}" for c in active_causes(model)]
    return [
        "replication",
        "deal",
        "first_stage",
        "created_day",
        "amount",
        "state",
        "closed_day",
        "cycle_days",
        *causes,
    ]


def deal_rows(model: Model, rec: ReplicationRecords) -> str:
    """deals.csv rows (no header) for one replication, one per deal.

    One ``%`` format per row over columns turned into lists once: string formatting is the
    costliest part of writing results, so it is kept to a single call per deal.
    """
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


def event_rows(model: Model, rec: ReplicationRecords) -> str:
    """events.csv rows (no header) for one replication, in time order."""
    names = [*model.state_names(), ""]  # index -1: no stage
    start = model.scenario.start_date
    horizon_days = math.ceil(model.horizon) + 1
    dates = [(start + dt.timedelta(days=d)).isoformat() for d in range(horizon_days)]
    r = rec.replication
    out = []
    for deal, day, event, src, dst, cause in rec.events or []:
        deal_text = "" if deal < 0 else str(deal)
        out.append(
            f"{r},{deal_text},{day:.3f},{dates[int(day)]},{event},{names[src]},{names[dst]},{cause}\n"
        )
    return "".join(out)
