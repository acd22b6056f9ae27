"""The tenants' HTTP client: the public API only, retried through the faults the battery injects.

A request that got no answer (the web process was killed, the connection reset) or a 503 (a
dependency is down) is sent again until `patience` runs out; every 5xx is recorded with its time, so
the invariants can tell an outage's 503 from a bug's 500.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRY_STATUSES = {502, 503, 504}


@dataclass
class ServerErrors:
    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: list[tuple[float, str, int, str]] = field(default_factory=list)  # (time, "METHOD path", status, body)

    def add(self, what: str, status: int, body: str) -> None:
        with self.lock:
            self.seen.append((time.monotonic(), what, status, body[:300]))


@dataclass
class Api:
    base_url: str
    token: str
    errors: ServerErrors
    patience: float = 120.0
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Token {self.token}"}, timeout=30.0
        )

    def request(self, method: str, path: str, *, key: str | None = None, **kwargs: Any) -> httpx.Response:
        """Send until answered (not 502/503/504); an Idempotency-Key makes a resend after a lost answer
        safe, and without one the caller must cope with a duplicate's answer (409)."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if key:
            headers["Idempotency-Key"] = key
        deadline = time.monotonic() + self.patience
        while True:
            try:
                response = self.client.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
                continue
            if response.status_code >= 500:
                self.errors.add(f"{method} {path}", response.status_code, response.text)
            if response.status_code in RETRY_STATUSES and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            # In flight (our first try's answer was lost while it ran): ask again shortly.
            if response.status_code == 409 and key and _code(response) == "idempotency_key_in_flight":
                time.sleep(0.3)
                continue
            return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, *, key: str | None = None, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, json=json, key=key, **kwargs)

    def close(self) -> None:
        self.client.close()


def new_key() -> str:
    return uuid.uuid4().hex


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except Exception:
        return ""
