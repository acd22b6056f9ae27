"""One battery run: start the stack, set the tenants up, drive the workload while the faults land,
heal, wait (bounded) for convergence, check every invariant. Exit status 0 only if all hold."""

from __future__ import annotations

import os
import shutil
import threading
import time
from typing import Any

from devstack.processes import ROOT

from . import faults as fault_plan
from . import invariants
from .stack import Stack, say
from .workload import PROFILES, Tally, make_drivers, setup_tenants

CONVERGE_SECONDS = {"short": 120.0, "full": 420.0}


def run(*, seed: int, duration: float, profile: str) -> int:
    print(f"[chaos] seed={seed} duration={duration:g}s profile={profile}", flush=True)
    plan = fault_plan.schedule(seed, profile, duration)
    say("fault schedule: " + ", ".join(f"{f.at:g}s {f.kind}" for f in plan))
    data_dir = ROOT / ".data" / f"chaos-{os.getpid()}"
    stack = Stack(data_dir=data_dir, seed=seed)
    started = time.monotonic()
    ok = False
    try:
        stack.start_services()
        import django

        django.setup()
        stack.start_processes()
        say(f"stack up in {time.monotonic() - started:.0f}s: web {stack.base_url}, {len(stack.workers)} workers")
        ok = _drive_and_check(stack, seed=seed, duration=duration, profile=profile, plan=plan)
    finally:
        stack.stop()
        if ok:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            say(f"kept {data_dir} and the logs in .data/test-logs for a look")
    say(f"{'PASSED' if ok else 'FAILED'} seed={seed} in {time.monotonic() - started:.0f}s")
    return 0 if ok else 1


def _drive_and_check(stack: Stack, *, seed: int, duration: float, profile: str, plan: list[Any]) -> bool:
    shape = PROFILES[profile]
    tally = Tally()
    accounts = setup_tenants(shape.tenants, seed)
    ports = {"dns": stack.dns_port, "http": stack.http_port, "flaky": stack.flaky_port}
    drivers, server_errors = make_drivers(
        accounts, base_url=stack.base_url, seed=seed, profile=shape, ports=ports, tally=tally
    )
    for driver in drivers:
        driver.prepare()
    runner = fault_plan.FaultRunner(stack=stack, faults=plan)
    failures: list[str] = []
    t0 = time.monotonic()
    end_of_work = t0 + duration
    runner.start(t0)

    def person(driver: Any) -> None:
        next_wave, waves = t0, 0
        while time.monotonic() < end_of_work:
            if waves < shape.waves and time.monotonic() >= next_wave:
                waves += 1
                next_wave = t0 + waves * duration / shape.waves
                try:
                    driver.wave(waves - 1, time.monotonic(), duration)
                except Exception as exc:  # an unexpected answer is a finding; the tenant goes on
                    failures.append(f"tenant {driver.number} wave {waves - 1}: {type(exc).__name__}: {exc}")
            driver.advance_all()
            time.sleep(0.5)

    threads = [threading.Thread(target=person, args=(d,), daemon=True) for d in drivers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runner.join(timeout=300)
    restarted = stack.heal()
    say(f"workload window over; faults applied: {dict(runner.done)}; healed: {restarted or 'nothing'}")

    deadline = time.monotonic() + CONVERGE_SECONDS[profile]
    converged = False
    while time.monotonic() < deadline:
        try:
            # Cancels only during the window: afterwards a person just waits and retries.
            if all([driver.advance_all(cancelling=False) for driver in drivers]) and _engine_quiet():
                converged = True
                break
        except Exception as exc:
            failures.append(f"convergence: {type(exc).__name__}: {exc}")
        time.sleep(1.0)
    say(f"converged={converged} {time.monotonic() - end_of_work:.0f}s after the window")

    from django.db import connection

    connection.close()  # the connection this thread had may predate a PostgreSQL restart
    extra = [
        invariants.Result(
            "every scheduled fault was applied",
            counts={**{k: v for k, v in runner.done.items()}, "scheduled": len(plan)},
            offenders=runner.errors + ([] if sum(runner.done.values()) == len(plan) else ["not all faults ran"]),
        ),
        invariants.Result(
            "the workload converged within its bound",
            counts=dict(tally.counts),
            offenders=failures
            + [failure for driver in drivers for failure in driver.failures]
            + [
                f"{e.kind} {e.id} not final after {CONVERGE_SECONDS[profile]:g}s"
                for d in drivers
                for e in d.entities
                if not e.done
            ],
        ),
        invariants.Result(
            "no 500 from the API (503 while a dependency is down is an answer)",
            counts={
                "5xx": len(server_errors.seen),
                "503": sum(1 for e in server_errors.seen if e[2] == 503),
            },
            offenders=[f"{what} {status}: {body}" for _, what, status, body in server_errors.seen if status == 500],
        ),
    ]
    results = invariants.check_all(extra)
    for driver in drivers:
        driver.api.close()
    return all(result.ok for result in results)


def _engine_quiet() -> bool:
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT count(*) FROM orchestration_job WHERE state IN ('queued', 'running', 'pending')) + "
                "(SELECT count(*) FROM orchestration_stage WHERE finalised_at IS NULL AND status = 'running')"
            )
            return int(cursor.fetchone()[0]) == 0
    except Exception:
        connection.close()
        return False
