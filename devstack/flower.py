"""Flower started exactly as `make run` starts it: the Procfile's `flower` command, through a shell (as
honcho runs it), on a free port, with the credentials it is given."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .ports import free_port
from .processes import LOG_DIR, ROOT, Launched


@dataclass
class FlowerProcess(Launched):
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int
    credentials: str  # user:password

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def procfile_command(name: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        process, _, command = line.partition(":")
        if process.strip() == name:
            return command.strip()
    raise LookupError(f"no {name!r} process in the Procfile")


def start_flower(*, credentials: str, env: dict[str, str] | None = None) -> FlowerProcess:
    port = free_port()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"flower-{uuid.uuid4().hex[:8]}.log"
    flower_env = {**os.environ, **(env or {}), "FLOWER_PORT": str(port), "FLOWER_BASIC_AUTH": credentials}
    # As `make run` does: the Procfile's `python` is the one of this venv.
    flower_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{flower_env.get('PATH', '')}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["/bin/sh", "-c", procfile_command("flower")],
            cwd=ROOT,
            env=flower_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    flower = FlowerProcess(process=process, log_path=log_path, port=port, credentials=credentials)
    deadline = time.monotonic() + 60
    while not _listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            flower.kill()
            raise RuntimeError(f"Flower did not listen on {port}:\n{flower.log()[-4000:]}")
        time.sleep(0.1)
    return flower


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
