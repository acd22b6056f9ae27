"""Faults at seeded random moments. The schedule is a pure function of (seed, profile, duration), so
a seed replays the same faults in the same order at the same offsets; the executor applies them one
after the other (a fault that takes long, a worker start, delays the next one, never reorders).

Clock skew is not among them: every time the engine decides on (leases, `available_at`, backoff,
sweeps, retention) is PostgreSQL's `now()`, never a worker's clock, so a skewed worker changes no
decision; and no tool here can skew one process's clock (no libfaketime in the stack).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from .stack import Stack, say

# kind -> how many times, per profile
COUNTS = {
    "short": {
        "kill_pool_process": 2,
        "kill_worker": 1,
        "kill_redis_keep_data": 1,
        "kill_redis_lose_data": 1,
        "kill_postgres": 1,
        "terminate_backends": 1,
        "kill_web": 1,
        "kill_beat": 1,
        "kill_control": 1,
        "duplicate_deliveries": 2,
    },
    "full": {
        "kill_pool_process": 7,
        "kill_worker": 5,
        "kill_redis_keep_data": 2,
        "kill_redis_lose_data": 1,
        "kill_postgres": 2,
        "terminate_backends": 3,
        "kill_web": 3,
        "kill_beat": 2,
        "kill_control": 3,
        "duplicate_deliveries": 6,
    },
}


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the workload started
    kind: str
    target: int  # which worker / pool child (modulo what exists)
    down: float  # seconds a killed server stays down


def schedule(seed: int, profile: str, window: float) -> list[Fault]:
    rng = random.Random(f"{seed}:faults:{profile}")
    faults = [
        Fault(
            at=round(rng.uniform(0.05, 0.9) * window, 2),
            kind=kind,
            target=rng.randrange(1000),
            down=round(rng.uniform(0.5, 3.0), 2),
        )
        for kind, count in COUNTS[profile].items()
        for _ in range(count)
    ]
    return sorted(faults, key=lambda fault: (fault.at, fault.kind))


@dataclass
class FaultRunner:
    stack: Stack
    faults: list[Fault]
    done: Counter[str] = field(default_factory=Counter)
    log: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self, t0: float) -> None:
        self.thread = threading.Thread(target=self._run, args=(t0,), name="chaos-faults", daemon=True)
        self.thread.start()

    def join(self, timeout: float) -> None:
        if self.thread is not None:
            self.thread.join(timeout)

    def _run(self, t0: float) -> None:
        for fault in self.faults:
            wait = t0 + fault.at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            started = time.monotonic()
            try:
                detail = self.apply(fault)
                self.done[fault.kind] += 1
            except Exception as exc:  # a fault that could not be applied is reported, and the stack healed
                detail = f"FAILED: {type(exc).__name__}: {exc}"
                self.errors.append(f"{fault.kind} at {fault.at}s: {detail}")
                self.stack.heal()
            line = f"t={started - t0:6.1f}s {fault.kind} {detail} ({time.monotonic() - started:.1f}s)"
            self.log.append(line)
            say(line)

    def apply(self, fault: Fault) -> str:
        stack = self.stack
        worker = fault.target % len(stack.workers)
        if fault.kind == "kill_pool_process":
            return f"worker{worker}" if stack.kill_pool_process(worker, fault.target) else "no pool child"
        if fault.kind == "kill_worker":
            stack.kill_worker(worker)
            return f"worker{worker}, a new one started"
        if fault.kind in ("kill_redis_keep_data", "kill_redis_lose_data"):
            stack.kill_redis(keep_data=fault.kind.endswith("keep_data"), down_seconds=fault.down)
            return f"down {fault.down}s"
        if fault.kind == "kill_postgres":
            stack.kill_postgres(down_seconds=fault.down)
            return f"down {fault.down}s, same data folder"
        if fault.kind == "terminate_backends":
            killed = 0
            for _ in range(3):  # a storm: again as the workers reconnect
                killed += stack.terminate_worker_backends()
                time.sleep(0.3)
            return f"{killed} backends terminated"
        if fault.kind == "kill_web":
            stack.kill_web()
            return "restarted on its port"
        if fault.kind == "kill_beat":
            stack.kill_beat()
            return "restarted"
        if fault.kind == "kill_control":
            stack.kill_control()
            return "restarted"
        if fault.kind == "duplicate_deliveries":
            return duplicate_deliveries(copies=10)
        raise ValueError(fault.kind)


def duplicate_deliveries(*, copies: int) -> str:
    """Publish again messages the workers already got: doorbells of the data queue, and the control
    lane's periodic tasks (reconcile, sweep, progress flush, campaign recovery, credit reconciliation)."""
    from config.celery import app
    from orchestration.dispatch import DRAIN_TASK

    control = [
        "orchestration.reconcile",
        "orchestration.recover_expired_jobs",
        "orchestration.flush_progress",
        "campaigns.rehydrate",
        "control.workflow_runs.reconcile_credits",
    ]
    with app.producer_or_acquire() as producer:
        for _ in range(copies):
            app.send_task(DRAIN_TASK, args=["jobs"], queue="jobs", producer=producer)
        for name in control:
            for _ in range(3):
                app.send_task(name, queue="control", producer=producer)
    return f"{copies} doorbells and {3 * len(control)} control tasks re-published"
