"""Memory stays flat as a run grows: workflow runs of 1,000 and 100,000 files on 2 worker processes and one
web process (uvicorn, as in production). Worker RSS is sampled through each run (the largest pool
process); the web process serves, after each run, the run's detail and every page of its files, and
its RSS is read after that. Writes bench/results/memory.json:
per size, the peak RSS of a worker pool process and of the web process, in MB.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import psutil
from common import ROOT, setup_django, wait_for, write_results

setup_django()

from django.db import connection  # noqa: E402
from knox.models import AuthToken  # noqa: E402

from devstack.accounts import make_tenant, make_user  # noqa: E402
from devstack.ports import free_port  # noqa: E402
from devstack.workers import start_worker  # noqa: E402
from tenants.models import Role  # noqa: E402
from workflow_runs.models import ProcessorPrice, RunStatus, Template, WorkflowRun  # noqa: E402
from workflow_runs.services.credits import credits_grant  # noqa: E402
from workflow_runs.services.runs import workflow_run_start_stored  # noqa: E402

SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "1000,100000").split(",")]
MB = 1024 * 1024


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / MB


def pool_peak(main_pid: int, stop: threading.Event, peak: list[float]) -> None:
    while not stop.is_set():
        for child in psutil.Process(main_pid).children():
            with contextlib.suppress(psutil.NoSuchProcess):
                peak[0] = max(peak[0], child.memory_info().rss / MB)
        stop.wait(0.5)


def start_web() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "RELAY_DATABASE_NAME": str(connection.settings_dict["NAME"]), "RELAY_DB_POOL": "1"}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    web = subprocess.Popen(command, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(f"{base}/api/health"), timeout=60, interval=0.2)
    return web, base


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except Exception:
        return False


def get(url: str, token: str) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read()


def read_everything(base: str, token: str, run_id: uuid.UUID) -> None:
    import json

    get(f"{base}/api/workflow-runs/{run_id}", token)
    url: str | None = f"{base}/api/workflow-runs/{run_id}/files?limit=200"
    while url:
        url = json.loads(get(url, token))["next"]


def main() -> None:
    from bench.runs import write_files

    tenant = make_tenant("memory")
    credits_grant(tenant=tenant, amount=2 * sum(SIZES), source="purchased", reason="purchase")
    ProcessorPrice.objects.update_or_create(processor="text_stats", plan="", defaults={"credits_per_file": 1})
    template = Template.objects.create(tenant=tenant, name="stats", processor="text_stats", processor_config={})
    _, token = AuthToken.objects.create(make_user(tenant=tenant, role=Role.TENANT_ADMIN))
    worker = start_worker(concurrency=2, queues="celery,jobs", env={"RELAY_LOG_LEVEL": "WARNING"})
    web, base = start_web()
    figures: dict[str, dict[str, float]] = {}
    try:
        for n in SIZES:
            run_id = uuid.uuid4()
            stored = write_files(run_id, n)
            stop, peak = threading.Event(), [0.0]
            sampler = threading.Thread(target=pool_peak, args=(worker.process.pid, stop, peak), daemon=True)
            sampler.start()
            started = time.perf_counter()
            run = workflow_run_start_stored(tenant=tenant, actor=None, template=template, stored=stored, run_id=run_id)
            finished = WorkflowRun.objects.filter(pk=run.pk).exclude(status=RunStatus.RUNNING)
            wait_for(finished.exists, timeout=1800, interval=0.2)
            elapsed = time.perf_counter() - started
            stop.set()
            sampler.join()
            read_everything(base, token, run.pk)
            figures[str(n)] = {
                "worker_pool_process_peak_rss_mb": round(peak[0], 1),
                "web_rss_mb_after_reading_the_run": round(rss_mb(web.pid), 1),
                "files_per_s": round(n / elapsed, 1),
            }
            print(f"{n} files: {figures[str(n)]}", flush=True)
    finally:
        web.terminate()
        web.wait(timeout=30)
        worker.stop()
    small, large = figures[str(min(SIZES))], figures[str(max(SIZES))]
    write_results(
        "memory",
        {
            "by_files": figures,
            "worker_rss_growth": round(
                large["worker_pool_process_peak_rss_mb"] / small["worker_pool_process_peak_rss_mb"], 3
            ),
            "web_rss_growth": round(
                large["web_rss_mb_after_reading_the_run"] / small["web_rss_mb_after_reading_the_run"], 3
            ),
        },
    )


if __name__ == "__main__":
    main()
