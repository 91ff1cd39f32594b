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
