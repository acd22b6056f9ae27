import socket
from collections.abc import Iterator

import pytest

from devstack.workers import WorkerProcess

from ..helpers import wait_until
from ..scans.conftest import _site_server, site  # noqa: F401 (the loopback site, shared with the scan tests)
from .otlp_collector import Collector


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    yield server
    server.close()


@pytest.fixture
def session_worker_held(celery_worker: WorkerProcess) -> Iterator[None]:
    """The session's shared worker stops taking doorbells of the `jobs` queue for this test (Celery's
    remote control), so that the jobs the test creates run on the worker it started itself."""
    from config.celery import app

    destination = [f"{celery_worker.name}@{socket.gethostname()}"]
    replies = app.control.cancel_consumer("jobs", destination=destination, reply=True, timeout=10)
    assert replies, "the session worker did not answer the remote control"

    def idle() -> bool:
        inspect = app.control.inspect(destination=destination, timeout=5)
        active, reserved = inspect.active() or {}, inspect.reserved() or {}
        return destination[0] in active and not active[destination[0]] and not reserved.get(destination[0])

    wait_until(idle, message="the session worker idle")
    yield
    app.control.add_consumer("jobs", destination=destination, reply=True, timeout=10)
