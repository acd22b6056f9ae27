"""Open event streams are capped per user and per tenant across every web process (429
`too_many_streams` with Retry-After past the cap); a closed stream frees its slot at once, an open one
keeps it past its lease, and the slots of a web process that died run out. Real uvicorn processes,
PostgreSQL and Redis; the client is a raw socket, so closing a stream is a real disconnect."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest
from django.db import connection
from knox.models import AuthToken

from core.sse import stream_caps
from devstack.web import WebProcess, start_web
from orchestration import events
from tenants.models import Tenant, User
from workflow_runs.models import WorkflowRun

from ..helpers import make_user
from ..workflow_runs.factories import make_template, run_in_state
from .sse_client import Stream, live_slots, open_stream, redis_clients, redis_connections_of, slots_held

pytestmark = pytest.mark.django_db(transaction=True)

SMALL_CAPS = {"RELAY_SSE_MAX_PER_USER": "3", "RELAY_SSE_MAX_PER_TENANT": "5"}


@pytest.fixture(scope="module")
def web(django_db_setup: None) -> Iterator[WebProcess]:
    """A web process with the default caps (20 per user, 200 per tenant)."""
    server = start_web()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def small_caps_web(django_db_setup: None) -> Iterator[WebProcess]:
    server = start_web(env=SMALL_CAPS)
    yield server
    server.stop()


def a_run(tenant: Tenant) -> WorkflowRun:
    return run_in_state(tenant=tenant, template=make_template(tenant=tenant), files=[("failed", 0)])


def path(run: WorkflowRun) -> str:
    return f"/api/workflow-runs/{run.pk}/events"


def token(user: User) -> str:
    return AuthToken.objects.create(user)[1]


def emit(stream: str, type: str) -> None:
    """From a thread of the test's event loop: emit, then give that thread's connection back."""
    try:
        events.emit(stream=stream, type=type)
    finally:
        connection.close()


def assert_too_many_streams(stream: Stream, whose: str) -> None:
    assert stream.status == 429
    assert stream.headers["content-type"] == "application/json"
    body = stream.json()
    assert list(body) == ["error"] and body["error"]["code"] == "too_many_streams"
    assert whose in body["error"]["message"]
    assert int(stream.headers["retry-after"]) > 0


async def close_all(streams: list[Stream]) -> None:
    await asyncio.gather(*(stream.close() for stream in streams))


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def test_a_thousand_streams_from_one_user_answer_429_past_the_cap_while_others_keep_streaming(
    web, tenant, other_tenant
):
    mine, theirs = a_run(tenant), a_run(other_tenant)
    user, colleague, stranger = make_user(tenant=tenant), make_user(tenant=tenant), make_user(tenant=other_tenant)
    user_token, colleague_token, stranger_token = token(user), token(colleague), token(stranger)
    clients_before = redis_clients()

    async def scenario():
        async with asyncio.timeout(120):
            streams = await asyncio.gather(*(open_stream(web.port, path(mine), user_token) for _ in range(1000)))
            accepted = [stream for stream in streams if stream.status == 200]
            refused = [stream for stream in streams if stream.status != 200]
            clients_during, web_connections = redis_clients(), redis_connections_of(web)
            colleague_stream = await open_stream(web.port, path(mine), colleague_token)
            stranger_stream = await open_stream(web.port, path(theirs), stranger_token)
            await asyncio.to_thread(emit, mine.stream, "tick")
            await asyncio.to_thread(emit, theirs.stream, "tock")
            ticks = await asyncio.gather(*(s.read_until(b"event: tick\n") for s in [*accepted, colleague_stream]))
            tock = await stranger_stream.read_until(b"event: tock\n")
            await close_all([*accepted, colleague_stream, stranger_stream])
            return accepted, refused, clients_during, web_connections, colleague_stream, stranger_stream, ticks, tock

    accepted, refused, clients_during, web_connections, colleague_stream, stranger_stream, ticks, tock = asyncio.run(
        scenario()
    )

    assert len(accepted) == 20 and len(refused) == 980
    for stream in refused:
        assert_too_many_streams(stream, "you may hold 20")
    assert (colleague_stream.status, stranger_stream.status) == (200, 200)
    assert all(ticks) and tock  # the user's own 20 streams, a colleague's and another tenant's all flow
    # The web process: one pub/sub connection and a small pool (4), whatever the number of requests.
    assert web_connections <= 7, web_connections
    assert clients_during - clients_before <= 10, (clients_before, clients_during)


def test_the_tenant_cap_counts_every_user_of_the_tenant(small_caps_web, tenant, other_tenant):
    run, elsewhere = a_run(tenant), a_run(other_tenant)
    first, second, stranger = (
        token(make_user(tenant=tenant)),
        token(make_user(tenant=tenant)),
        token(make_user(tenant=other_tenant)),
    )

    async def scenario():
        port = small_caps_web.port
        firsts = [await open_stream(port, path(run), first) for _ in range(4)]
        seconds = [await open_stream(port, path(run), second) for _ in range(3)]
        strangers = [await open_stream(port, path(elsewhere), stranger) for _ in range(3)]
        await close_all(firsts + seconds + strangers)
        return firsts, seconds, strangers

    firsts, seconds, strangers = asyncio.run(scenario())

    assert [stream.status for stream in firsts] == [200, 200, 200, 429]  # 3 per user
    assert_too_many_streams(firsts[3], "you may hold 3")
    assert [stream.status for stream in seconds] == [200, 200, 429]  # 5 per tenant
    assert_too_many_streams(seconds[2], "your tenant may hold 5")
    assert [stream.status for stream in strangers] == [200, 200, 200]  # another tenant's own count


def test_a_closed_stream_frees_its_slot(small_caps_web, tenant):
    run, user = a_run(tenant), make_user(tenant=tenant)
    user_token = token(user)
    user_key, tenant_key = (key for key, _ in stream_caps(user))

    async def scenario():
        port = small_caps_web.port
        streams = [await open_stream(port, path(run), user_token) for _ in range(3)]
        over = await open_stream(port, path(run), user_token)
        held_before = live_slots(user_key)
        await streams.pop().close()
        freed = await wait_for(lambda: live_slots(user_key) == 2)
        again = await open_stream(port, path(run), user_token)
        await close_all([*streams, again])
        emptied = await wait_for(lambda: slots_held(user_key) == 0 and slots_held(tenant_key) == 0)
        return over, held_before, freed, again, emptied

    over, held_before, freed, again, emptied = asyncio.run(scenario())

    assert over.status == 429 and held_before == 3
    assert freed, "closing a stream did not give its slot back"
    assert again.status == 200
    assert emptied, "slots left behind after every stream closed"


def test_open_streams_keep_their_slots_past_one_lease_and_a_crashed_process_loses_them(tenant):
    env = {**SMALL_CAPS, "RELAY_SSE_SLOT_LEASE_SECONDS": "3", "RELAY_SSE_KEEPALIVE_SECONDS": "0.5"}
    run, user = a_run(tenant), make_user(tenant=tenant)
    user_token = token(user)
    user_key = stream_caps(user)[0][0]
    crashing, surviving = start_web(env=env), start_web(env=env)
    try:

        async def scenario():
            streams = [await open_stream(crashing.port, path(run), user_token) for _ in range(3)]
            await asyncio.sleep(9)  # three leases: only renewals keep these slots
            after_three_leases = await open_stream(surviving.port, path(run), user_token)
            still_streaming = await streams[0].read_until(b": keep-alive", timeout=5)
            crashing.kill()  # nothing is closed, nothing released: the leases just stop being renewed
            started = time.monotonic()
            freed = await wait_for(lambda: live_slots(user_key) == 0, timeout=10)
            waited = time.monotonic() - started
            afterwards = await open_stream(surviving.port, path(run), user_token)
            await close_all([*streams, afterwards])
            return after_three_leases, still_streaming, freed, waited, afterwards

        after_three_leases, still_streaming, freed, waited, afterwards = asyncio.run(scenario())
    finally:
        crashing.kill()
        surviving.stop()

    assert after_three_leases.status == 429  # held on another process, counted here
    assert still_streaming
    assert freed and waited <= 6, waited  # one lease (3 s) and some slack
    assert afterwards.status == 200


def test_without_redis_a_stream_is_a_503_in_the_envelope_not_a_500(settings, tenant):
    from django.test import AsyncClient

    from devstack.ports import free_port

    run, user_token = a_run(tenant), token(make_user(tenant=tenant))
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there

    async def scenario():
        response = await AsyncClient().get(path(run), headers={"Authorization": f"Token {user_token}"})
        return response.status_code, response.json(), response["Retry-After"]

    status, body, retry_after = asyncio.run(scenario())

    assert status == 503 and body["error"]["code"] == "streams_unavailable"
    assert int(retry_after) > 0
