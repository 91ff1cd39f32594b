"""Would the forecast have been right? ``dealsim backtest``: forecasts from past cut-offs, scored.

For each cut-off day C (its end: everything dated C is known):

1. **What was known then**: the history's rows up to C (later rows left out, not refused), and
   the amounts known then (see :func:`sim.fit.history_as_of`).
2. **The scenario**: fitted to that history (``dealsim fit`` as of C, parameter uncertainty
   included), or a planner's own scenario (``--scenario``; CRM stages mapped by its
   ``[crm.stage_map]``), moved to start on C + 1 and to end on ``until`` (or
   ``months_ahead`` month ends on, and never after the history's last date: see
   :mod:`sim.backtest_window`).
3. **The pipeline**: the deals open at C, each in its stage with the days it had already spent
   there, its creation date and (when known then) its amount: the same day-0 deals a user gets
   from ``--pipeline``. New deals arrive from C + 1 on.
4. **Run and score**: the won count and the won value, in total over (C, until] and in each
   calendar month, simulated against what the full history says happened
   (:mod:`sim.scores`).

Beside each forecast, the baselines a sales team uses today, from the same known history:

* ``weighted``: the CRM weighted pipeline plus the run rate of new business: historical win
  rate (won / closed, all deals closed by C) x the open deals (their count, or their amounts:
  the known ones, else the mean won amount each), plus new business at its trailing rate: the
  wins of the three months before C of deals created within those three months, per month,
  times the months to ``until``. Totals only (a weighted pipeline has no dates).
* ``run_rate``: the average monthly wins (count and value) of the three months before C, for
  every month ahead and in total.

A point forecast's CRPS is its absolute error, so ``skill = 1 - CRPS / |baseline error|``.
The deals open at C still open at ``until`` are compared too: the share simulated against the
share that really stayed open (the check that old deals stay open as long as the data say).
"""

from __future__ import annotations

import calendar as calendar_module
import datetime as dt
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from sim.backtest_window import check_cutoffs, history_span, scored_end
from sim.calendar import DAYS_PER_MONTH, Calendar
from sim.crm import OUTCOMES, History, HistoryRow
from sim.errors import UserError
from sim.fit import HALF_LIFE_MONTHS, fit_history, history_as_of, kaplan_meier
from sim.model import InitialPipeline, compile_scenario
from sim.scenario import Scenario, moved_scenario, scenario_from_dict
from sim.scores import pooled, score

METRICS = ("won_count", "won_value")
BASELINES = ("weighted", "run_rate")
#: Months of the trailing window of both baselines.
TRAILING_MONTHS = 3


@dataclass(frozen=True)
class BacktestOptions:
    """What every cut-off's forecast uses."""

    until: dt.date
    replications: int = 200
    seed: int = 1
    parameter_uncertainty: bool = True
    durations: str = "auto"
    half_life: float = HALF_LIFE_MONTHS
    scenario: Scenario | None = None  # a planner's scenario instead of the fit
    fidelity: bool = False  # also the fit's fidelity check at each cut-off (slower)
    months_ahead: int | None = None  # each forecast ends this many month ends after its cut-off


@dataclass
class CutoffResult:
    """One cut-off's forecast, what happened, and the scores."""

    cutoff: dt.date
    until: dt.date
    months: list[str]
    simulated: dict[str, np.ndarray]  # metric -> (replications, months)
    actual: dict[str, np.ndarray]  # metric -> (months,)
    baselines: dict[str, dict[str, float | np.ndarray]]  # baseline -> metric -> total | months
    open_deals: int
    still_open_simulated: np.ndarray  # per replication: share of the open deals still open
    still_open_actual: float
    still_open_history: float  # what the history's own time-to-close curve says (see below)
    scenario_name: str
    parameter_uncertainty: bool
    notes: list[str] = field(default_factory=list)
    fidelity_gap: float = math.nan
    fidelity: object | None = field(default=None, repr=False)
    scores: dict = field(default_factory=dict)  # metric -> {"total": row, "months": [rows]}


# --------------------------------------------------------------------------------------------
# Cut-offs
# --------------------------------------------------------------------------------------------


