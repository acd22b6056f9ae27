"""Helpers for scan tests: start a scan through the API and wait for it to settle."""

from __future__ import annotations

from typing import Any

from scans.models import FINAL_STATUSES, Scan

from ..helpers import wait_until


def start_scan(client: Any, url: str, services: list[str], **extra: Any) -> dict[str, Any]:
    headers = {name: extra.pop(name) for name in list(extra) if name.startswith("HTTP_")}
    response = client.post("/api/scans", {"url": url, "services": services, **extra}, format="json", **headers)
    assert response.status_code == 201, response.content
    return response.json()


def wait_final(client: Any, scan_id: str, *, timeout: float = 90.0) -> dict[str, Any]:
    wait_until(
        lambda: Scan.objects.get(pk=scan_id).status in FINAL_STATUSES,
        timeout=timeout,
        interval=0.1,
        message=f"scan {scan_id} finished",
    )
    response = client.get(f"/api/scans/{scan_id}")
    assert response.status_code == 200
    return response.json()


def retry(client: Any, scan_id: str, services: list[str] | None = None) -> Any:
    body = {} if services is None else {"services": services}
    return client.post(f"/api/scans/{scan_id}/retry", body, format="json")
