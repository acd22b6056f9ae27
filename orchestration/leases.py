"""Lease renewal: one thread per worker process renews the leases of the jobs it holds, and
announces the process as alive (the health endpoint counts these) only after a database round trip
from this process succeeded, so "workers ok" means "workers that can reach PostgreSQL".

A lease that the renewal finds gone (the sweeper took the job back), or whose stage was cancelled, is
marked at once: `stages.job_should_stop` answers true for it without another query.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from django.db import connection

from .conf import engine_setting
from .redis_client import get_redis

logger = logging.getLogger(__name__)

WORKER_KEY_PREFIX = "relay:worker:"


def worker_name() -> str:
    """This process as jobs record it (`Job.worker`) and as its heartbeat key names it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaseKeeper:
    def __init__(self) -> None:
        self._tokens: set[str] = set()
        self._lost: set[str] = set()  # leases found gone: never renewed again
        self._cancelled: set[str] = set()  # still renewed (the job is ours until it stops), told to stop
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._wake = threading.Event()
        self._announce = False

    def start(self, *, announce: bool = False) -> None:
        """Start the renewal thread in this process (once; again after a fork). `announce`: this is a
        worker process, whose heartbeat `/api/health` counts (set by the worker signals)."""
        with self._lock:
            self._announce = self._announce or announce
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._tokens = set()
            self._lost = set()
            self._cancelled = set()
            self._wake = threading.Event()
        threading.Thread(target=self._loop, name="relay-lease-keeper", daemon=True).start()

    def hold(self, token: str) -> None:
        self.start()
        with self._lock:
            self._tokens.add(token)

    def release(self, token: str) -> None:
        with self._lock:
            self._tokens.discard(token)
            self._lost.discard(token)
            self._cancelled.discard(token)

    def told_to_stop(self, token: str) -> bool:
        with self._lock:
            return token in self._lost or token in self._cancelled

    def renew_now(self) -> set[str]:
        """Renew every held lease once; returns the tokens that must stop (also kept for `told_to_stop`):
        leases found gone, and jobs whose stage was cancelled."""
        with self._lock:
            tokens = list(self._tokens - self._lost)
        lost: set[str] = set()
        cancelled: set[str] = set()
        with connection.cursor() as cursor:
            if tokens:
                cursor.execute(
                    """
                    UPDATE orchestration_job AS j SET lease_expires_at = now() + make_interval(secs => %s)
                    FROM orchestration_stage AS s
                    WHERE j.lease_owner = ANY(%s) AND j.state = 'running' AND s.id = j.stage_id
                    RETURNING j.lease_owner, s.cancel_requested_at IS NOT NULL
                    """,
                    [engine_setting("LEASE_SECONDS"), tokens],
                )
                rows = cursor.fetchall()
                lost = set(tokens) - {token for token, _ in rows}
                cancelled = {token for token, is_cancelled in rows if is_cancelled}
                if cancelled:
                    with self._lock:
                        self._cancelled |= cancelled & self._tokens
            elif self._announce:
                cursor.execute("SELECT 1")  # the heartbeat vouches for a working connection
        with self._lock:
            # A job that ended (and released its token) since the snapshot above is not lost.
            lost &= self._tokens
            self._lost |= lost
            stop = lost | (self._cancelled & set(tokens))
        if lost:
            logger.warning("engine.lease_lost tokens=%s", ",".join(sorted(lost)))
        return stop

    def _loop(self) -> None:
        lease = engine_setting("LEASE_SECONDS")
        interval = max(lease / 3, 0.2)
        worker_key = f"{WORKER_KEY_PREFIX}{worker_name()}"
        while True:
            try:
                with self._lock:
                    idle = not self._tokens and not self._announce
                if not idle:  # a process that only once held a lease (a shell, a test) stays quiet
                    self.renew_now()
                if self._announce:
                    get_redis().set(worker_key, "1", ex=max(int(lease), 5))
            except Exception:  # keep renewing; a passing outage must not kill the thread
                logger.warning("engine.lease_renew_failed", exc_info=True)
                _reset_connection()
            self._wake.wait(interval)


def _reset_connection() -> None:
    """A dead connection (PostgreSQL restarted, the backend terminated) is dropped so that the next
    renewal reconnects instead of failing until the process restarts."""
    try:
        connection.close()
    except Exception:
        connection.connection = None


keeper = LeaseKeeper()
hold = keeper.hold
release = keeper.release
