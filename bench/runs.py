"""Workflow runs end to end: a 10,000-file run with the built-in `text_stats` processor on 1 and 2 worker
processes, versus bare Celery no-op tasks on the same broker and worker; and the latency of Continue
(`POST /api/workflow-runs/<id>/retry-failed`) on a run with 10,000 failed files. Writes
bench/results/runs.json.

A run is timed from the start service call (10,000 file rows, the reservation and 10,000 engine jobs in one
transaction) until the fan-in has set its final status. Files are small texts written straight to
storage, so the figure is the per-file overhead of the engine and the domain (claim, read, process,
per-file row + event in the ending transaction, fan-in), not of a processor.
"""

from __future__ import annotations

import os
import time
import uuid

from common import run_celery, setup_django, wait_for, write_results

setup_django()

from django.conf import settings  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from devstack.accounts import client_for, make_tenant, make_user  # noqa: E402
from devstack.workers import start_worker  # noqa: E402
from orchestration import stages  # noqa: E402
from orchestration.models import Event, Stage, StageStatus  # noqa: E402
from tenants.models import Role  # noqa: E402
from workflow_runs import jobs  # noqa: E402
from workflow_runs.models import FileStatus, ProcessorPrice, RunFile, RunStatus, Template, WorkflowRun  # noqa: E402
from workflow_runs.services.credits import credits_grant  # noqa: E402
from workflow_runs.services.runs import storage_name, workflow_run_start_stored  # noqa: E402

N = int(os.environ.get("BENCH_N", "10000"))
WORKER_COUNTS = [int(x) for x in os.environ.get("BENCH_WORKERS", "1,2").split(",")]


def write_files(run_id: uuid.UUID, n: int) -> list[tuple[str, str, int]]:
    """Small text files written directly under MEDIA_ROOT (what default_storage would write)."""
    stored = []
    for index in range(n):
        name = storage_name(run_id=run_id, index=index, name=f"doc{index}.txt")
        path = os.path.join(settings.MEDIA_ROOT, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        text = f"document {index}: the quick brown fox jumps over the lazy dog {index % 97}\n"
        with open(path, "w") as handle:
            handle.write(text)
        stored.append((f"doc{index}.txt", name, len(text)))
    return stored


def run_workflow(*, tenant, template, n: int) -> tuple[float, float, float]:
    run_id = uuid.uuid4()
    stored = write_files(run_id, n)
    started = time.perf_counter()
    run = workflow_run_start_stored(tenant=tenant, actor=None, template=template, stored=stored, run_id=run_id)
    committed = time.perf_counter()
    ended = wait_for(
        lambda: WorkflowRun.objects.filter(pk=run.pk).exclude(status=RunStatus.RUNNING).exists(),
        timeout=900,
        interval=0.05,
    )
    run.refresh_from_db()
    completed = run.files.filter(status=FileStatus.COMPLETED).count()
    assert (run.status, completed) == (RunStatus.COMPLETED, n), (run.status, completed)
    progress = Event.objects.filter(stream=run.stream, type="files_progress").count()
    return n / (ended - started), committed - started, progress / (ended - started)


def failed_run(*, tenant, template, n: int) -> WorkflowRun:
    """A run whose first round ended with every file `failed` (rows only: nothing is processed)."""
    with transaction.atomic():
        run = WorkflowRun.objects.create(
            tenant=tenant,
            template=template,
            unit_price=1,
            processor=template.processor,
            processor_config=template.processor_config,
            status=RunStatus.FAILED,
            total_jobs=n,
            failed_jobs=n,
            finished_at=timezone.now(),
        )
        RunFile.objects.bulk_create(
            [
                RunFile(
                    run=run,
                    index=i,
                    name=f"doc{i}.txt",
                    file=storage_name(run_id=run.pk, index=i, name="d"),
                    status=FileStatus.FAILED,
                    error_code="upstream_error",
                )
                for i in range(n)
            ],
            batch_size=5000,
        )
        stage = stages.stage_create(kind=jobs.STAGE_KIND, ref=f"run:{run.pk}", stream=run.stream)
        Stage.objects.filter(pk=stage.pk).update(
            round=1, total=n, failed=n, status=StageStatus.FINALISED, finalised_at=timezone.now()
        )
        run.stage = stage
        run.save(update_fields=["stage"])
    return run


def retry_latency(*, tenant, template, n: int) -> tuple[float, list[float]]:
    client = client_for(make_user(tenant=tenant, role=Role.TENANT_ADMIN))
    timings = []
    for _ in range(2):
        run = failed_run(tenant=tenant, template=template, n=n)
        started = time.perf_counter()
        response = client.post(f"/api/workflow-runs/{run.pk}/retry-failed")
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.content[:500]
        assert len(response.json()["retriedFiles"]) == n
    return min(timings), timings


def main() -> None:
    tenant = make_tenant("bench")
    credits_grant(tenant=tenant, amount=10 * N * (len(WORKER_COUNTS) + 3), source="purchased", reason="purchase")
    ProcessorPrice.objects.update_or_create(processor="text_stats", plan="", defaults={"credits_per_file": 1})
    template = Template.objects.create(
        tenant=tenant, name="stats", processor="text_stats", processor_config={"top_words": 3}
    )
    by_workers: dict[str, dict[str, float]] = {}
    for workers in WORKER_COUNTS:
        worker = start_worker(concurrency=workers, queues="celery,jobs", env={"RELAY_LOG_LEVEL": "WARNING"})
        try:
            run_celery(200, f"bench:runs:celery:warm{workers}")
            run_workflow(tenant=tenant, template=template, n=200)
            celery_rate = run_celery(N, f"bench:runs:celery:w{workers}")
            files_rate, start_s, events_rate = run_workflow(tenant=tenant, template=template, n=N)
        finally:
            worker.stop()
        by_workers[str(workers)] = {
            "files_per_s": round(files_rate, 1),
            "celery_tasks_per_s": round(celery_rate, 1),
            "ratio": round(files_rate / celery_rate, 3),
            "start_commit_s": round(start_s, 3),
            "progress_events_per_s": round(events_rate, 1),  # on the run's stream
        }
        print(
            f"{workers} worker process(es): {files_rate:.0f} files/s, celery {celery_rate:.0f} tasks/s, "
            f"start of a {N}-file run committed in {start_s:.2f}s",
            flush=True,
        )
    retry_best, retry_runs = retry_latency(tenant=tenant, template=template, n=N)
    print(f"retry-failed on {N} failed files: {retry_best:.3f}s", flush=True)
    top = by_workers[str(max(WORKER_COUNTS))]
    write_results(
        "runs",
        {
            "files_per_s": top["files_per_s"],
            "celery_tasks_per_s": top["celery_tasks_per_s"],
            "ratio": top["ratio"],
            "retry_failed_10k_s": round(retry_best, 3),
            "retry_failed_runs_s": [round(x, 3) for x in retry_runs],
            "n": N,
            "workers_for_top_level": max(WORKER_COUNTS),
            "by_workers": by_workers,
        },
    )


if __name__ == "__main__":
    main()
