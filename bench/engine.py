"""N no-op jobs through the engine (dispatch, claim, run, end, fan-in) versus N bare Celery tasks on the
same broker and the same worker, and N procrastinate jobs on the same PostgreSQL with as many worker
processes, in one run. Writes bench/results/engine.json.

Both sides run on one worker with `WORKERS` pool processes and the production Celery settings
(acks_late, prefetch 1). The bare task increments a Redis counter so the run can see it finish; the
engine side is finished when its stage is finalised. Each side runs ROUNDS times, interleaved. The
rates are medians; `ratio` is the median of the rounds' ratios (each round's engine run against the
Celery run just before it), which a slow spell on a shared machine moves far less than it moves a
ratio of two medians taken minutes apart; `ratio_procrastinate` likewise against the procrastinate run
of the same round. `ratio_of_medians` and every run are in the JSON too.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from common import ROOT, run_celery, run_probe_stages, setup_django, wait_for, write_results

setup_django()

from django.db import connection  # noqa: E402

from devstack.workers import start_worker  # noqa: E402

N = int(os.environ.get("BENCH_N", "20000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def procrastinate_dsn() -> str:
    db = connection.settings_dict
    return f"host={db['HOST']} port={db['PORT']} user={db['USER']} dbname={db['NAME']}"


@contextmanager
def procrastinate_workers(count: int) -> Iterator[None]:
    """`count` procrastinate worker processes (one job at a time each, like a prefork pool process)."""
    env = {**os.environ, "BENCH_PROCRASTINATE_DSN": procrastinate_dsn(), "PYTHONPATH": str(ROOT)}
    from bench.procrastinate_app import app

    app.open()  # the bench's own (synchronous) connection, for the schema and the defers
    app.schema_manager.apply_schema()
    command = [sys.executable, "-m", "procrastinate", "--app=bench.procrastinate_app.app", "worker"]
    workers = [
        subprocess.Popen([*command, "--queues=bench", "--concurrency=1"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
        for _ in range(count)
    ]
    try:
        yield
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        app.close()


def run_procrastinate(n: int) -> float:
    """n no-op procrastinate jobs, deferred in one batch; jobs per second until the last succeeded."""
    from bench.procrastinate_app import noop

    started = time.perf_counter()
    ids = noop.batch_defer(*({} for _ in range(n)))

    def done() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE id BETWEEN %s AND %s AND status = 'succeeded'",
                [min(ids), max(ids)],
            )
            return cursor.fetchone()[0] >= n

    ended = wait_for(done, timeout=1200, interval=0.05)
    return n / (ended - started)


def main() -> None:
    os.environ["BENCH_PROCRASTINATE_DSN"] = procrastinate_dsn()
    worker = start_worker(concurrency=WORKERS, queues="celery,jobs", env={"RELAY_LOG_LEVEL": "WARNING"})
    celery_runs, engine_runs, procrastinate_runs = [], [], []
    try:
        run_celery(200, "bench:celery:warmup")
        run_probe_stages(200, "warmup")
        for round_ in range(ROUNDS):
            celery_runs.append(run_celery(N, f"bench:celery:c{round_}"))
            engine_runs.append(run_probe_stages(N, f"e{round_}"))
            print(f"round {round_ + 1}: celery {celery_runs[-1]:.0f}/s engine {engine_runs[-1]:.0f}/s", flush=True)
    finally:
        worker.stop()
    # procrastinate after the Celery worker stopped: each side has the machine to itself.
    with procrastinate_workers(WORKERS):
        run_procrastinate(200)
        for round_ in range(ROUNDS):
            procrastinate_runs.append(run_procrastinate(N))
            print(f"round {round_ + 1}: procrastinate {procrastinate_runs[-1]:.0f}/s", flush=True)
    celery_rate, engine_rate = statistics.median(celery_runs), statistics.median(engine_runs)
    procrastinate_rate = statistics.median(procrastinate_runs)
    ratios = [engine / celery for engine, celery in zip(engine_runs, celery_runs, strict=True)]
    ratios_procrastinate = [e / p for e, p in zip(engine_runs, procrastinate_runs, strict=True)]
    write_results(
        "engine",
        {
            "engine_jobs_per_s": round(engine_rate, 1),
            "celery_tasks_per_s": round(celery_rate, 1),
            "procrastinate_jobs_per_s": round(procrastinate_rate, 1),
            "ratio": round(statistics.median(ratios), 3),
            "ratio_procrastinate": round(statistics.median(ratios_procrastinate), 3),
            "ratio_of_medians": round(engine_rate / celery_rate, 3),
            "n": N,
            "workers": WORKERS,
            "runs": {
                "engine_jobs_per_s": [round(x, 1) for x in engine_runs],
                "celery_tasks_per_s": [round(x, 1) for x in celery_runs],
                "procrastinate_jobs_per_s": [round(x, 1) for x in procrastinate_runs],
                "ratios": [round(x, 3) for x in ratios],
            },
        },
    )


if __name__ == "__main__":
    main()
