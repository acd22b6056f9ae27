"""Say on Redis pub/sub that a stream has a new event, once its transaction committed. Only "go look":
followers read PostgreSQL, and poll on their keep-alive tick if an announcement is lost."""

import logging

from django.db import transaction

from .redis_client import get_redis

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "relay:events:"


def announce_after_commit(*, stream: str, seq: int) -> None:
    def announce() -> None:
        try:
            get_redis().publish(CHANNEL_PREFIX + stream, str(seq))
        except Exception:
            logger.warning("events.announce_failed stream=%s seq=%s", stream, seq, exc_info=True)

    transaction.on_commit(announce)
