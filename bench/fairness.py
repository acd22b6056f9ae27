"""Fair shares under load: tenant A's stage of 20,000 no-op jobs is running on 2 worker processes when
tenant B submits 20. Writes bench/results/fairness.json.

- `small_tenant_solo_s`: B's 20 jobs, submit → finalised, on an idle system (median of 5);
- `small_tenant_s`: the same while A's backlog is running (median of 5 per round, one after the other);
- `big_tenant_ratio`: A's jobs/s while B submits its five stages, against A's jobs/s alone (A's
  rate is measured over the same window of its run: from its 1,000th to its 15,000th job). Alone and
  shared runs alternate `ROUNDS` times; the ratio is the median of each pair's ratio, so a slow
  spell of the machine moves both sides of a pair alike. Polling is light (50 ms, 20 ms for B) so
  that the benchmark's own queries do not take the workers' CPU.
Targets (issue #9): small_tenant_s <= 3 x small_tenant_solo_s + 2 s, big_tenant_ratio >= 0.9.
"""

from __future__ import annotations

import os
import statistics
import time

from common import setup_django, wait_for, write_results

setup_django()

from django.db import transaction  # noqa: E402

from devstack.workers import start_control_plane, start_worker  # noqa: E402
from orchestration import diagnostics, stages  # noqa: E402
from orchestration.models import Job, JobState, Stage  # noqa: E402

BIG = int(os.environ.get("BENCH_BIG", "20000"))
SMALL = int(os.environ.get("BENCH_SMALL", "20"))
REPEATS = 5
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
WINDOW = (1000, 15000)  # A's done-count window over which its rate is measured


def submit(tenant: str, n: int, tag: str) -> Stage:
    with transaction.atomic():
        stage = stages.stage_create(kind=diagnostics.STAGE_KIND, ref=f"fair-{tag}", fairness_key=tenant)
        stages.stage_start_round(
            stage=stage,
            jobs=[
                stages.JobSpec(key=f"fair:{tag}:{i}", kind=diagnostics.JOB_KIND, payload={"noop": True})
                for i in range(n)
            ],
        )
    return stage


def done_count(stage: Stage) -> int:
    return Job.objects.filter(stage=stage, state=JobState.SUCCEEDED).count()


def finalised(stage: Stage) -> bool:
    return Stage.objects.filter(pk=stage.pk, finalised_at__isnull=False).exists()


def small_latency(tag: str) -> float:
    started = time.perf_counter()
    stage = submit("tenant:b", SMALL, tag)
    return wait_for(lambda: finalised(stage), timeout=300, interval=0.02) - started


def big_rate(tag: str, *, with_small: bool) -> tuple[float, list[float]]:
    stage = submit("tenant:a", BIG, tag)
    t0 = wait_for(lambda: done_count(stage) >= WINDOW[0], timeout=900, interval=0.05)
    latencies = [small_latency(f"{tag}-b{i}") for i in range(REPEATS)] if with_small else []
    t1 = wait_for(lambda: done_count(stage) >= WINDOW[1], timeout=900, interval=0.05)
    wait_for(lambda: finalised(stage), timeout=900, interval=0.2)
    return (WINDOW[1] - WINDOW[0]) / (t1 - t0), latencies


def main() -> None:
    lane = start_control_plane(env={"RELAY_LOG_LEVEL": "WARNING"})
    worker = start_worker(concurrency=2, queues="jobs", env={"RELAY_LOG_LEVEL": "WARNING"})
    try:
        small_latency("warmup")
        solo = [small_latency(f"solo-{i}") for i in range(REPEATS)]
        pairs, under_load = [], []
        for round_ in range(ROUNDS):
            alone, _ = big_rate(f"alone-{round_}", with_small=False)
            shared, latencies = big_rate(f"shared-{round_}", with_small=True)
            pairs.append((alone, shared))
            under_load += latencies
    finally:
        worker.stop()
        lane.stop()
    solo_s = statistics.median(solo)
    loaded_s = statistics.median(under_load)
    ratio = statistics.median(shared / alone for alone, shared in pairs)
    alone = statistics.median(a for a, _ in pairs)
    shared = statistics.median(s for _, s in pairs)
    write_results(
        "fairness",
        {
            "small_tenant_s": round(loaded_s, 3),
            "small_tenant_solo_s": round(solo_s, 3),
            "big_tenant_ratio": round(ratio, 3),
            "big_tenant_pairs_jobs_per_s": [[round(a, 1), round(s, 1)] for a, s in pairs],
            "big_tenant_jobs_per_s_alone": round(alone, 1),
            "big_tenant_jobs_per_s_shared": round(shared, 1),
            "small_tenant_runs_s": [round(x, 3) for x in under_load],
            "small_tenant_solo_runs_s": [round(x, 3) for x in solo],
            "targets": {
                "small_tenant_s_max": round(3 * solo_s + 2, 3),
                "big_tenant_ratio_min": 0.9,
            },
            "met": loaded_s <= 3 * solo_s + 2 and ratio >= 0.9,
            "big": BIG,
            "small": SMALL,
            "workers": 2,
        },
    )


if __name__ == "__main__":
    main()
