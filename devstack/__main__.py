"""`python -m devstack run | test [pytest args] | bench NAME | chaos --seed N --duration S`"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import postgres, redis
from .ports import free_port

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"

# The test suite and benchmarks use short leases and delays so that recovery is seen in seconds.
TEST_ENV = {
    "RELAY_JOB_LEASE_SECONDS": "3",
    "RELAY_RECONCILE_IDLE_SECONDS": "1",
    "RELAY_RECONCILE_INTERVAL_SECONDS": "0.5",
    "RELAY_RECOVER_INTERVAL_SECONDS": "1",
    "RELAY_BACKOFF_BASE_SECONDS": "0.2",
    "RELAY_BACKOFF_MAX_SECONDS": "2",
    "RELAY_LOG_LEVEL": "WARNING",
    # Thousands of throw-away users: a fast hasher instead of PBKDF2 (config/settings.py says why).
    "RELAY_INSECURE_FAST_PASSWORD_HASHING": "1",
    # DEBUG is off here, so the operator endpoints are restricted as in production; the tests scrape
    # /metrics from loopback like a scraper on the private network, and schemathesis reads the schema
    # without signing in (tests/core/test_operator_access.py checks the production modes).
    "RELAY_METRICS_ALLOW_CIDRS": "127.0.0.0/8,::1/128",
    "RELAY_API_DOCS": "public",
}


def say(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


@contextmanager
def step(label: str) -> Iterator[None]:
    """A start-up step: said when it starts and again with how long it took."""
    say(f"{label}…")
    started = time.monotonic()
    yield
    say(f"{label}: done in {time.monotonic() - started:.1f}s")


@contextmanager
def services(data_dir: Path, *, durable: bool) -> Iterator[dict[str, str]]:
    """PostgreSQL and Redis for this run: the ones in DATABASE_URL / REDIS_URL, or embedded ones."""
    env: dict[str, str] = {}
    started: list[postgres.Postgres | redis.Redis] = []
    try:
        if os.environ.get("DATABASE_URL"):
            env["DATABASE_URL"] = os.environ["DATABASE_URL"]
            say("PostgreSQL: using DATABASE_URL")
        else:
            began = time.monotonic()
            pg = postgres.start(data_dir / "postgres", fsync=durable)
            started.append(pg)
            env["DATABASE_URL"] = pg.url
            say(
                f"PostgreSQL: embedded, {pg.url} (data in {pg.data_dir.relative_to(ROOT)}), "
                f"up in {time.monotonic() - began:.1f}s"
            )
        if os.environ.get("REDIS_URL"):
            env["REDIS_URL"] = os.environ["REDIS_URL"]
            say("Redis: using REDIS_URL")
        else:
            began = time.monotonic()
            rd = redis.start(data_dir / "redis", persist=durable)
            started.append(rd)
            env["REDIS_URL"] = rd.url
            say(f"Redis: embedded, {rd.url}, up in {time.monotonic() - began:.1f}s")
        yield env
    finally:
        for server in reversed(started):
            server.stop()


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except Exception:
            time.sleep(0.5)
    return False


def flower_credentials() -> str:
    path = DATA / "flower-credentials"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        path.write_text(f"flower:{secrets.token_urlsafe(12)}\n")
        path.chmod(0o600)
    return path.read_text().strip()


def secret_key() -> str:
    """This checkout's own SECRET_KEY for `make run`, made once (.data/secret-key)."""
    path = DATA / "secret-key"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(50) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


_signals_received: list[int] = []


