"""The real stack for the chaos battery, every part its own process, on private PostgreSQL and Redis:
web (uvicorn), data workers, the control-plane worker, beat, the loopback DNS/HTTP servers and the
flaky upstream. Each part can be killed and started again on the same port and data folder.

The driver (this process) sets Django up against the stack's database for setup and for the
invariants; everything the tenants do goes through the web process's public API.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import postgres, redis
from devstack.ports import free_port, wait_for_port
from devstack.processes import LOG_DIR, ROOT

# On top of the test suite's short leases and delays (devstack's TEST_ENV), so that recovery is seen
# within the battery's bounds: ends retried for a minute, cancels given 5 s to stop.
CHAOS_ENV = {
    "RELAY_END_RETRY_SECONDS": "60",
    "RELAY_CANCEL_GRACE_SECONDS": "5",
}
WORKER_CONCURRENCY = 2


def say(message: str) -> None:
    print(f"[chaos] {message}", flush=True)


@dataclass
class Beat:
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@dataclass
class Stack:
    data_dir: Path
    seed: int
    env: dict[str, str] = field(default_factory=dict)
    pg: postgres.Postgres | None = None
    redis: redis.Redis | None = None
    web: Any = None
    workers: list[Any] = field(default_factory=list)
    control: Any = None
    beat: Beat | None = None
    servers: list[Any] = field(default_factory=list)
    flaky: subprocess.Popen[bytes] | None = None
    flaky_port: int = 0
    dns_port: int = 0
    http_port: int = 0
    web_port: int = 0

    # --- start -------------------------------------------------------------------------------------
    def start_services(self) -> None:
        """PostgreSQL, Redis and the environment every process of the stack shares."""
        from devstack.__main__ import TEST_ENV, test_egress

        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Durable PostgreSQL: it is SIGKILLed, and what it acknowledged must survive that.
        self.pg = postgres.start(self.data_dir / "postgres", fsync=True)
        self.redis = redis.start(self.data_dir / "redis", persist=True)
        service_env = {"DATABASE_URL": self.pg.url, "REDIS_URL": self.redis.url}
        self.env = {
            **os.environ,
            **TEST_ENV,
            **CHAOS_ENV,
            **service_env,
            "RELAY_MEDIA_ROOT": str(self.data_dir / "media"),
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **test_egress(service_env),
        }
        self.env.pop("RELAY_DATABASE_NAME", None)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=self.env, check=True
        )
        os.environ.update(self.env)

    def start_processes(self) -> None:
        """Everything but the services (Django is set up in this process by then)."""
        from campaigns.loopback.process import start_dns_server, start_http_server

        dns = start_dns_server(args=["--nxdomain-every", "5"])
        http = start_http_server(tls=False)
        self.servers = [dns, http]
        self.dns_port, self.http_port = dns.port, http.port
        self.flaky_port = free_port()
        self.flaky = subprocess.Popen(
            [sys.executable, "-m", "devstack.chaos.flaky", "--port", str(self.flaky_port), "--seed", str(self.seed)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.flaky_port)
        self.web_port = free_port()
        self.start_web()
        self.workers = [self.start_worker() for _ in range(2)]
        self.start_control()
        self.start_beat()

    def start_web(self) -> None:
        from devstack.web import start_web

        self.web = start_web(env=self._child_env(), port=self.web_port, timeout=90)

    def start_worker(self) -> Any:
        from devstack.workers import start_worker

        return start_worker(concurrency=WORKER_CONCURRENCY, env=self._child_env())

    def start_control(self) -> None:
        from devstack.workers import start_worker

        self.control = start_worker(concurrency=1, queues="control", env=self._child_env())

    def start_beat(self) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = (LOG_DIR / f"chaos-beat-{os.getpid()}.log").open("ab")
        schedule = self.data_dir / f"beat-schedule-{time.monotonic_ns()}"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "--loglevel=WARNING",
            f"--schedule={schedule}",
        ]
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.beat = Beat(process=process)

    def _child_env(self) -> dict[str, str]:
        return {key: value for key, value in self.env.items() if key.startswith(("RELAY_", "DATABASE_", "REDIS_"))}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    # --- faults --------------------------------------------------------------------------------------
    def kill_pool_process(self, index: int, pick: int) -> bool:
        """SIGKILL one prefork child of worker `index` (Celery replaces it)."""
        import psutil

        try:
            children = psutil.Process(self.workers[index].process.pid).children()
        except psutil.NoSuchProcess:
            return False
        if not children:
            return False
        with contextlib.suppress(psutil.NoSuchProcess):
            children[pick % len(children)].kill()
        return True

    def kill_worker(self, index: int) -> None:
        """SIGKILL a whole worker (its group: main process and pool), then start a new one."""
        self.workers[index].kill()
        self.workers[index] = self.start_worker()

    def kill_redis(self, *, keep_data: bool, down_seconds: float) -> None:
        assert self.redis is not None
        port = self.redis.port
        self.redis.process.kill()
        self.redis.process.wait(timeout=10)
        redis_dir = self.data_dir / "redis"
        if not keep_data:
            shutil.rmtree(redis_dir, ignore_errors=True)
        time.sleep(down_seconds)
        self.redis = redis.start(redis_dir, persist=True, port=port)

    def kill_postgres(self, *, down_seconds: float) -> None:
        """SIGKILL the postmaster and every backend (a crash), then start it on the same data folder."""
        import psutil

        assert self.pg is not None
        pid_file = self.pg.data_dir / "postmaster.pid"
        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        tree = [postmaster, *postmaster.children(recursive=True)]
        for process in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(tree, timeout=10)
        time.sleep(down_seconds)
        self.pg = postgres.start(self.pg.data_dir, fsync=True, port=self.pg.port)

    def terminate_worker_backends(self) -> int:
        """`pg_terminate_backend` every PostgreSQL connection of the data workers and the control worker."""
        import psutil
        import psycopg

        assert self.pg is not None
        ports: set[int] = set()
        for worker in [*self.workers, self.control]:
            try:
                root = psutil.Process(worker.process.pid)
                for process in [root, *root.children(recursive=True)]:
                    for conn in process.net_connections(kind="tcp"):
                        if conn.raddr and conn.raddr.port == self.pg.port:
                            ports.add(conn.laddr.port)
            except psutil.NoSuchProcess:
                continue
        if not ports:
            return 0
        with psycopg.connect(self.pg.url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE client_port = ANY(%s)", [list(ports)]
            ).fetchall()
        return sum(1 for (done,) in rows if done)

    def kill_web(self) -> None:
        self.web.kill()
        self.start_web()

    def kill_beat(self) -> None:
        assert self.beat is not None
        self.beat.kill()
        self.start_beat()

    def kill_control(self) -> None:
        self.control.kill()
        self.start_control()

    def heal(self) -> list[str]:
        """Start again whatever is not running (a fault that failed halfway); returns what was restarted."""
        restarted: list[str] = []
        if self.web.process.poll() is not None:
            self.start_web()
            restarted.append("web")
        for index, worker in enumerate(self.workers):
            if worker.process.poll() is not None:
                self.workers[index] = self.start_worker()
                restarted.append(f"worker{index}")
        if self.control.process.poll() is not None:
            self.start_control()
            restarted.append("control")
        if self.beat is None or self.beat.process.poll() is not None:
            self.start_beat()
            restarted.append("beat")
        return restarted

    # --- stop ----------------------------------------------------------------------------------------
    def stop(self) -> None:
        for part in [self.web, *self.workers, self.control, self.beat]:
            if part is not None:
                with contextlib.suppress(Exception):
                    part.kill()
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop()
        if self.flaky is not None and self.flaky.poll() is None:
            self.flaky.kill()
        # What this process counted (its own service calls) goes to Redis while Redis is still up: at
        # exit, the metrics buffer's last flush found it gone and logged a traceback per series.
        with contextlib.suppress(Exception):
            from orchestration import metrics

            metrics.flush()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                self.redis.stop()
        if self.pg is not None:
            with contextlib.suppress(Exception):
                self.pg.stop()
