"""Worker start-up: run restart recovery once the worker is ready (after the engine's own sweep)."""

import logging
from typing import Any

from celery.signals import worker_ready

logger = logging.getLogger(__name__)


@worker_ready.connect
def _rehydrate_on_start(**_: Any) -> None:
    from .services.recovery import rehydrate

    try:
        rehydrate()
    except Exception:  # recovery must not keep the worker from serving; the periodic task retries
        logger.exception("campaign.rehydrate.crashed")