def _interrupt(signum: int, frame: object) -> None:
    _signals_received.append(signum)
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """Ctrl-C (SIGINT) and a process manager's or CI's SIGTERM both unwind the command, so its `finally`
    blocks stop what it started (PostgreSQL, Redis, workers, a chaos stack), even where SIGINT was
    inherited as ignored (a shell's background job). Python's default SIGTERM ends the process at
    once and left all of them running."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def cmd_run(_: argparse.Namespace) -> int:
    began = time.monotonic()
    with services(DATA, durable=True) as service_env, loopback_servers() as loopback_env:
        env = {**os.environ, **service_env, **loopback_env, "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "1")}
        # The Procfile's commands (uvicorn, celery) live next to this interpreter, in the venv.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.setdefault("PORT", str(8000 if _port_free(8000) else free_port()))
        env.setdefault("FLOWER_PORT", str(5555 if _port_free(5555) else free_port()))
        env.setdefault("FLOWER_BASIC_AUTH", flower_credentials())
        env.setdefault("DJANGO_SECRET_KEY", secret_key())  # with DEBUG off the development key is refused
        env.setdefault("RELAY_MEDIA_ROOT", str(DATA / "media"))
        # /metrics from this machine, also when DJANGO_DEBUG=0 restricts it (the printed URL works).
        env.setdefault("RELAY_METRICS_ALLOW_CIDRS", "127.0.0.0/8,::1/128")
        with step("migrations"):
            manage("migrate", "--noinput", env=env)
        with step("demo data"):
            manage("shell", "-c", "import sys; from devstack.demo import seed_demo; seed_demo(sys.stdout)", env=env)
        say("starting web, worker, control, beat and flower (honcho, Procfile)…")
        workers_started = time.monotonic()
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "-f", "Procfile"], cwd=ROOT, env=env, start_new_session=True
        )
        base = f"http://127.0.0.1:{env['PORT']}"
        try:
            # /api/health answers 200 only once the database, Redis and a worker's heartbeat are all up.
            if wait_http(f"{base}/api/health", 90):
                say(f"web and workers: healthy in {time.monotonic() - workers_started:.1f}s ({base}/api/health)")
            else:
                say("the web process did not answer /api/health within 90 s; see the logs above")
            user, password = env["FLOWER_BASIC_AUTH"].split(":", 1)
            print(
                "\n"
                f"  Relay is up ({time.monotonic() - began:.1f}s).\n"
                f"  Console:            {base}/console/   (sign in as demo or admin)\n"
                f"  API docs (Swagger): {base}/api/docs/\n"
                f"  OpenAPI schema:     {base}/api/schema/\n"
                f"  Admin:              {base}/admin/   (credentials printed above)\n"
                f"  Health:             {base}/api/health\n"
                f"  Metrics:            {base}/metrics\n"
                f"  Flower:             http://127.0.0.1:{env['FLOWER_PORT']}/   (user {user}, password {password})\n"
                f"  Ctrl-C stops everything.\n",
                flush=True,
            )
            return honcho.wait()
        except KeyboardInterrupt:
            say("stopping…")
            stop_process_tree(honcho)
            return 0


@contextmanager
def loopback_servers() -> Iterator[dict[str, str]]:
    """The loopback DNS and HTTP servers the demo campaign's personas point at (never the internet)."""
    from campaigns.loopback.process import start_dns_server, start_http_server

    dns = start_dns_server(args=["--nxdomain-every", "5"])
    try:
        # A resolver that answers every query SERVFAIL: point a DNS persona at it to make DNS validation fail.
        broken_dns = start_dns_server(args=["--servfail"])
        try:
            http = start_http_server()
            try:
                say(
                    f"loopback DNS on 127.0.0.1:{dns.port} (UDP), a broken one (SERVFAIL) on "
                    f"127.0.0.1:{broken_dns.port}, loopback HTTP on 127.0.0.1:{http.port}"
                )
                env = {
                    "RELAY_DEMO_DNS": f"127.0.0.1:{dns.port}",
                    "RELAY_DEMO_DNS_BROKEN": f"127.0.0.1:{broken_dns.port}",
                    "RELAY_DEMO_HTTP_PORT": str(http.port),
                    # The demo's personas and webhooks may reach these servers, and nothing else here.
                    "RELAY_EGRESS_ALLOW": ",".join(
                        f"127.0.0.1/32:{port}" for port in (dns.port, broken_dns.port, http.port)
                    ),
                }
                # The scans' backlink provider: the loopback one (503 once per URL), unless one is set.
                if not os.environ.get("RELAY_SCANS_BACKLINKS_URL"):
                    env["RELAY_SCANS_BACKLINKS_URL"] = f"http://127.0.0.1:{http.port}/provider/backlinks"
                yield env
            finally:
                http.stop()
        finally:
            broken_dns.stop()
    finally:
        dns.stop()


