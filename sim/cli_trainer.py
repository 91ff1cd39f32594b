"""Trainer commands: ``trace``, ``explain`` and ``weighted`` (thin: parse, call, print).

They are standalone click commands; ``register(group)`` adds them to the ``dealsim`` group,
whose ``invoke`` turns a :class:`sim.errors.UserError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from sim.cli_cluster import scheduler_option
from sim.cli_options import (
    echo_day0_pipeline,
    engine_option,
    jobs_option,
    pipeline_options,
    refuse_other_kinds,
    set_option,
)
from sim.run_cost import force_option
from sim.status import quiet


def _with_sets(scenario, sets, pipeline):
    """The scenario with the ``--set`` changes applied, refused (as on ``run``) when the
    ``--pipeline`` export would override one of them."""
    from sim.overrides import parse_sets, resolve_scenario

    changes = parse_sets(sets)
    loaded, _ = resolve_scenario(scenario, changes)
    if pipeline is not None:
        from sim.pipeline import check_sets_with_pipeline

        check_sets_with_pipeline(changes, loaded, pipeline)
    return loaded


def _scenario_for(scenario, sets, pipeline):
    """The scenario and day-0 deals as ``run`` would see them: ``--set`` changes applied, and
    with ``--pipeline`` the scenario moved to the export day and the CRM's open deals, each
    with its age in stage and its amount (None without)."""
    loaded = _with_sets(scenario, sets, pipeline)
    if pipeline is None:
        return loaded, None
    from sim.pipeline import apply_pipeline

    moved, initial = apply_pipeline(loaded, pipeline)
    echo_day0_pipeline(initial.provenance(moved.start_date))
    return moved, initial


def _what_if_label(sets, pipeline, scenario) -> str | None:
    """The what-if label of a story told with --set or --pipeline (None for the base case)."""
    from sim.overrides import parse_sets
    from sim.whatif import what_if

    path = pipeline.path if pipeline is not None else None
    info = what_if(parse_sets(sets), path, scenario.start_date if path is not None else None)
    return info["label"] if info else None


@click.command("trace")
@click.argument("scenario", required=False)
@click.option("--deal", type=int, help="Tell this deal's story (0-based: day-0 pipeline first).")
@click.option(
    "-r",
    "--replication",
    type=int,
    help="Replication (default: first with a match); any number, past the scenario's count too.",
)
@click.option("--seed", type=int, help="Random seed (default: the scenario's).")
@click.option("--stalled", is_flag=True, help="The deal with most stalled days.")
@click.option("--reset", is_flag=True, help="A deal sent back by budget, people or a shock.")
@click.option("--won", is_flag=True, help="A won deal with a story to tell.")
@click.option(
    "--picture",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also draw the timeline as a PNG.",
)
@click.option(
    "--deals",
    "more",
    help="These deals of one replication, e.g. 3,17,40 (with --deal or a pick: drawn "
    "after that deal, from its replication).",
)
@set_option()
@pipeline_options
@click.option(
    "--report",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the story as an HTML page for a room (timeline and dated lines).",
)
@click.option(
    "--force",
    is_flag=True,
    callback=force_option,
    help="Replace the --picture or --report file if it exists; and tell the story even of a "
    "book over the run budget (see the README's Bounds).",
)
def trace_command(
    scenario,
    deal,
    replication,
    seed,
    stalled,
    reset,
    won,
    picture,
    more,
    sets,
    pipeline,
    report,
    force,
):
    """One deal's story as a dated timeline (default: the deal with the most stalled days).

    SCENARIO is a bundled name or a TOML file (default: equipment).
    """
    from sim.errors import UserError
    from sim.trace import (
        draw_timeline,
        find_stories,
        parse_deal_list,
        repeated_deals_note,
        replication_note,
    )

    flags = (("stalled", stalled), ("reset", reset), ("won", won))
    picks = [name for name, given in flags if given]
    if len(picks) > 1:  # one deal is picked: two selectors would silently drop one
        raise UserError(f"--{' and --'.join(picks)} cannot be used together: choose one")
    pick = picks[0] if picks else None

    if picture is not None:
        from sim.atomic import check_output_file
        from sim.cli_options import command_inputs

        if picture.name.lower() == ".png":  # a name that is all suffix: Path has none
            raise UserError(f"--picture: {picture} needs a name before .png (e.g. story.png)")
        if picture.suffix.lower() != ".png":
            raise UserError(f"--picture: {picture} must end in .png (the timeline is a PNG image)")
        check_output_file(picture, force, command_inputs())
    if report is not None:
        from sim.cli_report import check_report_file

        check_report_file(report, force)
    listed = parse_deal_list(more)
    loaded, initial = _scenario_for(scenario, sets, pipeline)
    stories = find_stories(
        loaded, listed, deal=deal, pick=pick, replication=replication, seed=seed, pipeline=initial
    )
    for note in (repeated_deals_note(listed), replication_note(stories[0])):
        if note and not quiet():
            click.echo(f"Note: {note}", err=True)
    label = _what_if_label(sets, pipeline, stories[0].scenario)
    if label:
        click.echo(f"WHAT-IF, not the base case: {label}\n")
    click.echo("\n\n".join(s.text() for s in stories))
    if picture is not None:
        from sim.atomic import atomic_file

        path = atomic_file(picture, lambda tmp: draw_timeline(stories, tmp, what_if=label))
        click.echo(f"\nwrote {path}")
    if report is not None:
        from sim.html.story import write_story_report

        written = write_story_report(stories, report, ["dealsim", *sys.argv[1:]])
        click.echo(f"\nwrote {written}")


@click.command("explain")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("-n", "--replications", type=int, help="Fewer replications for the re-runs (speed).")
@jobs_option
@click.option("--no-counterfactuals", is_flag=True, help="Only what summary.json knows.")
@click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable output (on stdout; writes no folder)."
)
@engine_option
@scheduler_option
def explain_command(folder, replications, jobs, no_counterfactuals, as_json, engine, scheduler):
    """Why deals stall in the run in FOLDER: days lost by cause and what each mechanism costs.

    Re-runs the folder's scenario.toml on the same seed with each mechanism switched off (common
    random numbers). The folder is only read.
    """
    from sim.cluster import connect
    from sim.explain import explain_folder, explain_json, explain_text
    from sim.runner import default_jobs

    def progress(step: str) -> None:
        if not as_json and not quiet():
            click.echo(f"re-running: {step}", err=True)

    refuse_other_kinds(folder, "explain re-runs")
    with connect(None if no_counterfactuals else scheduler) as executor:
        if jobs is None and executor is None:
            jobs = default_jobs()  # with a cluster: as many batches at once as it has workers
        summary, found = explain_folder(
            folder,
            replications=replications,
            jobs=jobs,
            with_counterfactuals=not no_counterfactuals,
            progress=progress,
            engine=engine,
            executor=executor,
        )
    if as_json:
        click.echo(json.dumps(explain_json(summary, found), indent=2))
    else:
        click.echo(explain_text(summary, found))


@click.command("weighted")
@click.argument("scenario", required=False)
@click.option(
    "--crm-probabilities",
    "crm",
    help="CRM win percentages, one per stage in order, e.g. 10,30,60,90 for four stages "
    "(0.5% for under 1%: values all at most 1 are refused as fractions). Default: "
    "10/25/50/70/90 spread over the stages, first and last kept (10/25/70/90 for four).",
)
@click.option("-n", "--replications", type=int, help="Replications (default: the scenario's).")
@click.option("--seed", type=int, help="Random seed (default: the scenario's).")
@jobs_option
@click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable output (on stdout; writes no folder)."
)
@set_option()
@pipeline_options
def weighted_command(scenario, crm, replications, seed, jobs, as_json, sets, pipeline):
    """The CRM's weighted pipeline beside the simulation of the day-0 pipeline.

    Also shows the field's commonest error: every deal really one stage earlier than recorded.
    """
    from sim.aggregate import clean_for_json
    from sim.weighted import weighted_text, weighted_vs_simulation

    # the CRM's deals are read by weighted itself, to start them as run --pipeline does
    found = weighted_vs_simulation(
        _with_sets(scenario, sets, pipeline),
        crm=crm,
        replications=replications,
        seed=seed,
        jobs=jobs,
        pipeline=pipeline,
    )
    echo_day0_pipeline(found["pipeline"])
    if as_json:
        click.echo(json.dumps(clean_for_json(found), indent=2))
    else:
        click.echo(weighted_text(found))


COMMANDS = (trace_command, explain_command, weighted_command)


def register(group: click.Group) -> None:
    """Add the trainer commands to a click group (``sim.cli.cli``)."""
    for command in COMMANDS:
        group.add_command(command)
