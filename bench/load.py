"""The API under load, on one web process (uvicorn, as the Procfile runs it) on loopback, with 2 worker
processes and the control lane running, so starts and Continue do real work. Writes
bench/results/load.json.

1. HTTP: an open-loop client (`devstack/load_client.py`, its own process, uvloop) offers reads at
   `BENCH_READ_RATE` (200/s: lists of campaigns, runs and scans, paged, and their detail pages) and
   writes at `BENCH_WRITE_RATE` (10/s: scan starts, workflow run starts with 2 files, Continue on runs
   with failed files) at the same time, for `BENCH_SECONDS` (30) after a warm-up of 5 s, against five
   tenants' data (a few thousand rows). Latency runs from the moment a request was due.
2. SSE: 1,000 subscribers (`BENCH_SUBSCRIBERS`) on the same web process, spread over enough users and
   tenants to stay within `RELAY_SSE_MAX_PER_USER` and `RELAY_SSE_MAX_PER_TENANT` (unchanged), two per
   stream (campaigns, runs and scans). Once all are connected the web's RSS and its connections to
   PostgreSQL and Redis are read (by the web's own sockets, cross-checked in pg_stat_activity and
   CLIENT LIST); then one event is emitted per stream (one transaction each, as a state change emits
   it) and delivery latency is the client's receipt minus the emitting commit (both wall clocks of
   this machine).

The client's CPU time is measured and reported: on a 2-core machine it competes with the web.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
from common import ROOT, setup_django, wait_for, write_results

setup_django()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from knox.models import AuthToken  # noqa: E402

from bench.runs import write_files  # noqa: E402
from campaigns.services.campaigns import campaign_create  # noqa: E402
from devstack.accounts import make_tenant, make_user  # noqa: E402
from devstack.scan_site import Site  # noqa: E402
from devstack.web import WebProcess, start_web  # noqa: E402
from devstack.workers import start_control_plane, start_worker  # noqa: E402
from orchestration import events, stages  # noqa: E402
from orchestration.models import Job, Stage, StageStatus  # noqa: E402
from orchestration.redis_client import get_redis  # noqa: E402
from scans.models import FINAL_STATUSES, Scan  # noqa: E402
from scans.services import scan_create  # noqa: E402
from tenants.models import Role, Tenant, User  # noqa: E402
from workflow_runs import jobs as run_jobs  # noqa: E402
from workflow_runs.models import FileStatus, ProcessorPrice, RunFile, RunStatus, Template, WorkflowRun  # noqa: E402
from workflow_runs.services.credits import credits_grant  # noqa: E402
from workflow_runs.services.runs import workflow_run_start_stored  # noqa: E402

TENANTS = int(os.environ.get("BENCH_TENANTS", "5"))
CAMPAIGNS = int(os.environ.get("BENCH_CAMPAIGNS", "200"))  # per tenant
RUNS = int(os.environ.get("BENCH_RUNS", "40"))  # per tenant, 3 files each, run by the workers
SCANS = int(os.environ.get("BENCH_SCANS", "100"))  # per tenant, 2 services each, run by the workers
FAILED_RUNS = int(os.environ.get("BENCH_FAILED_RUNS", "30"))  # per tenant, for Continue
READ_RATE = float(os.environ.get("BENCH_READ_RATE", "200"))
WRITE_RATE = float(os.environ.get("BENCH_WRITE_RATE", "10"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
SUBSCRIBERS = int(os.environ.get("BENCH_SUBSCRIBERS", "1000"))
SCAN_SERVICES = ["meta", "security_headers"]
PAGE = 50
MB = 1024 * 1024

TARGETS = {"read_p99_ms": 100.0, "sse_delivery_p99_ms": 1000.0, "sse_rss_mb": 300.0}


def say(message: str) -> None:
    print(f"[load] {message}", flush=True)


def token_for(user: User) -> str:
    return AuthToken.objects.create(user)[1]


def failed_run(*, tenant: Tenant, template: Template, files: int) -> WorkflowRun:
    """A finished run whose files all `failed` (their uploads are on disk): Continue reruns them."""
    run_id = uuid.uuid4()
    stored = write_files(run_id, files)
    with transaction.atomic():
        run = WorkflowRun.objects.create(
            id=run_id,
            tenant=tenant,
            template=template,
            unit_price=1,
            processor=template.processor,
            processor_config=template.processor_config,
            status=RunStatus.FAILED,
            total_jobs=files,
            failed_jobs=files,
            finished_at=timezone.now(),
        )
        RunFile.objects.bulk_create(
            RunFile(
                run=run,
                index=i,
                name=name,
                file=path,
                size=size,
                status=FileStatus.FAILED,
                error_code="upstream_error",
            )
            for i, (name, path, size) in enumerate(stored)
        )
        stage = stages.stage_create(kind=run_jobs.STAGE_KIND, ref=f"run:{run.pk}", stream=run.stream)
        Stage.objects.filter(pk=stage.pk).update(
            round=1, total=files, failed=files, status=StageStatus.FINALISED, finalised_at=timezone.now()
        )
        WorkflowRun.objects.filter(pk=run.pk).update(stage=stage)
    return run


def seed(site: Site) -> list[dict[str, Any]]:
    """Five tenants' data, made through the services (runs and scans are run by the workers)."""
    ProcessorPrice.objects.update_or_create(processor="text_stats", plan="", defaults={"credits_per_file": 1})
    per_tenant_streams = math.ceil(SUBSCRIBERS / TENANTS)
    sse_users = math.ceil(per_tenant_streams / int(settings.RELAY_SSE_MAX_PER_USER))
    tenants = []
    for t in range(TENANTS):
        tenant = make_tenant(f"load {t}")
        credits_grant(tenant=tenant, amount=1_000_000, source="purchased", reason="purchase")
        admin = make_user(tenant=tenant, role=Role.TENANT_ADMIN)
        template = Template.objects.create(tenant=tenant, name="stats", processor="text_stats", processor_config={})
        campaigns = [campaign_create(tenant=tenant, name=f"campaign {i}", actor=admin).pk for i in range(CAMPAIGNS)]
        runs = []
        for _ in range(RUNS):
            run_id = uuid.uuid4()
            run = workflow_run_start_stored(
                tenant=tenant, actor=admin, template=template, stored=write_files(run_id, 3), run_id=run_id
            )
            runs.append(run.pk)
        scans = [
            scan_create(tenant=tenant, actor=admin, url=site.url("/good"), services=SCAN_SERVICES).pk
            for _ in range(SCANS)
        ]
        failed = [failed_run(tenant=tenant, template=template, files=3).pk for _ in range(FAILED_RUNS)]
        tenants.append(
            {
                "tenant": tenant,
                "template": template,
                "admin_tokens": [token_for(admin), token_for(make_user(tenant=tenant, role=Role.TENANT_ADMIN))],
                "sse_tokens": [token_for(make_user(tenant=tenant)) for _ in range(sse_users)],
                "campaigns": campaigns,
                "runs": runs + failed,
                "scans": scans,
                "failed_runs": failed,
            }
        )
        say(f"tenant {t}: {len(campaigns)} campaigns, {len(runs) + len(failed)} runs, {len(scans)} scans")
    return tenants


