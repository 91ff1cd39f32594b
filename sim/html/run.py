"""The report of a run folder (``summary.json``, ``manifest.json``, ``scenario.toml``).

Everything comes from the folder: the figures are redrawn from ``summary.json`` by the same
functions that drew its PNGs (as SVG), the tables use the terminal's formatting, and the
scenario is described from the resolved ``scenario.toml`` the run wrote.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sim.aggregate import clean_for_json
from sim.errors import UserError
from sim.explain import _plain_words, stall_rows
from sim.html.page import Figure, optional_json, svg_figure, value_text
from sim.report import (
    OUTCOME_LABELS,
    _chance,
    _num,
    _pct,
    bookings_texts,
    cost_of_sale_texts,
    money,
    target_when,
    team_scales,
)
from sim.results import MANIFEST, SCENARIO, read_summary
from sim.stats import few_replications_note
from sim.tables import Scale, scale_for
from sim.whatif import KEY as WHAT_IF_KEY

#: The figures of a run, by the sim.plots function that draws them: (title, caption).
RUN_FIGURES = {
    "bookings_fan": (
        "Bookings by month",
        "Won amount in each month: the bar is the mean over the replications (the months add up "
        "to the mean total), the whisker spans the P10-P90 of the replications (8 in 10 of them).",
    ),
    "cumulative_bookings": (
        "Cumulative bookings",
        "Won amount since day 0, with the target and the chance of having reached it when one "
        "was set.",
    ),
    "pipeline_by_stage": (
        "Open pipeline by stage",
        "Mean number of open deals in each stage at each month end (dormant in grey).",
    ),
    "cycle_times": (
        "Cycle times",
        "Days from a deal's creation to its close, by outcome, with the medians marked.",
    ),
    "stall_causes": (
        "Where the time went",
        "Stalled days per deal by cause, with the share of deals each cause touched.",
    ),
    "stage_flows": (
        "Stage flows",
        "Mean moves per replication between states: forward above, backward below, exits to "
        "lost and no decision as short arrows up.",
    ),
}

TEAM_CAPTION = (
    "By month: the share of the team's people-days at work (red: 95% or more, so deals "
    "queue), how many days a deal waited for a free person (P50 to P90), and how many deals "
    "waited on average; dashed lines: headcount changes."
)

#: What each engine is, in the words the terminal uses after a run.
ENGINE_WORDS = {
    "simpy": "simpy: one SimPy process per deal",
    "vectorized": "vectorized: every deal's story decided in bulk with numpy",
}

#: Provenance keys of manifest.json, in the order and words a reader wants them.
MANIFEST_LABELS = {
    "dealsim_version": "dealsim version",
    "scenario_hash": "Scenario hash (SHA-256)",
    "command": "Command",
    "engine": "Engine",
    "executor": "Where it ran",
    "jobs": "Worker processes",
    "deals_csv": "deals.csv written",
    "wall_seconds": "Wall time (s)",
    "events": "Events processed",
    "stage_visits": "Stage visits",
    "python": "Python",
    "numpy": "numpy",
    "scipy": "scipy",
    "simpy": "SimPy",
    "platform": "Platform",
    "id": "Run id",
}


def figures(summary: dict) -> dict[str, Figure]:
    """Every figure of a run, drawn as SVG by sim.plots."""
    from sim import plots

    def drawing(name: str):
        draw = getattr(plots, name)
        return lambda path: draw(summary, path)

    return {
        name: svg_figure(drawing(name), title, caption)
        for name, (title, caption) in RUN_FIGURES.items()
    }


def headline(summary: dict) -> dict:
    """Bookings over the horizon: P10/P50/P90 and the mean with its standard error; the deals
    won (``totals.won_count``) the same way; whether each replication drew its parameters."""
    b, said = summary["bookings"], bookings_texts(summary)  # as the terminal writes them
    won = (summary.get("totals") or {}).get("won_count")
    return {
        "cards": [
            {"key": f"bookings.{k}", "label": label, "value": b[k], "text": said[k]}
            for k, label in (
                ("p10", "P10: 9 in 10 runs book more"),
                ("p50", "P50: the median"),
                ("p90", "P90: 1 in 10 runs books more"),
            )
        ],
        "mean": f"{said['mean']} ± {said['se']}",
        "won": [
            {
                "key": f"totals.won_count.{k}",
                "label": k.upper(),
                "value": won[k],
                "text": _num(won[k]),
            }
            for k in ("p10", "p50", "p90")
        ]
        if won
        else [],
        "won_mean": _num(won["mean"], ".1f") if won else None,
        "drawn": _drawn_words(summary),
        "few": few_replications_note(summary["replications"])
        if "replications" in summary
        else None,
    }


#: What each drawn parameter of ``parameter_uncertainty.drawn`` is, in words.
DRAWN_WORDS = {
    "arrivals_per_month": "the inflow's level",
    "arrivals_walk_sd": "its month-to-month wander",
    "amount_scale": "deal amounts",
}
STAGE_DRAWN_WORDS = {"duration_scale": "durations", "exits_weight": "exit shares"}


def _drawn_words(summary: dict) -> str | None:
    """'the inflow's level, engaging durations...': what each replication drew, if anything."""
    unc = summary.get("parameter_uncertainty") or {}
    if not unc.get("used"):
        return None
    words = []
    for name in unc.get("drawn") or []:
        head, _, rest = name.partition(".")
        stage, _, what = rest.rpartition(".")
        if head == "stages" and what in STAGE_DRAWN_WORDS:
            words.append(f"{stage} {STAGE_DRAWN_WORDS[what]}")
        else:
            words.append(DRAWN_WORDS.get(name, name))
    return ", ".join(words)


