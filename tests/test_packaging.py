"""What the source distribution and the wheel hold (pyproject.toml's [tool.hatch.build])."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("hatchling.builders", reason="needs hatchling: pip install '.[test]'")


def _build(kind: str, out: Path) -> Path:
    from hatchling.builders.sdist import SdistBuilder
    from hatchling.builders.wheel import WheelBuilder

    builder = {"sdist": SdistBuilder, "wheel": WheelBuilder}[kind](str(ROOT))
    (path,) = builder.build(directory=str(out), versions=["standard"])
    return Path(path)


def test_the_sdist_holds_the_package_its_scenarios_and_runnable_tests(tmp_path):
    """It held bench/ and results/README.md too ("README.md" matched at any depth)."""
    with tarfile.open(_build("sdist", tmp_path)) as tar:
        names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
    top = {n.split("/")[0] for n in names}
    assert top == {
        "sim",
        "scenarios",
        "tests",
        "README.md",
        "LICENSE",
        "pyproject.toml",
        "PKG-INFO",
    } | {
        ".gitignore"  # hatchling always adds it
    }
    # the tests read tests/data, scenarios/ and README.md only: all here, so they run from it
    assert "tests/data/maven-crm/sales_pipeline_extract.csv" in names
    assert "tests/data/maven-crm/README.md" in names  # the extract's source stays with it
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_wheel_holds_sim_only_with_what_it_needs_at_run_time(tmp_path):
    with zipfile.ZipFile(_build("wheel", tmp_path)) as whl:
        names = whl.namelist()
    assert {n.split("/")[0] for n in names} == {"sim", "dealsim-0.1.0.dist-info"}
    bundled = {Path(n).name for n in names if n.startswith("sim/_bundled_scenarios/")}
    assert bundled == {p.name for p in (ROOT / "scenarios").glob("*.toml")}
    assert "sim/html/templates/run.html.j2" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
