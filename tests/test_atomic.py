"""Output folders: --force replaces dealsim results, never a folder of anything else."""

from __future__ import annotations


def test_force_replaces_a_results_folder_only(tmp_path):
    """--force must not delete a folder dealsim did not write (a user's own files, the
    scenario being run): a helper's first-hour pass lost both."""
    from sim.cli import main

    project = tmp_path / "proj"
    project.mkdir()
    (project / "notes.txt").write_text("precious", encoding="utf-8")
    argv = ["run", "textbook", "-n", "2", "-j", "1", "--no-plots", "-q", "--force"]
    assert main([*argv, "-o", str(project)]) == 2
    assert (project / "notes.txt").read_text(encoding="utf-8") == "precious"
    results = tmp_path / "results"
    assert main([*argv, "-o", str(results)]) == 0
    assert main([*argv, "-o", str(results)]) == 0  # a results folder: replaced


def _results_folder_holding(tmp_path, name: str, source) -> tuple:
    """A results folder of an earlier run, into which the user has put an input file."""
    import shutil

    from sim.cli import main

    results = tmp_path / "results"
    assert (
        main(["run", "textbook", "-n", "2", "-j", "1", "--no-plots", "-q", "-o", str(results)]) == 0
    )
    inside = results / name
    shutil.copy(source, inside)
    return results, inside


def test_force_never_replaces_a_folder_holding_the_command_input(tmp_path, capsys):
    """A results folder is replaced whole: a CRM export or a scenario kept in it would go."""
    from pathlib import Path

    from sim.cli import main

    here = Path(__file__).parent
    crm = here / "data" / "crm" / "pipeline_salesforce_report.csv"
    results, export = _results_folder_holding(tmp_path, "export.csv", crm)
    from test_pipeline_cli import write_scenario  # a scenario that maps the export's stages

    scenario = write_scenario(tmp_path)
    run = ["run", "-n", "2", "-j", "1", "--no-plots", "-q", "--force", "-o", str(results)]
    capsys.readouterr()
    code = main([*run, str(scenario), "--pipeline", str(export), "--as-of", "2024-03-15"])
    assert code == 2
    err = capsys.readouterr().err
    assert str(export) in err and "reads" in err and "Traceback" not in err
    assert export.read_bytes() == crm.read_bytes()

    moved = results / "mine.toml"
    scenario.rename(moved)
    for argv in (
        [*run, str(moved)],
        ["compare", str(moved), "--set", "deals.arrivals_per_month=1", "-n", "2", "-j", "1",
         "--no-plots", "--force", "-o", str(results)],
        ["sweep", str(moved), "--set", "deals.arrivals_per_month=1,2", "-n", "2", "-j", "1",
         "--no-plots", "--force", "-o", str(results)],
    ):  # fmt: skip
        assert main(argv) == 2, argv
        assert str(moved) in capsys.readouterr().err
        assert moved.is_file() and export.is_file()
