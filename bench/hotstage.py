"""One stage against many: N no-op jobs as one stage and as 20 stages of N/20, on the same worker
processes, in one run. If the jobs of one stage serialised on something they share (the stage row's
counters, its event stream), the one big stage would run slower than the twenty small ones.
Writes bench/results/hotstage.json; `one_stage_ratio` = one stage's jobs/s over the 20 stages'.
Rounds alternate the two shapes; the ratio is the median of the rounds' ratios.
"""

from __future__ import annotations

import os
import statistics

from common import run_probe_stages, setup_django, write_results

setup_django()

from devstack.workers import start_worker  # noqa: E402

N = int(os.environ.get("BENCH_N", "20000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SMALL_STAGES = 20


def main() -> None:
    worker = start_worker(concurrency=WORKERS, queues="celery,jobs", env={"RELAY_LOG_LEVEL": "WARNING"})
    one, many = [], []
    try:
        run_probe_stages(200, "warmup")
        for round_ in range(ROUNDS):
            one.append(run_probe_stages(N, f"one{round_}"))
            many.append(run_probe_stages(N, f"many{round_}", stages_count=SMALL_STAGES))
            print(f"round {round_ + 1}: one stage {one[-1]:.0f}/s, {SMALL_STAGES} stages {many[-1]:.0f}/s", flush=True)
    finally:
        worker.stop()
    ratios = [a / b for a, b in zip(one, many, strict=True)]
    write_results(
        "hotstage",
        {
            "one_stage_jobs_per_s": round(statistics.median(one), 1),
            "many_stages_jobs_per_s": round(statistics.median(many), 1),
            "one_stage_ratio": round(statistics.median(ratios), 3),
            "n": N,
            "stages": SMALL_STAGES,
            "workers": WORKERS,
            "runs": {"one": [round(x, 1) for x in one], "many": [round(x, 1) for x in many]},
        },
    )


if __name__ == "__main__":
    main()
