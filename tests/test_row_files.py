"""Workers of a multi-job run write their rows to files that the main process appends
(sim.runner.run_batch, sim.results.append_file): the results are those of one job."""

import errno
import os

import pytest

import sim.results
from sim.api import simulate
from sim.results import append_file


def _files(folder):
    return {name: (folder / name).read_bytes() for name in ("deals.csv", "events.csv")}


def test_a_two_job_run_appends_its_workers_row_files_and_writes_what_one_job_writes(
    tmp_path, monkeypatch
):
    appended = []
    real_append = sim.results.append_file
    monkeypatch.setattr(
        sim.results,
        "append_file",
        lambda out, path: (appended.append(path), real_append(out, path)),
    )
    common = dict(replications=20, seed=3, plots=False, events=True, engine="simpy")
    simulate("portfolio", jobs=1, output=tmp_path / "one", **common)
    assert appended == []  # one job writes its rows itself
    simulate("portfolio", jobs=2, output=tmp_path / "two", **common)
    assert any(path.endswith(".deals") for path in appended)
    assert any(path.endswith(".events") for path in appended)
    assert _files(tmp_path / "two") == _files(tmp_path / "one")
    assert sorted(os.listdir(tmp_path / "two")) == sorted(os.listdir(tmp_path / "one"))
    assert not any(os.path.exists(path) for path in appended)  # each part deleted once appended


def _appended(tmp_path, parts: list[bytes]) -> bytes:
    target = tmp_path / "out.csv"
    with open(target, "w", encoding="utf-8", newline="") as out:
        out.write("head,é\n")
        for i, data in enumerate(parts):
            part = tmp_path / f"{i}.part"
            part.write_bytes(data)
            append_file(out, str(part))
            out.write(f"after {i}\n")
            assert not part.exists()
    return target.read_bytes()


PARTS = [b"a,1\nb,2\n", b"", "\u0436,3\n".encode() * 50_000]
EXPECTED = b"head,\xc3\xa9\n" + b"".join(
    part + f"after {i}\n".encode() for i, part in enumerate(PARTS)
)


def test_an_appended_file_lands_between_what_was_written_before_and_after(tmp_path):
    assert _appended(tmp_path, PARTS) == EXPECTED


@pytest.mark.parametrize("when", ["at once", "half way"])
def test_where_the_kernel_cannot_copy_the_bytes_go_through_a_buffer(tmp_path, monkeypatch, when):
    real_copy = os.copy_file_range

    def refused(source, target, count):
        if when == "half way" and os.lseek(source, 0, os.SEEK_CUR) == 0 and count > 10:
            return real_copy(source, target, count // 2)
        raise OSError(errno.EXDEV, "cross-device")

    monkeypatch.setattr(os, "copy_file_range", refused)
    assert _appended(tmp_path, PARTS) == EXPECTED


def test_a_real_error_of_the_copy_is_not_hidden(tmp_path, monkeypatch):
    def full(source, target, count):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "copy_file_range", full)
    with pytest.raises(OSError, match="No space"):
        _appended(tmp_path, PARTS)


def test_a_worker_that_cannot_write_its_rows_ends_the_run_with_one_message_and_no_folder(
    tmp_path, monkeypatch
):
    import sim.runner
    from sim.errors import OutputError

    def disk_full(folder, name, rows):
        raise OSError(errno.ENOSPC, "No space left on device", os.path.join(folder, name))

    monkeypatch.setattr(sim.runner, "_write_part", disk_full)  # the forked workers see it too
    target = tmp_path / "run"
    with pytest.raises(OutputError, match=r"run: could not write .*\.deals \(No space"):
        simulate("portfolio", jobs=2, replications=8, seed=3, plots=False, output=target)
    assert not target.exists()
    assert os.listdir(tmp_path) == []  # no hidden temporary folder left either
