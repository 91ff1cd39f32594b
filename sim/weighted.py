"""The CRM's weighted pipeline beside the simulation (``dealsim weighted SCENARIO``).

A CRM forecasts the open pipeline as the sum of each deal's amount times its stage probability.
Two sets of probabilities are shown:

* CRM defaults, the fixed percentages most CRMs ship with (10/25/50/70/90% by stage, or the
  user's own with ``--crm-probabilities``);
* the scenario's own chain: the probability that a deal in a stage is eventually won, from the
  stage exits alone (an absorbing Markov chain over the stages and dormant, B = (I - Q)^-1 R),
  ignoring time and the stall mechanisms. Dormant returns to the first stage with probability
  1 - exp(-give_up / reactivate_mean), else ends as no decision.

Beside them, the simulation of the same day-0 pipeline (no new deals): what is actually booked
within the horizon, with its P10/P50/P90. Two extra simulations split the gap: stage dynamics
only (the budget, decision group, shocks and timing switched off) shows what time alone costs
(deals that would be won, but later); the full model adds the stalls and resets.

The field's commonest error is misjudging which stage the client is really in (DESIGN.md
section 1): the same numbers if every deal were really one stage earlier than recorded (deals in
the first stage stay there), so a trainer can show how far a forecast built on recorded stages
overstates.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from sim.errors import UserError
from sim.report import money
from sim.scenario import Scenario, load_scenario, scenario_from_dict
from sim.tables import render, render_with_note, scale_for

#: The percentages a typical CRM assigns to its five stages (qualify, discover, propose,
#: negotiate, commit).
DEFAULT_CRM = (10.0, 25.0, 50.0, 70.0, 90.0)
MECHANISM_SECTIONS = ("budget", "shocks", "timing")


# ---------------------------------------------------------------------------------------------
# Probabilities
# ---------------------------------------------------------------------------------------------


def chain_win_probabilities(scenario: Scenario) -> np.ndarray:
    """P(eventually won) from each stage, by the stage exits alone (no time, no mechanisms).

    Transient states are the stages and dormant; absorbing ones are won, lost and no decision.
    """
    names = scenario.stage_names
    n = len(names)
    index = {name: i for i, name in enumerate(names)}
    index["dormant"] = n
    won, lost, no_decision = n + 1, n + 2, n + 3
    index.update({"won": won, "lost": lost, "no_decision": no_decision})
    p = np.zeros((n + 1, n + 4))
    for s, stage in enumerate(scenario.stages):
        for target, prob in stage.exits.items():
            p[s, index[target]] += prob
        p[s] /= p[s].sum()
    if scenario.dormant is not None:
        d = scenario.dormant
        give_up = math.exp(-d.give_up_after_days / d.reactivate_mean_days)
        p[n, 0] = 1.0 - give_up
        p[n, no_decision] = give_up
    else:
        p[n, no_decision] = 1.0  # unreachable: validation forbids exits to a missing dormant
    q = p[:, : n + 1]
    r = p[:, won]
    try:
        b = np.linalg.solve(np.eye(n + 1) - q, r)
    except np.linalg.LinAlgError:
        raise UserError(
            f"{scenario.name}: the stage exits never reach an outcome from some stage"
        ) from None
    return np.clip(b[:n], 0.0, 1.0)


def parse_crm_probabilities(text: str | None, n_stages: int) -> np.ndarray:
    """CRM stage probabilities (fractions), one per stage.

    Args:
        text: comma-separated percentages, one per stage ("10,25,50,70"); None for the defaults
            (DEFAULT_CRM spread over the stages: with 5 stages as is, with fewer the nearest of
            the five by position, with more linearly interpolated).
    """
    if text is None:
        spots = np.linspace(0, len(DEFAULT_CRM) - 1, n_stages)
        if n_stages <= len(DEFAULT_CRM):
            values = [DEFAULT_CRM[int(math.floor(x + 0.5))] for x in spots]
        else:
            values = np.interp(spots, range(len(DEFAULT_CRM)), DEFAULT_CRM).tolist()
        return np.asarray(values) / 100.0
    parts = [t.strip() for t in text.split(",") if t.strip()]
    try:
        values = [float(t.rstrip("%")) for t in parts]
    except ValueError:
        raise UserError(
            f"--crm-probabilities: {text!r} must be percentages separated by commas, e.g. "
            "10,25,50,70"
        ) from None
    if len(values) != n_stages:
        raise UserError(
            f"--crm-probabilities: {len(values)} value(s) given, but the scenario has "
            f"{n_stages} stages (one percentage per stage, in order)"
        )
    bad = [v for v in values if not (0 <= v <= 100 and math.isfinite(v))]
    if bad:
        raise UserError(f"--crm-probabilities: {bad[0]:g} is not a percentage in 0..100")
    return np.asarray(values) / 100.0


# ---------------------------------------------------------------------------------------------
# Pipelines and scenarios
# ---------------------------------------------------------------------------------------------


def shift_back(initial: dict[str, int], stage_names: list[str]) -> dict[str, int]:
    """The pipeline if every deal were really one stage earlier (the first stage stays)."""
    out = {name: 0 for name in stage_names}
    for name, count in initial.items():
        s = stage_names.index(name)
        out[stage_names[max(s - 1, 0)]] += count
    return {k: v for k, v in out.items() if v}


def pipeline_scenario(
    scenario: Scenario, initial: dict[str, int], mechanisms: bool = True
) -> Scenario:
    """The scenario with only the given day-0 pipeline (no arrivals), optionally stages only."""
    data = copy.deepcopy(scenario.model_dump(mode="json", by_alias=True, exclude_none=True))
    data["deals"]["initial"] = dict(initial)
    data["deals"]["arrivals_per_month"] = 0.0
    data["deals"].pop("seasonality", None)
    if not mechanisms:
        for key in MECHANISM_SECTIONS:
            data.pop(key, None)
        data["decision_group"] = []
    return scenario_from_dict(data, source=f"{scenario.name} (day-0 pipeline)")


def weighted_value(initial: dict[str, int], names: list[str], probs, amount: float) -> float:
    return float(sum(initial.get(name, 0) * probs[s] for s, name in enumerate(names)) * amount)


def _simulate(scenario: Scenario, replications: int, seed: int, jobs: int | None) -> dict:
    from sim.api import simulate

    result = simulate(scenario, replications=replications, seed=seed, jobs=jobs, write=False)
    summary = result.summary
    return {
        "bookings": summary["bookings"],
        "won_count": summary["outcomes"]["won"]["count_mean"],
        "open_share": summary["outcomes"]["open"]["share"],
        "stall_days": {k: v["mean"] for k, v in summary["stall_days"].items()},
        "touched": {k: v["touched_share"] for k, v in summary["stall_counts"].items()},
    }


def weighted_vs_simulation(
    scenario: Scenario | str | None,
    *,
    crm: str | None = None,
    replications: int | None = None,
    seed: int | None = None,
    jobs: int | None = 1,
) -> dict:
    """Everything ``dealsim weighted`` shows, as a dict (see the module docstring)."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    names = scenario.stage_names
    recorded = {k: v for k, v in scenario.deals.initial.items() if v}
    if not recorded:
        raise UserError(
            f"{scenario.name}: deals.initial is empty: there is no day-0 pipeline to weigh"
        )
    replications = scenario.replications if replications is None else replications
    seed = scenario.seed if seed is None else seed
    if not 2 <= replications:
        raise UserError(f"-n: {replications} must be at least 2")
    amount = float(scenario.deals.amount.mean())
    crm_probs = parse_crm_probabilities(crm, len(names))
    chain_probs = chain_win_probabilities(scenario)
    earlier = shift_back(recorded, names)
    out: dict = {
        "scenario": scenario.name,
        "currency": scenario.currency,
        "start_date": scenario.start_date.isoformat(),
        "horizon_days": scenario.horizon_days,
        "replications": replications,
        "seed": seed,
        "mean_amount": amount,
        "stages": [
            {
                "name": stage.name,
                "label": stage.label or stage.name,
                "deals": recorded.get(stage.name, 0),
                "deals_one_stage_earlier": earlier.get(stage.name, 0),
                "crm_probability": float(crm_probs[s]),
                "chain_probability": float(chain_probs[s]),
            }
            for s, stage in enumerate(scenario.stages)
        ],
    }
    for key, pipeline in (("recorded", recorded), ("one_stage_earlier", earlier)):
        out[key] = {
            "deals": int(sum(pipeline.values())),
            "crm_weighted": weighted_value(pipeline, names, crm_probs, amount),
            "chain_weighted": weighted_value(pipeline, names, chain_probs, amount),
            "simulated_stages_only": _simulate(
                pipeline_scenario(scenario, pipeline, mechanisms=False), replications, seed, jobs
            ),
            "simulated": _simulate(pipeline_scenario(scenario, pipeline), replications, seed, jobs),
        }
    return out


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


