"""Scan throughput: 500 scans of 5 services each (2,500 engine jobs) against a loopback web site, with
1 and then 2 worker processes. Reports scans/s and p50/p95 scan latency (created → finished) and the
speed-up of the second worker, measured in the same run.

All scans are submitted at once, so the latency includes queueing behind earlier scans: p50/p95 show
how long a burst takes to drain, not the service time of one scan (`service_ms_p50` is that).
Run with `make bench-scans` (private PostgreSQL + Redis); `BENCH_SCANS=100` for a quick run.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This file must not shadow the `scans` app: neither as the script's folder on sys.path nor through the
# working directory (Celery puts the cwd on sys.path while it imports task modules).
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (ROOT / "bench", ROOT)]
os.chdir(ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from devstack.accounts import make_tenant, make_user  # noqa: E402
from devstack.scan_site import Site  # noqa: E402
from devstack.workers import start_worker  # noqa: E402
from scans import services  # noqa: E402
from scans.models import FINAL_STATUSES, Scan, ScanStatus, ServiceExecution  # noqa: E402

SCANS = max(int(os.environ.get("BENCH_SCANS", "500")), 1)
logging.getLogger("scans").setLevel(logging.WARNING)  # one line per scan created would drown the figures
SERVICES = ["accessibility", "schema", "meta", "links", "security_headers"]
RESULTS = ROOT / "bench" / "results" / "scans.json"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(round(q * (len(ordered) - 1)), len(ordered) - 1)]


def run(*, workers: int, site: Site, tenant, user) -> dict[str, float]:
    processes = [start_worker(concurrency=1, queues="jobs") for _ in range(workers)]
    try:
        warm = services.scan_create(tenant=tenant, actor=user, url=site.url("/good"), services=SERVICES)
        wait_done([warm.pk], timeout=120)
        started = time.monotonic()
        ids = [
            services.scan_create(tenant=tenant, actor=user, url=site.url("/good"), services=SERVICES).pk
            for _ in range(SCANS)
        ]
        submitted = time.monotonic() - started
        wait_done(ids, timeout=900)
        wall = time.monotonic() - started
    finally:
        for process in processes:
            process.stop()
    scans = list(Scan.objects.filter(pk__in=ids))
    finished = {scan.pk: scan.finished_at for scan in scans if scan.finished_at is not None}
    latencies = [(finished[scan.pk] - scan.created_at).total_seconds() for scan in scans]
    first = min(scan.created_at for scan in scans)
    last = max(finished.values())
    span = (last - first).total_seconds()
    service_ms = list(ServiceExecution.objects.filter(scan_id__in=ids).values_list("execution_time_ms", flat=True))
    completed = sum(1 for scan in scans if scan.status == ScanStatus.COMPLETED)
    return {
        "workers": workers,
        "scans": len(scans),
        "completed": completed,
        "scans_per_s": round(len(scans) / span, 2),
        "jobs_per_s": round(len(scans) * len(SERVICES) / span, 1),
        "p50_s": round(percentile(latencies, 0.50), 2),
        "p95_s": round(percentile(latencies, 0.95), 2),
        "service_ms_p50": statistics.median(ms for ms in service_ms if ms is not None),
        "submit_s": round(submitted, 2),
        "wall_s": round(wall, 2),
    }


def wait_done(ids: list, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while Scan.objects.filter(pk__in=ids).exclude(status__in=FINAL_STATUSES).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("scans did not finish in time")
        time.sleep(0.5)


def main() -> None:
    site = Site()
    tenant = make_tenant("bench")
    user = make_user(tenant=tenant)
    try:
        one = run(workers=1, site=site, tenant=tenant, user=user)
        print(f"1 worker:  {json.dumps(one)}", flush=True)
        two = run(workers=2, site=site, tenant=tenant, user=user)
        print(f"2 workers: {json.dumps(two)}", flush=True)
    finally:
        site.close()
    result = {
        "scans": SCANS,
        "services_per_scan": len(SERVICES),
        "scans_per_s": two["scans_per_s"],
        "p50_s": two["p50_s"],
        "p95_s": two["p95_s"],
        "speedup_2_workers": round(two["scans_per_s"] / one["scans_per_s"], 2),
        "one_worker": one,
        "two_workers": two,
        "cpu_count": os.cpu_count(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
