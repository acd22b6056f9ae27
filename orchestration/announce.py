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


def ring_feeds_after_commit(*, feeds: tuple[str, ...] | list[str], note: str) -> None:
    """Ring change feeds (`feeds.py`) once the transaction committed, with `note` (the changed object's
    stream) as the message. A feed keeps no rows: a lost ring is made good by the follower's resync."""
    if not feeds:
        return

    def ring() -> None:
        try:
            client = get_redis()
            for feed in feeds:
                client.publish(CHANNEL_PREFIX + feed, note)
        except Exception:
            logger.warning("events.feed_ring_failed feeds=%s note=%s", ",".join(feeds), note, exc_info=True)

    transaction.on_commit(ring)
