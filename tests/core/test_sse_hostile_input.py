"""The SSE endpoints are plain async Django views, outside the OpenAPI schema that
`test_hostile_input.py` sweeps: the same hostile input against each of them. A hostile `Last-Event-ID`
(header or `?lastEventId=`) still streams; wrong methods, bad tokens, bad ids and other tenants' objects
answer in the `{"error": …}` envelope; nothing is a 5xx."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test import AsyncClient
from knox.models import AuthToken

from campaigns.services.campaigns import campaign_create
from orchestration import events
from scans.models import Scan
from tenants.models import Role

from ..helpers import make_user
from ..workflow_runs.factories import make_template, run_in_state
from .test_hostile_input import BAD_AUTHORIZATION, assert_enveloped

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE_EVENT_IDS = ["-1", "abc", "1e9", str(2**63), str(10**90), "9" * 5000, " 3", "0x10", "\u0663", ""]


@pytest.fixture
def stream_paths(tenant):
    run = run_in_state(tenant=tenant, template=make_template(tenant=tenant), files=[("failed", 0)])
    campaign = campaign_create(tenant=tenant, name="c")
    scan = Scan.objects.create(tenant=tenant, url="http://site.test/", services=["meta"])
    for stream in (run.stream, campaign.stream, scan.stream):
        events.emit(stream=stream, type="hello")
    return [
        f"/api/workflow-runs/{run.pk}/events",
        f"/api/campaigns/{campaign.pk}/events",
        f"/api/scans/{scan.pk}/events",
    ]


async def first_frames(response: Any, count: int) -> list[str]:
    """The first `count` frames after `retry:` (events or keep-alive comments)."""
    frames: list[str] = []
    iterator = aiter(response.streaming_content)
    try:
        async with asyncio.timeout(10):
            while len(frames) < count:
                chunk = await anext(iterator)
                text = chunk.decode() if isinstance(chunk, bytes) else chunk
                if not text.startswith("retry:"):
                    frames.append(text)
    finally:
        await iterator.aclose()
    return frames


def test_a_hostile_last_event_id_still_streams(settings, tenant, stream_paths):
    settings.RELAY_SSE_KEEPALIVE_SECONDS = 0.2
    token = AuthToken.objects.create(make_user(tenant=tenant))[1]

    async def scenario() -> list[tuple[str, int, str]]:
        client = AsyncClient()
        seen = []
        for path in stream_paths:
            for value in HOSTILE_EVENT_IDS:
                for how in ("header", "query"):
                    headers = {"Authorization": f"Token {token}"}
                    if how == "header":
                        headers["Last-Event-ID"] = value.encode().decode("latin-1")  # UTF-8 bytes as sent
                        response = await client.get(path, headers=headers)
                    else:
                        response = await client.get(path, {"lastEventId": value}, headers=headers)
                    status = response.status_code
                    frames = await first_frames(response, 2) if status == 200 else []
                    seen.append((f"{path} {how} {value[:12]!r}", status, "".join(frames)))
        await sync_to_async(lambda: connection.close())()
        return seen

    seen = asyncio.run(scenario())

    for what, status, frames in seen:
        assert status == 200, what
        # An id the stream never reached replays nothing; anything unreadable replays from the start.
        assert frames.startswith(("id: 1\n", ": keep-alive")), (what, frames[:80])


def test_wrong_methods_tokens_and_ids_answer_in_the_envelope(tenant, other_tenant, stream_paths):
    stranger = AuthToken.objects.create(make_user(tenant=other_tenant, role=Role.TENANT_ADMIN))[1]

    async def scenario() -> list[tuple[str, int, object]]:
        client = AsyncClient()
        answers = []
        for path in stream_paths:
            for method in ("post", "put", "patch", "delete"):
                answers.append((f"{method} {path}", 405, await getattr(client, method)(path)))
            for header in BAD_AUTHORIZATION:
                response = await client.get(path, headers={"Authorization": header})
                answers.append((f"get {path} {header[:12]!r}", 401, response))
            response = await client.get(path, headers={"Authorization": f"Token {stranger}"})
            answers.append((f"get {path} as another tenant", 404, response))
            unknown = path.replace(path.split("/")[3], str(uuid.uuid4()))
            response = await client.get(unknown, headers={"Authorization": f"Token {stranger}"})
            answers.append((f"get {unknown}", 404, response))
            response = await client.get(path.replace(path.split("/")[3], "not-a-uuid\x00"))
            answers.append((f"get {path} bad id", 404, response))
        await sync_to_async(lambda: connection.close())()
        return answers

    for what, expected, response in asyncio.run(scenario()):
        assert_enveloped(response, what)
        assert response.status_code == expected, what  # type: ignore[attr-defined]