def settle(*, timeout: float) -> float:
    """Seconds until no engine job is live (the work the writes started has run)."""
    started = time.perf_counter()
    live = Job.objects.filter(state__in=["pending", "queued", "running"])
    wait_for(lambda: not live.exists(), timeout=timeout, interval=0.5)
    return time.perf_counter() - started


def http_plan(web: WebProcess, site: Site, tenants: list[dict[str, Any]]) -> dict[str, Any]:
    reads: dict[str, list[dict[str, str]]] = {name: [] for name in ("list_campaigns", "list_runs", "list_scans")}
    reads |= {name: [] for name in ("detail_campaign", "detail_run", "detail_scan")}
    writes: dict[str, list[dict[str, Any]]] = {"start_scan": [], "start_run": [], "continue": []}
    for data in tenants:
        for i, token in enumerate(data["admin_tokens"]):
            for kind, path, rows in (
                ("campaigns", "/api/campaigns", data["campaigns"]),
                ("runs", "/api/workflow-runs", data["runs"]),
                ("scans", "/api/scans", data["scans"]),
            ):
                for offset in range(0, len(rows), PAGE):
                    reads[f"list_{kind}"].append({"path": f"{path}?limit={PAGE}&offset={offset}", "token": token})
                for pk in rows[i::2]:
                    reads[f"detail_{kind[:-1]}"].append({"path": f"{path}/{pk}", "token": token})
            writes["start_scan"].append(
                {
                    "method": "POST",
                    "path": "/api/scans",
                    "token": token,
                    "json": {"url": site.url("/good"), "services": SCAN_SERVICES},
                }
            )
            writes["start_run"].append(
                {
                    "method": "POST",
                    "path": "/api/workflow-runs",
                    "token": token,
                    "form": {"template": str(data["template"].pk)},
                    "files": [[f"load{n}.txt", f"load bench file {n}: the quick brown fox\n"] for n in range(2)],
                }
            )
        for pk in data["failed_runs"]:
            path = f"/api/workflow-runs/{pk}/retry-failed"
            writes["continue"].append({"method": "POST", "path": path, "token": data["admin_tokens"][0]})
    return {
        "base": web.url,
        "seconds": SECONDS,
        "warmup_seconds": 5,
        "read_rate": READ_RATE,
        "write_rate": WRITE_RATE,
        "max_in_flight": 256,
        "reads": reads,
        "writes": writes,
    }


