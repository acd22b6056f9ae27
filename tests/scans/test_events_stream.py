"""The scan's SSE stream replays its events (from Last-Event-ID) and follows them live."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test import AsyncClient
from knox.models import AuthToken

from .scanning import start_scan, wait_final

pytestmark = pytest.mark.django_db(transaction=True)


async def read_events(path: str, token: str, *, last_id: int = 0, until: str = "scan_completed") -> list[dict]:
    headers = {"Authorization": f"Token {token}"}
    if last_id:
        headers["Last-Event-ID"] = str(last_id)
    response = await AsyncClient().get(path, headers=headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events: list[dict] = []
    stream = response.streaming_content  # type: ignore[attr-defined]
    try:
        async for chunk in stream:
            text = chunk.decode() if isinstance(chunk, bytes) else chunk
            for line in text.splitlines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
            if events and events[-1]["type"] == until:
                break
    finally:
        await stream.aclose()
        await sync_to_async(lambda: connection.close())()  # the view queried on asgiref's thread: close there
    return events


def test_the_stream_reports_service_progress_and_replays_from_last_event_id(
    celery_worker, site, admin_client, tenant_admin
):
    scan_id = start_scan(admin_client, site.url("/good"), ["meta", "security_headers"])["id"]
    wait_final(admin_client, scan_id)
    _, token = AuthToken.objects.create(tenant_admin)
    path = f"/api/scans/{scan_id}/events"

    everything = asyncio.run(asyncio.wait_for(read_events(path, token), timeout=30))
    replayed = asyncio.run(asyncio.wait_for(read_events(path, token, last_id=2), timeout=30))

    types = [event["type"] for event in everything]
    assert types[0] == "scan_started" and types[-1] == "scan_completed"
    assert types.count("service_started") == 2 and types.count("service_completed") == 2
    assert everything[-1]["payload"]["status"] == "completed"
    assert [event["seq"] for event in everything] == list(range(1, len(everything) + 1))
    assert replayed == everything[2:]
