"""Flower as `make run` starts it (the Procfile's command): every page, `/metrics` included, asks for
the credentials; a drain task shows the queue and the keys of the jobs it claimed from PostgreSQL."""

from __future__ import annotations

import base64
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from devstack.flower import FlowerProcess, start_flower

from ..helpers import wait_until
from .engine import finalised, probe, start_stage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def flower(django_db_setup: None) -> Iterator[FlowerProcess]:
    started = start_flower(credentials=f"operator:{secrets.token_urlsafe(12)}")
    yield started
    started.kill()


def get(flower: FlowerProcess, path: str, *, credentials: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(flower.url + path)
    if credentials is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def test_flowers_metrics_and_pages_answer_401_without_the_credentials(flower):
    assert get(flower, "/metrics")[0] == 401
    assert get(flower, "/metrics", credentials="operator:wrong")[0] == 401
    assert get(flower, "/tasks")[0] == 401
    assert get(flower, "/api/tasks")[0] == 401

    status, body = get(flower, "/metrics", credentials=flower.credentials)

    assert status == 200 and "flower_events_total" in body
    assert get(flower, "/tasks", credentials=flower.credentials)[0] == 200


def drain_that_ran(flower: FlowerProcess, key: str) -> dict[str, Any] | None:
    status, body = get(flower, "/api/tasks?taskname=orchestration.drain", credentials=flower.credentials)
    assert status == 200, body
    return next((task for task in json.loads(body).values() if key in (task.get("result") or "")), None)


def test_a_drain_task_shows_its_queue_and_the_keys_of_the_jobs_it_ran(flower, worker_factory):
    queue = "tests-flower"
    worker_factory(concurrency=1, queues=queue)
    # Flower sees only the events sent after its receiver connected, and says nowhere when that was:
    # run one job after another until Flower shows the drain of one.
    for attempt in range(10):
        key = f"flower:{attempt}:job"
        stage = start_stage([probe(key, queue=queue), probe(f"{key}-2", queue=queue)], ref=f"flower-{attempt}")
        wait_until(partial(finalised, stage), message="the stage ran")
        try:
            task = wait_until(partial(drain_that_ran, flower, key), timeout=5, message="Flower saw it")
        except AssertionError:
            continue
        break
    else:
        pytest.fail("Flower never showed a drain")

    assert task["args"] == repr([queue]) or queue in task["args"], task
    assert f"'queue': '{queue}'" in task["result"] and key in task["result"], task
    status, page = get(flower, f"/task/{task['uuid']}", credentials=flower.credentials)
    assert status == 200 and key in page and queue in page


def test_a_drains_answer_names_its_queue_its_count_and_at_most_twenty_keys():
    from orchestration.tasks import drain_summary

    assert drain_summary("jobs", ["a", "b"]) == {"queue": "jobs", "ran": 2, "keys": ["a", "b"]}
    many = drain_summary("jobs", [f"job:{n}" for n in range(25)])
    assert (many["ran"], many["keys"], many["more"]) == (25, [f"job:{n}" for n in range(20)], 5)