def sse_plan(web: WebProcess, tenants: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """Subscribers spread over every tenant and user so that no cap is reached; two per stream."""
    per_tenant = math.ceil(SUBSCRIBERS / TENANTS)
    per_user = int(settings.RELAY_SSE_MAX_PER_USER)
    assert per_tenant <= int(settings.RELAY_SSE_MAX_PER_TENANT), "more tenants needed for that many subscribers"
    subscribers: list[dict[str, Any]] = []
    streams: list[str] = []  # by tag, the stream each `bench_ping` goes to
    for data in tenants:
        objects = [("campaigns", pk) for pk in data["campaigns"][:34]]
        objects += [("workflow-runs", pk) for pk in data["runs"][:33]]
        objects += [("scans", pk) for pk in data["scans"][:33]]
        objects = objects[: math.ceil(per_tenant / 2)]
        first = len(streams)
        streams += [f"{'run' if kind == 'workflow-runs' else kind[:-1]}:{pk}" for kind, pk in objects]
        for j in range(per_tenant):
            if len(subscribers) == SUBSCRIBERS:
                break
            kind, pk = objects[j % len(objects)]
            token = data["sse_tokens"][j // per_user]
            subscribers.append({"path": f"/api/{kind}/{pk}/events", "token": token, "tag": first + j % len(objects)})
    return {"base": web.url, "subscribers": subscribers, "open_concurrency": 50, "timeout": 120}, streams


def run_client(mode: str, plan: dict[str, Any], on_line: Any = None) -> dict[str, Any]:
    """The client in its own process; `on_line` sees each JSON line it prints. Returns its figures."""
    with tempfile.TemporaryDirectory() as folder:
        plan_path, out_path = Path(folder) / "plan.json", Path(folder) / "out.json"
        plan_path.write_text(json.dumps(plan))
        client = subprocess.Popen(
            [sys.executable, "-m", "devstack.load_client", mode, str(plan_path), str(out_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert client.stdout is not None
        for line in client.stdout:
            if on_line is not None:
                on_line(json.loads(line))
        if client.wait() != 0:
            raise RuntimeError(f"the load client failed ({mode})")
        return json.loads(out_path.read_text())


def web_sockets(web: WebProcess) -> dict[str, list[int]]:
    """The web process's local ports of its TCP connections to PostgreSQL and to Redis."""
    pg_port = int(str(settings.DATABASES["default"]["PORT"]))
    redis_port = urlsplit(settings.REDIS_URL).port
    found: dict[str, list[int]] = {"postgres": [], "redis": []}
    for conn in psutil.Process(web.pid).net_connections(kind="tcp"):
        if conn.raddr and conn.status == psutil.CONN_ESTABLISHED:
            if conn.raddr.port == pg_port:
                found["postgres"].append(conn.laddr.port)
            elif conn.raddr.port == redis_port:
                found["redis"].append(conn.laddr.port)
    return found


def server_side_counts(ports: dict[str, list[int]]) -> dict[str, int]:
    """The same connections as the servers see them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE client_port = ANY(%s)", [ports["postgres"]])
        (pg,) = cursor.fetchone()
    redis_ports = set(ports["redis"])
    redis = sum(1 for client in get_redis().client_list() if int(client["addr"].rsplit(":", 1)[1]) in redis_ports)
    return {"pg_stat_activity": pg, "redis_client_list": redis}


def pool_max_size() -> int:
    """The web's pool (config/settings.py; this process runs without one)."""
    return int(os.environ.get("RELAY_DB_POOL_MAX_SIZE", "20"))


class Sampler:
    """The web process's peak RSS while a phase runs."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(psutil.NoSuchProcess):
                self.peak = max(self.peak, self.process.memory_info().rss / MB)
            self.stop.wait(0.2)

    def done(self) -> float:
        self.stop.set()
        self.thread.join()
        return round(self.peak, 1)


def cpu_of(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def http_phase(web: WebProcess, site: Site, tenants: list[dict[str, Any]]) -> dict[str, Any]:
    web_process = psutil.Process(web.pid)
    load_before, web_cpu = os.getloadavg(), cpu_of(web_process)
    figures = run_client("http", http_plan(web, site, tenants))
    web_cpu = cpu_of(web_process) - web_cpu
    settled = settle(timeout=300)
    wall = figures["client"]["wall_seconds"]
    return {
        **figures,
        "offered": {"read_rps": READ_RATE, "write_rps": WRITE_RATE, "seconds": SECONDS, "warmup_seconds": 5},
        "web_cpu_seconds": round(web_cpu, 1),
        "web_cpu_share_of_one_core": round(web_cpu / wall, 2),
        "client_cpu_share_of_one_core": round(figures["client"]["cpu_seconds"] / wall, 2),
        "writes_settled_after_s": round(settled, 1),
        "loadavg_before_after": [round(x, 2) for x in (*load_before, *os.getloadavg())],
    }


def sse_phase(web: WebProcess, tenants: list[dict[str, Any]]) -> dict[str, Any]:
    plan, streams = sse_plan(web, tenants)
    sampler = Sampler(web.pid)
    web_process = psutil.Process(web.pid)
    seen: dict[str, Any] = {}
    emitted: dict[int, float] = {}

    def on_line(line: dict[str, Any]) -> None:
        seen["connected"] = line
        ports = web_sockets(web)
        seen["rss_mb"] = round(web_process.memory_info().rss / MB, 1)
        seen["threads"] = web_process.num_threads()
        seen["pg_connections"] = len(ports["postgres"])
        seen["redis_connections"] = len(ports["redis"])
        seen["server_side"] = server_side_counts(ports)
        say(f"{line}; web RSS {seen['rss_mb']} MB, PostgreSQL {len(ports['postgres'])}, Redis {len(ports['redis'])}")
        seen["cpu_before_emit"] = cpu_of(web_process)
        started = time.time()
        for tag, stream in enumerate(streams):
            with transaction.atomic():
                events.emit(stream=stream, type="bench_ping", payload={"bench": tag})
            emitted[tag] = time.time()
        seen["emit_burst_s"] = round(time.time() - started, 2)

    figures = run_client("sse", plan, on_line)
    peak = sampler.done()
    latencies = [moment - emitted[tag] for moment, tag in figures.pop("received").values()]
    from devstack.load_client import percentile

    def ms(q: float) -> float | None:
        value = percentile(latencies, q)
        return None if value is None else round(value * 1000, 1)

    return {
        "subscribers": plan["subscribers"].__len__(),
        "connected": seen["connected"]["connected"],
        "received": len(latencies),
        "streams": len(streams),
        "users": sum(len(data["sse_tokens"]) for data in tenants),
        "tenants": len(tenants),
        "delivery_p50_ms": ms(0.5),
        "delivery_p99_ms": ms(0.99),
        "delivery_max_ms": ms(1.0),
        "emit_burst_s": seen["emit_burst_s"],
        "rss_mb_connected": seen["rss_mb"],
        "rss_mb_peak": peak,
        "web_threads": seen["threads"],
        "pg_connections": seen["pg_connections"],
        "redis_connections": seen["redis_connections"],
        "server_side": seen["server_side"],
        "pool_max_size": pool_max_size(),
        "web_cpu_seconds_delivery": round(cpu_of(web_process) - seen["cpu_before_emit"], 2),
        "client": figures["client"],
        "open_seconds": figures["open_seconds"],
        "refused": figures["refused"],
    }


def main() -> None:
    say(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    site = Site()
    quiet = {"RELAY_LOG_LEVEL": "WARNING"}
    workers = [start_worker(concurrency=2, queues="celery,jobs", env=quiet), start_control_plane(env=quiet)]
    web = start_web(env={"RELAY_LOG_LEVEL": "WARNING"})
    try:
        tenants = seed(site)
        say(f"seeded; the workers ran the seeded runs and scans in {settle(timeout=600):.1f}s")
        assert not Scan.objects.exclude(status__in=FINAL_STATUSES).exists()
        http = http_phase(web, site, tenants)
        say(f"http: {json.dumps(http['by_side'])}")
        sse = sse_phase(web, tenants)
        say(f"sse: {json.dumps(sse)}")
    finally:
        web.stop(timeout=5)
        for worker in workers:
            worker.stop()
        site.close()
    pool = sse["pool_max_size"]
    reads, writes = http["by_side"]["read"], http["by_side"]["write"]
    passed = {
        f"read_p99_under_{TARGETS['read_p99_ms']:.0f}ms_at_{READ_RATE:.0f}rps": bool(
            reads["p99_ms"] is not None
            and reads["p99_ms"] < TARGETS["read_p99_ms"]
            and reads["rps"] >= 0.95 * READ_RATE
        ),
        f"sse_{SUBSCRIBERS}_delivered_p99_under_1s": bool(
            sse["received"] == SUBSCRIBERS
            and sse["delivery_p99_ms"] is not None
            and sse["delivery_p99_ms"] < TARGETS["sse_delivery_p99_ms"]
        ),
        "sse_rss_under_300mb": sse["rss_mb_peak"] < TARGETS["sse_rss_mb"],
        "pg_connections_within_pool": sse["pg_connections"] <= pool,
    }
    write_results(
        "load",
        {
            "read_rps": reads["rps"],
            "read_p99_ms": reads["p99_ms"],
            "write_rps": writes["rps"],
            "write_p99_ms": writes["p99_ms"],
            "sse_subscribers": sse["connected"],
            "sse_delivery_p99_ms": sse["delivery_p99_ms"],
            "sse_rss_mb": sse["rss_mb_peak"],
            "pg_connections": sse["pg_connections"],
            "redis_connections": sse["redis_connections"],
            "targets": {**TARGETS, "pg_connections_max": pool},
            "passed": passed,
            "http": http,
            "sse": sse,
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        },
    )


if __name__ == "__main__":
    main()