def _m(x: float, cur: str) -> str:
    return money(x, cur)


def weighted_text(found: dict) -> str:
    """The terminal report: probabilities by stage, the forecasts side by side, why they differ."""
    cur = found["currency"]
    rec, early = found["recorded"], found["one_stage_earlier"]
    crm_list = "/".join(f"{100 * s['crm_probability']:g}" for s in found["stages"]) + "%"
    lines = _wrap(
        f"Weighted pipeline vs simulation: {found['scenario']}, the day-0 pipeline of "
        f"{rec['deals']} deals ({found['start_date']}), mean amount "
        f"{_m(found['mean_amount'], cur)}, horizon {found['horizon_days']:g} days, "
        f"{found['replications']} replications, seed {found['seed']}, no new deals."
    )
    lines.append("")
    table = [["Stage", "deals", "CRM", "chain", "if one stage earlier"]]
    for s, st in enumerate(found["stages"]):
        table.append(
            [
                f"{s + 1}. {st['label']}",
                f"{st['deals']}",
                f"{100 * st['crm_probability']:.0f}%",
                f"{100 * st['chain_probability']:.0f}%",
                f"{st['deals_one_stage_earlier']} deals",
            ]
        )
    lines += render_with_note(
        table,
        {1, 2, 3, 4},
        "CRM: the stage probabilities a CRM would use; chain: P(eventually won) from the "
        "scenario's own stage exits (no time, no budgets, people or shocks).",
    )
    sim_rec, sim_early = rec["simulated"]["bookings"], early["simulated"]["bookings"]
    pairs = [
        (f"CRM weighted ({crm_list})", rec["crm_weighted"], early["crm_weighted"]),
        (
            "Chain weighted (eventual wins, any time)",
            rec["chain_weighted"],
            early["chain_weighted"],
        ),
        (
            "Simulated within the horizon, stage dynamics only",
            rec["simulated_stages_only"]["bookings"]["mean"],
            early["simulated_stages_only"]["bookings"]["mean"],
        ),
        ("Simulated within the horizon, all mechanisms: mean", sim_rec["mean"], sim_early["mean"]),
    ]
    pairs += [(f"  {q.upper()}", sim_rec[q], sim_early[q]) for q in ("p10", "p50", "p90")]
    scale = scale_for([v for _, a, b in pairs for v in (a, b)], digits=4)  # one for the table
    table = [[f"Forecast of the day-0 pipeline ({cur})", "as recorded", "one stage earlier"]]
    table += [[label, scale(a), scale(b)] for label, a, b in pairs]
    lines += render(table, right={1, 2})
    lines += ["", *_wrap(why_sentence(found)), "", *_wrap(stage_error_sentence(found))]
    return "\n".join(lines)


