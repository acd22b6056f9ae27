"""N no-op jobs through the engine (dispatch, claim, run, end, fan-in) versus N bare Celery tasks on the
same broker and the same worker, in one run. Writes bench/results/engine.json.

Both sides run on one worker with `WORKERS` pool processes and the production Celery settings
(acks_late, prefetch 1). The bare task increments a Redis counter so the run can see it finish; the
engine side is finished when its stage is finalised. Each side runs ROUNDS times, interleaved. The
rates are medians; `ratio` is the median of the rounds' ratios (each round's engine run against the
Celery run just before it), which a slow spell on a shared machine moves far less than it moves a
ratio of two medians taken minutes apart. `ratio_of_medians` and every run are in the JSON too.
"""

from __future__ import annotations

import os
import statistics
import time

from common import run_celery, setup_django, wait_for, write_results

setup_django()

from django.db import transaction  # noqa: E402

from devstack.workers import start_worker  # noqa: E402
from orchestration import diagnostics, stages  # noqa: E402
from orchestration.models import Stage  # noqa: E402

N = int(os.environ.get("BENCH_N", "5000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def run_engine(n: int, tag: str) -> float:
    started = time.perf_counter()
    with transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref=f"bench-{tag}")
        stages.stage_start_round(
            stage=stage,
            jobs=[
                stages.JobSpec(key=f"bench:{tag}:{i}", kind=diagnostics.JOB_KIND, payload={"noop": True})
                for i in range(n)
            ],
        )
    ended = wait_for(
        lambda: Stage.objects.filter(pk=stage.pk, finalised_at__isnull=False).exists(), timeout=600, interval=0.02
    )
    stage.refresh_from_db()
    assert stage.succeeded == n, (stage.succeeded, n)
    return n / (ended - started)


def main() -> None:
    worker = start_worker(concurrency=WORKERS, queues="celery,jobs", env={"RELAY_LOG_LEVEL": "WARNING"})
    try:
        run_celery(200, "bench:celery:warmup")
        run_engine(200, "warmup")
        celery_runs, engine_runs = [], []
        for round_ in range(ROUNDS):
            celery_runs.append(run_celery(N, f"bench:celery:c{round_}"))
            engine_runs.append(run_engine(N, f"e{round_}"))
            print(f"round {round_ + 1}: celery {celery_runs[-1]:.0f}/s engine {engine_runs[-1]:.0f}/s", flush=True)
    finally:
        worker.stop()
    celery_rate, engine_rate = statistics.median(celery_runs), statistics.median(engine_runs)
    ratios = [engine / celery for engine, celery in zip(engine_runs, celery_runs, strict=True)]
    write_results(
        "engine",
        {
            "engine_jobs_per_s": round(engine_rate, 1),
            "celery_tasks_per_s": round(celery_rate, 1),
            "ratio": round(statistics.median(ratios), 3),
            "ratio_of_medians": round(engine_rate / celery_rate, 3),
            "n": N,
            "workers": WORKERS,
            "runs": {
                "engine_jobs_per_s": [round(x, 1) for x in engine_runs],
                "celery_tasks_per_s": [round(x, 1) for x in celery_runs],
                "ratios": [round(x, 3) for x in ratios],
            },
        },
    )


if __name__ == "__main__":
    main()
