"""Scale-out on Dask (issue 14, point 2): ``--scheduler``/``DEALSIM_SCHEDULER`` on run, compare,
sweep, explain and sensitivity; results byte-identical to a local run whatever the number of
workers; a worker killed mid-run or a batch that raises once changes nothing; clear errors.

One ``LocalCluster`` of two single-threaded worker processes serves the module (a real
scheduler on a loopback port, as ``dask scheduler`` would be).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from concurrent.futures import Executor
from pathlib import Path

import pytest
from whatif_helpers import invoke, small_scenario_data, write_small_file  # tests/ on sys.path

import sim
from sim import cluster
from sim.errors import UserError
from sim.scenario import scenario_from_dict

distributed = pytest.importorskip("distributed")

REPLICATIONS = 24


@pytest.fixture(scope="module")
def dask_cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # a free port: never collides with a real 8787
        host="127.0.0.1",
    ) as local:
        yield local


@pytest.fixture(scope="module")
def address(dask_cluster) -> str:
    return dask_cluster.scheduler_address


@pytest.fixture
def small():
    return scenario_from_dict(small_scenario_data())


def _tasks_run(dask_cluster) -> int:
    """How many task transitions the scheduler has seen (it grows with every batch)."""
    return dask_cluster.scheduler.transition_counter


def _summary_bytes(folder: Path) -> bytes:
    return (folder / "summary.json").read_bytes()


# ---------------------------------------------------------------------------------------------
# Fault injection: a batch whose first attempt kills its worker, or raises
# ---------------------------------------------------------------------------------------------


def fail_once(marker: str, fault: str, fn, *args):
    """Run ``fn(*args)``, except the first time (``marker`` does not exist yet): then kill this
    worker process outright (``fault="die"``) or raise (``fault="raise"``)."""
    if not os.path.exists(marker):
        Path(marker).touch()
        if fault == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        raise RuntimeError("injected failure of one batch")
    return fn(*args)


class FailOnce(Executor):
    """Wraps an executor so that the ``nth`` batch submitted fails once (see ``fail_once``)."""

    def __init__(self, inner: Executor, marker: Path, fault: str, nth: int = 2):
        self.inner, self.marker, self.fault, self.nth = inner, str(marker), fault, nth
        self.submitted = 0
        self.slots = inner.slots

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1
        if self.submitted == self.nth:
            return self.inner.submit(fail_once, self.marker, self.fault, fn, *args)
        return self.inner.submit(fn, *args, **kwargs)


# ---------------------------------------------------------------------------------------------
# The same result, whoever computes it
# ---------------------------------------------------------------------------------------------


def test_summary_is_byte_identical_to_a_local_run_whatever_the_workers(
    small, address, dask_cluster, tmp_path
):
    def run(folder: str, **options):
        return sim.simulate(
            small, replications=REPLICATIONS, output=tmp_path / folder, plots=False, **options
        )

    local = run("local", jobs=1)
    local_two = run("j2", jobs=2)
    before = _tasks_run(dask_cluster)
    with cluster.connect(address) as executor:
        assert executor.slots == 2
        on_dask = run("dask", executor=executor)
        # few batches in flight, each one planning block: the other extreme of batching
        one_by_one = run("dask1", jobs=1, executor=executor)
    assert _tasks_run(dask_cluster) > before  # the batches really went to the cluster
    expected = _summary_bytes(local.folder)
    for run in (local_two, on_dask, one_by_one):
        assert _summary_bytes(run.folder) == expected
    assert (on_dask.folder / "deals.csv").read_bytes() == (local.folder / "deals.csv").read_bytes()
    manifest = json.loads((on_dask.folder / "manifest.json").read_text())
    assert manifest["executor"] == {"scheduler": address, "workers": 2, "threads": 2}
    assert manifest["jobs"] == 2


@pytest.mark.parametrize("fault", ["die", "raise"])
def test_a_killed_worker_or_a_batch_raising_once_gives_the_same_result(
    small, address, dask_cluster, tmp_path, fault
):
    local = sim.simulate(small, replications=REPLICATIONS, jobs=1, write=False)
    marker = tmp_path / "failed-once"
    with distributed.Client(address, set_as_default=False) as client:
        workers_before = set(client.scheduler_info()["workers"])
    with cluster.connect(address) as executor:
        faulty = FailOnce(executor, marker, fault)
        result = sim.simulate(small, replications=REPLICATIONS, write=False, executor=faulty)
    assert marker.exists()  # the fault did happen
    assert faulty.submitted > 2
    assert result.summary == local.summary
    if fault == "die":  # the nanny replaced the worker the batch killed
        with distributed.Client(address, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
            assert set(client.scheduler_info()["workers"]) != workers_before


def test_progress_follows_the_cluster(small, address):
    seen: list[int] = []
    with cluster.connect(address) as executor:
        sim.simulate(
            small, replications=REPLICATIONS, write=False, executor=executor, progress=seen.append
        )
    assert seen == sorted(seen) and seen[-1] == REPLICATIONS and len(seen) == REPLICATIONS


def test_sensitivity_points_on_the_cluster_match_local_processes(small, address):
    vary = ["budget.funded_share=0.2..0.6", "shocks.rate_per_year=0.5..2"]
    local = sim.sensitivity(small, vary, replications=6, jobs=1)
    seen: list[int] = []
    with cluster.connect(address) as executor:
        on_dask = sim.sensitivity(
            small, vary, replications=6, executor=executor, progress=seen.append
        )
    assert on_dask.to_dict() == local.to_dict()
    assert seen[-1] == 5 * 6 and seen == sorted(seen)


# ---------------------------------------------------------------------------------------------
# The command line: --scheduler and DEALSIM_SCHEDULER on every command that runs replications
# ---------------------------------------------------------------------------------------------


def test_cli_run_with_scheduler_and_with_the_environment_variable(
    address, dask_cluster, tmp_path, monkeypatch
):
    path = write_small_file(tmp_path)
    common = ["-n", 12, "--no-plots"]
    assert invoke("run", path, *common, "-j", 1, "-o", tmp_path / "local").exit_code == 0
    before = _tasks_run(dask_cluster)
    result = invoke("run", path, *common, "--scheduler", address, "-o", tmp_path / "flag")
    assert result.exit_code == 0, result.output
    monkeypatch.setenv(cluster.SCHEDULER_ENV, address)
    result = invoke("run", path, *common, "-o", tmp_path / "env")
    assert result.exit_code == 0, result.output
    assert _tasks_run(dask_cluster) > before
    expected = _summary_bytes(tmp_path / "local")
    assert _summary_bytes(tmp_path / "flag") == expected
    assert _summary_bytes(tmp_path / "env") == expected
    manifest = json.loads((tmp_path / "env" / "manifest.json").read_text())
    assert manifest["executor"]["scheduler"] == address


@pytest.mark.parametrize(
    "command, files",
    [
        (["compare", "{path}", "--set", "budget.funded_share=0.8", "-n", 8], ["comparison.json"]),
        (["sweep", "{path}", "--set", "shocks.rate_per_year=0.5,2", "-n", 8], ["sweep.json"]),
        (
            ["sensitivity", "{path}", "--vary", "budget.funded_share=0.2..0.6", "-n", 6],
            ["sensitivity.json", "sensitivity.csv"],
        ),
    ],
)
def test_cli_commands_on_the_cluster_write_what_a_local_run_writes(
    command, files, address, dask_cluster, tmp_path
):
    path = write_small_file(tmp_path)
    args = [str(path) if a == "{path}" else a for a in command]
    local = invoke(*args, "-j", 1, "--no-plots", "-o", tmp_path / "local")
    assert local.exit_code == 0, local.output
    before = _tasks_run(dask_cluster)
    remote = invoke(*args, "--scheduler", address, "--no-plots", "-o", tmp_path / "dask")
    assert remote.exit_code == 0, remote.output
    assert _tasks_run(dask_cluster) > before
    for name in files:
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()


def test_cli_explain_on_the_cluster(address, dask_cluster, tmp_path):
    path = write_small_file(tmp_path)
    run = invoke("run", path, "-n", 8, "-j", 1, "--no-plots", "-o", tmp_path / "run")
    assert run.exit_code == 0, run.output
    local = invoke("explain", tmp_path / "run", "-j", 1, "--json")
    before = _tasks_run(dask_cluster)
    remote = invoke("explain", tmp_path / "run", "--scheduler", address, "--json")
    assert remote.exit_code == 0, remote.output
    assert _tasks_run(dask_cluster) > before
    assert json.loads(remote.stdout) == json.loads(local.stdout)


# ---------------------------------------------------------------------------------------------
# Errors: one clear message, exit code 2, nothing written
# ---------------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1)
    path = write_small_file(tmp_path)
    address = f"tcp://127.0.0.1:{_closed_port()}"
    for command in (
        ["run", path, "-n", 4],
        ["sweep", path, "--set", "deals.arrivals_per_month=4,5", "-n", 4],
    ):
        out = tmp_path / "never"
        result = invoke(*command, "--scheduler", address, "-o", out)
        assert result.exit_code == 2, result.output
        assert f"--scheduler {address}: cannot reach the Dask scheduler" in result.output
        assert "Traceback" not in result.output and not out.exists()


@pytest.mark.parametrize("address", ["nohost", "http://127.0.0.1:8786", "tcp://10.0.0.5:99999"])
def test_a_malformed_address_is_a_clear_error(address, tmp_path):
    result = invoke("run", write_small_file(tmp_path), "-n", 4, "--scheduler", address)
    assert result.exit_code == 2, result.output
    assert "not a scheduler address" in result.output and "tcp://HOST:PORT" in result.output


def test_a_scheduler_without_workers_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(cluster, "WORKERS_TIMEOUT", 1)
    with distributed.LocalCluster(n_workers=0, dashboard_address=":0", host="127.0.0.1") as empty:
        with pytest.raises(UserError, match="has no workers.*dask worker"):
            with cluster.connect(empty.scheduler_address):
                pass


def test_workers_with_another_dealsim_are_refused(address, monkeypatch):
    monkeypatch.setattr(sim, "__version__", "0.0.0-not-the-workers")
    with pytest.raises(UserError, match="runs dealsim 0.1.0 .here 0.0.0-not-the-workers."):
        with cluster.connect(address):
            pass


def test_without_dask_the_scheduler_option_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    result = invoke("run", write_small_file(tmp_path), "-n", 4, "--scheduler", "tcp://h:8786")
    assert result.exit_code == 2
    assert 'pip install "dealsim[dask]"' in result.output


def test_the_base_install_does_not_need_dask(tmp_path):
    """A local run imports neither dask nor distributed (so the base install needs neither)."""
    path = write_small_file(tmp_path)
    code = (
        "import sys\n"
        "from sim.cli import main\n"
        f"code = main(['run', {str(path)!r}, '-n', '2', '-j', '1', '--no-plots', '-o', "
        f"{str(tmp_path / 'out')!r}])\n"
        "assert code == 0, code\n"
        "assert not {'dask', 'distributed'} & set(sys.modules), 'dask imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != cluster.SCHEDULER_ENV}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_an_empty_scheduler_is_refused_on_the_command_line_only(tmp_path, monkeypatch):
    """--scheduler '' ran on this machine without a word; an empty variable means unset."""
    path = write_small_file(tmp_path)
    result = invoke("run", path, "-n", 4, "--scheduler", "", "-o", tmp_path / "never")
    assert result.exit_code == 2 and "an empty address" in result.output
    assert not (tmp_path / "never").exists()
    # Blanks, not '': click itself reads an empty variable as unset, so only a blank one
    # reaches the option's check (which must not refuse it as it refuses the flag).
    monkeypatch.setenv("DEALSIM_SCHEDULER", "  ")
    result = invoke("run", path, "-n", 4, "-j", 1, "--no-plots", "-o", tmp_path / "local")
    assert result.exit_code == 0, result.output
    assert "executor" not in json.loads((tmp_path / "local" / "manifest.json").read_text())