def target(summary: dict) -> dict | None:
    """The chance of reaching the bookings target by each quarter end, as the terminal says it."""
    found = summary.get("target")
    if not found:
        return None
    rows = []
    for row in found["by_period"]:
        # the terminal's '2.5% +- 2.5' or '0.0% (below 7.5% at 95% confidence)', in two cells
        said = " ".join(_chance(row, summary["replications"]).split())
        chance, _, uncertainty = said.partition(" ")
        rows.append(
            {
                "period": row["period"],
                "when": target_when(row["period"], summary),
                "probability": row["probability"],
                "chance": chance,
                "uncertainty": uncertainty.replace("+-", "±"),
            }
        )
    return {"amount": money(found["amount"], summary["currency"]), "rows": rows}


def outcome_rows(summary: dict) -> list[dict]:
    return [
        {"key": key, "label": label, **summary["outcomes"][key]}
        for key, label in OUTCOME_LABELS.items()
        if key in summary["outcomes"]
    ]


def cycle_rows(summary: dict) -> list[dict]:
    labels = {**OUTCOME_LABELS, "closed": "All closed"}
    return [
        {"label": labels[key], **summary["cycle_days"][key]}
        for key in ("won", "lost", "no_decision", "closed")
        if key in summary["cycle_days"]
    ]


def flow_table(summary: dict) -> dict:
    """Mean moves per replication as a from x to matrix, states in the flows' own order, each
    written as text (None: no move) in one way for the whole matrix: 1,234.5 beside 0.3, not
    1.23k beside 456; with the decimals that keep its rarest move from reading 0.0."""
    flows = summary.get("flows") or {}
    states: list[str] = []
    for src, moves in flows.items():
        for name in (src, *moves):
            if name not in states:
                states.append(name)
    outcomes = [s for s in ("won", "lost", "no_decision") if s in states]
    order = [s for s in states if s not in outcomes] + outcomes
    sources = [s for s in order if s in flows]
    means = [[flows[src].get(dst) for dst in order] for src in sources]
    rarest = min((v for row in means for v in row if v), default=1.0)
    scale = Scale(decimals=next((d for d in (1, 2, 3) if round(rarest, d) > 0), 4))
    return {
        "columns": order,
        "rows": [
            (src, [scale(v) if v else None for v in row])
            for src, row in zip(sources, means, strict=True)
        ],
    }


def month_rows(summary: dict) -> list[dict]:
    """One row per month: bookings percentiles, cumulative median and mean, won and open deals."""
    rows = []
    for p in summary["periods"]:
        cumulative = p.get("cumulative_bookings") or {}
        rows.append(
            {
                "period": p["period"],
                "bookings": p["bookings"],
                "cumulative_p50": cumulative.get("p50"),
                "cumulative_mean": cumulative.get("mean"),
                "won_mean": (p.get("won") or {}).get("mean"),
                "open": sum(v or 0 for v in (p.get("open_by_stage") or {}).values()),
            }
        )
    return rows