def _versus(a: float, b: float) -> str:
    """'24% below' / '13% above' / 'the same as' : a compared with b."""
    if not b:
        return "not comparable with"
    rel = (a - b) / b
    if abs(rel) < 0.005:
        return "the same as"
    return f"{100 * abs(rel):.0f}% {'above' if rel > 0 else 'below'}"


def why_sentence(found: dict) -> str:
    """Why the weighted pipeline and the simulation differ, in numbers."""
    cur = found["currency"]
    rec = found["recorded"]
    crm, chain = rec["crm_weighted"], rec["chain_weighted"]
    only = rec["simulated_stages_only"]["bookings"]["mean"]
    sim = rec["simulated"]
    full = sim["bookings"]["mean"]
    text = (
        f"The CRM's weighted pipeline says {_m(crm, cur)}, {_versus(crm, full)} the "
        f"{_m(full, cur)} the simulation books within the horizon (P10 "
        f"{_m(sim['bookings']['p10'], cur)}, P90 {_m(sim['bookings']['p90'], cur)}). "
        f"First, its stage percentages are not this market's: the scenario's own chain weighs "
        f"the same deals at {_m(chain, cur)}, {_versus(chain, crm)} the CRM. But even that "
        f"counts every deal that will ever be won, at any time and as if nothing stalled: "
        f"time alone (stage dynamics, simulated to the horizon) takes it to {_m(only, cur)}, "
        f"and the stalls and resets to {_m(full, cur)}."
    )
    stall = sim["stall_days"]
    touched = sim["touched"]
    waits = [
        f"{words} {stall[cause]:.0f}"
        for cause, words in (
            ("budget_wait", "budget waits"),
            ("timing_wait", "waiting for a better rate"),
            ("dormant", "time shelved"),
        )
        if stall.get(cause, 0) >= 0.5
    ]
    resets = [
        f"{words} {100 * touched[cause]:.0f}%"
        for cause, words in (
            ("budget_rework", "final doubts after the budget"),
            ("group_change_rework", "a new decision-maker"),
            ("shock_rework", "a market shock"),
        )
        if touched.get(cause, 0) >= 0.005
    ]
    if waits:
        text += " Days lost per deal: " + ", ".join(waits) + "."
    if resets:
        text += " Deals sent back or shelved by " + ", ".join(resets) + "."
    text += f" {100 * sim['open_share']:.0f}% of the deals are still open at the horizon."
    return text


def stage_error_sentence(found: dict) -> str:
    """The field's commonest error, shown: deals really one stage earlier than recorded."""
    cur = found["currency"]
    rec, early = found["recorded"], found["one_stage_earlier"]
    believed = rec["simulated"]["bookings"]["mean"]
    truth = early["simulated"]["bookings"]["mean"]
    return (
        "Misjudged stage, the commonest error the field reports: if every deal is really one "
        f"stage earlier than the CRM records, the simulation books {_m(truth, cur)} instead of "
        f"{_m(believed, cur)}: a forecast built on the recorded stages is "
        f"{_versus(believed, truth)} what will happen. The CRM's weighted figure moves from "
        f"{_m(rec['crm_weighted'], cur)} to {_m(early['crm_weighted'], cur)} once the stages "
        "are corrected."
    )


def _wrap(text: str, indent: str = "") -> list[str]:
    """Prose at most 96 wide, narrower on a narrow terminal."""
    from sim.tables import wrap

    return wrap(text, indent=indent)
