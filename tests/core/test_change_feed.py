"""The change feed the console's dashboard follows (`GET /console/changes`, `core/sse.py`): a tenant's
feed carries its own campaigns, runs and scans and never another tenant's; a platform admin's carries
every tenant's; every connection starts with a resync frame; a burst of changes is coalesced into a
frame per interval; the feed counts against the SSE caps. A real uvicorn process, PostgreSQL and Redis;
raw-socket clients."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.db import connection
from knox.models import AuthToken

from campaigns.models import Campaign
from campaigns.services.campaigns import campaign_create, campaign_set_mode
from devstack.web import WebProcess, start_web
from tenants.models import Tenant, User

from ..helpers import make_user
from .sse_client import Stream, open_stream

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/console/changes"
T = TypeVar("T")


@pytest.fixture(scope="module")
def web_server(django_db_setup: None) -> Iterator[WebProcess]:
    server = start_web()
    yield server
    server.stop()


def token(user: User) -> str:
    return AuthToken.objects.create(user)[1]


async def in_thread(work: Callable[[], T]) -> T:
    """A service call from the test's event loop: on a thread, which gives its connection back."""

    def run() -> T:
        try:
            return work()
        finally:
            connection.close()

    return await asyncio.to_thread(run)


def frames(stream: Stream) -> list[dict[str, Any]]:
    """The `changed` frames received so far."""
    found = []
    for block in stream.received.decode().split("\n\n"):
        lines = block.split("\n")
        if "event: changed" in lines:
            found.append(json.loads(next(line[6:] for line in lines if line.startswith("data: "))))
    return found


async def feed(web: WebProcess, user: User) -> Stream:
    stream = await open_stream(web.port, PATH, await in_thread(lambda: token(user)))
    assert stream.status == 200, stream.body
    assert stream.headers["content-type"] == "text/event-stream"
    assert await stream.read_until(b'"resync": true'), stream.received  # subscribed: changes follow
    return stream


async def create(tenant: Tenant, name: str) -> Campaign:
    return await in_thread(lambda: campaign_create(tenant=tenant, name=name))


def test_a_tenants_feed_carries_its_changes_and_never_another_tenants(
    web_server, tenant, other_tenant, tenant_member, platform_admin
):
    theirs = make_user(tenant=other_tenant)

    async def scenario() -> None:
        mine_feed, theirs_feed, platform_feed = (
            await feed(web_server, tenant_member),
            await feed(web_server, theirs),
            await feed(web_server, platform_admin),
        )
        # Interleaved, from one connection: Redis delivers in this order, so a feed that carried the
        # other tenant's changes would have them before (or in the same frame as) its own next one.
        their_first = await create(other_tenant, "theirs 1")
        my_first = await create(tenant, "mine 1")
        their_second = await create(other_tenant, "theirs 2")
        my_second = await create(tenant, "mine 2")
        try:
            assert await mine_feed.read_until(my_second.stream.encode())
            assert await theirs_feed.read_until(their_second.stream.encode())
            for campaign in (their_first, my_first, their_second, my_second):
                assert await platform_feed.read_until(campaign.stream.encode())
        finally:
            for stream in (mine_feed, theirs_feed, platform_feed):
                await stream.close()
        mine = {name for frame in frames(mine_feed) for name in frame["streams"]}
        assert mine == {my_first.stream, my_second.stream}
        assert my_first.stream not in {name for frame in frames(theirs_feed) for name in frame["streams"]}
        assert their_first.stream in {name for frame in frames(theirs_feed) for name in frame["streams"]}
        assert str(other_tenant.pk) not in mine_feed.received.decode()

    asyncio.run(asyncio.wait_for(scenario(), timeout=60))


def test_a_burst_of_changes_is_one_frame_per_interval(web_server, tenant, tenant_member):
    campaign = campaign_create(tenant=tenant, name="Toggled")

    async def scenario() -> None:
        stream = await feed(web_server, tenant_member)
        started = time.monotonic()

        def toggle_many() -> None:
            for i in range(100):
                campaign_set_mode(campaign=campaign, mode=("full_sequence", "step_by_step")[i % 2], actor=None)

        await in_thread(toggle_many)
        last = await create(tenant, "after the burst")
        try:
            assert await stream.read_until(last.stream.encode(), timeout=30)
        finally:
            await stream.close()
        elapsed = time.monotonic() - started
        changed = [frame for frame in frames(stream) if not frame["resync"]]
        window = float(settings.RELAY_SSE_FEED_COALESCE_SECONDS)
        # 101 changes; at most one frame per window (plus the leading one) however fast they came.
        assert 1 <= len(changed) <= elapsed / window + 2, (len(changed), elapsed)
        assert any(campaign.stream in frame["streams"] for frame in changed)

    asyncio.run(asyncio.wait_for(scenario(), timeout=60))


def test_the_feed_answers_like_the_other_streams_and_counts_against_the_caps(web_server, tenant_member):
    async def scenario() -> None:
        anonymous = await open_stream(web_server.port, PATH, "not-a-token")
        assert anonymous.status == 401 and anonymous.json()["error"]["code"] == "not_authenticated"
        secret = await in_thread(lambda: token(tenant_member))
        cap = int(settings.RELAY_SSE_MAX_PER_USER)
        held = [await open_stream(web_server.port, PATH, secret) for _ in range(cap)]
        try:
            assert [stream.status for stream in held] == [200] * cap
            for stream in held:
                assert await stream.read_until(b'"resync": true')
            over = await open_stream(web_server.port, PATH, secret)
            assert over.status == 429 and over.json()["error"]["code"] == "too_many_streams"
        finally:
            await asyncio.gather(*(stream.close() for stream in held))

    asyncio.run(asyncio.wait_for(scenario(), timeout=60))
