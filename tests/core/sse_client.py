"""A raw-socket SSE client for tests against a real web process: light enough that a thousand streams
fit in one event loop, and closing one is a real disconnect."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings

from devstack.web import WebProcess
from orchestration.stream_slots import redis_key


@dataclass
class Stream:
    status: int
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    received: bytes = b""
    body: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)

    async def read_until(self, needle: bytes, timeout: float = 10.0) -> bool:
        """Read the stream until `needle` (for example `b"id: 3\\n"`) was received; False on time-out."""
        try:
            async with asyncio.timeout(timeout):
                while needle not in self.received:
                    chunk = await self.reader.read(65536)
                    if not chunk:
                        return False
                    self.received += chunk
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    body = b""
    while True:  # chunked
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return body
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def open_stream(port: int, path: str, token: str, *, last_event_id: int | None = None) -> Stream:
    """GET `path` with the token. A 200 stays open (read with `read_until`); any other answer is read
    whole into `body` and the connection closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Token {token}", "Accept: text/event-stream"]
    if last_event_id is not None:
        lines.append(f"Last-Event-ID: {last_event_id}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ")[1])
    headers = {}
    for line in head[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    stream = Stream(status=status, headers=headers, reader=reader, writer=writer)
    if status != 200:
        stream.body = await _read_body(reader, headers)
        await stream.close()
    return stream


def redis_connections_of(web: WebProcess) -> int:
    """TCP connections the web process holds to Redis (its pub/sub connection and its pools)."""
    from urllib.parse import urlsplit

    import psutil

    port = urlsplit(settings.REDIS_URL).port
    return sum(
        1
        for conn in psutil.Process(web.pid).net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == port and conn.status == psutil.CONN_ESTABLISHED
    )


def redis_clients() -> int:
    return int(redis.Redis.from_url(settings.REDIS_URL).info("clients")["connected_clients"])


def subscribers(stream: str) -> int:
    """How many Redis connections are subscribed to the stream's announcements."""
    from orchestration.announce import CHANNEL_PREFIX

    channel = CHANNEL_PREFIX + stream
    return int(dict(redis.Redis.from_url(settings.REDIS_URL).pubsub_numsub(channel))[channel.encode()])


def slots_held(key: str) -> int:
    """Members of a cap's set (live and not yet dropped as expired)."""
    return int(redis.Redis.from_url(settings.REDIS_URL).zcard(redis_key(key)))


def live_slots(key: str) -> int:
    """Members of a cap's set whose lease has not run out (by Redis's clock, as the caps count)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    seconds, micros = client.time()
    return int(client.zcount(redis_key(key), seconds + micros / 1e6, "+inf"))
