"""The run's event stream over SSE: authentication, tenant scoping, replay."""

import asyncio
import gc

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test import AsyncClient
from knox.models import AuthToken

from orchestration import events
from tenants.models import Role

from ..helpers import make_user
from .factories import make_template, run_in_state

pytestmark = pytest.mark.django_db(transaction=True)


def token_for(user):
    return AuthToken.objects.create(user)[1]


async def first_frames(response, count):
    frames: list[str] = []
    iterator = aiter(response.streaming_content)
    while len(frames) < count:
        chunk = await asyncio.wait_for(anext(iterator), timeout=10)
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        if text.startswith("id:"):
            frames.append(text)
    await iterator.aclose()
    return frames


def test_the_events_of_a_run_are_replayed_over_sse(tenant, other_tenant):
    run = run_in_state(tenant=tenant, template=make_template(tenant=tenant), files=[("failed", 0)])
    events.emit(stream=run.stream, type="run_started", payload={"files": 1})
    events.emit(stream=run.stream, type="file_failed", payload={"index": 0})
    mine = token_for(make_user(tenant=tenant, role=Role.TENANT_MEMBER))
    theirs = token_for(make_user(tenant=other_tenant, role=Role.TENANT_ADMIN))
    url = f"/api/workflow-runs/{run.pk}/events"

    async def scenario():
        client = AsyncClient()
        anonymous = await client.get(url)
        stranger = await client.get(url, headers={"Authorization": f"Token {theirs}"})
        response = await client.get(url, headers={"Authorization": f"Token {mine}", "Last-Event-ID": "1"})
        frames = await first_frames(response, 1)
        await sync_to_async(lambda: connection.close())()  # in the view's database thread
        return anonymous.status_code, stranger.status_code, response["Content-Type"], frames

    anonymous, stranger, content_type, frames = asyncio.run(scenario())
    gc.collect()  # closes the connection the replay opened in an executor thread that has ended

    assert (anonymous, stranger) == (401, 404)
    assert content_type == "text/event-stream"
    assert frames[0].startswith("id: 2\nevent: file_failed\n")
