"""A web process follows every stream with one Redis pub/sub connection: a thousand followers of ten
streams add no Redis clients, each stream has one subscriber in Redis, an event reaches every one of
its followers, and when they go away the subscriptions and slots go too. Real uvicorn, PostgreSQL and
Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from knox.models import AuthToken

from core.sse import stream_caps
from devstack.web import WebProcess, start_web

from ..helpers import make_user
from .sse_client import open_stream, redis_clients, redis_connections_of, slots_held, subscribers
from .test_sse_limits import a_run, close_all, emit, path

pytestmark = pytest.mark.django_db(transaction=True)

FOLLOWERS = 1000
STREAMS = 10


@pytest.fixture(scope="module")
def roomy_web(django_db_setup: None) -> Iterator[WebProcess]:
    """Caps out of the way: this is about connections, not limits."""
    server = start_web(env={"RELAY_SSE_MAX_PER_USER": "5000", "RELAY_SSE_MAX_PER_TENANT": "5000"})
    yield server
    server.stop()


def test_a_thousand_followers_share_one_redis_connection_and_all_get_every_event(roomy_web, tenant):
    runs = [a_run(tenant) for _ in range(STREAMS)]
    user = make_user(tenant=tenant)
    token = AuthToken.objects.create(user)[1]
    clients_before = redis_clients()

    async def scenario():
        async with asyncio.timeout(120):
            started = time.monotonic()
            streams = await asyncio.gather(
                *(open_stream(roomy_web.port, path(runs[n % STREAMS]), token) for n in range(FOLLOWERS))
            )
            opened_in = time.monotonic() - started
            clients_during, web_connections = redis_clients(), redis_connections_of(roomy_web)
            subscribed = [subscribers(run.stream) for run in runs]
            for run in runs:
                await asyncio.to_thread(emit, run.stream, "tick")
            got = await asyncio.gather(*(stream.read_until(b"event: tick\n", timeout=30) for stream in streams))
            await close_all(list(streams))
            return streams, opened_in, clients_during, web_connections, subscribed, got

    streams, opened_in, clients_during, web_connections, subscribed, got = asyncio.run(scenario())

    assert [stream.status for stream in streams] == [200] * FOLLOWERS
    assert sum(got) == FOLLOWERS  # every follower of every stream got its stream's event
    assert subscribed == [1] * STREAMS  # one Redis subscriber per stream: the web process's hub
    assert web_connections <= 7, web_connections  # one pub/sub connection + the slots pool (4) + the sync client
    assert clients_during - clients_before <= 10, (clients_before, clients_during)
    assert opened_in < 60, opened_in

    def released() -> bool:
        return all(subscribers(run.stream) == 0 for run in runs) and all(
            slots_held(key) == 0 for key, _ in stream_caps(user)
        )

    deadline = time.monotonic() + 15
    while not released():
        assert time.monotonic() < deadline, "subscriptions or slots left behind after every follower left"
        time.sleep(0.1)
