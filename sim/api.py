"""The Python API: run a scenario and get its results as objects (the CLI is a thin shell on it)."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import simpy

from sim import __version__
from sim.engine import choose_engine
from sim.errors import UserError, require_whole
from sim.model import Model, compile_scenario
from sim.results import (
    FORECAST,
    MANIFEST,
    SCENARIO,
    SUMMARY,
    ResultsWriter,
    default_output_dir,
    forecast_csv,
    text_hash,
)
from sim.run_cost import announce_duration, check_run_cost
from sim.runner import default_jobs, run
from sim.scenario import (
    MAX_REPLICATIONS,
    Scenario,
    dump_scenario_toml,
    load_scenario,
    moved_scenario,
    scenario_hash,
)
from sim.scenario_bounds import MAX_HORIZON_DAYS, MAX_SEED

if TYPE_CHECKING:
    from sim.crm import ReadOptions
    from sim.model import InitialPipeline
    from sim.pipeline import PipelineSource


@dataclass
class RunResult:
    """A finished run: its summary (as in summary.json), its folder, and its provenance."""

    scenario: Scenario
    summary: dict
    manifest: dict
    per_replication: dict[str, np.ndarray] = field(repr=False)
    folder: Path | None = None
    plots: list[Path] = field(default_factory=list)


def check_run_options(replications: int, seed: int, jobs: int) -> None:
    """Reject impossible options with a message naming the option (the Python API's keywords
    too: 3.0 or "3" is no count, and True is not 1)."""
    for name, value in (("replications", replications), ("seed", seed), ("jobs", jobs)):
        require_whole(name, value)
    if not 2 <= replications <= MAX_REPLICATIONS:
        raise UserError(
            f"--replications: {replications} is outside 2..{MAX_REPLICATIONS} "
            "(at least 2 for a standard error; at most the bound of a scenario file's own)"
        )
    if not 0 <= seed <= MAX_SEED:  # the bound of a scenario file's own seed
        raise UserError(f"--seed: {seed} is outside 0..{MAX_SEED}")
    if jobs < 1:
        raise UserError(f"--jobs: {jobs} must be >= 1")


def simulate(
    scenario: Scenario | str | Path | None = None,
    *,
    replications: int | None = None,
    seed: int | None = None,
    jobs: int | None = None,
    output: Path | str | None = None,
    write: bool = True,
    force: bool = False,
    events: bool = False,
    plots: bool = True,
    target: float | None = None,
    progress: Callable[[int], None] | None = None,
    command: list[str] | None = None,
    sets: Mapping[str, object] | Sequence[str] | str | None = None,
    pipeline: PipelineSource | None = None,
    initial: InitialPipeline | None = None,
    engine: str = "auto",
    deals: str = "csv",
    until: dt.date | None = None,
    parameter_uncertainty: bool | None = None,
    executor: Executor | None = None,
    allow_large: bool = False,
) -> RunResult:
    """Run a scenario's replications and (unless ``write=False``) write its results folder.

    Args:
        scenario: a Scenario, a bundled name, a path to a TOML file, or None for the default.
        replications, seed: override the scenario's defaults.
        jobs: worker processes (default: all cores); results do not depend on it.
        output: the results folder (default ``results/<scenario>-<timestamp>``, with a
            ``whatif-...`` part after the scenario when ``sets`` or ``pipeline`` change it).
        write: False runs in memory only (for notebooks and comparisons).
        target: a bookings amount: adds the probability of reaching it by each quarter end.
        sets: dotted keys to change before running, ``{"budget.funded_share": 0.2}`` or
            ``["budget.funded_share=0.2"]`` (as ``--set``); validated like the file. A key
            that a keyword sets too (``seed``, ``replications``, ``horizon_days`` by ``until``,
            ``uncertainty.enabled`` by ``parameter_uncertainty``) must agree with it
            (:func:`sim.overrides.check_same_as_set`), as must ``deals.initial`` and
            ``start_date`` with ``pipeline`` (:func:`sim.pipeline.check_sets_with_pipeline`).
        pipeline: today's open deals from a CRM export, instead of ``deals.initial``.
        initial: day-0 deals already in hand, instead of ``deals.initial`` (for a caller that
            changes the deals ``sim.pipeline.apply_pipeline`` read, as ``weighted`` does; the
            scenario is then the one apply_pipeline returned). Not with ``pipeline``.
        deals: ``csv`` writes deals.csv (one row per deal and replication); ``none`` leaves it
            out, for runs that only need the summary (the rows cost time and disk: about a
            tenth of a vectorized run and 100 bytes a deal).
        engine: ``auto`` (the vectorized engine where it can run the scenario, else SimPy),
            ``simpy`` or ``vectorized``; both give the same results, the manifest says which ran.
        until: the last day simulated (inclusive), instead of ``horizon_days``.
        parameter_uncertainty: False runs every replication on the scenario's point values
            (``[uncertainty] enabled = false``); None keeps the scenario's choice.
        executor: where the batches of replications run (a ``concurrent.futures`` executor,
            e.g. ``sim.cluster.connect(address)`` for a Dask cluster; default: local worker
            processes); ``jobs`` then defaults to its worker count. Results do not depend on it.
        allow_large: run even when the estimated cost is over the budget of
            :mod:`sim.run_cost` (otherwise a UserError says what is large).

    With ``sets`` or ``pipeline``, the summary carries the what-if label under ``what_if``
    (see :mod:`sim.whatif`), and the figures and the terminal show it.
    """
    from sim.comparison import normalize_sets

    sets = normalize_sets(sets)
    if sets:
        from sim.overrides import check_same_as_set, resolve_scenario

        keywords = {"replications": replications, "seed": seed, "until": until}
        keywords["parameter_uncertainty"] = parameter_uncertainty
        check_same_as_set(sets, keywords)  # what runs is what the labels say
        scenario, _ = resolve_scenario(scenario, sets)
    elif not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    replications = scenario.replications if replications is None else replications
    seed = scenario.seed if seed is None else seed
    jobs = default_jobs_for(executor) if jobs is None else jobs
    check_run_options(replications, seed, jobs)
    if target is not None and not (target > 0 and math.isfinite(target)):
        raise UserError(f"--target: {target} must be a positive amount")
    if pipeline is not None:
        if initial is not None:
            raise ValueError("simulate: give pipeline or initial, not both")
        from sim.pipeline import apply_pipeline, check_sets_with_pipeline

        check_sets_with_pipeline(sets, scenario, pipeline)
        scenario, initial = apply_pipeline(scenario, pipeline)
    scenario = _with_until(scenario, until)
    if parameter_uncertainty is False and scenario.uncertainty is not None:
        off = scenario.uncertainty.model_copy(update={"enabled": False})
        scenario = scenario.model_copy(update={"uncertainty": off})
    label = _what_if(sets, pipeline, scenario)
    model = compile_scenario(scenario, initial)
    cost = check_run_cost(model, replications, allow_large, rows=write and deals == "csv")
    engine = choose_engine(model, engine, events)
    announce_duration(cost, engine, jobs)
    if not write:
        return _run_in_memory(
            model, replications, seed, jobs, progress, command, target, label, engine, executor
        )
    unique = output is None  # a default name: the next free one if it is taken at the end
    if output is None:
        output = default_output_dir(_folder_name(scenario, label))
    folder = Path(output)
    if deals not in ("csv", "none"):
        raise UserError(f"--deals {deals}: expected csv or none")
    with ResultsWriter(
        folder, model, force=force, events=events, unique=unique, deals=deals == "csv"
    ) as writer:
        started = time.perf_counter()
        aggregate = run(
            model,
            seed,
            replications,
            jobs,
            record_events=events,
            on_output=writer.on_output,
            progress=progress,
            matrix=writer.matrix(replications, _width(model)),
            engine=engine,
            with_rows=deals == "csv",
            executor=executor,
            rows=writer.row_sink() if jobs > 1 and executor is None else None,
        )
        summary = _summary(aggregate, seed, target, label)
        per_replication = {k: np.array(v) for k, v in _per_replication(aggregate).items()}
        wall = time.perf_counter() - started
        manifest = _manifest(scenario, replications, seed, jobs, wall, aggregate, command, engine)
        manifest["deals_csv"] = deals == "csv"
        _note_executor(manifest, executor)
        writer.write_json(SUMMARY, summary)
        writer.write_text(FORECAST, forecast_csv(summary, model.stage_names))
        # As run: the file alone, run again, gives these results (not the file's own -n, --seed).
        as_run = scenario.model_copy(update={"seed": seed, "replications": replications})
        as_run_toml = dump_scenario_toml(as_run)
        writer.write_text(SCENARIO, as_run_toml)
        # The bytes of scenario.toml (scenario_hash is the scenario's before -n and --seed):
        # explain and report check it before they trust the file (sim.results.run_scenario).
        manifest["scenario_toml_hash"] = text_hash(as_run_toml)
        if initial is not None:
            from sim.pipeline import pipeline_csv
            from sim.results import PIPELINE

            writer.write_text(PIPELINE, pipeline_csv(scenario, initial))
            manifest["pipeline"] = initial.provenance(scenario.start_date)
        drawn: list[Path] = []
        if plots:
            from sim.plots import draw_all
            from sim.status import status

            with status("Drawing the figures"):
                drawn = [folder / p.name for p in draw_all(summary, writer.folder)]
        manifest["wall_seconds"] = round(time.perf_counter() - started, 3)
        writer.write_json(MANIFEST, manifest)
        published = writer.publish()  # a default name may have taken a suffix
    drawn = [published / path.name for path in drawn]
    return RunResult(scenario, summary, manifest, per_replication, published, drawn)


def _with_until(scenario: Scenario, until: dt.date | None) -> Scenario:
    """The scenario ending at the end of ``until`` (after any move of its start by a pipeline)."""
    if until is None:
        return scenario
    days = (until - scenario.start_date).days + 1
    if days < 1:
        raise UserError(f"--until {until}: before the start date {scenario.start_date}")
    if days > MAX_HORIZON_DAYS:  # the bound a scenario's own horizon_days is held to
        latest = scenario.start_date + dt.timedelta(days=int(MAX_HORIZON_DAYS) - 1)
        raise UserError(
            f"--until {until}: {days:,} days from the start date {scenario.start_date}; at most "
            f"{MAX_HORIZON_DAYS:,.0f} (until {latest} at the latest)"
        )
    return moved_scenario(scenario, horizon_days=float(days))


def backtest(
    history: str | Path,
    cutoffs: Sequence[dt.date],
    until: dt.date,
    *,
    jobs: int = 1,
    mapping: Mapping[str, str] | None = None,
    stage_map: Mapping[str, str] | None = None,
    read_options: ReadOptions | None = None,
    **options,
):
    """Backtest a stage history (see :mod:`sim.backtest`); ``read_options`` say what the file
    cannot (:class:`sim.crm.ReadOptions`: encoding, date order, decimal mark, currency, rates,
    as the CLI's --encoding, --date-format, --decimal-mark, --currency and --fx); ``options``
    are :class:`sim.backtest.BacktestOptions` fields (replications, seed, scenario,
    months_ahead, parameter_uncertainty...). Returns a :class:`sim.backtest.Backtest`; write it
    with ``sim.backtest_report.write``."""
    from sim.backtest import BacktestOptions, run_backtest
    from sim.crm import read_history

    hist = read_history(history, mapping=mapping, stage_map=stage_map, options=read_options)
    return run_backtest(hist, cutoffs, BacktestOptions(until=until, **options), jobs=jobs)


def _width(model: Model) -> int:
    from sim.aggregate import Layout

    return Layout.of(model).width


def default_jobs_for(executor: Executor | None) -> int:
    """All local cores, or the executor's workers when it says how many it has."""
    if executor is not None:
        from sim.cluster import executor_slots

        return executor_slots(executor) or default_jobs()
    return default_jobs()


def _note_executor(manifest: dict, executor: Executor | None) -> None:
    """Say in the manifest where the work ran when it was not on local processes."""
    if executor is not None:
        from sim.cluster import describe_executor

        manifest["executor"] = describe_executor(executor)


def _run_in_memory(
    model, replications, seed, jobs, progress, command, target, label, engine, executor=None
) -> RunResult:
    started = time.perf_counter()
    aggregate = run(
        model, seed, replications, jobs, progress=progress, engine=engine, executor=executor
    )
    summary = _summary(aggregate, seed, target, label)
    wall = time.perf_counter() - started
    manifest = _manifest(model.scenario, replications, seed, jobs, wall, aggregate, command, engine)
    _note_executor(manifest, executor)
    return RunResult(model.scenario, summary, manifest, _per_replication(aggregate))


def _per_replication(aggregate) -> dict[str, np.ndarray]:
    """The headline metrics of each replication, and its cumulative bookings month by month
    (rows: replications; columns: periods), which the comparison figure pairs month by month."""
    cumulative = np.cumsum(aggregate.column("period_bookings"), axis=1)
    return {**aggregate.per_replication(), "cumulative_bookings": cumulative}


def _what_if(sets: dict, pipeline: PipelineSource | None, scenario: Scenario) -> dict | None:
    """The what-if label of a run with --set or --pipeline (None for the base case)."""
    from sim.whatif import what_if

    path = pipeline.path if pipeline is not None else None
    return what_if(sets, path, scenario.start_date if pipeline is not None else None)


def _folder_name(scenario: Scenario, label: dict | None) -> str:
    """The name part of the default folder: the scenario, and the what-if if there is one."""
    from sim.stage_keys import cut_slug, name_slug
    from sim.whatif import folder_part

    part = folder_part(label)
    name = cut_slug(name_slug(scenario.name), 100)  # the what-if's part stays whole after it
    return f"{name}-{part}" if part else name


def _summary(aggregate, seed: int, target: float | None = None, label: dict | None = None) -> dict:
    summary = aggregate.summary(target)
    summary["seed"] = seed
    if label:
        from sim.whatif import KEY

        summary[KEY] = label
    return summary


def _version(package: str) -> str:
    """A package's version without importing it (scipy takes a tenth of a second to import)."""
    from importlib.metadata import version

    return version(package)


def _manifest(scenario, replications, seed, jobs, wall, aggregate, command, engine) -> dict:
    """Provenance: what ran, on what, how long. Not deterministic, unlike the summary."""
    return {
        **provenance(command),
        "scenario": scenario.name,
        "scenario_hash": scenario_hash(scenario),
        "replications": replications,
        "seed": seed,
        "jobs": jobs,
        "engine": engine,
        "wall_seconds": round(wall, 3),
        # SimPy events processed; the vectorized engine has none (it simulates no events).
        "events": aggregate.total_events() if engine == "simpy" else None,
        "stage_visits": int(aggregate.column("flows").sum()),
    }


def provenance(command: list[str] | None = None) -> dict:
    """Which dealsim made a folder, how it was asked to, and on what: the part of every
    manifest that does not depend on the kind of folder."""
    return {
        "dealsim_version": __version__,
        "command": command if command is not None else sys.argv,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": _version("scipy"),
        "simpy": simpy.__version__,
        "platform": platform.platform(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "id": hashlib.sha256(f"{time.time_ns()}".encode()).hexdigest()[:12],
    }
