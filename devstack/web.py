"""A real web process (uvicorn, the ASGI app as the Procfile runs it) for browser tests: pages, the
API and the SSE streams, pointed at the database the tests use."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

from .ports import free_port

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / ".data" / "test-logs"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@dataclass
class WebProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_web(*, port: int | None = None, env: dict[str, str] | None = None, timeout: float = 60.0) -> WebProcess:
    """Start uvicorn on `port` (a free one by default) and wait until it answers."""
    port = port or free_port()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"web-{port}-{time.monotonic_ns()}.log"
    web_env = {
        **os.environ,
        "RELAY_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "RELAY_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        # Open SSE streams never end by themselves: a stop closes them after a second.
        "--timeout-graceful-shutdown",
        "1",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=web_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    web = WebProcess(process=process, port=port, log_path=log_path)
    _wait_ready(web, timeout)
    return web


def _wait_ready(web: WebProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if web.process.poll() is not None:
            raise RuntimeError(f"the web process exited early:\n{web.log()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{web.url}/console/login/", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    web.stop()
    raise TimeoutError(f"the web process did not answer within {timeout}s:\n{web.log()[-4000:]}")


def find_chromium() -> str | None:
    """The browser the browser tests drive: `RELAY_CHROMIUM`, else Debian's `chromium` (or another
    Chrome on PATH). Playwright's own browser downloads are never used."""
    configured = os.environ.get("RELAY_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None
