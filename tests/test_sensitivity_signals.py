"""A stop signal during ``dealsim sensitivity`` (issue 18): its many-point runner uses the same
worker pool as a run (sim.workers.pool), so SIGTERM to the main process alone ends it within
seconds, workers gone, nothing written. Before, the runner's own ProcessPoolExecutor waited for
the batches in progress (minutes for this scenario) and the watchdog left its workers orphaned.
"""

from __future__ import annotations

import signal

import pytest
from test_signals import (  # tests/ on sys.path; the helpers, not the tests
    JOBS,
    STOP_SECONDS,
    STORM,
    busy_workers,
    start,
    stopped_within,
    temp_folders,
)

pytest.importorskip("psutil")


@pytest.mark.parametrize("method", ["tornado", "sobol"])
def test_sigterm_ends_a_sensitivity_within_seconds(method, tmp_path):
    storm = tmp_path / "storm.toml"
    storm.write_text(STORM, encoding="utf-8")
    out = tmp_path / "runs" / "out"
    args = ["sensitivity", storm, "--vary", "shocks.reset_probability=0.05..0.2"]
    args += ["--method", method, "--samples", "4"] if method == "sobol" else []
    proc = start(*args, "-n", 2, "-j", JOBS, "-o", out, "--force")  # minutes of work: forced
    workers = busy_workers(proc)  # every worker minutes into its storm replications
    proc.send_signal(signal.SIGTERM)
    code = stopped_within(proc, workers, STOP_SECONDS)  # and every worker gone with it
    err = proc.stderr.read()
    assert code == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and "Interrupted (SIGTERM)" in err
    assert not out.exists() and temp_folders(out.parent) == []
