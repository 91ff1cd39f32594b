"""Writing outputs (issues 16, 17 and 19): checked before the work, whole, never clashing.

Every command that writes (run, compare, sweep, fit, export-history, export-log, trace
--picture) refuses an output it cannot or must not write with exit 2 and one message naming the
path and why, before any work; two writers never share a folder; ``--force`` always leaves one
complete folder; files get the umask's modes; links are never written through; what a run that
died leaves behind is removed by the next one.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from folder_helpers import OUR_MANIFEST  # tests/ is on sys.path

import sim.api
import sim.atomic
import sim.comparison
import sim.crm
import sim.exports
import sim.trace
from sim.atomic import StagedFolder, clean_stale, temp_name
from sim.cli import main
from sim.errors import OutputError

HISTORY = Path(__file__).parent / "data" / "crm" / "history_plain.csv"


def leftovers(folder: Path) -> list[Path]:
    """Hidden temporary entries of dealsim in ``folder``."""
    return [p for p in folder.iterdir() if "~dealsim-" in p.name or ".tmp" in p.name]


#: What each command's output must end with (a results folder: anything).
SUFFIX = {"fit": ".toml", "export-history": ".csv", "export-log": ".csv", "trace": ".png"}


def command_writing(kind: str, out: Path, tiny: Path, results: Path) -> list[str]:
    """The argv of one writing command with ``out`` as its output."""
    return {
        "run": ["run", tiny, "-n", "2", "-j", "1", "-o", out],
        "compare": [
            "compare",
            tiny,
            "--set",
            "deals.arrivals_per_month=2.5",
            "-n",
            "2",
            "-j",
            "1",
            "-o",
            out,
        ],
        "sweep": ["sweep", tiny, "--set", "deals.arrivals_per_month=1,2", "-n", "2", "-o", out],
        "fit": ["fit", HISTORY, "--as-of", "2024-06-01", "--currency", "EUR", "-o", out],
        "export-history": ["export-history", results, "-o", out],
        "export-log": ["export-log", results, "--format", "csv", "-o", out],
        "trace": ["trace", tiny, "--picture", out],
    }[kind]


COMMANDS = ["run", "compare", "sweep", "fit", "export-history", "export-log", "trace"]


@pytest.fixture
def no_work(monkeypatch) -> None:
    """Make every command's work fail loudly: an output check must come before it."""

    def work(*args, **kwargs):
        raise AssertionError("the work started before the output was checked")

    monkeypatch.setattr(sim.api, "run", work)
    monkeypatch.setattr(sim.comparison, "run_arms", work)
    monkeypatch.setattr(sim.crm, "read_history", work)
    monkeypatch.setattr(sim.exports, "export_history", work)
    monkeypatch.setattr(sim.exports, "export_log", work)
    monkeypatch.setattr(sim.trace, "find_story", work)


