"""export-history and export-log: the run's events as a history and as a process-mining log."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sim.api import simulate
from sim.cli_data import register
from sim.exports import LOG_COLUMNS, XES_VERSION
from sim.scenario import load_scenario

XSD = Path(__file__).parent / "data" / "xes" / "xes-ieee-1849-2016.xsd"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("exports") / "run"
    scenario = load_scenario(Path(__file__).parent / "data" / "cli" / "tiny.toml")
    simulate(scenario, replications=3, jobs=1, output=folder, events=True, plots=False)
    return folder


@pytest.fixture
def group():
    @click.group()
    def g():
        """Test group."""

    register(g)
    return g


def _events(folder: Path) -> list[dict]:
    with (folder / "events.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_export_history_rows_are_the_entries(run_dir, tmp_path, group):
    out = tmp_path / "history.csv"
    result = CliRunner().invoke(group, ["export-history", str(run_dir), "-o", str(out), "-r", "1"])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    entries = [
        e for e in _events(run_dir) if e["replication"] == "1" and e["event"] in ("created", "move")
    ]
    assert len(rows) == len(entries) > 0
    assert list(rows[0]) == ["deal_id", "stage", "entered_at"]
    assert [(r["deal_id"], r["stage"]) for r in rows] == [
        (f"r1-d{e['deal']}", e["to_stage"]) for e in entries
    ]
    assert all(r["entered_at"][:10] == e["date"] for r, e in zip(rows, entries, strict=True))


def _export_xes(run_dir: Path, out: Path, group, *extra: str) -> ET.Element:
    result = CliRunner().invoke(
        group, ["export-log", str(run_dir), "--format", "xes", "-o", str(out), *extra]
    )
    assert result.exit_code == 0, result.output
    return ET.parse(out).getroot()


def test_xes_has_one_trace_per_deal_of_the_first_replication(run_dir, tmp_path, group):
    root = _export_xes(run_dir, tmp_path / "log.xes", group)
    assert root.tag == "log"
    assert root.get("xes.version") == XES_VERSION
    assert {e.get("prefix") for e in root.findall("extension")} == {
        "concept",
        "time",
        "lifecycle",
    }
    deals = {e["deal"] for e in _events(run_dir) if e["deal"] and e["replication"] == "0"}
    traces = root.findall("trace")
    names = [t.find("string[@key='concept:name']").get("value") for t in traces]
    assert len(traces) == len(deals) == len(set(names))
    assert set(names) == {f"r0-d{d}" for d in deals}  # one history, one calendar
    for trace in traces:
        for event in trace.findall("event"):
            stamp = event.find("date[@key='time:timestamp']").get("value")
            assert stamp.endswith("+00:00") and "T" in stamp
            assert event.find("string[@key='lifecycle:transition']").get("value") in (
                "start",
                "complete",
            )


def test_all_replications_and_one_replication(run_dir, tmp_path, group):
    every = _export_xes(run_dir, tmp_path / "all.xes", group, "--all-replications")
    deals = {(e["replication"], e["deal"]) for e in _events(run_dir) if e["deal"]}
    assert len(every.findall("trace")) == len(deals)
    second = _export_xes(run_dir, tmp_path / "r1.xes", group, "--replication", "1")
    names = {t.find("string[@key='concept:name']").get("value") for t in second.iter("trace")}
    assert names == {f"r1-d{d}" for r, d in deals if r == "1"}
    result = CliRunner().invoke(
        group,
        ["export-log", str(run_dir), "--format", "xes", "-o", str(tmp_path / "x.xes"),
         "-r", "1", "--all-replications"],
    )  # fmt: skip
    assert result.exit_code == 2 and "choose one" in result.output


def test_xes_is_valid_against_the_ieee_1849_2016_schema(run_dir, tmp_path, group):
    etree = pytest.importorskip("lxml.etree")
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    out = tmp_path / "log.xes"
    _export_xes(run_dir, out, group, "--all-replications")
    document = etree.parse(str(out))
    assert schema.validate(document), schema.error_log
    # The check can fail: what the standard forbids (a classifier name with a space, the
    # version as "1849-2016", a namespace the schema does not declare) is rejected.
    for bad in (
        out.read_text().replace('name="Activity"', 'name="Activity name"'),
        out.read_text().replace(f'xes.version="{XES_VERSION}"', 'xes.version="1849-2016"'),
        out.read_text().replace("<log ", '<log xmlns="http://www.xes-standard.org/" '),
    ):
        assert not schema.validate(etree.fromstring(bad.encode("utf-8")))


def test_pm4py_reads_the_xes_log(run_dir, tmp_path, group):
    pm4py = pytest.importorskip("pm4py")
    out = tmp_path / "log.xes"
    _export_xes(run_dir, out, group)
    log = pm4py.read_xes(str(out))
    deals = {e["deal"] for e in _events(run_dir) if e["deal"] and e["replication"] == "0"}
    assert log["case:concept:name"].nunique() == len(deals)
    assert {"start", "complete"} >= set(log["lifecycle:transition"])


def test_csv_log_columns_exact(run_dir, tmp_path, group):
    out = tmp_path / "log.csv"
    result = CliRunner().invoke(
        group, ["export-log", str(run_dir), "--format", "csv", "-o", str(out), "-r", "0"]
    )
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    assert (
        tuple(header)
        == LOG_COLUMNS
        == (
            "case:concept:name",
            "concept:name",
            "time:timestamp",
            "lifecycle:transition",
        )
    )
    assert rows and all(r[0].startswith("r0-d") for r in rows)
    won = [r for r in rows if r[1] == "won"]
    assert won and all(r[3] == "complete" for r in won)


def test_no_events_csv_asks_for_events(run_dir, tmp_path, group):
    folder = tmp_path / "noevents"
    simulate(
        load_scenario(Path(__file__).parent / "data" / "cli" / "tiny.toml"),
        replications=2,
        jobs=1,
        output=folder,
        plots=False,
    )
    for args in (["export-history", str(folder)], ["export-log", str(folder), "--format", "xes"]):
        out = tmp_path / "out"  # no suffix: a name of either format
        result = CliRunner().invoke(group, [*args, "-o", str(out)])
        assert result.exit_code == 2
        assert "--events" in result.output and str(folder) in result.output
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noevents"]


def test_unknown_replication_and_folder(run_dir, tmp_path, group):
    out = tmp_path / "h.csv"
    result = CliRunner().invoke(group, ["export-history", str(run_dir), "-o", str(out), "-r", "7"])
    assert result.exit_code == 2
    assert "--replication 7" in result.output and "0..2" in result.output
    assert list(tmp_path.iterdir()) == []  # no partial file, no temporary file
    result = CliRunner().invoke(
        group, ["export-log", str(tmp_path / "nope"), "--format", "csv", "-o", str(out)]
    )
    assert result.exit_code == 2 and "no such folder: " in result.output


def test_an_existing_output_file_is_kept_unless_forced(tmp_path):
    from sim.cli import main

    run = tmp_path / "run"
    assert main(["run", "transactional", "-n", "2", "-j", "1", "--events", "--no-plots",
                 "-o", str(run)]) == 0  # fmt: skip
    out = tmp_path / "log.csv"
    out.write_text("precious\n")
    assert main(["export-log", str(run), "--format", "csv", "-o", str(out)]) == 2
    assert out.read_text() == "precious\n"
    assert main(["export-log", str(run), "--format", "csv", "-o", str(out), "--force"]) == 0
    assert out.read_text().startswith("case:concept:name")


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("cut", "fields expected, as in the header"),  # the last row ends mid-field
        ("binary", "not UTF-8 text"),
    ],
)
def test_a_damaged_event_log_is_one_clear_error(run_dir, tmp_path, group, damage, said):
    import shutil

    folder = tmp_path / "damaged"
    shutil.copytree(run_dir, folder)
    log = folder / "events.csv"
    text = log.read_bytes()
    cut = text[: text.index(b"\n", len(text) // 2) + 1] + b"1,2,3.5,ent"
    log.write_bytes(cut if damage == "cut" else b"replication,deal\n\xff\xfe\x00garbage\xc3\x28\n")
    for args in (["export-history", str(folder)], ["export-log", str(folder), "--format", "csv"]):
        out = tmp_path / "out.csv"
        result = CliRunner().invoke(group, [*args, "-o", str(out)])
        assert result.exit_code == 2, result.output
        assert said in result.output and "events.csv" in result.output
        assert "Traceback" not in result.output and not out.exists()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["export-log", "--format", "csv", "-o", "log.xes"], "a .xes name, but --format csv"),
        (["export-log", "--format", "xes", "-o", "log.CSV"], "a .csv name, but --format xes"),
        (["export-log", "-o", "log.xlsx"], "export-log writes xes (.xes) or csv (.csv), not .xlsx"),
        (
            ["export-log", "--format", "csv", "-o", "log.xlsx"],
            "export-log writes xes (.xes) or csv",
        ),
        (["export-log", "-o", "log"], "no suffix to tell the format by; give --format"),
        (["export-history", "-o", "history.xlsx"], "export-history writes CSV only, not .xlsx"),
        (["export-history", "-o", "history.xes"], "export-history writes CSV only, not .xes"),
    ],
)
def test_a_name_of_another_format_is_refused(run_dir, tmp_path, group, args, said):
    """CSV text in a .xlsx or .xes file opens as garbage: the name is refused, nothing written."""
    command, *options, name = args
    result = CliRunner().invoke(group, [command, str(run_dir), *options, str(tmp_path / name)])
    assert result.exit_code == 2, result.output
    assert f"-o {tmp_path / name}: {said}" in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "first"),
    [
        (["export-log", "-o", "log.xes"], "<?xml"),  # the format told by the name
        (["export-log", "-o", "log.csv"], "case:concept:name,"),
        (["export-log", "--format", "xes", "-o", "log"], "<?xml"),  # no suffix: --format says
        (["export-history", "-o", "history"], "deal_id,stage,entered_at"),
    ],
)
def test_the_name_tells_the_format_or_lets_format_say(run_dir, tmp_path, group, args, first):
    command, *options, name = args
    result = CliRunner().invoke(group, [command, str(run_dir), *options, str(tmp_path / name)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / name).read_text(encoding="utf-8").startswith(first)


@pytest.mark.parametrize(
    "args",
    [["export-history", "-r", "1"], ["export-log", "--format", "csv", "-r", "1"]],
    ids=["history", "log"],
)
def test_a_dash_prints_the_export_on_standard_output(run_dir, tmp_path, group, args, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a file named "-" would land here
    filed = tmp_path / "filed.csv"
    assert (
        CliRunner().invoke(group, [args[0], str(run_dir), "-o", str(filed), *args[1:]]).exit_code
        == 0
    )
    result = CliRunner().invoke(group, [args[0], str(run_dir), "-o", "-", *args[1:]])
    assert result.exit_code == 0, result.output
    assert result.stdout == filed.read_text(encoding="utf-8")  # the file's text, nothing else
    assert "on standard output" in result.stderr and "wrote" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["filed.csv"]


def test_a_refused_export_to_standard_output_prints_nothing(run_dir, group):
    result = CliRunner().invoke(group, ["export-history", str(run_dir), "-o", "-", "-r", "7"])
    assert result.exit_code == 2 and "--replication 7" in result.stderr
    assert result.stdout == ""  # not the header and the rows before the refusal


def test_an_empty_output_name_is_refused(run_dir, tmp_path, group, monkeypatch):
    from sim.cli import cli

    monkeypatch.chdir(tmp_path)  # click reads "" as ".": the current folder
    for command, runner_group in (
        (["export-history", str(run_dir)], group),
        (["run", "-n", "2", "--no-plots"], cli),
        (["report", str(run_dir)], cli),
    ):
        result = CliRunner().invoke(runner_group, [*command, "-o", ""])
        assert result.exit_code == 2 and "an empty name" in result.stderr, result.output
    assert list(tmp_path.iterdir()) == []
