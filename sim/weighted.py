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
within the horizon, with its P10/P50/P90. A CRM export (``--pipeline``) starts exactly as in
``run --pipeline``: each deal with its age in stage and its own amount, which the weighted
figures use too. Two extra simulations split the gap: stage dynamics
only (the budget, decision group, shocks and timing switched off) shows what time alone costs
(deals that would be won, but later); the full model adds the stalls and resets.

The field's commonest error is misjudging which stage the client is really in (as the
practitioners of the forum thread this product grew from say): the same numbers if every deal
were really one stage earlier than recorded (deals in the first stage stay there), so a trainer
can show how far a forecast built on recorded stages overstates. When no deal can move back
(one stage, or every deal in the first), that part is None and the text leaves it out.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from sim.errors import UserError
from sim.model import InitialPipeline, compile_scenario
from sim.report import money
from sim.scenario import Scenario, load_scenario, scenario_from_dict
from sim.stats import few_replications_note
from sim.tables import render, render_with_note, scale_for

if TYPE_CHECKING:
    from sim.pipeline import PipelineSource

#: The percentages a typical CRM assigns to its five stages (qualify, discover, propose,
#: negotiate, commit).
DEFAULT_CRM = (10.0, 25.0, 50.0, 70.0, 90.0)
MECHANISM_SECTIONS = ("budget", "shocks", "timing")


# ---------------------------------------------------------------------------------------------
# Probabilities
# ---------------------------------------------------------------------------------------------


def chain_win_probabilities(scenario: Scenario, with_dormant: bool = False) -> np.ndarray:
    """P(eventually won) from each stage, by the stage exits alone (no time, no mechanisms);
    ``with_dormant`` adds P(eventually won) of a dormant deal after the stages.

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
    return np.clip(b if with_dormant else b[:n], 0.0, 1.0)


def parse_crm_probabilities(text: str | None, n_stages: int) -> np.ndarray:
    """CRM stage probabilities (fractions), one per stage.

    Args:
        text: comma-separated percentages, one per stage ("10,25,50,70", "0.5%,2%,10%"); None
            for the defaults (DEFAULT_CRM spread over the stages: with 5 stages as is, with
            fewer the nearest of the five by position, so that the first stage keeps 10% and the
            last 90% - 10/25/70/90 for four stages, 10/50/90 for three -, with more linearly
            interpolated). Values all at most 1 without a % sign are refused: they look like
            fractions.
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
        values = [float(t.removesuffix("%")) for t in parts]  # one sign: "10%%" is a typo
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
    _reject_fractions(parts, values)
    return np.asarray(values) / 100.0


def _reject_fractions(parts: list[str], values: list[float]) -> None:
    """Values all at most 1 read like fractions (0.1 for 10%), though the option takes
    percentages: refuse them, unless a % sign says they really are percentages under 1%."""
    if max(values) > 1 or max(values) == 0 or any(t.endswith("%") for t in parts):
        return
    given = ",".join(parts)
    as_percent = ",".join(f"{100 * v:g}" for v in values)
    raise UserError(
        f"--crm-probabilities: {given} are all at most 1, but the option takes percentages "
        f"(10 for 10%): write {as_percent} for those fractions, or put a % sign on each value "
        f"({parts[0]}%,...) for percentages under 1%"
    )


# ---------------------------------------------------------------------------------------------
# Pipelines and scenarios
# ---------------------------------------------------------------------------------------------


def day0_deals(
    scenario: Scenario, pipeline: PipelineSource | None
) -> tuple[Scenario, InitialPipeline]:
    """The scenario and its day-0 deals exactly as ``run`` starts them: with ``--pipeline``, the
    export's open deals with their age in stage, creation day and amount, day 0 moved to the
    export day (:func:`sim.pipeline.apply_pipeline`, the code ``run`` uses); else the counts of
    ``deals.initial``."""
    if pipeline is not None:
        from sim.pipeline import apply_pipeline

        return apply_pipeline(scenario, pipeline)
    return scenario, compile_scenario(scenario).initial


def shift_back(initial: InitialPipeline, n_stages: int) -> InitialPipeline:
    """The same deals if each were really one stage earlier (the first stage and dormant stay).

    A deal keeps its age in stage, creation day and amount: the CRM's stage date is when the
    salesperson believed it moved on, so it has been in the earlier stage at least that long.
    The order of the deals is kept, so counts shift exactly as ``deals.initial`` would.
    """
    states = initial.states.copy()
    later = (states > 0) & (states < n_stages)  # codes 0..n-1 are stages, n is dormant
    states[later] -= 1
    return replace(initial, states=states)


