"""The capacity model's figures: what one job costs PostgreSQL. N no-op engine jobs, and a workflow run of
N files, each on 2 worker processes with pg_stat_statements and pg_stat_wal reset before: statements
(round trips from workers, all sessions), commits and WAL bytes per job, and the statements that cost
the most. Writes bench/results/capacity.json (the README's capacity model quotes it).
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from common import run_probe_stages, setup_django, wait_for, write_results

setup_django()

from django.db import connection  # noqa: E402

from devstack.accounts import make_tenant  # noqa: E402
from devstack.workers import start_worker  # noqa: E402
from workflow_runs.models import ProcessorPrice, RunStatus, Template, WorkflowRun  # noqa: E402
from workflow_runs.services.credits import credits_grant  # noqa: E402
from workflow_runs.services.runs import workflow_run_start_stored  # noqa: E402

N = int(os.environ.get("BENCH_N", "10000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))


def reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        cursor.execute("SELECT pg_stat_statements_reset(); SELECT pg_stat_reset_shared('wal')")
        cursor.execute("SELECT pg_stat_reset()")


def counted(n: int) -> dict[str, Any]:
    time.sleep(2)  # other sessions flush their cumulative statistics (commits, WAL) about every second
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute(
            """
            SELECT sum(calls), sum(total_exec_time) FROM pg_stat_statements
            WHERE query NOT ILIKE '%%pg_stat%%'
            """
        )
        calls, exec_ms = cursor.fetchone()
        cursor.execute(
            """
            SELECT calls, round(total_exec_time::numeric, 1), left(regexp_replace(query, '\\s+', ' ', 'g'), 110)
            FROM pg_stat_statements WHERE query NOT ILIKE '%%pg_stat%%' ORDER BY total_exec_time DESC LIMIT 8
            """
        )
        top = [{"calls": c, "ms": float(ms), "query": q} for c, ms, q in cursor.fetchall()]
        cursor.execute("SELECT wal_records, wal_bytes FROM pg_stat_wal")
        wal_records, wal_bytes = cursor.fetchone()
        cursor.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        (commits,) = cursor.fetchone()
    return {
        "statements_per_job": round(int(calls) / n, 2),
        "exec_ms_per_job": round(float(exec_ms) / n, 3),
        "commits_per_job": round(int(commits) / n, 2),
        "wal_records_per_job": round(int(wal_records) / n, 1),
        "wal_bytes_per_job": round(int(wal_bytes) / n),
        "top_statements": top,
    }


def workflow_run(n: int) -> None:
    from bench.runs import write_files

    tenant = make_tenant(f"capacity-{uuid.uuid4().hex[:6]}")
    credits_grant(tenant=tenant, amount=2 * n, source="purchased", reason="purchase")
    ProcessorPrice.objects.update_or_create(processor="text_stats", plan="", defaults={"credits_per_file": 1})
    template = Template.objects.create(tenant=tenant, name="stats", processor="text_stats", processor_config={})
    run_id = uuid.uuid4()
    stored = write_files(run_id, n)
    reset()
    run = workflow_run_start_stored(tenant=tenant, actor=None, template=template, stored=stored, run_id=run_id)
    wait_for(lambda: WorkflowRun.objects.filter(pk=run.pk).exclude(status=RunStatus.RUNNING).exists(), timeout=900)


def main() -> None:
    worker = start_worker(concurrency=WORKERS, queues="celery,jobs", env={"RELAY_LOG_LEVEL": "WARNING"})
    try:
        run_probe_stages(500, "warmup")
        reset()
        rate = run_probe_stages(N, "capacity")
        engine = {"jobs_per_s": round(rate, 1), **counted(N)}
        workflow_run(N)
        files = counted(N)
    finally:
        worker.stop()
    write_results("capacity", {"n": N, "workers": WORKERS, "noop_job": engine, "workflow_file": files})


if __name__ == "__main__":
    main()
