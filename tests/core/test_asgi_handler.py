"""The web's ASGI handler (core/asgi_handler.py), driven in-process as uvicorn drives it: requests run on
a fixed pool of threads (bounded, reused), one hop each, and streamed responses keep Django's
disconnect handling."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from django.core import signals
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path

from core.asgi_handler import OneHopASGIHandler

pytestmark = pytest.mark.django_db(transaction=True)

inside = {"now": 0, "most": 0}
inside_lock = threading.Lock()
release = threading.Event()
seen: dict[str, Any] = {"threads": set(), "loops": []}


def held(request: Any) -> HttpResponse:
    """Counts how many requests are inside Django at once, until the test releases them."""
    with inside_lock:
        inside["now"] += 1
        inside["most"] = max(inside["most"], inside["now"])
    release.wait(timeout=30)
    with inside_lock:
        inside["now"] -= 1
    return HttpResponse("held")


served_here = threading.local()  # fresh in every new thread (an ident can be recycled; this cannot)


def plain(request: Any) -> HttpResponse:
    served_here.count = getattr(served_here, "count", 0) + 1
    seen["threads"].add(threading.current_thread().name)
    seen["most_on_one_thread"] = max(seen.get("most_on_one_thread", 0), served_here.count)
    return HttpResponse("plain")


async def on_the_loop(request: Any) -> HttpResponse:
    seen["loops"].append(asyncio.get_running_loop())
    return HttpResponse("async")


async def forever() -> Any:
    yield b"first\n"
    await asyncio.Event().wait()  # until the client goes away


def streamed(request: Any) -> StreamingHttpResponse:
    return StreamingHttpResponse(forever(), content_type="text/plain")


urlpatterns = [
    path("held", held),
    path("plain", plain),
    path("async", on_the_loop),
    path("stream", streamed),
]


@pytest.fixture
def handler(settings: Any) -> OneHopASGIHandler:
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.RELAY_WEB_MAX_CONCURRENT_REQUESTS = 2
    inside.update(now=0, most=0)
    release.clear()
    seen["threads"].clear()
    seen["loops"].clear()
    seen["most_on_one_thread"] = 0
    return OneHopASGIHandler()


class Client:
    """One request: its body, then (when `disconnect` is set) the client going away."""

    def __init__(self, route: str) -> None:
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": route,
            "raw_path": route.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self.sent: list[dict[str, Any]] = []
        self.disconnect = asyncio.Event()
        self._body_given = False

    async def receive(self) -> dict[str, Any]:
        if not self._body_given:
            self._body_given = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body" and message.get("body") == b"first\n":
            self.disconnect.set()  # the streamed test's client leaves after the first line

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


async def wait_for(condition: Any, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def test_at_most_the_bound_of_requests_are_inside_django_at_once(handler: OneHopASGIHandler) -> None:
    async def scenario() -> list[Client]:
        clients = [Client("/held") for _ in range(6)]
        served = [asyncio.create_task(handler(c.scope, c.receive, c.send)) for c in clients]
        await wait_for(lambda: inside["now"] == 2)
        await asyncio.sleep(0.2)  # time for a third to get in, were the bound not held
        assert inside["most"] == 2
        release.set()
        await asyncio.gather(*served)
        return clients

    clients = asyncio.run(scenario())
    assert [(c.status, c.body) for c in clients] == [(200, b"held")] * 6
    assert inside["most"] == 2


def test_requests_reuse_the_pools_threads_instead_of_one_thread_each(handler: OneHopASGIHandler) -> None:
    async def scenario() -> None:
        for _ in range(20):
            client = Client("/plain")
            await handler(client.scope, client.receive, client.send)
            assert client.body == b"plain"

    asyncio.run(scenario())
    assert seen["most_on_one_thread"] >= 10  # 20 requests, at most 2 threads
    assert all(name.startswith("request") for name in seen["threads"]), seen["threads"]


def test_a_plain_response_finishes_the_request_before_its_bytes_go_out(handler: OneHopASGIHandler) -> None:
    """`request_finished` returns the database connection to the pool: not after a slow client's send."""
    order: list[str] = []

    def finished(**_: Any) -> None:
        order.append("request_finished")

    signals.request_finished.connect(finished)
    try:
        client = Client("/plain")
        original_send = client.send

        async def send(message: dict[str, Any]) -> None:
            order.append(message["type"])
            await original_send(message)

        asyncio.run(handler(client.scope, client.receive, send))
    finally:
        signals.request_finished.disconnect(finished)
    assert order[0] == "request_finished"
    assert order[1:] == ["http.response.start", "http.response.body"]


def test_an_async_view_runs_on_the_servers_event_loop(handler: OneHopASGIHandler) -> None:
    async def scenario() -> asyncio.AbstractEventLoop:
        client = Client("/async")
        await handler(client.scope, client.receive, client.send)
        assert client.body == b"async"
        return asyncio.get_running_loop()

    loop = asyncio.run(scenario())
    assert seen["loops"] == [loop]  # not a throw-away loop: what an SSE view makes there lives on


def test_a_stream_ends_and_is_closed_when_its_client_disconnects(handler: OneHopASGIHandler) -> None:
    finished = threading.Event()

    def on_finished(**_: Any) -> None:
        finished.set()

    signals.request_finished.connect(on_finished)
    try:
        client = Client("/stream")
        asyncio.run(asyncio.wait_for(handler(client.scope, client.receive, client.send), timeout=10))
    finally:
        signals.request_finished.disconnect(on_finished)
    assert client.status == 200
    assert client.body.startswith(b"first\n")
    assert finished.is_set()