def month_ends(first: dt.date, last: dt.date) -> list[dt.date]:
    """The last day of every month from ``first``'s month to ``last`` (``--every month``)."""
    out = []
    year, month = first.year, first.month
    while True:
        end = dt.date(year, month, calendar_module.monthrange(year, month)[1])
        if end > last:
            break
        if end >= first:
            out.append(end)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _instant(day: dt.date) -> dt.datetime:
    """The end of a day: everything dated that day has happened."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0))


# --------------------------------------------------------------------------------------------
# One cut-off
# --------------------------------------------------------------------------------------------


def forecast_cutoff(history: History, cutoff: dt.date, options: BacktestOptions) -> CutoffResult:
    """Fit (or take the planner's scenario), run from the deals open at ``cutoff``, score."""
    instant = _instant(cutoff)
    known, amounts, _, _ = history_as_of(history.rows, history.amounts, instant)
    if not known:
        raise UserError(f"--as-of {cutoff}: no row of {history.source} is dated by then")
    notes: list[str] = []
    # no further than the history's last date: later wins are unknown, not zero
    until = scored_end(history_span(history), cutoff, options.until, options.months_ahead)
    horizon = (until - cutoff).days
    fit = None
    if options.scenario is None:
        fit = fit_history(
            History(
                history.source,
                history.format,
                known,
                amounts,
                history.stage_names,
                currency=history.currency,
            ),
            cutoff,
            horizon_days=horizon,
            durations=options.durations,
            half_life=options.half_life,
        )
        base = scenario_from_dict(fit.scenario, source=f"fit as of {cutoff}")
        stage_of = _fitted_stage
    else:
        base = options.scenario
        stage_of = _mapped_stage(base, history.source)
    scenario = moved_scenario(
        base, start_date=cutoff + dt.timedelta(days=1), horizon_days=float(horizon)
    )
    if not options.parameter_uncertainty and scenario.uncertainty is not None:
        off = scenario.uncertainty.model_copy(update={"enabled": False})
        scenario = scenario.model_copy(update={"uncertainty": off})
    pipeline = pipeline_at(known, amounts, instant, scenario, stage_of, history.source)
    model = compile_scenario(scenario, pipeline)
    simulated, still_open = _simulate(model, options.seed, options.replications)
    months = model.calendar.period_labels
    actual, actual_open = _actuals(history, pipeline, instant, until, model.calendar)
    from sim.uncertainty import drawn_parameters

    result = CutoffResult(
        cutoff=cutoff,
        until=until,
        months=months,
        simulated=simulated,
        actual=actual,
        baselines=_baselines(known, amounts, instant, pipeline, model.calendar),
        open_deals=len(pipeline.ids),
        still_open_simulated=still_open,
        still_open_actual=actual_open,
        still_open_history=history_open_share(known, instant, pipeline, horizon),
        scenario_name=scenario.name,
        parameter_uncertainty=bool(drawn_parameters(scenario)),
        notes=notes,
    )
    if options.fidelity and fit is not None:
        from sim.fidelity import check_fidelity

        result.fidelity = check_fidelity(fit, seed=options.seed)
        result.fidelity_gap = result.fidelity.largest_gap
    _score(result, options.seed, has_value=bool(history.amounts))
    return result


def _fitted_stage(row: HistoryRow) -> str:
    return row.state


def _mapped_stage(scenario: Scenario, source: str) -> Callable[[HistoryRow], str]:
    """History state -> the planner's scenario stage, through ``[crm.stage_map]``."""
    stage_map = dict(scenario.crm.stage_map) if scenario.crm is not None else {}
    allowed = {*scenario.stage_names, "dormant"}

    def stage_of(row: HistoryRow) -> str:
        for key in (row.crm_stage, row.state):
            if key in stage_map:
                return stage_map[key]
        if row.state in allowed:
            return row.state
        raise UserError(
            f"{source}: stage {row.crm_stage or row.state!r} (row {row.row}) is not a stage of "
            f"scenario {scenario.name!r} ({', '.join(scenario.stage_names)}): map it in its "
            "[crm.stage_map]"
        )

    return stage_of


def pipeline_at(
    rows: Sequence[HistoryRow],
    amounts: dict[str, float],
    instant: dt.datetime,
    scenario: Scenario,
    stage_of: Callable[[HistoryRow], str],
    source: str,
) -> InitialPipeline:
    """The deals open at ``instant``, aged, as the day-0 pipeline of ``scenario``."""
    first: dict[str, HistoryRow] = {}
    last: dict[str, HistoryRow] = {}
    for r in rows:
        if r.deal_id not in first or r.entered_at < first[r.deal_id].entered_at:
            first[r.deal_id] = r
        if r.deal_id not in last or r.entered_at >= last[r.deal_id].entered_at:
            last[r.deal_id] = r
    index = {name: i for i, name in enumerate([*scenario.stage_names, "dormant"])}
    ids, states, ages, created, values = [], [], [], [], []
    for deal, r in last.items():
        if r.state in OUTCOMES:
            continue
        stage = stage_of(r)
        if stage in OUTCOMES:
            continue
        if stage == "dormant" and scenario.dormant is None:
            raise UserError(
                f"{source}: deal {deal!r} is dormant at the cut-off but scenario "
                f"{scenario.name!r} has no [dormant] section"
            )
        ids.append(deal)
        states.append(index[stage])
        ages.append((instant - r.entered_at).total_seconds() / 86400.0)
        created.append(min((first[deal].entered_at - instant).total_seconds() / 86400.0, 0.0))
        values.append(amounts.get(deal, math.nan))
    return InitialPipeline(
        states=np.array(states, dtype=np.int64),
        age_in_stage=np.maximum(np.array(ages, float), 0.0),
        created=np.array(created, float),
        amounts=np.array(values, float),
        ids=tuple(ids),
        source=source,
    )


def _simulate(model, seed: int, replications: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Won count and value per month of each replication, and the share of the day-0 deals
    still open at the horizon."""
    from sim.uncertainty import replication_records

    periods = model.calendar.n_periods
    count = np.zeros((replications, periods))
    value = np.zeros((replications, periods))
    still_open = np.zeros(replications)
    n0 = len(model.initial_states)
    for i, rec in enumerate(replication_records(model, seed, range(replications))):
        won = rec.state == model.won
        period = model.calendar.period_index(rec.closed[won])
        count[i] = np.bincount(period, minlength=periods)
        value[i] = np.bincount(period, rec.amount[won], minlength=periods)
        still_open[i] = np.mean(rec.state[:n0] < model.won) if n0 else math.nan
    return {"won_count": count, "won_value": value}, still_open


def history_open_share(
    rows: Sequence[HistoryRow], instant: dt.datetime, pipeline: InitialPipeline, horizon: float
) -> float:
    """The share of the pipeline still open ``horizon`` days on, as the known history itself
    says, without any model: the Kaplan-Meier curve S of the time from a deal's first row to its
    close (censored at the cut-off), each open deal of age a still open with S(a + h) / S(a).

    It is the check of "deals that have stayed long stay open as long as the data say": a
    simulation that follows its history gives about this share; an actual share far from it
    means the process changed after the cut-off, which no fit of the past can know."""
    if not pipeline.ids:
        return math.nan
    created: dict[str, dt.datetime] = {}
    closed: dict[str, dt.datetime] = {}
    for r in rows:
        if r.deal_id not in created or r.entered_at < created[r.deal_id]:
            created[r.deal_id] = r.entered_at
        if r.state in OUTCOMES and (r.deal_id not in closed or r.entered_at < closed[r.deal_id]):
            closed[r.deal_id] = r.entered_at
    ends = {d: closed.get(d, instant) for d in created}
    days = np.array([(ends[d] - created[d]).total_seconds() / 86400.0 for d in created])
    observed = np.array([d in closed for d in created])
    times, surv = kaplan_meier(np.maximum(days, 0.0), observed)

    def survival(age: np.ndarray) -> np.ndarray:
        return surv[np.searchsorted(times, age, side="right") - 1]

    ages = -pipeline.created
    before = survival(ages)
    after = survival(ages + horizon)
    share = np.where(before > 0, after / np.where(before > 0, before, 1.0), 1.0)
    return float(np.mean(share))


def _actuals(history: History, pipeline: InitialPipeline, instant, until: dt.date, cal: Calendar):
    """Won count and value per month in (cut-off, until], and the share of the deals open at
    the cut-off that were still open at ``until``."""
    end = _instant(until)
    count = np.zeros(cal.n_periods)
    value = np.zeros(cal.n_periods)
    closed_by_end: set[str] = set()
    for r in history.rows:
        if r.state not in OUTCOMES or not r.entered_at < end:
            continue
        closed_by_end.add(r.deal_id)
        if r.state == "won" and r.entered_at >= instant:
            p = int(cal.period_index(np.array([cal.day_of(r.entered_at.date())]))[0])
            count[p] += 1
            value[p] += history.amounts.get(r.deal_id, 0.0)
    ids = pipeline.ids
    still = sum(1 for d in ids if d not in closed_by_end) / len(ids) if ids else math.nan
    return {"won_count": count, "won_value": value}, still


def _baselines(rows, amounts, instant, pipeline: InitialPipeline, cal: Calendar) -> dict:
    """The sales team's forecasts from what was known at the cut-off (see the module doc)."""
    window_start = instant - dt.timedelta(days=TRAILING_MONTHS * DAYS_PER_MONTH)
    created: dict[str, dt.datetime] = {}
    for r in rows:
        if r.deal_id not in created or r.entered_at < created[r.deal_id]:
            created[r.deal_id] = r.entered_at
    closes = [r for r in rows if r.state in OUTCOMES]
    won = [r for r in closes if r.state == "won"]
    win_rate = len(won) / len(closes) if closes else 0.0
    won_values = [amounts[r.deal_id] for r in won if r.deal_id in amounts]
    mean_won = float(np.mean(won_values)) if won_values else 0.0
    open_values = np.where(np.isnan(pipeline.amounts), mean_won, pipeline.amounts)
    recent = [r for r in won if r.entered_at >= window_start]
    new = [r for r in recent if created[r.deal_id] >= window_start]
    months_ahead = cal.horizon_days / DAYS_PER_MONTH
    per_month = np.diff(np.r_[cal.period_starts, cal.horizon_days]) / DAYS_PER_MONTH

    def total(values: list) -> float:
        return float(sum(amounts.get(r.deal_id, 0.0) for r in values))

    return {
        "weighted": {
            "won_count": win_rate * len(pipeline.ids) + len(new) / TRAILING_MONTHS * months_ahead,
            "won_value": win_rate * float(open_values.sum())
            + total(new) / TRAILING_MONTHS * months_ahead,
        },
        "run_rate": {
            "won_count": len(recent) / TRAILING_MONTHS * per_month,
            "won_value": total(recent) / TRAILING_MONTHS * per_month,
        },
    }


def _score(result: CutoffResult, seed: int, has_value: bool) -> None:
    """Scores of the totals and of each month, with the baselines beside them."""
    rng = np.random.default_rng([seed, result.cutoff.toordinal()])
    metrics = METRICS if has_value else METRICS[:1]
    for metric in metrics:
        sims, actual = result.simulated[metric], result.actual[metric]
        row = score(sims.sum(axis=1), float(actual.sum()), float(rng.random()))
        for name in BASELINES:
            b = result.baselines[name][metric]
            row[f"baseline_{name}"] = float(np.sum(b))
        months = []
        for p, label in enumerate(result.months):
            m = score(sims[:, p], float(actual[p]), float(rng.random()))
            m["period"] = label
            m["baseline_run_rate"] = float(result.baselines["run_rate"][metric][p])
            months.append(m)
        result.scores[metric] = {"total": row, "months": months}


# --------------------------------------------------------------------------------------------
# All cut-offs
# --------------------------------------------------------------------------------------------


@dataclass
class Backtest:
    """Every cut-off's result and the scores pooled over them."""

    source: str
    options: BacktestOptions
    results: list[CutoffResult]
    currency: str = ""
    notes: list[str] = field(default_factory=list)

    def pooled(self) -> dict:
        """metric -> {"total": pooled over cut-offs, "months": pooled over cut-off x month}."""
        out = {}
        for metric in METRICS:
            if not all(metric in r.scores for r in self.results):
                continue
            totals = [r.scores[metric]["total"] for r in self.results]
            months = [m for r in self.results for m in r.scores[metric]["months"]]
            out[metric] = {
                "total": pooled(totals, BASELINES),
                "months": pooled(months, ("run_rate",)),
            }
        return out


def run_backtest(
    history: History,
    cutoffs: Sequence[dt.date],
    options: BacktestOptions,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Backtest:
    """Forecast and score every cut-off (in parallel over cut-offs with ``jobs`` > 1; the
    results do not depend on it: each cut-off draws from its own seeded streams)."""
    cutoffs = sorted(set(cutoffs))
    # What the reader assumed of the file (a decimal mark, dates, skipped rows) comes first,
    # as fit says it.
    notes = list(history.notes) + check_cutoffs(
        history, cutoffs, options.until, options.months_ahead, fitting=options.scenario is None
    )
    results: list[CutoffResult] = []
    if jobs <= 1 or len(cutoffs) == 1:
        for c in cutoffs:
            results.append(forecast_cutoff(history, c, options))
            if progress is not None:
                progress(len(results))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(forecast_cutoff, history, c, options) for c in cutoffs]
            for f in futures:
                results.append(f.result())
                if progress is not None:
                    progress(len(results))
    currency = history.currency or ""
    if options.scenario is not None:
        currency = options.scenario.currency
        if not history.currency:  # an assumption the user did not write: said
            notes.append(
                f"the history's amounts name no currency: its won value is read as the "
                f"scenario's {currency} (dealsim converts none; a history in another currency "
                "would be scored against the scenario's amounts as if it were)"
            )
    elif not currency and history.amounts:  # fit would ask for one; here the value goes unnamed
        notes.append(
            "the history's amounts name no currency: the won value is shown without one (give "
            "--currency CODE to name it)"
        )
    return Backtest(history.source, options, results, currency, notes)


__all__ = [
    "BASELINES",
    "METRICS",
    "Backtest",
    "BacktestOptions",
    "CutoffResult",
    "check_cutoffs",
    "forecast_cutoff",
    "month_ends",
    "pipeline_at",
    "run_backtest",
]