def month_scales(rows: list[dict]) -> dict:
    """One way of writing each column of the month table (sim.tables.scale_for): a column
    read down the months should not go from 1.94k to 870, or from 9.99M to 850k."""
    bookings = [r["bookings"].get(q) for r in rows for q in ("p10", "p50", "p90", "mean")]
    return {
        # Four digits at the top: the quiet months keep two of theirs (0.41M under 48.00M).
        "bookings": scale_for(bookings, digits=4),
        "cumulative": scale_for(
            [r[k] for r in rows for k in ("cumulative_p50", "cumulative_mean")], digits=4
        ),
        "won": scale_for([r["won_mean"] for r in rows], digits=4, suffix=False),
        "open": scale_for([r["open"] for r in rows], suffix=False),
    }


def team_figure(summary: dict, name: str) -> Figure:
    """One team's month-by-month figure, drawn as SVG by sim.team_plots."""
    from sim.team_plots import team_capacity

    return svg_figure(
        lambda path: team_capacity(summary, name, path), f"Our {name}, month by month", TEAM_CAPTION
    )


def _headcount_text(summary: dict, headcount) -> str:
    """'3', or '2, 3 from 2027-07-01' from the team's schedule, or 'unlimited'."""
    if not isinstance(headcount, list):
        return str(headcount)
    start = dt.date.fromisoformat(str(summary["start_date"])[:10])
    parts = [str(headcount[0]["people"])] if headcount else []
    for change in headcount[1:]:
        day = start + dt.timedelta(days=float(change["from_day"]))
        parts.append(f"{change['people']} from {day.isoformat()}")
    return ", ".join(parts)


def _wait_text(days: float | None) -> str:
    return "-" if days is None else f"{_num(days, '.1f')} days"


def _hours_split(team: dict) -> dict[str, float]:
    """A team's mean hours a run on won deals, on deals lost or without decision, on open ones."""
    won, lost = team["hours_on_won_deals"], team["hours_on_lost_deals"]
    return {"won_hours": won, "lost_hours": lost, "open_hours": team["hours"]["mean"] - won - lost}


def team_rows(summary: dict) -> list[dict]:
    """One row per team, numbers as the terminal's team table writes them."""
    cur = summary["currency"]
    hours, cost = team_scales(summary)
    teams = summary.get("teams") or {}
    split = {  # one scale a column: '1.71k' over '0.84k', not over '836'
        key: scale_for([_hours_split(t)[key] for t in teams.values()])
        for key in ("won_hours", "lost_hours", "open_hours")
    }
    rows = []
    for name, team in teams.items():
        wait = team["wait_days"]
        rows.append(
            {
                "name": name,
                "people": _headcount_text(summary, team["headcount"]),
                "utilisation": team["utilisation"],
                "busy": _pct(team["utilisation"]),
                "waited": _pct(team["waited_share"]),
                "served": _num(team["served_per_replication"], ".1f"),
                "wait_mean": _wait_text(wait["mean"]),
                "wait_p50": _wait_text(wait["p50"]),
                "wait_p90": _wait_text(wait["p90"]),
                "hours": hours(team["hours"]["mean"]),
                **{key: split[key](value) for key, value in _hours_split(team).items()},
                "cost": cost(team["cost"]["mean"], unit=cur),
                "cost_value": team["cost"]["mean"],
                "figure": team_figure(summary, name),
            }
        )
    return rows


def _team_lead(summary: dict) -> str | None:
    """The section's first sentence: the busiest team, and the one deals wait longest for."""
    teams = {n: t for n, t in (summary.get("teams") or {}).items() if t["utilisation"] is not None}
    if not teams:
        return None
    busiest, team = max(teams.items(), key=lambda item: item[1]["utilisation"])
    text = (
        f"The busiest team is {busiest}: {_pct(team['utilisation'])} of its people's working "
        "days at work over the horizon."
    )
    waits = {n: t for n, t in teams.items() if t["wait_days"]["p90"]}
    if waits:
        name, slowest = max(waits.items(), key=lambda item: item[1]["wait_days"]["p90"])
        text += (
            f" Deals wait longest for {name}: {_pct(slowest['waited_share'])} of the deals it "
            f"served waited for a free person, and 1 in 10 of all the deals it served (those "
            f"that did not wait included) waited {_num(slowest['wait_days']['p90'], '.1f')} "
            "days or more."
        )
    return text


