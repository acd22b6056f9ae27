"""A real web process (uvicorn, as the Procfile runs it) for tests, pointed at the database they use;
and the browser the console's browser tests drive."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

from .ports import free_port, wait_for_port
from .processes import LOG_DIR, ROOT, Launched

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@dataclass
class WebProcess(Launched):
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_web(
    *,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    port: int | None = None,
    graceful_shutdown: float | None = None,
) -> WebProcess:
    """uvicorn on `port` (a free one by default). `graceful_shutdown`: seconds a stop waits for open
    requests (SSE streams never end by themselves) before closing them; uvicorn's default otherwise."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"web-{uuid.uuid4().hex[:8]}.log"
    port = port or free_port()
    web_env = {
        **os.environ,
        "RELAY_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "RELAY_DB_POOL": "1",
        **(env or {}),
    }
    command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-access-log", "--backlog", "4096"]
    if graceful_shutdown is not None:
        command += ["--timeout-graceful-shutdown", str(graceful_shutdown)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=web_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    web = WebProcess(process=process, port=port, log_path=log_path)
    try:
        wait_for_port(port, timeout=timeout)
    except TimeoutError:
        web.kill()
        raise RuntimeError(f"web process did not listen:\n{web.log()[-4000:]}") from None
    return web


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
