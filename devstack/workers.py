"""Real Celery worker processes for tests and benchmarks, pointed at the database they use."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection

from .processes import LOG_DIR, ROOT, Launched


@dataclass
class WorkerProcess(Launched):
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited early:\n{self.log()[-4000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"worker {self.name} not ready after {timeout}s:\n{self.log()[-4000:]}")


def start_worker(
    *,
    concurrency: int = 2,
    queues: str = "celery,jobs",
    pool: str = "prefork",
    env: dict[str, str] | None = None,
    beat: bool = False,
) -> WorkerProcess:
    name = f"test-{uuid.uuid4().hex[:8]}"
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{name}.log"
    worker_env = {
        **os.environ,
        "RELAY_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "RELAY_LOG_LEVEL": "INFO",
        **(env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--loglevel=INFO",
        f"--queues={queues}",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--hostname={name}@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:  # the periodic control-lane ticks, from inside this worker (tests run one such worker)
        command += ["--beat", f"--schedule={LOG_DIR / (name + '-beat-schedule')}"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = WorkerProcess(name=name, process=process, log_path=log_path, extra_env=env or {})
    worker.wait_ready()
    return worker


def start_control_plane(*, env: dict[str, str] | None = None) -> WorkerProcess:
    """The control lane as production runs it: its own worker on the `control` queue, with beat."""
    return start_worker(concurrency=1, queues="control", beat=True, env=env)