def team_section(summary: dict) -> dict | None:
    """Our own people: each team's table row and figure, and the cost of sale."""
    if not summary.get("teams"):
        return None
    per_won = summary["cost_of_sale"]["per_won_deal"]
    said = cost_of_sale_texts(summary)  # as the terminal writes them
    return {
        "rows": team_rows(summary),
        "lead": _team_lead(summary),
        # null when no deal was won: the page says so rather than show "-" (± -) for an amount
        "won_any": per_won["mean"] is not None,
        "per_won": per_won["mean"],
        "per_won_text": said["per_won"],
        "per_won_se": said["per_won_se"],
        "own_text": said["own"],
        "total": {k: said[f"total_{k}"] for k in ("mean", "p10", "p90")},
    }


def _engine_text(engine) -> str:
    return ENGINE_WORDS.get(engine, str(engine))


def _executor_text(executor) -> str:
    """A Dask cluster as 'Dask scheduler tcp://...: 2 workers, 2 threads'."""
    if isinstance(executor, dict) and "scheduler" in executor:
        sizes = [f"{executor[k]} {k}" for k in ("workers", "threads") if k in executor]
        return f"Dask scheduler {executor['scheduler']}" + (
            f": {', '.join(sizes)}" if sizes else ""
        )
    return value_text(executor)


#: Manifest values written in words rather than as stored.
MANIFEST_TEXT = {
    "engine": _engine_text,
    "executor": _executor_text,
    "deals_csv": lambda written: "yes" if written else "no (--deals none)",
}


def provenance(summary: dict, manifest: dict) -> list[tuple[str, str]]:
    """(label, value) rows: the run's identity first, then every manifest entry."""
    rows = [
        ("Scenario", str(summary["scenario"])),
        ("Seed", str(summary["seed"])),
        ("Replications", str(summary["replications"])),
        ("Deals per replication", f"{summary['deals']['mean']:.1f}"),
    ]
    info = summary.get(WHAT_IF_KEY)
    if info:  # the change from the scenario file, as the banner says it
        rows.append(("What-if (not the base case)", str(info["label"])))
    rows += [
        (label, MANIFEST_TEXT.get(key, value_text)(manifest[key]))
        for key, label in MANIFEST_LABELS.items()
        if key in manifest and manifest[key] is not None
    ]
    told = {"scenario", "replications", "seed", *MANIFEST_LABELS}
    rows += [  # entries newer than this list (a CRM pipeline, ...) under their own names
        (key.replace("_", " ").capitalize(), value_text(value))
        for key, value in manifest.items()
        if key not in told
    ]
    return rows


def scenario_words(folder: Path, manifest: dict) -> tuple[dict | None, str | None]:
    """The scenario in plain words from the run's scenario.toml, or why it cannot be told."""
    from sim.html.scenario_words import describe
    from sim.results import run_scenario

    path = Path(folder) / SCENARIO
    if not path.is_file():
        return None, f"{path.name} is not in the folder, so the scenario cannot be described."
    try:
        scenario = run_scenario(folder)
    except UserError as exc:
        return None, f"{path.name} could not be read: {exc}"
    return describe(scenario, manifest.get("pipeline")), None


def read_run(folder: Path) -> dict:
    """The template context of a run folder's report."""
    folder = Path(folder)
    summary = read_summary(folder)
    manifest = optional_json(folder / MANIFEST)
    words, missing = scenario_words(folder, manifest)
    rows = stall_rows(summary)
    months = month_rows(summary)
    return {
        "title": f"{summary['scenario']}: the forecast",
        "subtitle": words["description"] if words else "",
        "summary": summary,
        "currency": summary["currency"],
        "headline": headline(summary),
        "target": target(summary),
        "figures": figures(summary),
        "outcomes": outcome_rows(summary),
        "cycles": cycle_rows(summary),
        "stalls": rows,
        "stall_total": sum(r["days"] for r in rows),
        "stall_words": _plain_words(summary, rows),
        "teams": team_section(summary),
        "flows": flow_table(summary),
        "months": months,
        "month_scales": month_scales(months),
        "scenario": words,
        "scenario_missing": missing,
        "provenance": provenance(summary, manifest),
        "data": clean_for_json(summary),
    }
