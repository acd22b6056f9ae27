"""Lease renewal: one thread per worker process renews the leases of the jobs it is running, and
announces the process as alive (the health endpoint counts these)."""

from __future__ import annotations

import logging
import os
import socket
import threading

from django.db import close_old_connections, connection

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
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._wake = threading.Event()

    def start(self) -> None:
        """Start the renewal thread in this process (once; again after a fork)."""
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._tokens = set()
            self._wake = threading.Event()
        threading.Thread(target=self._loop, name="relay-lease-keeper", daemon=True).start()

    def hold(self, token: str) -> None:
        self.start()
        with self._lock:
            self._tokens.add(token)

    def release(self, token: str) -> None:
        with self._lock:
            self._tokens.discard(token)

    def _loop(self) -> None:
        lease = engine_setting("LEASE_SECONDS")
        interval = max(lease / 3, 0.2)
        worker_key = f"{WORKER_KEY_PREFIX}{worker_name()}"
        while True:
            try:
                close_old_connections()
                with self._lock:
                    tokens = list(self._tokens)
                if tokens:
                    with connection.cursor() as cursor:
                        cursor.execute(
                            """
                            UPDATE orchestration_job SET lease_expires_at = now() + make_interval(secs => %s)
                            WHERE lease_owner = ANY(%s) AND state = 'running'
                            """,
                            [lease, tokens],
                        )
                get_redis().set(worker_key, "1", ex=max(int(lease), 5))
            except Exception:  # keep renewing; a passing outage must not kill the thread
                logger.warning("engine.lease_renew_failed", exc_info=True)
            self._wake.wait(interval)


keeper = LeaseKeeper()
hold = keeper.hold
release = keeper.release
