"""A request body over `RELAY_MAX_REQUEST_BYTES` is refused while it streams in (ASGI middleware).

Django's ASGI handler writes the whole body to a temporary file before any view, parser or upload
handler sees a byte, so a limit inside Django comes after the disk is full. Here: a 413 at once when
`Content-Length` says the body is over the limit (nothing is read), else as soon as the bytes received
pass it (Django is told the client went away, drops what it spooled and answers nothing; the 413 is
sent from here). Either way the connection is closed and nothing is stored; what the client sends
after the 413 is read and dropped for at most `LINGER_SECONDS`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.conf import settings

from .api import error_body

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


LINGER_SECONDS = 1.0


def max_request_bytes() -> int:
    return int(settings.RELAY_MAX_REQUEST_BYTES)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(receive: Receive, send: Send, limit: int) -> None:
    """413, then read and drop what the client still sends for a moment before the connection closes:
    closing on unread bytes resets the connection, and a client still writing would lose the answer."""
    megabytes = f"{limit / 1_000_000:g} MB"
    body = json.dumps(error_body("request_too_large", f"The request body is over the limit of {megabytes}.")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": True})
    try:
        async with asyncio.timeout(LINGER_SECONDS):
            while True:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
    except TimeoutError:
        pass
    await send({"type": "http.response.body", "body": b""})


class RequestBodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = max_request_bytes()
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(receive, send, limit)
            return
        received = 0
        over = False
        answered = False

        async def limited_receive() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
            await send(message)

        await self.app(scope, limited_receive, watched_send)
        if over and not answered:
            await _refuse(receive, send, limit)
