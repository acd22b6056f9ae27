"""Worker start-up and task hygiene: recover what a restart lost before taking any work, start the lease
keeper in each pool process, and never start a task on a database connection that died."""

import logging
from typing import Any

from celery.signals import task_prerun, worker_init, worker_process_init, worker_process_shutdown, worker_ready

logger = logging.getLogger(__name__)


@worker_process_init.connect
def _start_lease_keeper(**_: Any) -> None:
    from . import leases

    leases.keeper.start(announce=True)


@worker_process_shutdown.connect
def _flush_metrics(**_: Any) -> None:
    # A recycled or stopped pool process hands in its last buffered counts.
    from . import metrics

    metrics.flush()


@task_prerun.connect
def _discard_dead_connection(**_: Any) -> None:
    # Celery reuses a pool process's connection for many tasks (CELERY_DB_REUSE_MAX); after a
    # PostgreSQL restart that connection is dead, and every task on it would fail until the process
    # is recycled. One cheap check per task (a drain runs many jobs) replaces it instead.
    from .runner import discard_broken_connection

    discard_broken_connection()


@worker_init.connect
def _recover_before_work(**_: Any) -> None:
    """Runs in the worker's main process before its pool starts and before it consumes a message, so
    that what a restart lost is recovered before any of it can be claimed again: the leases of jobs
    held by dead processes of this host run out now (`liveness`), then each domain's restart recovery
    (`StageKind.on_worker_start`), then the engine's sweep hands the rest back."""
    from django.db import connection

    from .liveness import leases_expire_of_dead_local_holders
    from .recovery import recover_expired_jobs
    from .registry import stage_kinds

    try:
        leases_expire_of_dead_local_holders()
    except Exception:
        logger.exception("engine.dead_holders_failed")
    for kind in stage_kinds():
        if kind.on_worker_start is None:
            continue
        try:
            kind.on_worker_start()
        except Exception:  # recovery must not keep the worker from serving; the periodic pass retries
            logger.exception("engine.startup_recovery_failed stage_kind=%s", kind.name)
    try:
        recovered = recover_expired_jobs()
        logger.info("engine.startup_sweep recovered=%s", recovered)
    except Exception:
        logger.exception("engine.startup_sweep_failed")
    connection.close()  # the pool processes forked next must not share this process's connection


@worker_ready.connect
def _announce_on_ready(**_: Any) -> None:
    from . import leases

    leases.keeper.start(announce=True)  # the solo pool has no pool processes: announce this one
