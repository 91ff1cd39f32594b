"""The report of a run folder (``summary.json``, ``manifest.json``, ``scenario.toml``).

Everything comes from the folder: the figures are redrawn from ``summary.json`` by the same
functions that drew its PNGs (as SVG), the tables use the terminal's formatting, and the
scenario is described from the resolved ``scenario.toml`` the run wrote.
"""

from __future__ import annotations

from pathlib import Path

from sim.aggregate import clean_for_json
from sim.errors import UserError
from sim.explain import _plain_words, stall_rows
from sim.html.page import Figure, read_json, svg_figure, value_text
from sim.report import OUTCOME_LABELS, _chance, money
from sim.results import MANIFEST, SCENARIO, read_summary

#: The figures of a run, by the sim.plots function that draws them: (title, caption).
RUN_FIGURES = {
    "bookings_fan": (
        "Bookings by month",
        "Won amount in each month: the dark line is the median of the replications, the bands "
        "hold half and 8 in 10 of them, the dashed line is the mean.",
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

#: Provenance keys of manifest.json, in the order and words a reader wants them.
MANIFEST_LABELS = {
    "dealsim_version": "dealsim version",
    "scenario_hash": "Scenario hash (SHA-256)",
    "command": "Command",
    "engine": "Engine",
    "jobs": "Worker processes",
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
    """Bookings over the horizon: P10/P50/P90 and the mean with its standard error."""
    b, cur = summary["bookings"], summary["currency"]
    return {
        "cards": [
            {"key": f"bookings.{k}", "label": label, "value": b[k], "text": money(b[k], cur)}
            for k, label in (
                ("p10", "P10: 9 in 10 runs book more"),
                ("p50", "P50: the median"),
                ("p90", "P90: 1 in 10 runs books more"),
            )
        ],
        "mean": f"{money(b['mean'], cur)} ± {money(b['se'], cur)}",
    }


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
    """Mean moves per replication as a from x to matrix, states in the flows' own order."""
    flows = summary.get("flows") or {}
    states: list[str] = []
    for src, moves in flows.items():
        for name in (src, *moves):
            if name not in states:
                states.append(name)
    outcomes = [s for s in ("won", "lost", "no_decision") if s in states]
    order = [s for s in states if s not in outcomes] + outcomes
    sources = [s for s in order if s in flows]
    return {
        "columns": order,
        "rows": [(src, [flows[src].get(dst) for dst in order]) for src in sources],
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


def provenance(summary: dict, manifest: dict) -> list[tuple[str, str]]:
    """(label, value) rows: the run's identity first, then every manifest entry."""
    rows = [
        ("Scenario", str(summary["scenario"])),
        ("Seed", str(summary["seed"])),
        ("Replications", str(summary["replications"])),
        ("Deals per replication", f"{summary['deals']['mean']:.1f}"),
    ]
    rows += [
        (label, value_text(manifest[key]))
        for key, label in MANIFEST_LABELS.items()
        if key in manifest
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
    from sim.scenario import load_scenario

    path = Path(folder) / SCENARIO
    if not path.is_file():
        return None, f"{path.name} is not in the folder, so the scenario cannot be described."
    try:
        scenario = load_scenario(path)
    except UserError as exc:
        return None, f"{path.name} could not be read: {exc}"
    return describe(scenario, manifest.get("pipeline")), None


def read_run(folder: Path) -> dict:
    """The template context of a run folder's report."""
    folder = Path(folder)
    summary = read_summary(folder)
    manifest = read_json(folder / MANIFEST) if (folder / MANIFEST).is_file() else {}
    words, missing = scenario_words(folder, manifest)
    rows = stall_rows(summary)
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
        "flows": flow_table(summary),
        "months": month_rows(summary),
        "scenario": words,
        "scenario_missing": missing,
        "provenance": provenance(summary, manifest),
        "data": clean_for_json(summary),
    }
