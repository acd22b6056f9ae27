"""A built-in diagnostic stage and job kind: proves the engine end to end on a live system
(`manage.py engine_probe`), and is what the engine's own tests and benchmark run.

A probe's payload says what it does: `sleep` seconds, fail retryably until attempt `fail_until`,
fail fatally when `fatal` is true, SIGKILL its own worker process when `kill_worker` is true (or, once,
inside the transaction that records its end when `kill_worker_at_end` is true).
Every execution is counted in Redis under its key, so a test can prove a job ran exactly once.
"""

import os
import signal
import time
from typing import Any

from . import events
from .errors import JobError
from .models import Job, Stage
from .redis_client import get_redis
from .registry import JobKind, StageKind, register_job_kind, register_stage_kind

STAGE_KIND = "diagnostic"
JOB_KIND = "diagnostic.probe"
RUNS_KEY = "relay:probe:runs"


def run_probe(job: Job) -> dict[str, Any]:
    payload = job.payload
    if not payload.get("noop"):
        get_redis().hincrby(RUNS_KEY, job.key, 1)
    if payload.get("kill_worker"):
        os.kill(os.getpid(), signal.SIGKILL)
    if payload.get("sleep"):
        time.sleep(float(payload["sleep"]))
    if payload.get("fatal"):
        raise JobError.fatal("the probe was told to fail fatally", code="probe_fatal")
    if job.attempts < int(payload.get("fail_until", 0)):
        raise JobError.retryable_error(f"the probe fails until attempt {payload['fail_until']}", code="probe_retry")
    return {"attempt": job.attempts, "worker": job.worker}


def probe_on_end(job: Job) -> None:
    """Inside the ending transaction: a crash here rolls the end (and a finaliser after it) back."""
    if job.payload.get("kill_worker_at_end") and get_redis().set(f"relay:probe:killed-at-end:{job.key}", 1, nx=True):
        os.kill(os.getpid(), signal.SIGKILL)


def finalise_probe_stage(stage: Stage) -> None:
    if stage.stream:
        events.emit(
            stream=stage.stream,
            type="stage_finalised",
            payload={
                "stage": stage.pk,
                "round": stage.round,
                "total": stage.total,
                "succeeded": stage.succeeded,
                "failed": stage.failed,
                "errored": stage.errored,
            },
        )


def probe_runs(key: str) -> int:
    value = get_redis().hget(RUNS_KEY, key)
    return int(value) if value is not None else 0


def register() -> None:
    register_stage_kind(StageKind(name=STAGE_KIND, finalise=finalise_probe_stage, rerun_ended_jobs=True))
    register_job_kind(JobKind(name=JOB_KIND, run=run_probe, on_end=probe_on_end))