def deal_amounts(initial: InitialPipeline, scenario: Scenario) -> np.ndarray:
    """Each deal's amount as the CRM weighs it: its own, or the scenario's mean when the
    export had none (the simulation then draws one from the scenario, whose mean that is)."""
    amounts = np.asarray(initial.amounts, dtype=float)
    return np.where(np.isnan(amounts), float(scenario.deals.amount.mean()), amounts)


def weighted_value(states: np.ndarray, amounts: np.ndarray, probs: np.ndarray) -> float:
    """Sum of each deal's amount times the probability of its state (stages, then dormant)."""
    return float(np.sum(amounts * probs[states]))


def day0_scenario(scenario: Scenario, mechanisms: bool = True) -> Scenario:
    """The scenario with no new deals, optionally stage dynamics only (the day-0 deals are
    given to the engine apart, as ``run --pipeline`` does)."""
    data = copy.deepcopy(scenario.model_dump(mode="json", by_alias=True, exclude_none=True))
    data["deals"]["arrivals_per_month"] = 0.0
    data["deals"].pop("seasonality", None)
    if not mechanisms:
        for key in MECHANISM_SECTIONS:
            data.pop(key, None)
        data["decision_group"] = []
    return scenario_from_dict(data, source=f"{scenario.name} (day-0 pipeline)")


def stall_mechanisms(scenario: Scenario) -> list[str]:
    """The sections the stage-dynamics-only run switches off that this scenario has: with none,
    that run and the full one are the same simulation."""
    present = [key for key in MECHANISM_SECTIONS if getattr(scenario, key) is not None]
    return present + (["decision_group"] if scenario.decision_group else [])


def _simulate(
    scenario: Scenario, initial: InitialPipeline, replications: int, seed: int, jobs: int | None
) -> dict:
    from sim.api import simulate

    result = simulate(
        scenario, initial=initial, replications=replications, seed=seed, jobs=jobs, write=False
    )
    summary = result.summary
    return {
        "bookings": summary["bookings"],
        "won_count": summary["outcomes"]["won"]["count_mean"],
        "open_share": summary["outcomes"]["open"]["share"],
        "stall_days": {k: v["mean"] for k, v in summary["stall_days"].items()},
        "touched": {k: v["touched_share"] for k, v in summary["stall_counts"].items()},
    }


def _forecasts(scenario, initial, amounts, probs, runs) -> dict:
    """The weighted figures and the two simulations of one set of day-0 deals."""
    from sim.model import compile_scenario
    from sim.run_cost import announced, check_runs_cost
    from sim.runner import default_jobs

    replications, seed, jobs = runs
    stages_only, full = day0_scenario(scenario, mechanisms=False), day0_scenario(scenario)
    models = [compile_scenario(s, initial) for s in (stages_only, full)]
    check_runs_cost(models, replications, jobs or default_jobs(), "the two simulations")
    with announced():  # both at once, above
        return {
            "deals": len(initial.states),
            "crm_weighted": weighted_value(initial.states, amounts, probs["crm"]),
            "chain_weighted": weighted_value(initial.states, amounts, probs["chain"]),
            "simulated_stages_only": _simulate(stages_only, initial, replications, seed, jobs),
            "simulated": _simulate(full, initial, replications, seed, jobs),
        }


