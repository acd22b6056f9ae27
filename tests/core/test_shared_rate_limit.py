"""A rate limit shared through Redis holds across processes: two processes asking for the same key
together get at most its rate; another key is not slowed by it; with Redis unreachable each process
falls back to its share of the rate."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time

import pytest
from django.conf import settings

from core.shared_rate_limit import SharedLimiters

RATE = 25.0
SECONDS = 2.0


def _acquire_for(url: str, key: str, rate: float, start_at: float, seconds: float, out: multiprocessing.Queue) -> None:
    """In a child process: acquire as fast as the limiter lets, from `start_at` for `seconds`."""

    async def run() -> list[float]:
        limiters = SharedLimiters(url, fallback_processes=2)
        limiter = limiters.limiter(key, rate)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        admitted: list[float] = []
        try:
            while time.time() < start_at + seconds:
                await limiter.acquire()
                admitted.append(time.time())
        finally:
            await limiters.close()
        return admitted

    out.put((os.getpid(), asyncio.run(run())))


def _run_processes(url: str, keys: list[str], rate: float = RATE) -> list[list[float]]:
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = context.Queue()
    start_at = time.time() + 3.0  # both children are up and waiting by then
    processes = [context.Process(target=_acquire_for, args=(url, key, rate, start_at, SECONDS, out)) for key in keys]
    for process in processes:
        process.start()
    results = [out.get(timeout=60)[1] for _ in processes]
    for process in processes:
        process.join(timeout=30)
    return results


def _within(admitted: list[float], rate: float) -> bool:
    """At most `rate` per second over the span (plus the one request GCRA lets through at once)."""
    admitted = sorted(admitted)
    span = admitted[-1] - admitted[0]
    return len(admitted) <= rate * span + 2


def test_two_processes_sharing_a_key_stay_within_its_rate_together():
    key = f"test:{time.time_ns()}"
    first, second = _run_processes(settings.REDIS_URL, [key, key])
    assert first and second, "both processes got requests through"
    combined = first + second
    assert _within(combined, RATE), (len(first), len(second))
    assert len(combined) >= RATE * SECONDS * 0.7  # and the limit is not starving them either


def test_another_key_is_not_slowed_by_a_busy_one():
    stamp = time.time_ns()
    first, second = _run_processes(settings.REDIS_URL, [f"test:a:{stamp}", f"test:b:{stamp}"])
    for admitted in (first, second):
        assert _within(admitted, RATE)
        assert len(admitted) >= RATE * SECONDS * 0.7


@pytest.fixture
def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens there once the socket is closed


def test_with_redis_unreachable_each_process_falls_back_to_its_share_of_the_rate(closed_port):
    url = f"redis://127.0.0.1:{closed_port}/0"
    first, second = _run_processes(url, ["test:down", "test:down"])
    combined = first + second
    assert first and second
    assert _within(combined, RATE)  # fallback_processes=2: each sends at most half the rate
    for admitted in (first, second):
        assert _within(admitted, RATE / 2)


def test_no_rate_means_no_limit_and_no_redis():
    async def run() -> int:
        limiters = SharedLimiters("redis://127.0.0.1:1/0")
        limiter = limiters.limiter("test:unlimited", 0)
        for _ in range(1000):
            await limiter.acquire()
        await limiters.close()
        return 1000

    started = time.monotonic()
    assert asyncio.run(run()) == 1000
    assert time.monotonic() - started < 1.0
