"""The campaign's SSE stream: the same access rules as the API, then its events from Last-Event-ID."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test import AsyncClient
from knox.models import AuthToken

from tenants.models import Role

from ..helpers import make_user
from .factories import configured_campaign, dns_persona, event_types, http_persona, wait_status

pytestmark = pytest.mark.django_db(transaction=True)


async def get(path: str, token: str | None, *, last_id: int = 0, until: str = "") -> tuple[int, list[dict]]:
    headers = {"Authorization": f"Token {token}"} if token else {}
    if last_id:
        headers["Last-Event-ID"] = str(last_id)
    response = await AsyncClient().get(path, headers=headers)
    events: list[dict] = []
    if response.status_code == 200:
        stream = response.streaming_content  # type: ignore[attr-defined]
        try:
            async for chunk in stream:
                text = chunk.decode() if isinstance(chunk, bytes) else chunk
                events += [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
                if events and events[-1]["type"] == until:
                    break
        finally:
            await stream.aclose()
    await sync_to_async(lambda: connection.close())()  # the view queried on asgiref's thread: close there
    return response.status_code, events


def test_the_stream_replays_the_campaign_and_guards_access(
    celery_worker, dns_server, http_server, tenant, other_tenant, tenant_admin, admin_client
):
    campaign = configured_campaign(
        tenant, dns=dns_persona(tenant, dns_server.port), http=http_persona(tenant, http_server.port)
    )
    assert admin_client.post(f"/api/campaigns/{campaign.pk}/phases/domain_generation/start").status_code == 202
    wait_status(campaign, "completed")
    _, token = AuthToken.objects.create(tenant_admin)
    _, stranger = AuthToken.objects.create(make_user(tenant=other_tenant, role=Role.TENANT_ADMIN))
    path = f"/api/campaigns/{campaign.pk}/events"

    status, everything = asyncio.run(asyncio.wait_for(get(path, token, until="campaign_completed"), 30))
    _, replayed = asyncio.run(asyncio.wait_for(get(path, token, last_id=3, until="campaign_completed"), 30))

    assert status == 200
    assert [event["type"] for event in everything if event["type"] in event_types(campaign)] == event_types(campaign)
    assert [event["seq"] for event in everything] == list(range(1, len(everything) + 1))
    assert replayed == everything[3:]
    assert asyncio.run(get(path, None))[0] == 401
    assert asyncio.run(get(path, stranger))[0] == 404
