"""Shared plumbing for the benchmarks: Django set-up, workers, the results file."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def write_results(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    figures = {
        **figures,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written to {path.relative_to(ROOT)}")
    return path


def wait_for(predicate: Any, *, timeout: float, interval: float = 0.01) -> float:
    """Poll until true; returns the time.perf_counter() at which it was seen true."""
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark run did not finish in time")
        time.sleep(interval)
    return time.perf_counter()


def run_celery(n: int, key: str, *, queue: str = "jobs", timeout: float = 900) -> float:
    """The raw-Celery baseline: n bare tasks that only count themselves, on the same broker and workers.
    Returns tasks per second from the first publish to the last task counted."""
    from config.celery import app
    from orchestration.redis_client import get_redis

    redis = get_redis()
    redis.delete(key)
    started = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for i in range(n):
            app.send_task("orchestration.count", args=[key], task_id=f"{key}:{i}", queue=queue, producer=producer)
    ended = wait_for(lambda: int(redis.get(key) or 0) >= n, timeout=timeout)
    return n / (ended - started)


def run_probe_stages(n: int, tag: str, *, stages_count: int = 1, payload: dict[str, Any] | None = None) -> float:
    """n diagnostic probe jobs through the engine (dispatch, claim, run, end, fan-in), split evenly over
    `stages_count` stages opened in one transaction. Returns jobs per second from the commit that
    made them due to the last stage finalised."""
    from django.db import transaction

    from orchestration import diagnostics, stages
    from orchestration.models import Stage

    per_stage = n // stages_count
    started = time.perf_counter()
    opened = []
    with transaction.atomic():
        for s in range(stages_count):
            stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref=f"bench-{tag}-{s}")
            stages.stage_start_round(
                stage=stage,
                jobs=[
                    stages.JobSpec(
                        key=f"bench:{tag}:{s}:{i}", kind=diagnostics.JOB_KIND, payload=payload or {"noop": True}
                    )
                    for i in range(per_stage)
                ],
            )
            opened.append(stage.pk)
    ended = wait_for(
        lambda: Stage.objects.filter(pk__in=opened, finalised_at__isnull=False).count() == len(opened),
        timeout=1200,
        interval=0.02,
    )
    succeeded = sum(Stage.objects.filter(pk__in=opened).values_list("succeeded", flat=True))
    assert succeeded == per_stage * stages_count, (succeeded, n)
    return per_stage * stages_count / (ended - started)
