"""What the engine measures: the help text of its counters and the buckets of its histograms.

A counter that is not listed here (the domains add their own with `metrics.incr`) is still exposed,
with a generic help text. A histogram must be listed: its buckets are fixed here, because every
process on every host adds to the same buckets in Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

INF = float("inf")

COUNTERS: dict[str, str] = {
    "relay_jobs_ended_total": "Job ends recorded, by job kind and final state.",
    "relay_job_retries_total": "Automatic retries scheduled (a job went back to queued with a delay), by job kind.",
    "relay_stages_cancelled_total": "Stages cancelled, by stage kind.",
    "relay_reconcile_runs_total": "Reconciler passes completed.",
    "relay_reconcile_failures_total": "Reconciler passes that raised (the next tick tries again).",
    "relay_ring_failures_total": "Doorbells that could not be sent (the reconciler rings again), by queue.",
    "relay_claim_failures_total": "Claims that failed on a database error (the drain ended), by queue.",
    "relay_sweep_runs_total": "Sweeper passes completed (lost-job recovery).",
    "relay_sweep_failures_total": "Sweeper passes that raised as a whole (the next tick tries again).",
    "relay_recovery_failures_total": "Recoveries of one lost job whose domain hook raised.",
    "relay_jobs_lost_total": "Jobs whose worker stopped renewing their lease, by job kind.",
    "relay_jobs_quarantined_total": (
        "Jobs ended `recovery_failed` after too many failed recoveries, or set aside by an operator, by job kind."
    ),
    "relay_retention_pruned_total": "Rows (or files) deleted by retention, by pruner.",
    "relay_retention_failures_total": "Retention pruner calls that raised (the next tick tries again), by pruner.",
}


@dataclass(frozen=True)
class Histogram:
    help: str
    buckets: tuple[float, ...]  # upper bounds, ascending, ending with +Inf

    def bucket_for(self, value: float) -> float:
        return next(bound for bound in self.buckets if value <= bound)


HISTOGRAMS: dict[str, Histogram] = {
    "relay_job_claim_latency_seconds": Histogram(
        help="From a job being due (available_at) to a worker claiming it (started_at), by job kind and queue.",
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, INF),
    ),
    "relay_job_duration_seconds": Histogram(
        help="One attempt of a job on its worker, from the handler's start to its end being recorded, "
        "by job kind, queue and the state it ended in (queued: an automatic retry).",
        buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, INF),
    ),
}