def read_only_folder(path: Path) -> Path:
    """A folder no new entry can be made in, even by root (chattr +i), or skip."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        return path
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode:
        pytest.skip("cannot make a read-only folder here (root, no chattr)")
    return path


def unwritable(case: str, tmp_path: Path, suffix: str) -> tuple[Path, str]:
    """An output path (ending in ``suffix``) that cannot be written, and what the message
    must say."""
    if case == "proc":
        return Path(f"/proc/dealsim-out{suffix}"), "cannot write in /proc"
    if case == "under-a-file":
        (tmp_path / "a-file").write_text("x")
        return tmp_path / "a-file" / f"out{suffix}", "is a file, not a folder"
    if case == "symlink":  # to a folder for a results folder, else to someone's file
        real = tmp_path / ("victim.txt" if suffix else "real")
        real.write_text("precious") if suffix else real.mkdir()
        (tmp_path / f"link{suffix}").symlink_to(real)
        return tmp_path / f"link{suffix}", "symbolic link"
    if case == "dangling-symlink":
        (tmp_path / f"dangling{suffix}").symlink_to(tmp_path / "nowhere")
        return tmp_path / f"dangling{suffix}", "does not exist"
    if case == "too-long":
        return tmp_path / ("x" * 300 + suffix), "too long"
    if case == "read-only":
        return read_only_folder(tmp_path / "ro") / f"out{suffix}", "cannot write in"
    raise AssertionError(case)


@pytest.fixture
def unlock(tmp_path):
    yield
    ro = tmp_path / "ro"
    if ro.exists():
        subprocess.run(["chattr", "-i", str(ro)], capture_output=True)
        ro.chmod(0o755)


@pytest.mark.parametrize(
    "case", ["proc", "under-a-file", "symlink", "dangling-symlink", "too-long", "read-only"]
)
@pytest.mark.parametrize("kind", COMMANDS)
def test_an_unwritable_output_is_refused_before_the_work(
    kind, case, tiny_scenario, tmp_path, no_work, unlock, capsys
):
    out, reason = unwritable(case, tmp_path, SUFFIX.get(kind, ""))
    before = sorted(tmp_path.rglob("*"))
    argv = command_writing(kind, out, tiny_scenario, tmp_path / "results")
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("Error: ")
    assert len(err.strip().splitlines()) == 1, err
    assert reason in err, err
    assert out.name[:20] in err, err  # the message names the path
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, not even a parent folder


def test_the_checks_name_the_path_and_why(tmp_path):
    (tmp_path / "full").mkdir()
    with pytest.raises(OutputError, match="already exists .use --force"):
        (tmp_path / "f.csv").write_text("x")
        sim.atomic.check_output_file(tmp_path / "f.csv", force=False)
    with pytest.raises(OutputError, match="is a folder"):
        sim.atomic.check_output_file(tmp_path / "full", force=True)
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(OutputError, match="not empty .use --force"):
        sim.atomic.check_output_folder(tmp_path / "full", force=False)
    with pytest.raises(OutputError, match="not a dealsim results folder .no manifest.json"):
        sim.atomic.check_output_folder(tmp_path / "full", force=True)
    for other in ('{"name": "my web app", "icons": []}', "not json"):  # another tool's manifest
        (tmp_path / "full" / "manifest.json").write_text(other)
        with pytest.raises(OutputError, match="its manifest.json is not dealsim's"):
            sim.atomic.check_output_folder(tmp_path / "full", force=True)
    (tmp_path / "full" / "manifest.json").write_text(OUR_MANIFEST)
    sim.atomic.check_output_folder(tmp_path / "full", force=True)
    sim.atomic.check_output_folder(tmp_path / "new" / "deeper", force=False)
    assert not (tmp_path / "new").exists()  # checking creates nothing


@pytest.mark.parametrize(
    ("name", "argv"),
    [
        ("page.html", ["report", "{run}", "-o", "{file}"]),
        ("story.png", ["trace", "equipment", "--picture", "{file}"]),
        ("story.html", ["trace", "equipment", "--report", "{file}"]),
        ("run.html", ["run", "{tiny}", "-n", "2", "-j", "1", "--no-plots", "--report", "{file}"]),
    ],
)
def test_a_single_file_output_replaces_a_users_file_only_with_force(
    name, argv, tiny_scenario, tmp_path, capsys
):
    """A report or a picture written over a file of the user's (a first-hour user lost their
    own page that way): refused without --force, replaced with it."""
    run = tmp_path / "run"
    assert (
        main(["run", str(tiny_scenario), "-n", "2", "-j", "1", "--no-plots", "-o", str(run)]) == 0
    )
    mine = tmp_path / name
    mine.write_text("the user's own file")
    args = [a.format(run=run, file=mine, tiny=tiny_scenario) for a in argv]
    if args[0] == "run":
        args += ["-o", str(tmp_path / "second")]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert str(mine) in err and "--force" in err and "Traceback" not in err
    assert mine.read_text() == "the user's own file"
    assert main([*args, "--force"]) == 0
    assert mine.read_bytes() != b"the user's own file"


# ---------------------------------------------------------------------------------------------
# A full disk (a small tmpfs, where this machine lets us mount one)
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small file system here")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_is_refused_before_the_work(small_disk, tiny_scenario, no_work, capsys):
    filler = small_disk / "filler"
    with open(filler, "wb") as fh:
        with pytest.raises(OSError):
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
    assert main(["run", str(tiny_scenario), "-n", "2", "-j", "1", "-o", str(small_disk / "o")]) == 2
    err = capsys.readouterr().err
    assert "full" in err and str(small_disk) in err and "Traceback" not in err
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


def test_a_disk_that_fills_up_during_the_run_leaves_nothing_and_says_why(small_disk, capsys):
    out = small_disk / "out"
    # Its replications' matrix fits (it is reserved first); its deals.csv does not.
    code = main(["run", "equipment", "-n", "200", "-j", "1", "--no-plots", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "No space left on device" in err and "nothing was kept" in err
    assert "Traceback" not in err
    assert list(small_disk.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Two writers
# ---------------------------------------------------------------------------------------------


def test_a_default_folder_name_taken_meanwhile_gets_a_suffix(
    tiny_scenario, tmp_path, monkeypatch, capsys
):
    """Two runs in the same second: two folders, each its own (the name is decided at the end)."""
    monkeypatch.chdir(tmp_path)
    same_second = Path("results") / "tiny-20270101-120000"
    monkeypatch.setattr(sim.api, "default_output_dir", lambda name: same_second)
    for seed in ("1", "2"):
        argv = ["run", str(tiny_scenario), "-n", "2", "-j", "1", "--seed", seed, "--no-plots"]
        assert main(argv) == 0
    out = capsys.readouterr().out
    folders = sorted((tmp_path / "results").iterdir())
    assert [f.name for f in folders] == ["tiny-20270101-120000", "tiny-20270101-120000-2"]
    seeds = [json.loads((f / "summary.json").read_text())["seed"] for f in folders]
    assert seeds == [1, 2]
    assert "Results in results/tiny-20270101-120000-2" in out


def test_the_second_writer_to_a_folder_fails_and_the_first_stays(tmp_path):
    target = tmp_path / "same"
    first, second = StagedFolder(target), StagedFolder(target)  # both pass the early check
    for staged, text in ((first, "first"), (second, "second")):
        (staged.open() / "who.txt").write_text(text)
    first.publish()
    with pytest.raises(OutputError, match="another run wrote results there"):
        second.publish()
    assert (target / "who.txt").read_text() == "first"
    assert leftovers(tmp_path) == []


def test_two_processes_writing_one_folder(tmp_path):
    """``dealsim run ... -o SAME`` twice at once: one exits 0, the other 2, the first's results
    are the folder's."""
    same = tmp_path / "SAME"
    argv = [sys.executable, "-m", "sim", "run", "equipment", "-n", "30", "-j", "1", "--no-plots"]
    procs = [
        subprocess.Popen(
            [*argv, "--seed", seed, "-o", str(same)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in ("1", "2")
    ]
    results = [(p.wait(timeout=240), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    winner = next(i for i, (code, _, _) in enumerate(results) if code == 0)
    loser_err = results[1 - winner][2]
    assert "Traceback" not in loser_err and "--force" in loser_err
    assert json.loads((same / "summary.json").read_text())["seed"] == winner + 1
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# --force replaces atomically
# ---------------------------------------------------------------------------------------------

KILLED_WHILE_PUBLISHING = """
import os, signal, sys
import sim.atomic as atomic

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if sys.argv[1] == "exchange":
    atomic._remove_tree = die  # swapped in, the old folder not removed yet
else:
    atomic._exchange = lambda a, b: False  # a file system without RENAME_EXCHANGE
    real = atomic._move_aside
    atomic._move_aside = lambda target: (real(target), die())  # moved aside, new not in yet
sys.argv = ["dealsim", "run", sys.argv[2], "-n", "2", "-j", "1", "--no-plots", "--force",
            "-o", sys.argv[3]]
from sim.console import entry

entry()
"""


@pytest.mark.parametrize("path", ["exchange", "two-renames"])
def test_a_forced_replace_killed_half_way_leaves_one_complete_folder(path, tiny_scenario, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results")
    (out / "manifest.json").write_text(OUR_MANIFEST)
    script = [sys.executable, "-c", KILLED_WHILE_PUBLISHING]
    proc = subprocess.run(
        [*script, path, str(tiny_scenario), str(out)], capture_output=True, timeout=120
    )
    assert proc.returncode == -9, proc.stderr
    # The next run that writes beside it finds what the dead one left.
    argv = ["run", str(tiny_scenario), "-n", "2", "-j", "1", "--no-plots"]
    assert main([*argv, "-o", str(tmp_path / "b")]) == 0
    assert leftovers(tmp_path) == []
    names = sorted(p.name for p in out.iterdir())
    if path == "exchange":
        assert "summary.json" in names and "keep.txt" not in names  # the new folder, whole
    else:
        assert names == ["keep.txt", "manifest.json"]  # the old folder, put back


def test_force_replaces_a_folder_in_one_step(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    (out / "manifest.json").write_text(OUR_MANIFEST)
    with StagedFolder(out, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# Modes, links, and the fit's figure
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_outputs_follow_the_umask(umask_022, tiny_scenario, tmp_path):
    run = tmp_path / "run"
    argv = ["run", str(tiny_scenario), "-n", "2", "-j", "1", "--events", "--no-plots"]
    assert main([*argv, "-o", str(run)]) == 0
    history = tmp_path / "history.csv"
    assert main(["export-history", str(run), "-o", str(history)]) == 0
    log = tmp_path / "log.xes"
    assert main(["export-log", str(run), "--format", "xes", "-o", str(log)]) == 0
    fitted = tmp_path / "fitted.toml"
    argv = ["fit", str(HISTORY), "--as-of", "2024-06-01", "--currency", "EUR"]
    assert main([*argv, "-o", str(fitted)]) == 0
    compared = tmp_path / "compared"
    argv = [
        "compare",
        str(tiny_scenario),
        "--set",
        "deals.arrivals_per_month=2.5",
        "-n",
        "2",
        "-j",
        "1",
        "--no-plots",
    ]
    assert main([*argv, "-o", str(compared)]) == 0
    files = [*run.iterdir(), *compared.iterdir(), history, log, fitted, tmp_path / "fitted-fit.png"]
    assert {p.name: oct(mode(p)) for p in files} == {p.name: oct(0o644) for p in files}
    assert oct(mode(run)) == oct(mode(compared)) == oct(0o755)


def test_plot_replaces_a_planted_symlink_instead_of_writing_through(
    tiny_scenario, tmp_path, capsys
):
    run = tmp_path / "run"
    argv = ["run", str(tiny_scenario), "-n", "2", "-j", "1", "--no-plots", "-o", str(run)]
    assert main(argv) == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (run / "bookings_fan.png").symlink_to(victim)  # ln -s ~/victim.txt RESULTS/bookings_fan.png
    assert main(["plot", str(run)]) == 0
    assert victim.read_text() == "precious"
    figure = run / "bookings_fan.png"
    assert not figure.is_symlink() and figure.read_bytes()[:4] == b"\x89PNG"
    assert leftovers(run) == []


def test_fit_does_not_overwrite_its_figure_without_force(tmp_path, capsys):
    out = tmp_path / "my.toml"
    png = tmp_path / "my-fit.png"
    png.write_bytes(b"someone's picture")
    argv = ["fit", str(HISTORY), "--as-of", "2024-06-01", "--currency", "EUR", "-o", str(out)]
    assert main(argv) == 2
    assert "my-fit.png: already exists" in capsys.readouterr().err
    assert png.read_bytes() == b"someone's picture" and not out.exists()
    assert main([*argv, "--no-plots"]) == 0  # no figure, no clash
    out.unlink()
    assert main([*argv, "--force"]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG" and out.exists()
    assert leftovers(tmp_path) == []


def test_a_file_published_without_replace_never_overwrites(tmp_path):
    path = tmp_path / "out.csv"

    def write_and_race(tmp: Path) -> None:
        tmp.write_text("mine")
        path.write_text("theirs")  # another program creates the file meanwhile

    with pytest.raises(OutputError, match="another program"):
        sim.atomic.atomic_file(path, write_and_race, replace=False)
    assert path.read_text() == "theirs" and leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# What runs that died leave behind
# ---------------------------------------------------------------------------------------------


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def planted(folder: Path, name: str) -> Path:
    path = folder / name
    path.mkdir()
    (path / "deals.csv").write_text("half written")
    return path


def test_temporary_entries_of_dead_runs_are_removed_by_the_next_check(tmp_path):
    pid, host = dead_pid(), sim.atomic._HOST
    dead = planted(tmp_path, f".out~dealsim-{host}-{pid}-0123abcd.tmp")
    dead_file = tmp_path / f".x.csv~dealsim-{host}-{pid}-0123abcd.tmp.csv"
    dead_file.write_text("half")
    legacy = planted(tmp_path, f".out.tmp-{pid}")
    mine = planted(tmp_path, temp_name("out"))  # this process is alive
    elsewhere = planted(tmp_path, f".out~dealsim-000000-{pid}-0123abcd.tmp")  # another machine
    aside = planted(tmp_path, f".kept~dealsim-{host}-{pid}-0123abcd.old")
    removed = clean_stale(tmp_path)
    assert sorted(removed) == sorted([dead, dead_file, legacy])
    assert mine.exists() and elsewhere.exists() and not aside.exists()
    assert (tmp_path / "kept" / "deals.csv").exists()  # a folder moved aside is put back


def test_a_run_cleans_its_parent_folder_first(tiny_scenario, tmp_path):
    dead = planted(tmp_path, f".old-run~dealsim-{sim.atomic._HOST}-{dead_pid()}-0123abcd.tmp")
    argv = ["run", str(tiny_scenario), "-n", "2", "-j", "1", "--no-plots"]
    assert main([*argv, "-o", str(tmp_path / "o")]) == 0
    assert not dead.exists()


def test_force_keeps_a_folder_whose_manifest_json_is_another_tools(tmp_path, capsys):
    app = tmp_path / "webapp"
    app.mkdir()
    (app / "manifest.json").write_text('{"name": "my pwa", "icons": []}')
    (app / "index.html").write_text("<html>important</html>")
    assert (
        main(["run", "chain", "-n", "2", "-j", "1", "--no-plots", "-o", str(app), "--force"]) == 2
    )
    assert "not a dealsim results folder" in capsys.readouterr().err
    assert sorted(p.name for p in app.iterdir()) == ["index.html", "manifest.json"]


def test_a_summary_that_is_not_text_or_not_a_file_is_one_message(tmp_path, capsys):
    folder = tmp_path / "r"
    assert main(["run", "chain", "-n", "2", "-j", "1", "--no-plots", "-o", str(folder)]) == 0
    (folder / "summary.json").write_bytes(bytes(range(128, 256)) * 8)
    for command in (["plot", str(folder)], ["explain", str(folder), "-n", "2"]):
        capsys.readouterr()
        assert main(command) == 2
        assert "summary.json: not UTF-8 text" in capsys.readouterr().err
    (folder / "summary.json").unlink()
    (folder / "summary.json").mkdir()
    assert main(["export-history", str(folder), "-o", str(tmp_path / "h.csv")]) == 2
    assert "not a dealsim results folder (no summary.json)" in capsys.readouterr().err
