"""`python -m devstack test|bench|chaos` stopped by SIGTERM (CI's timeout, a process manager) stops what
it started. Python's default SIGTERM ended the command at once, and its PostgreSQL, Redis and workers
kept running (found when a chaos run was terminated)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from devstack.processes import ROOT

LONG_TEST = """
import os, time
from pathlib import Path

def test_runs_until_stopped():
    Path(os.environ["STOP_TEST_MARK"]).write_text(str(os.getpid()))
    time.sleep(600)  # the workload being stopped, not a wait of this test
"""


def wait_until(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_sigterm_stops_the_test_commands_postgres_redis_and_pytest(tmp_path: Path) -> None:
    test_file = tmp_path / "test_long.py"
    test_file.write_text(textwrap.dedent(LONG_TEST))
    mark = tmp_path / "running"
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"RELAY_SKIP_CHECKS": "1", "STOP_TEST_MARK": str(mark)}
    command = [sys.executable, "-m", "devstack", "test", "-q", "-p", "no:django", str(test_file)]
    devstack = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(mark.exists, timeout=120, what="the inner test to start")
        data_dir = ROOT / ".data" / f"run-{devstack.pid}"
        # pg_ctl detaches PostgreSQL from the command's tree: its postmaster.pid names it.
        postgres = psutil.Process(int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0]))
        started = [postgres, *psutil.Process(devstack.pid).children(recursive=True)]
        names = " | ".join(" ".join(p.cmdline()[:3]) for p in started)
        assert "redis-server" in names and "pytest" in names, names

        devstack.send_signal(signal.SIGTERM)

        assert devstack.wait(timeout=90) == 128 + signal.SIGTERM
        _, alive = psutil.wait_procs(started, timeout=30)
        assert not alive, [" ".join(p.cmdline()[:4]) for p in alive]
        assert not data_dir.exists()
    finally:
        if devstack.poll() is None:  # a failed assertion above: stop it as Ctrl-C would
            devstack.send_signal(signal.SIGINT)
            devstack.wait(timeout=90)
