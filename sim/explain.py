"""Why deals stall, in plain words and numbers (``dealsim explain DIR``).

Three layers, from what a run already knows to what it takes a few more runs to know:

1. days lost per deal by cause (``summary.json`` ``stall_days``);
2. the share of deals each cause touched (made it wait or moved it) and ended (sent it straight
   to an outcome) (``stall_counts``);
3. the counterfactual value of each mechanism: the same scenario, seed and replications re-run
   with that mechanism switched off. The engine draws its random numbers per (replication, deal,
   purpose), so replication r of both runs meets the same clients and the same dice wherever the
   two make the same decision (common random numbers); the paired difference of bookings and
   won share then measures what the mechanism costs, with a 95% interval that carries only the
   noise the change causes.

How each mechanism is switched off (on the scenario's dict, then validated again):

* ``budget``: the ``[budget]`` section is removed (every buyer has the money; no final doubts);
* ``decision_group``: no roles (nobody is ever replaced);
* ``shocks``: the ``[shocks]`` section is removed (no resets, no inflow cuts);
* ``timing``: the ``[timing]`` section is removed (ready clients buy at once);
* ``dormant``: shelved deals come straight back: ``reactivate_mean_days`` becomes a moment and
  nobody gives up. Deals still slide to "stage zero" and start again from the first stage, so
  this prices the *waiting* and the give-ups, not the slide back itself (removing the dormant
  exits would change every stage's exit draws and is a different question);
* ``capacity``: every team gets unlimited people: the same work and the same hours, but no
  deal ever queues for them (what our own bottleneck costs).

Nothing is written into the results folder: ``explain`` prints (``--json`` for machines).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sim.errors import UserError
from sim.model import CAUSES
from sim.plural import counted
from sim.report import money
from sim.scenario import Scenario, scenario_from_dict
from sim.scenario_bounds import MAX_DAYS, MIN_MEAN_DAYS
from sim.stats import paired_difference
from sim.tables import render, render_with_note, scale_for, wrap

#: The mechanisms that can be switched off, in the order they are reported, with their label,
#: the scenario section that holds them, and the stall causes they account for.
MECHANISMS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "budget": ("Budget cycles", "[budget]", ("budget_wait", "budget_rework")),
    "decision_group": ("Decision-group changes", "[[decision_group]]", ("group_change_rework",)),
    "shocks": ("Market shocks", "[shocks]", ("shock_rework",)),
    "timing": ("Waiting for a good market moment", "[timing]", ("timing_wait",)),
    "dormant": ("Dormant time (doing without, for now)", "[dormant]", ("dormant",)),
    "capacity": ("Our own capacity (queues for our people)", "[[team]]", ("seller_wait",)),
}

CAUSE_LABELS = {
    "budget_wait": "Waiting for budget (a budget line, no money yet)",
    "timing_wait": "Waiting for a good market moment",
    "dormant": "Dormant (doing without, for now)",
    "budget_rework": "Re-work after final doubts (budget re-check)",
    "group_change_rework": "Re-work after a decision-maker changed",
    "shock_rework": "Re-work after a market shock",
    "seller_wait": "Waiting for our own people (a team's queue)",
}

#: The causes as they read inside a sentence.
CAUSE_PHRASES = {
    "budget_wait": "waiting for budget money (a budget line, not allocated money)",
    "timing_wait": "waiting for a good market moment",
    "dormant": 'time shelved ("we\'ll do without it, for now")',
    "budget_rework": "re-work after final doubts",
    "group_change_rework": "re-work after a decision-maker changed",
    "shock_rework": "re-work after market shocks",
    "seller_wait": "waiting for our own people (presales, legal... busy with other deals)",
}

SHORT_LABELS = {
    "budget": "Budget cycles",
    "decision_group": "Decision-group changes",
    "shocks": "Market shocks",
    "timing": "Market timing",
    "dormant": "Dormant time",
    "capacity": "Our own capacity",
}

#: Per-replication metrics compared: (key in RunResult.per_replication or derived, label, kind).
METRICS = (
    ("bookings", "bookings within the horizon", "money"),
    ("won_share", "won share of deals", "share"),
    ("closed_share", "closed share of deals", "share"),
)

LEVEL = 0.95
#: "A moment" of dormant time when dormant is switched off, and "never" giving up: the shortest
#: mean wait and the longest time a scenario may have (sim.scenario_bounds).
INSTANT_DAYS = MIN_MEAN_DAYS
NEVER_DAYS = MAX_DAYS


def has_mechanism(scenario: Scenario, mechanism: str) -> bool:
    """True when the scenario uses the mechanism at all."""
    _check(mechanism)
    if mechanism == "decision_group":
        return bool(scenario.decision_group)
    if mechanism == "capacity":  # a queue can form only where a team's headcount is limited
        return any(not team.unlimited for team in scenario.team)
    return getattr(scenario, mechanism) is not None


def without(scenario: Scenario, mechanism: str) -> Scenario:
    """The same scenario with one mechanism switched off (see the module docstring).

    A mechanism the scenario does not have leaves it unchanged, so its counterfactual is exactly
    the baseline.
    """
    _check(mechanism)
    data = copy.deepcopy(scenario.model_dump(mode="json", by_alias=True, exclude_none=True))
    if mechanism == "decision_group":
        data["decision_group"] = []
    elif mechanism == "capacity":  # unlimited people: the same work, no queue for it
        for team in data.get("team", []):
            team["headcount"] = "unlimited"
            team.pop("changes", None)
    elif mechanism == "dormant":
        if data.get("dormant") is not None:
            data["dormant"] = {
                "reactivate_mean_days": INSTANT_DAYS,
                "give_up_after_days": NEVER_DAYS,
            }
    else:
        data.pop(mechanism, None)
    return scenario_from_dict(data, source=f"{scenario.name} without {mechanism}")


def _check(mechanism: str) -> None:
    if mechanism not in MECHANISMS:
        raise UserError(f"unknown mechanism {mechanism!r}: use one of {', '.join(MECHANISMS)}")


def _metrics(per_replication: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {
        "bookings": np.asarray(per_replication["bookings"], dtype=float),
        "won_share": np.asarray(per_replication["won_share"], dtype=float),
        "closed_share": 1.0 - np.asarray(per_replication["open_share"], dtype=float),
    }
    return out


def _run(
    scenario: Scenario,
    replications: int,
    seed: int,
    jobs: int | None,
    pipeline=None,
    engine: str = "auto",
    executor=None,
):
    from sim.api import simulate

    return simulate(
        scenario,
        replications=replications,
        seed=seed,
        jobs=jobs,
        write=False,
        pipeline=pipeline,
        engine=engine,
        executor=executor,
    )


def counterfactual(
    scenario: Scenario,
    mechanism: str,
    *,
    replications: int,
    seed: int,
    jobs: int | None = 1,
    baseline: dict[str, np.ndarray] | None = None,
    pipeline=None,
    engine: str = "auto",
    executor=None,
) -> dict:
    """What switching ``mechanism`` off changes, paired replication by replication.

    Returns ``{"mechanism", "present", "<metric>": {"delta", "ci_low", "ci_high", "se",
    "baseline"}}``: delta = without - with (positive: the mechanism costs that much).
    """
    if baseline is None:
        base_run = _run(scenario, replications, seed, jobs, pipeline, engine, executor)
        baseline = _metrics(base_run.per_replication)
    off = without(scenario, mechanism)
    off_run = _run(off, replications, seed, jobs, pipeline, engine, executor)
    off = _metrics(off_run.per_replication)
    out: dict = {"mechanism": mechanism, "present": has_mechanism(scenario, mechanism)}
    for key, _, _ in METRICS:
        pair = paired_difference(baseline[key], off[key], LEVEL)
        pair["baseline"] = float(np.mean(baseline[key]))
        out[key] = pair
    return out


def counterfactuals(
    scenario: Scenario,
    *,
    replications: int,
    seed: int,
    jobs: int | None = 1,
    progress: Callable[[str], None] | None = None,
    pipeline=None,
    engine: str = "auto",
    executor=None,
) -> dict:
    """The counterfactual of every mechanism the scenario has (absent ones are skipped).

    ``pipeline`` (a ``sim.pipeline.PipelineSource``): the run's day-0 deals from a CRM export;
    ``executor``: where the replications run (see :func:`sim.simulate`).
    """
    if progress:
        progress("baseline")
    base_run = _run(scenario, replications, seed, jobs, pipeline, engine, executor)
    baseline = _metrics(base_run.per_replication)
    found: dict = {
        "replications": replications,
        "seed": seed,
        "baseline_bookings": float(base_run.summary["bookings"]["mean"]),
        "mechanisms": {},
    }
    for mechanism in MECHANISMS:
        if not has_mechanism(scenario, mechanism):
            continue
        if progress:
            progress(mechanism)
        found["mechanisms"][mechanism] = counterfactual(
            scenario,
            mechanism,
            replications=replications,
            seed=seed,
            jobs=jobs,
            baseline=baseline,
            pipeline=pipeline,
            engine=engine,
            executor=executor,
        )
    return found


def explain_folder(
    folder: Path | str,
    *,
    replications: int | None = None,
    jobs: int | None = 1,
    with_counterfactuals: bool = True,
    progress: Callable[[str], None] | None = None,
    engine: str = "auto",
    executor=None,
) -> tuple[dict, dict | None]:
    """(summary, counterfactuals) of a results folder; the folder is only read.

    Args:
        replications: fewer replications than the run for speed (default: the run's).
        executor: where the re-runs' replications run (see :func:`sim.simulate`).
    """
    from sim.results import PIPELINE, SCENARIO, read_manifest, read_summary, run_scenario

    folder = Path(folder)
    summary = read_summary(folder)
    if not with_counterfactuals:
        return summary, None
    scenario = run_scenario(folder, " (needed to re-run the counterfactuals)")
    run_reps = int(summary.get("replications") or scenario.replications)
    seed = summary.get("seed")
    seed = scenario.seed if seed is None else int(seed)
    n = run_reps if replications is None else replications
    if not 2 <= n <= run_reps:
        raise UserError(f"-n: {n} must be between 2 and the run's {run_reps} replications")
    pipeline = None
    if read_manifest(folder).get("pipeline"):  # it started from a CRM export: re-run from it
        from sim.pipeline import PipelineSource

        pipeline = PipelineSource(folder / PIPELINE, as_of=scenario.start_date)
    found = counterfactuals(
        scenario,
        replications=n,
        seed=seed,
        jobs=jobs,
        progress=progress,
        pipeline=pipeline,
        engine=engine,
        executor=executor,
    )
    if n == run_reps:
        expected = summary.get("bookings", {}).get("mean")
        got = found["baseline_bookings"]
        if expected is not None and not math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-6):
            found["note"] = (
                f"the re-run of {SCENARIO} gives mean bookings {got:.6g}, not the {expected:.6g} "
                "of summary.json (was the run made by another dealsim version?): the "
                "counterfactuals compare against the re-run"
            )
    return summary, found


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


def _pct(x: float | None, digits: int = 1) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{100 * x:.{digits}f}%"


def stall_rows(summary: dict) -> list[dict]:
    """One row per cause: days per deal (+- se), touched and ended shares; biggest first."""
    days = summary.get("stall_days", {})
    counts = summary.get("stall_counts", {})
    rows = []
    for cause in CAUSES:
        d = days.get(cause, {})
        c = counts.get(cause, {})
        rows.append(
            {
                "cause": cause,
                "label": CAUSE_LABELS[cause],
                "days": float(d.get("mean") or 0.0),
                "se": d.get("se"),
                "touched_share": float(c.get("touched_share") or 0.0),
                "ended_share": float(c.get("ended_share") or 0.0),
            }
        )
    rows.sort(key=lambda r: (-r["days"], CAUSES.index(r["cause"])))
    return rows


def _plain_words(summary: dict, rows: list[dict]) -> list[str]:
    """Two or three sentences a trainer can read aloud."""
    total = sum(r["days"] for r in rows)
    if total <= 0:
        return ["Deals never stall in this scenario: every day is spent working a stage."]
    top = [r for r in rows if r["days"] > 0][:2]
    first = top[0]
    text = [
        f"An average deal loses {total:.0f} days to stalls within the horizon; the biggest "
        f"cause is {CAUSE_PHRASES[first['cause']]}: {first['days']:.0f} days per deal, "
        f"{_pct(first['days'] / total, 0)} of the stalled time, touching "
        f"{_pct(first['touched_share'], 0)} of all deals."
    ]
    if len(top) > 1:
        second = top[1]
        text.append(
            f"Next comes {CAUSE_PHRASES[second['cause']]}: {second['days']:.0f} days per deal, "
            f"touching {_pct(second['touched_share'], 0)} of deals."
        )
    enders = sorted((r for r in rows if r["ended_share"] > 0), key=lambda r: -r["ended_share"])
    if enders:
        e = enders[0]
        text.append(
            f"The cause that most often ends a deal outright is {CAUSE_PHRASES[e['cause']]}: "
            f"it ended {_pct(e['ended_share'])} of deals."
        )
    return text


def explain_text(summary: dict, counterfactuals: dict | None = None) -> str:
    """Why deals stall, for the terminal: stall table, plain words, counterfactual values.

    Args:
        summary: a run's summary (as in summary.json).
        counterfactuals: the result of :func:`counterfactuals` (or ``explain_folder``), or None
            to show only what the summary knows.
    """
    cur = summary.get("currency", "")
    rows = stall_rows(summary)
    lines = _wrap(
        f"Why deals stall: {summary.get('scenario')}, {summary.get('replications')} replications,"
        f" seed {summary.get('seed')}, {summary['deals']['mean']:.1f} deals per replication"
    )
    lines.append("")
    table = [["Cause", "days/deal", "+-", "touched", "ended"]]
    for r in rows:
        se = r["se"]
        se_text = f"{se:.1f}" if isinstance(se, int | float) and math.isfinite(se) else "-"
        table.append(
            [
                r["label"],
                f"{r['days']:.1f}",
                se_text,
                _pct(r["touched_share"]),
                _pct(r["ended_share"]),
            ]
        )
    total = sum(r["days"] for r in rows)
    table.append(["All causes", f"{total:.1f}", "", "", ""])
    lines += render_with_note(
        table,
        {1, 2, 3, 4},
        "days/deal: days lost within the horizon, averaged over all deals; touched: share of "
        "deals the cause made wait or moved; ended: share it sent straight to an outcome.",
    )
    lines += _wrap(" ".join(_plain_words(summary, rows)))
    if counterfactuals is None:
        return "\n".join(lines)
    lines += ["", *counterfactual_lines(counterfactuals, cur)]
    return "\n".join(lines)


def counterfactual_lines(found: dict, currency: str) -> list[str]:
    """The counterfactual table and a sentence ranking the mechanisms."""
    mechanisms = found.get("mechanisms", {})
    n, seed = found.get("replications"), found.get("seed")
    lines = _wrap(
        f"What each mechanism costs: the same {n} replications (seed {seed}) re-run on common "
        "random numbers with that one mechanism switched off; the difference without - with, "
        "and its 95% interval:"
    )
    lines.append("")
    if not mechanisms:
        return [*lines, "  (this scenario has no stall mechanism to switch off)"]
    scale = scale_for(  # one way of writing the bookings column
        [
            cf["bookings"].get(k)
            for cf in mechanisms.values()
            for k in ("delta", "ci_low", "ci_high")
        ],
        digits=4,
    )

    def booked_text(x: float) -> str:
        return scale(x, sign=True)

    table = [["Switched off", f"bookings ({currency})", "won share, pts", "closed share, pts"]]
    for mechanism, cf in mechanisms.items():
        b, w, c = cf["bookings"], cf["won_share"], cf["closed_share"]
        rel = b["delta"] / b["baseline"] if b["baseline"] else math.nan
        rel_text = f" ({100 * rel:+.0f}%)" if math.isfinite(rel) else ""
        booked = f"{booked_text(b['delta'])}{rel_text} {_interval(b, booked_text)}".strip()
        won = f"{_signed_pts(w['delta'])} {_interval(w, _signed_pts)}".strip()
        closed = f"{_signed_pts(c['delta'])} {_interval(c, _signed_pts)}".strip()
        table.append([SHORT_LABELS[mechanism], booked, won, closed])
    lines += render(table, right=())
    base = found.get("baseline_bookings")
    lines.append("")
    lines += _wrap(_ranking_sentence(mechanisms, base, currency, found.get("replications")))
    if "dormant" in mechanisms:
        lines += [""] + _wrap(
            "(Dormant time switched off: shelved deals come straight back to the first stage, "
            "with no wait and no give-up; the slide back to stage zero itself still happens.)"
        )
    if found.get("note"):
        lines += ["", *_wrap("Note: " + found["note"])]
    return lines


def _signed_short(x: float) -> str:
    """+8.76M, -350k, 0 (no currency: the column header has it)."""
    if not math.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    return ("+" if x > 0 else "-") + money(abs(x), "").strip()


def _signed_pts(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    value = 100 * x
    return "0.0" if abs(value) < 0.05 else f"{value:+.1f}"


def _interval(pair: dict, fmt: Callable[[float], str]) -> str:
    lo, hi = pair.get("ci_low"), pair.get("ci_high")
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return ""
    return f"[{fmt(lo)}, {fmt(hi)}]"


def _ranking_sentence(
    mechanisms: dict, base: float | None, currency: str, replications: int | None = None
) -> str:
    """'Switched off one at a time, X would add the most: ...; then Y ..., Z ....'

    The baseline is the re-runs' own (``replications`` of them), which can differ from the
    folder's run of more or fewer replications: it says so, not to read as a second figure of
    the run."""
    ranked = sorted(mechanisms.items(), key=lambda kv: -kv[1]["bookings"]["delta"])
    parts = []
    for mechanism, cf in ranked:
        b = cf["bookings"]
        lo, hi = b["ci_low"], b["ci_high"]
        sure = math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0)
        amount = money(abs(b["delta"]), currency)
        word = "more" if b["delta"] >= 0 else "less"
        hedge = "" if sure or b["delta"] == 0 else ", within the noise"
        parts.append(f"{SHORT_LABELS[mechanism].lower()} {amount} {word}{hedge}")
    runs = f" of these re-runs ({counted(replications, 'replication')})" if replications else ""
    head = (
        f"Baseline{runs}: {money(base, currency)} booked per replication within the horizon. "
        if base
        else ""
    )
    first_mech, first_cf = ranked[0]
    first = money(abs(first_cf["bookings"]["delta"]), currency)
    verb = "more" if first_cf["bookings"]["delta"] >= 0 else "less"
    text = (
        head + f"Switched off one at a time, {SHORT_LABELS[first_mech].lower()} would change "
        f"bookings the most ({first} {verb} within the horizon)"
    )
    if len(parts) > 1:
        text += "; then " + ", ".join(parts[1:])
    return text + "."


def _wrap(text: str, indent: str = "") -> list[str]:
    """Prose at most 96 wide, narrower on a narrow terminal."""
    return wrap(text, indent=indent)


def explain_json(summary: dict, found: dict | None) -> dict:
    """Machine output: the stall rows and the counterfactuals."""
    from sim.aggregate import clean_for_json

    return clean_for_json(
        {
            "scenario": summary.get("scenario"),
            "replications": summary.get("replications"),
            "seed": summary.get("seed"),
            "stalls": stall_rows(summary),
            "counterfactuals": found,
        }
    )