def stop_process_tree(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM honcho (it stops its processes: warm shutdown for workers), then SIGKILL whatever of the
    tree is still alive after `timeout`, so no worker outlives `make run`."""
    import psutil

    try:
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    process.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(tree, timeout=timeout)
    for leftover in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            leftover.kill()


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@contextmanager
def private_services() -> Iterator[dict[str, str]]:
    """Throw-away services for one test or benchmark run."""
    data_dir = DATA / f"run-{os.getpid()}"
    try:
        with services(data_dir, durable=False) as service_env:
            env = {**os.environ, **TEST_ENV, **service_env, "RELAY_MEDIA_ROOT": str(data_dir / "media")}
            # DEBUG is off in tests and benchmarks: a key of their own (the development default is refused).
            env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
            env.update(test_egress(service_env))
            yield env
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_egress(service_env: dict[str, str]) -> dict[str, str]:
    """Tests and benchmarks start their loopback servers on free ports inside the run, so loopback is
    allowed as a whole, minus this run's PostgreSQL and Redis. (The egress tests set a strict policy
    naming one server's address and port.)"""
    from urllib.parse import urlsplit

    ports = [urlsplit(service_env[name]).port for name in ("DATABASE_URL", "REDIS_URL")]
    return {
        "RELAY_EGRESS_ALLOW": "127.0.0.0/8,::1/128",
        "RELAY_EGRESS_DENY": ",".join(f"{net}:{port}" for port in ports if port for net in ("127.0.0.0/8", "::1/128")),
    }


def cmd_test(args: argparse.Namespace) -> int:
    checks = [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy", "."],
    ]
    if os.environ.get("RELAY_SKIP_CHECKS"):  # for a quick targeted run while developing
        checks = []
    for check in checks:
        say("$ " + " ".join(check))
        if subprocess.run([sys.executable, "-m", *check], cwd=ROOT).returncode != 0:
            return 1
    from .web import find_chromium

    if find_chromium() is None:  # the browser tests fail then, with the same message; nothing is skipped
        say("No Chromium found: the console's browser tests will fail. Install it: apt-get install -y chromium")
    with private_services() as env:
        say("$ pytest " + " ".join(args.pytest_args))
        return run_child([sys.executable, "-m", "pytest", *args.pytest_args], env=env)


def cmd_bench(args: argparse.Namespace) -> int:
    script = ROOT / "bench" / f"{args.name}.py"
    if not script.exists():
        say(f"no benchmark {script.relative_to(ROOT)}")
        return 2
    with private_services() as env:
        manage("migrate", "--noinput", "-v", "0", env=env)
        # As a module from the project root: the root comes first on sys.path, so `bench/scans.py` cannot
        # shadow the `scans` app; bench/ goes last so the scripts can `import common`.
        env["PYTHONPATH"] = str(ROOT / "bench")
        return run_child([sys.executable, "-m", f"bench.{args.name}"], env=env)


def run_child(command: list[str], *, env: dict[str, str], grace: float = 60.0) -> int:
    """Run pytest or a benchmark to its end. Interrupted (`stop_on_signals`), it gets a SIGINT, which
    pytest and the benchmarks unwind (their workers and servers stop), `grace` seconds to finish, then
    SIGKILL; only then do the caller's PostgreSQL and Redis stop under it."""
    child = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        return child.wait()
    except KeyboardInterrupt:
        if signal.SIGTERM in _signals_received:  # a terminal's Ctrl-C reached the child already
            child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise


def cmd_chaos(args: argparse.Namespace) -> int:
    from .chaos.battery import run

    seed = args.seed if args.seed is not None else secrets.randbelow(10**6)
    return run(seed=seed, duration=args.duration, profile=args.profile)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the whole stack").set_defaults(func=cmd_run)
    test = commands.add_parser("test", help="lint, type-check and run the test suite")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    test.set_defaults(func=cmd_test)
    bench = commands.add_parser("bench", help="run bench/NAME.py on private services")
    bench.add_argument("name")
    bench.set_defaults(func=cmd_bench)
    chaos = commands.add_parser("chaos", help="the chaos battery: the real stack under load and seeded faults")
    chaos.add_argument("--seed", type=int, default=None, help="replays a run (default: a random one, printed)")
    chaos.add_argument("--duration", type=float, default=None, help="seconds of workload under faults")
    chaos.add_argument("--profile", choices=["short", "full"], default="full")
    chaos.set_defaults(func=cmd_chaos)
    # `make test ARGS="-q -x tests/scans"`: argparse's REMAINDER does not take a leading option, so the
    # test command keeps whatever the parser did not know as pytest's arguments.
    args, unknown = parser.parse_known_args()
    if unknown and args.command != "test":
        parser.error("unrecognized arguments: " + " ".join(unknown))
    if args.command == "chaos" and args.duration is None:
        args.duration = 900.0 if args.profile == "full" else 30.0
    if args.command == "test":
        args.pytest_args = [*unknown, *args.pytest_args]
    stop_on_signals()
    return int(args.func(args))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(128 + (_signals_received[-1] if _signals_received else signal.SIGINT))
