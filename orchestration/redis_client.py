"""One Redis client per process (redis-py's pool notices a fork and reconnects), and one asyncio client
per event loop for the web process's streams."""

from __future__ import annotations

import asyncio
from functools import lru_cache

import redis
import redis.asyncio as aioredis
from django.conf import settings


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)


_async_clients: dict[int, tuple[asyncio.AbstractEventLoop, aioredis.Redis]] = {}


def get_async_redis() -> aioredis.Redis:
    """The running loop's client. Its pool is blocking and small (`RELAY_SSE_REDIS_CONNECTIONS`): a
    thousand streams opening at once wait their turn for a connection instead of opening a thousand."""
    loop = asyncio.get_running_loop()
    found = _async_clients.get(id(loop))
    if found is not None and found[0] is loop:
        return found[1]
    for key, (other, _) in list(_async_clients.items()):
        if other.is_closed():  # a finished asyncio.run() (tests): its connections died with it
            del _async_clients[key]
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.REDIS_URL,
        max_connections=int(settings.RELAY_SSE_REDIS_CONNECTIONS),
        timeout=10,
        socket_timeout=5,
        socket_connect_timeout=5,
    )
    client = aioredis.Redis(connection_pool=pool)
    _async_clients[id(loop)] = (loop, client)
    return client
