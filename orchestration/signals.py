"""Worker start-up: start the lease keeper in each pool process, sweep for lost jobs once."""

import logging
from typing import Any

from celery.signals import worker_process_init, worker_ready

logger = logging.getLogger(__name__)


@worker_process_init.connect
def _start_lease_keeper(**_: Any) -> None:
    from . import leases

    leases.keeper.start()


@worker_ready.connect
def _sweep_on_start(**_: Any) -> None:
    from . import leases
    from .recovery import recover_expired_jobs

    leases.keeper.start()  # the solo pool has no pool processes: announce this one
    try:
        recovered = recover_expired_jobs()
        logger.info("engine.startup_sweep recovered=%s", recovered)
    except Exception:
        logger.exception("engine.startup_sweep_failed")
