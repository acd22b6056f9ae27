"""Caps on things held open at once (SSE streams), counted in Redis so they hold across web processes.

Each capped key is a sorted set with one member per holder, scored with the moment (Redis's clock) its
lease runs out. Taking a slot drops the expired members of every key, checks every cap and adds the
member to every key, in one script: two processes cannot both take the last slot. The event loop's
`SlotKeeper` renews the leases of the slots it holds every tick, in one round trip, and removes a slot
the moment it is released (or garbage-collected unreleased). A process that dies renews nothing: its
slots run out after one lease and are dropped by the next taker.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import Sequence

from django.conf import settings
from redis.commands.core import AsyncScript

from .redis_client import get_async_redis

logger = logging.getLogger(__name__)

KEY_PREFIX = "relay:slots:"

# KEYS: the capped sets; ARGV: member, lease seconds, then one cap per key. Returns 0 when taken, else
# the 1-based index of the first key at its cap.
ACQUIRE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local lease = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[i + 2]) then
    return i
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lease, ARGV[1])
  redis.call('PEXPIRE', key, math.ceil(lease * 1000))
end
return 0
"""

# KEYS: sets; ARGV: lease seconds, then the member of each key. A member dropped as expired (its
# process stalled longer than a lease) is added back: the set counts what is really open.
RENEW_SCRIPT = """
local clock = redis.call('TIME')
local until_ = tonumber(clock[1]) + tonumber(clock[2]) / 1000000 + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, until_, ARGV[i + 1])
  redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[1]) * 1000))
end
return 0
"""


class CapReached(Exception):
    """Every slot of `key` is taken."""

    def __init__(self, key: str, cap: int) -> None:
        super().__init__(f"{key} holds {cap} slots")
        self.key = key
        self.cap = cap


class Slot:
    """One holder's place in each of its keys. `release()` is synchronous and idempotent."""

    def __init__(self, keeper: SlotKeeper, keys: tuple[str, ...]) -> None:
        self.keeper = keeper
        self.keys = keys
        self.member = uuid.uuid4().hex
        self.released = False
        self._give_back: weakref.finalize[[tuple[str, ...], str], Slot] | None = None

    def hold(self) -> None:
        # Dropped without release() (a response that never streamed): given back when collected.
        self._give_back = weakref.finalize(self, self.keeper.remove_later, self.keys, self.member)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.keeper.forget(self)
            if self._give_back is not None:
                self._give_back()


def redis_key(key: str) -> str:
    return KEY_PREFIX + key


def lease_seconds() -> float:
    return float(settings.RELAY_SSE_SLOT_LEASE_SECONDS)


def renew_every() -> float:
    """The keep-alive tick, and at least three renewals per lease."""
    return min(float(settings.RELAY_SSE_KEEPALIVE_SECONDS), lease_seconds() / 3)


class SlotKeeper:
    """The slots held by one event loop: taken, renewed every tick, given back."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._held: weakref.WeakSet[Slot] = weakref.WeakSet()
        self._to_remove: list[tuple[tuple[str, ...], str]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._scripts: dict[str, AsyncScript] = {}

    def _script(self, source: str) -> AsyncScript:
        """Sent once, then called by its SHA (EVALSHA; redis-py loads it again after a Redis restart)."""
        if source not in self._scripts:
            self._scripts[source] = get_async_redis().register_script(source)
        return self._scripts[source]

    async def acquire(self, caps: Sequence[tuple[str, int]]) -> Slot:
        """A slot in every key of `caps` (`(key, cap)` pairs), or `CapReached` naming the first full key."""
        slot = Slot(self, tuple(redis_key(key) for key, _ in caps))
        acquire = self._script(ACQUIRE_SCRIPT)
        refused = await acquire(keys=slot.keys, args=[slot.member, lease_seconds(), *(cap for _, cap in caps)])
        if int(refused):
            slot.released = True
            key, cap = caps[int(refused) - 1]
            raise CapReached(key, cap)
        self._held.add(slot)
        slot.hold()
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._keep())
        return slot

    def forget(self, slot: Slot) -> None:
        self._held.discard(slot)

    def remove_later(self, keys: tuple[str, ...], member: str) -> None:
        """Queue the removal for the keeper's task (safe from a finaliser, on any thread)."""
        self._to_remove.append((keys, member))
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._wake.set)

    async def _keep(self) -> None:
        renewed = self.loop.time()
        while True:
            try:
                async with asyncio.timeout(max(renewed + renew_every() - self.loop.time(), 0.0)):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self._remove()
                if self.loop.time() >= renewed + renew_every():
                    renewed = self.loop.time()
                    await self._renew()
            except Exception:  # Redis away: retried next tick; unrenewed leases run out on their own
                logger.warning("events.slots_keep_failed", exc_info=True)

    async def _remove(self) -> None:
        removing, self._to_remove = self._to_remove, []
        if not removing:
            return
        try:
            async with get_async_redis().pipeline(transaction=False) as pipe:
                for keys, member in removing:
                    for key in keys:
                        pipe.zrem(key, member)
                await pipe.execute()
        except Exception:
            self._to_remove.extend(removing)
            raise

    async def _renew(self) -> None:
        held = [slot for slot in list(self._held) if not slot.released]
        if not held:
            return
        keys = [key for slot in held for key in slot.keys]
        members = [slot.member for slot in held for _ in slot.keys]
        await self._script(RENEW_SCRIPT)(keys=keys, args=[lease_seconds(), *members])

    def held(self) -> int:
        return len(self._held)


_keeper: SlotKeeper | None = None


def current_keeper() -> SlotKeeper:
    global _keeper
    loop = asyncio.get_running_loop()
    if _keeper is None or _keeper.loop is not loop:
        _keeper = SlotKeeper(loop)
    return _keeper


async def acquire(*, caps: Sequence[tuple[str, int]]) -> Slot:
    return await current_keeper().acquire(caps)
