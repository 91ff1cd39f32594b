"""An output never replaces a file the user had without --force, nor, even with it, a file the
command reads (a first-hour user's --report inp.html on a scenario named inp.html lost it)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from sim.cli import cli

BUNDLED = Path(__file__).parents[1] / "scenarios"
MAVEN = Path(__file__).parent / "data" / "maven-crm" / "sales_pipeline_extract.csv"


def _invoke(*args) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_a_report_over_the_scenario_it_runs_is_refused_even_with_force(tmp_path):
    scenario = tmp_path / "inp.html"  # a TOML scenario, oddly named: any name reads
    scenario.write_bytes((BUNDLED / "textbook.toml").read_bytes())
    before = scenario.read_bytes()
    out = tmp_path / "out"
    result = _invoke("run", scenario, "-n", 2, "--report", scenario, "--force", "-o", out)
    assert result.exit_code == 2, result.output
    assert "which this command reads" in result.output and "Traceback" not in result.output
    assert scenario.read_bytes() == before and not out.exists()


def test_new_over_its_own_source_is_refused_even_with_force(tmp_path):
    source = tmp_path / "mine.toml"
    source.write_bytes((BUNDLED / "equipment.toml").read_bytes())
    before = source.read_bytes()
    result = _invoke("new", "x", "--from", source, "-o", source, "--force")
    assert result.exit_code == 2, result.output
    assert "which this command reads" in result.output and source.read_bytes() == before


def test_fit_keeps_a_fidelity_figure_it_did_not_write_unless_forced(tmp_path):
    """Its -fit.png was protected, its -fidelity.png replaced without a word."""
    mine = tmp_path / "m-fidelity.png"
    mine.write_text("mine")
    args = ("fit", MAVEN, "--currency", "USD", "--as-of", "2017-12-31", "-o", tmp_path / "m.toml")
    refused = _invoke(*args)
    assert refused.exit_code == 2, refused.output
    assert "m-fidelity.png: already exists (use --force" in refused.output
    assert mine.read_text() == "mine" and not (tmp_path / "m.toml").exists()
    forced = _invoke(*args, "--force")
    assert forced.exit_code == 0, forced.output
    assert mine.read_bytes().startswith(b"\x89PNG")