def weighted_vs_simulation(
    scenario: Scenario | str | None,
    *,
    crm: str | None = None,
    replications: int | None = None,
    seed: int | None = None,
    jobs: int | None = 1,
    pipeline: PipelineSource | None = None,
) -> dict:
    """Everything ``dealsim weighted`` shows, as a dict (see the module docstring).

    ``pipeline``: today's open deals from a CRM export, started as ``run --pipeline`` starts
    them (so the simulated figure is the one ``run`` gives with no new deals).
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    scenario, recorded = day0_deals(scenario, pipeline)
    if not len(recorded.states):
        raise UserError(
            f"{scenario.name}: deals.initial is empty: there is no day-0 pipeline to weigh"
        )
    replications = scenario.replications if replications is None else replications
    seed = scenario.seed if seed is None else seed
    if not 2 <= replications:
        raise UserError(f"-n: {replications} must be at least 2")
    names = scenario.stage_names
    n = len(names)
    amounts = deal_amounts(recorded, scenario)
    crm_probs = parse_crm_probabilities(crm, n)
    chain_probs = chain_win_probabilities(scenario, with_dormant=True)
    # a CRM has no stage probability for a deal on hold: it weighs a dormant deal at nothing
    probs = {"crm": np.append(crm_probs, 0.0), "chain": chain_probs}
    earlier = shift_back(recorded, n)
    # with one stage, or every deal in the first, no deal moves back: nothing to show
    moved = bool(np.any(earlier.states != recorded.states))
    counts = np.bincount(recorded.states, minlength=n + 1)
    counts_earlier = np.bincount(earlier.states, minlength=n + 1)
    runs = (replications, seed, jobs)
    return {
        "scenario": scenario.name,
        "currency": scenario.currency,
        "start_date": scenario.start_date.isoformat(),
        "horizon_days": scenario.horizon_days,
        "replications": replications,
        "seed": seed,
        "mean_amount": float(amounts.mean()),
        "crm_defaults": crm is None,
        "stall_mechanisms": stall_mechanisms(scenario),
        "pipeline": recorded.provenance(scenario.start_date) if pipeline is not None else None,
        "stages": [
            {
                "name": stage.name,
                "label": stage.label or stage.name,
                "deals": int(counts[s]),
                "deals_one_stage_earlier": int(counts_earlier[s]) if moved else None,
                "crm_probability": float(crm_probs[s]),
                "chain_probability": float(chain_probs[s]),
            }
            for s, stage in enumerate(scenario.stages)
        ],
        "dormant": {"deals": int(counts[n]), "chain_probability": float(chain_probs[n])},
        "recorded": _forecasts(scenario, recorded, amounts, probs, runs),
        "one_stage_earlier": _forecasts(scenario, earlier, amounts, probs, runs) if moved else None,
    }


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


def _m(x: float, cur: str) -> str:
    return money(x, cur)


def _percent(p: float, given: bool = False) -> str:
    """A probability in percent, without the % sign: a CRM's as the user gave it (0.1 stays
    0.1, not 0), a computed one to the whole percent but with 2 significant digits under 1%
    (so that 0.4% does not read as 0%)."""
    x = 100 * p
    if given:
        return f"{round(x, 6):g}"  # the round drops the noise of /100 then *100
    if 0 < x < 1:
        return f"{x:.2g}"
    return f"{x:.0f}"


def weighted_text(found: dict) -> str:
    """The terminal report: probabilities by stage, the forecasts side by side, why they differ.

    The one-stage-earlier columns and sentence are left out when no deal can move back (one
    stage, or every deal already in the first stage): they would repeat the recorded figures.
    """
    cur = found["currency"]
    rec = found["recorded"]
    lines = _wrap(
        f"Weighted pipeline vs simulation: {found['scenario']}, the day-0 pipeline of "
        f"{rec['deals']} deals ({found['start_date']}), mean amount "
        f"{_m(found['mean_amount'], cur)}, horizon {found['horizon_days']:g} days, "
        f"{found['replications']} replications, seed {found['seed']}, no new deals."
    )
    few = few_replications_note(found["replications"])
    if few:
        lines += _wrap(f"Rough: {few}.")
    lines += ["", *_stage_table(found), *_forecast_table(found)]
    lines += ["", *_wrap(why_sentence(found))]
    if found["one_stage_earlier"] is not None:
        lines += ["", *_wrap(stage_error_sentence(found))]
    elif len(found["stages"]) > 1:
        dormant = " or on hold (dormant)" if (found.get("dormant") or {}).get("deals") else ""
        lines += ["", *_wrap(NO_STAGE_ERROR.format(dormant=dormant))]
    return "\n".join(lines)


NO_STAGE_ERROR = (
    "Misjudged stage, the commonest error the field reports, cannot be shown here: every deal is "
    "already in the first stage{dormant}."
)


def _stage_table(found: dict) -> list[str]:
    """Deals and probabilities by stage (and the dormant deals of a CRM export)."""
    shifted = found["one_stage_earlier"] is not None
    table = [["Stage", "deals", "CRM", "chain", *(["if one stage earlier"] if shifted else [])]]
    for s, st in enumerate(found["stages"]):
        table.append(
            [
                f"{s + 1}. {st['label']}",
                f"{st['deals']}",
                f"{_percent(st['crm_probability'], given=True)}%",
                f"{_percent(st['chain_probability'])}%",
                *([f"{st['deals_one_stage_earlier']} deals"] if shifted else []),
            ]
        )
    dormant = found["dormant"]
    if dormant["deals"]:  # on hold in the CRM export: simulated as run does, weighed apart
        table.append(
            [
                "   dormant (on hold)",
                f"{dormant['deals']}",
                "0%",
                f"{_percent(dormant['chain_probability'])}%",
                *([f"{dormant['deals']} deals"] if shifted else []),
            ]
        )
    return render_with_note(
        table,
        set(range(1, len(table[0]))),
        f"CRM: {_crm_source(found)}; chain: P(eventually won) from the "
        "scenario's own stage exits (no time, no budgets, people or shocks)."
        + (" A CRM gives a dormant deal no stage probability: 0%." if dormant["deals"] else ""),
    )


def _crm_source(found: dict) -> str:
    """Where the CRM column comes from: the user's percentages, or the defaults and how five
    of them became this many (a reader otherwise wonders where 50% went)."""
    if not found["crm_defaults"]:
        return "the stage probabilities given (--crm-probabilities)"
    usual = "/".join(f"{v:g}" for v in DEFAULT_CRM) + "%"
    n = len(found["stages"])
    if n == len(DEFAULT_CRM):
        return f"a CRM's usual {usual} (--crm-probabilities for your own)"
    how = "the nearest by position" if n < len(DEFAULT_CRM) else "interpolated"
    return (
        f"a CRM's usual {usual} spread over {n} stage{'s' if n > 1 else ''} ({how}: the first "
        "stage keeps 10%" + (", the last 90%" if n > 1 else "") + "; --crm-probabilities for "
        "your own)"
    )


def _forecast_table(found: dict) -> list[str]:
    """The forecasts of the recorded pipeline (and of the same deals one stage earlier)."""
    crm_list = "/".join(_percent(s["crm_probability"], True) for s in found["stages"]) + "%"
    blocks = [found["recorded"]]
    if found["one_stage_earlier"] is not None:
        blocks.append(found["one_stage_earlier"])
    rows = [
        (f"CRM weighted ({crm_list})", [b["crm_weighted"] for b in blocks]),
        ("Chain weighted (eventual wins, any time)", [b["chain_weighted"] for b in blocks]),
        (
            "Simulated within the horizon, stage dynamics only",
            [b["simulated_stages_only"]["bookings"]["mean"] for b in blocks],
        ),
        (
            "Simulated within the horizon, all mechanisms: mean",
            [b["simulated"]["bookings"]["mean"] for b in blocks],
        ),
    ]
    rows += [
        (f"  {q.upper()}", [b["simulated"]["bookings"][q] for b in blocks])
        for q in ("p10", "p50", "p90")
    ]
    errors = {  # the simulated means' standard errors, on the rows of those means
        2: [b["simulated_stages_only"]["bookings"].get("se") for b in blocks],
        3: [b["simulated"]["bookings"].get("se") for b in blocks],
    }
    scale = scale_for([v for _, values in rows for v in values], digits=4)  # one for the table
    heads = ["as recorded", "one stage earlier"][: len(blocks)]
    table = [[f"Forecast of the day-0 pipeline ({found['currency']}; simulated: +- s.e.)", *heads]]
    for i, (label, values) in enumerate(rows):
        ses = errors.get(i, [None] * len(values))
        cells = [
            scale(v) + (f" +- {scale(se)}" if se is not None and math.isfinite(se) else "")
            for v, se in zip(values, ses, strict=True)
        ]
        table.append([label, *cells])
    return render(table, right=set(range(1, len(blocks) + 1)))


def _versus(a: float, b: float) -> str:
    """'24% below' / '13% above' / '3.4 times' / 'the same as': a compared with b, in percent
    of b (the figure the sentence names next)."""
    if not b:
        return "not comparable with"
    rel = (a - b) / b
    if rel >= 1:  # "250% above" is easily misread: say how many times
        return f"{a / b:.1f} times"
    percent = round(100 * abs(rel))
    if not percent:  # what would print as "0% above"
        return "the same as"
    return f"{percent}% {'above' if rel > 0 else 'below'}"


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
        f"{_time_clause(found, chain, rec['simulated_stages_only']['bookings'])}"
        f"{_stalls_clause(found, only, full)}."
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


#: A difference within this many standard errors of zero is not told as a cause.
NOISE_SES = 2


def _time_clause(found: dict, chain: float, only: dict) -> str:
    """What time alone does to the chain's figure: the stage-dynamics simulation within the
    horizon, with its standard error; a difference within about two standard errors of zero is
    the noise of the replications, not an effect of time. Without a standard error to weigh
    it by, the difference is told as it is, with no claim about the noise."""
    cur, n = found["currency"], found["replications"]
    se = only.get("se")
    figure = f"{_m(only['mean'], cur)}" + (
        f" +- {_m(se, cur)}" if se is not None and math.isfinite(se) else ""
    )
    if se is not None and math.isfinite(se) and abs(only["mean"] - chain) <= NOISE_SES * se:
        return (
            f"the stage dynamics simulated to the horizon give {figure}, a difference from the "
            f"chain's {_m(chain, cur)} within the noise of {n} replications"
        )
    return f"time alone (stage dynamics, simulated to the horizon) takes it to {figure}"


def _stalls_clause(found: dict, only: float, full: float) -> str:
    """The end of the sentence that takes the figure from stage dynamics to the full model:
    "and the stalls and resets to X" would repeat the same X when the scenario has nothing to
    stall a deal, or when the stalls change nothing that shows at this precision."""
    cur = found["currency"]
    if not found["stall_mechanisms"]:
        return (
            ", the full simulation's figure too: this scenario has no budget, decision group, "
            "shocks or timing to stall or reset a deal"
        )
    if _m(only, cur) == _m(full, cur):
        return ", and the stalls and resets leave it there"
    return f", and the stalls and resets to {_m(full, cur)}"


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
