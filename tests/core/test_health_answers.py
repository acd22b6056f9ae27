"""`/api/health` says which part is down in our own words, never an exception's text (which carries
hosts, ports, users, a server's banner); the exception goes to the server log. Measured on a real
process whose PostgreSQL or Redis setting points at a port nothing listens on, and on this process
with Redis pointed at a port that answers with something that is not Redis."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client, override_settings

from devstack.ports import free_port
from orchestration import redis_client
from orchestration.health import DATABASE_DOWN, REDIS_DOWN, WORKERS_UNKNOWN

ROOT = Path(__file__).resolve().parent.parent.parent

PROBE = """
import json, os
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.test import Client
response = Client().get("/api/health")
print(json.dumps({"status": response.status_code, "body": response.json()}))
"""


def health_of_a_process(**env: str) -> tuple[int, dict, str]:
    """(status, body, server log) of `/api/health` in a process started with `env` on top of this one's."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**os.environ, "RELAY_DATABASE_NAME": str(connection.settings_dict["NAME"]), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    return answer["status"], answer["body"], result.stderr


def assert_only_our_words(body: dict, *, dead_port: int) -> None:
    text = json.dumps(body)
    for leak in (str(dead_port), "127.0.0.1", "refused", "Error", "errno", "Connection", "postgres@"):
        assert leak not in text, (leak, text)


@pytest.mark.django_db
def test_postgresql_down_is_named_without_the_exception():
    dead = free_port()
    status, body, log = health_of_a_process(DATABASE_URL=f"postgresql://postgres@127.0.0.1:{dead}/relay")

    assert status == 503
    assert body["database"] == {"ok": False, "error": DATABASE_DOWN}
    assert body["redis"] == {"ok": True}
    assert body["ok"] is False
    assert_only_our_words(body, dead_port=dead)
    assert "health.database_unreachable" in log and str(dead) in log  # the operator's log has the detail


@pytest.mark.django_db
def test_redis_down_is_named_without_the_exception():
    dead = free_port()
    status, body, log = health_of_a_process(REDIS_URL=f"redis://127.0.0.1:{dead}/0")

    assert status == 503
    assert body["database"] == {"ok": True}
    assert body["redis"] == {"ok": False, "error": REDIS_DOWN}
    assert body["workers"] == {"ok": False, "processes": None, "error": WORKERS_UNKNOWN}
    assert_only_our_words(body, dead_port=dead)
    assert "health.redis_unreachable" in log


@contextmanager
def banner_server(banner: bytes) -> Iterator[int]:
    """A TCP port that answers every connection with `banner` (an SSH or SMTP greeting, say)."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                peer, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            with peer:
                peer.sendall(banner)
                peer.recv(1024)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        server.close()


@pytest.mark.django_db
def test_a_redis_address_that_answers_with_a_banner_is_down_and_the_banner_is_not_shown():
    banner = b"SSH-2.0-OpenSSH_9.6 internal-bastion\r\n"
    with banner_server(banner) as port:
        try:
            with override_settings(REDIS_URL=f"redis://127.0.0.1:{port}/0"):
                redis_client.get_redis.cache_clear()  # this process's client, made again from the setting
                response = Client().get("/api/health")
        finally:
            redis_client.get_redis.cache_clear()  # back to the test stack's Redis

    assert response.status_code == 503
    body = response.json()
    assert body["redis"] == {"ok": False, "error": REDIS_DOWN}
    assert "SSH" not in response.content.decode() and "bastion" not in response.content.decode()
