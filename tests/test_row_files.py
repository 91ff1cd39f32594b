"""Workers of a multi-job run write their rows into the run's files in their turn, or to part
files that the main process appends (sim.row_sink, sim.results.append_file): the results are
those of one job."""

import errno
import os

import pytest

import sim.results
from sim.api import simulate
from sim.results import append_file


def _files(folder):
    return {name: (folder / name).read_bytes() for name in ("deals.csv", "events.csv")}


@pytest.mark.parametrize("turns", ["as they come", "never"])
def test_a_two_job_run_writes_what_one_job_writes(tmp_path, monkeypatch, turns):
    """Whether the workers write their batches in their turn, or (never in turn) all through
    part files that the main process appends, the files are those of one job."""
    from sim.row_sink import RowSink

    appended = []
    real_append = sim.results.append_file
    monkeypatch.setattr(
        sim.results,
        "append_file",
        lambda out, path: (appended.append(path), real_append(out, path)),
    )
    if turns == "never":  # the forked workers see it too
        monkeypatch.setattr(RowSink, "is_turn", lambda sink, replication: False)
    common = dict(replications=20, seed=3, plots=False, events=True, engine="simpy")
    simulate("portfolio", jobs=1, output=tmp_path / "one", **common)
    assert appended == []  # one job writes its rows itself
    simulate("portfolio", jobs=2, output=tmp_path / "two", **common)
    if turns == "never":
        assert sum(path.endswith(".deals") for path in appended) == 20  # a batch each
        assert sum(path.endswith(".events") for path in appended) == 20
    assert _files(tmp_path / "two") == _files(tmp_path / "one")
    assert sorted(os.listdir(tmp_path / "two")) == sorted(os.listdir(tmp_path / "one"))
    assert not any(os.path.exists(path) for path in appended)  # each part deleted once appended


def test_a_batch_in_its_turn_writes_into_the_files_and_gives_the_next_turn(tmp_path):
    from sim.row_sink import RowSink, put_rows
    from sim.runner import ReplicationOutput

    def outputs():
        return [ReplicationOutput(r, None, {}, f"d{r}\n", f"e{r}\n") for r in (4, 5)]

    sink = RowSink(str(tmp_path), str(tmp_path / "deals.csv"), str(tmp_path / "events.csv"))
    (tmp_path / "deals.csv").write_text("head\n")
    early = outputs()
    put_rows(early, sink, range(4, 6))  # the batch before is not in: part files
    files = early[0].row_files
    assert files.next_turn == 6 and open(files.deals).read() == "d4\nd5\n"
    assert (tmp_path / "deals.csv").read_text() == "head\n" and not os.path.exists(sink.turn(6))
    sink.mark_turn(4)
    in_turn = outputs()
    put_rows(in_turn, sink, range(4, 6))
    assert in_turn[0].row_files is None and [o.deal_rows for o in in_turn] == ["", ""]
    assert (tmp_path / "deals.csv").read_text() == "head\nd4\nd5\n"
    assert (tmp_path / "events.csv").read_text() == "e4\ne5\n"
    assert os.path.exists(sink.turn(6))
    with pytest.raises(FileExistsError):  # a turn is given once
        sink.mark_turn(6)


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
    import sim.row_sink
    from sim.errors import OutputError

    def disk_full(path, mode, rows):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(sim.row_sink, "_write", disk_full)  # the forked workers see it too
    target = tmp_path / "run"
    with pytest.raises(OutputError, match=r"run: could not write .*deals.* \(No space"):
        simulate("portfolio", jobs=2, replications=8, seed=3, plots=False, output=target)
    assert not target.exists()
    assert os.listdir(tmp_path) == []  # no hidden temporary folder left either
