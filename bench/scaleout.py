"""Adding workers is not serialised by the engine: N I/O-bound jobs (each sleeps SLEEP seconds, so two
cores are not the limit) with 1, 4, 8 and 16 worker processes. Writes bench/results/scaleout.json:
jobs/s per step and `scaleout_efficiency_16` = jobs/s at 16 / (16 * jobs/s at 1), 1.0 being perfect.
"""

from __future__ import annotations

import os

from common import run_probe_stages, setup_django, write_results

setup_django()

from devstack.workers import start_worker  # noqa: E402

N = int(os.environ.get("BENCH_N", "4000"))
SLEEP = float(os.environ.get("BENCH_SLEEP", "0.1"))
STEPS = [int(x) for x in os.environ.get("BENCH_WORKERS", "1,4,8,16").split(",")]


def main() -> None:
    rates: dict[int, float] = {}
    for workers in STEPS:
        worker = start_worker(concurrency=workers, queues="celery,jobs", env={"RELAY_LOG_LEVEL": "WARNING"})
        try:
            run_probe_stages(workers * 4, f"warmup{workers}", payload={"noop": True, "sleep": SLEEP})
            rates[workers] = run_probe_stages(N, f"w{workers}", payload={"noop": True, "sleep": SLEEP})
        finally:
            worker.stop()
        print(
            f"{workers} worker process(es): {rates[workers]:.1f} jobs/s ({rates[workers] * SLEEP:.2f} busy)", flush=True
        )
    top = max(STEPS)
    write_results(
        "scaleout",
        {
            f"scaleout_efficiency_{top}": round(rates[top] / (top * rates[min(STEPS)]), 3),
            "jobs_per_s": {str(k): round(v, 2) for k, v in rates.items()},
            "efficiency": {str(k): round(v / (k * rates[min(STEPS)]), 3) for k, v in rates.items()},
            "n": N,
            "sleep_s": SLEEP,
        },
    )


if __name__ == "__main__":
    main()
