"""One Redis pub/sub connection per web process, shared by every SSE follower in it.

A follower `join`s a stream and gets a `Doorbell`. The hub holds one Redis subscription per stream
that has followers here (SUBSCRIBE on the first, UNSUBSCRIBE after the last) and rings the doorbells of
a stream's followers when its announcement arrives. A doorbell is a queue of depth one: announcements
only say "go look in PostgreSQL", so several of them while the follower reads are one ring.

When the connection drops the hub rings every doorbell (followers re-read PostgreSQL and poll on their
keep-alive tick meanwhile), reconnects with a back-off and subscribes every stream again; each
subscription's confirmation rings that stream's followers once more, so what was announced while
nobody listened is read then. PostgreSQL is the truth; the hub only saves followers from polling.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings

from .announce import CHANNEL_PREFIX

logger = logging.getLogger(__name__)

READ_TIMEOUT_SECONDS = 5.0
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)


NOTES_CAP = 100  # notes a change feed's doorbell keeps between two takes; past it, `overflowed`


class Doorbell:
    """One follower of one stream: rung when the stream was announced or (re)subscribed. A change
    feed's doorbell (`keep_notes`) also keeps the announcements' messages until `take_notes`."""

    def __init__(self, stream: str, *, keep_notes: bool = False) -> None:
        self.channel = CHANNEL_PREFIX + stream
        self._rung = asyncio.Event()
        self._keep_notes = keep_notes
        self._notes: set[str] = set()
        self._overflowed = False

    def ring(self, note: str | None = None) -> None:
        if note is not None and self._keep_notes:
            if len(self._notes) < NOTES_CAP:
                self._notes.add(note)
            else:
                self._overflowed = True
        self._rung.set()

    def take_notes(self) -> tuple[list[str], bool]:
        """The notes since the last take (sorted) and whether some were dropped; clears the ring too,
        since whoever takes them acts on every ring so far."""
        notes, overflowed = sorted(self._notes), self._overflowed
        self._notes, self._overflowed = set(), False
        self._rung.clear()
        return notes, overflowed

    async def wait(self, timeout: float) -> bool:
        """True when rung within `timeout` (the ring is taken), False when the time ran out."""
        try:
            async with asyncio.timeout(timeout):
                await self._rung.wait()
        except TimeoutError:
            return False
        self._rung.clear()
        return True


class StreamHub:
    """The subscriptions of one event loop (a web process runs one)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._followers: dict[str, set[Doorbell]] = {}
        self._ready: dict[str, asyncio.Event] = {}  # per channel: Redis confirmed the subscription
        self._pending: dict[str, int] = {}  # per channel: SUBSCRIBEs sent, not yet confirmed
        self._commands: deque[tuple[str, str]] = deque()  # SUBSCRIBE/UNSUBSCRIBE, sent in this order
        self._commands_lock = asyncio.Lock()
        self._client: aioredis.Redis | None = None
        self._pubsub: Any = None  # redis.asyncio.client.PubSub, once connected
        self._reader: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    # --- followers -------------------------------------------------------------------------------

    async def join(self, stream: str, *, timeout: float, keep_notes: bool = False) -> Doorbell:
        """Follow `stream`; returns once Redis confirmed the subscription, so an event committed from
        then on rings the doorbell. After `timeout` without a confirmation (Redis away) it returns
        anyway: the follower polls on its keep-alive tick and is rung when the hub is back."""
        bell = Doorbell(stream, keep_notes=keep_notes)
        channel = bell.channel
        followers = self._followers.setdefault(channel, set())
        followers.add(bell)
        try:
            if len(followers) == 1:
                self._ready[channel] = asyncio.Event()
                self._pending[channel] = self._pending.get(channel, 0) + 1
                self._send("SUBSCRIBE", channel)
            self._ensure_reader()
            try:
                async with asyncio.timeout(timeout):
                    await self._ready[channel].wait()
            except TimeoutError:
                logger.warning("events.hub_subscribe_unconfirmed channel=%s", channel)
        except BaseException:
            self.leave(bell)
            raise
        return bell

    def leave(self, bell: Doorbell) -> None:
        """Stop following (synchronous: safe in a `finally` of a cancelled stream)."""
        followers = self._followers.get(bell.channel)
        if followers is None or bell not in followers:
            return
        followers.discard(bell)
        if not followers:
            del self._followers[bell.channel]
            self._ready.pop(bell.channel, None)
            self._send("UNSUBSCRIBE", bell.channel)

    def followers(self, stream: str) -> int:
        return len(self._followers.get(CHANNEL_PREFIX + stream, ()))

    # --- commands, in order ----------------------------------------------------------------------

    def _send(self, command: str, channel: str) -> None:
        self._commands.append((command, channel))
        self._spawn(self._flush())

    async def _flush(self) -> None:
        async with self._commands_lock:
            while self._commands:
                command, channel = self._commands.popleft()
                pubsub = self._pubsub
                if pubsub is None:  # (re)connecting: the new connection subscribes what is followed then
                    continue
                try:
                    if command == "SUBSCRIBE":
                        await pubsub.subscribe(channel)
                    else:
                        await pubsub.unsubscribe(channel)
                except Exception:
                    logger.warning("events.hub_command_failed command=%s channel=%s", command, channel, exc_info=True)
                    await self._drop(pubsub)  # the reader sees the connection gone and reconnects

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- the connection --------------------------------------------------------------------------

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = self.loop.create_task(self._read())

    async def _connect(self) -> None:
        async with self._commands_lock:
            self._commands.clear()  # built afresh from the followers below
            self._pending.clear()
            client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=5, socket_keepalive=True)
            pubsub = client.pubsub()
            try:
                await pubsub.connect()
                channels = list(self._followers)
                for channel in channels:
                    self._pending[channel] = 1
                if channels:
                    await pubsub.subscribe(*channels)
            except BaseException:
                await pubsub.aclose()
                await client.aclose()
                raise
            self._client, self._pubsub = client, pubsub

    async def _drop(self, pubsub: Any) -> None:
        if pubsub is None or pubsub is not self._pubsub:
            return
        client, self._client, self._pubsub = self._client, None, None
        try:
            await pubsub.aclose()
            if client is not None:
                await client.aclose()
        except Exception:
            logger.debug("events.hub_close_failed", exc_info=True)

    async def _read(self) -> None:
        failures = 0
        try:
            while True:
                try:
                    if self._pubsub is None:
                        await self._connect()
                        if failures:
                            logger.info("events.hub_reconnected channels=%s", len(self._followers))
                        failures = 0
                    pubsub = self._pubsub
                    message = await pubsub.get_message(timeout=READ_TIMEOUT_SECONDS)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.warning("events.hub_disconnected failures=%s", failures, exc_info=failures == 0)
                    await self._drop(self._pubsub)
                    self._ring_all()  # re-read PostgreSQL now; poll on the tick until the hub is back
                    await asyncio.sleep(RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)])
                    failures += 1
                    continue
                if message is not None:
                    try:
                        self._dispatch(message)
                    except Exception:  # a message of an unexpected shape must not end the reader
                        logger.warning("events.hub_dispatch_failed", exc_info=True)
        finally:
            await self._drop(self._pubsub)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        followers = self._followers.get(channel, ())
        if message["type"] == "subscribe":
            pending = self._pending.get(channel, 0) - 1
            if pending > 0:
                self._pending[channel] = pending
            else:
                self._pending.pop(channel, None)
                ready = self._ready.get(channel)
                if ready is not None:
                    ready.set()
        elif message["type"] != "message":
            return
        # An announcement, or a (re)subscription: what was announced while unsubscribed is in PostgreSQL.
        note = None
        if message["type"] == "message":
            data = message.get("data")
            note = data.decode() if isinstance(data, bytes) else str(data)
        for bell in followers:
            bell.ring(note)

    def _ring_all(self) -> None:
        for followers in self._followers.values():
            for bell in followers:
                bell.ring()


_hub: StreamHub | None = None


def current_hub() -> StreamHub:
    """The hub of the running event loop (uvicorn runs one per process; each `asyncio.run` its own)."""
    global _hub
    loop = asyncio.get_running_loop()
    if _hub is None or _hub.loop is not loop:
        _hub = StreamHub(loop)
    return _hub
