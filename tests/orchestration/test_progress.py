"""Coalesced progress events: a few per second per stream, nothing noted is lost, seq stays gap-free."""

import itertools
import threading
import time

import pytest
from django.db import connection

from orchestration import events, progress
from orchestration.models import Event, EventStream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def interval(settings):
    def set_interval(seconds: float) -> None:
        settings.RELAY_ENGINE = {**settings.RELAY_ENGINE, "PROGRESS_INTERVAL_SECONDS": seconds}

    return set_interval


def item(index: int, status: str = "completed") -> dict:
    return {"index": index, "status": status}


def stream_events(stream: str) -> list[Event]:
    return list(Event.objects.filter(stream=stream).order_by("seq"))


def test_items_noted_within_the_interval_wait_and_come_out_together(interval):
    interval(3600)
    progress.note(stream="pg:a", type="files_progress", items=[item(0)])  # first progress: published now
    progress.note(stream="pg:a", type="files_progress", items=[item(1), item(2, "failed")])
    progress.note(stream="pg:a", type="files_progress", items=[item(3)])

    first = stream_events("pg:a")
    assert [(e.seq, e.payload["items"]) for e in first] == [(1, [item(0)])]
    assert progress.flush_due() == 0  # the last progress event is younger than the interval

    interval(0)
    assert progress.flush_due() == 1
    published = stream_events("pg:a")
    assert [e.seq for e in published] == [1, 2]
    assert published[1].type == "files_progress"
    assert published[1].payload == {
        "items": [item(1), item(2, "failed"), item(3)],
        "counts": {"completed": 2, "failed": 1},
        "truncated": False,
    }
    assert EventStream.objects.get(name="pg:a").pending_items is None
    assert progress.flush_due() == 0


def test_a_lifecycle_event_follows_the_progress_held_back_before_it(interval):
    interval(3600)
    progress.note(stream="pg:b", type="files_progress", items=[item(0)])
    progress.note(stream="pg:b", type="files_progress", items=[item(1)])
    events.emit(stream="pg:b", type="run_finished")

    published = stream_events("pg:b")
    assert [(e.seq, e.type) for e in published] == [(1, "files_progress"), (2, "files_progress"), (3, "run_finished")]
    assert published[1].payload["items"] == [item(1)]


def test_past_the_cap_an_event_says_it_is_truncated(interval):
    interval(3600)
    progress.note(stream="pg:c", type="files_progress", items=[item(0)])
    for start in range(0, progress.PENDING_CAP + 200, 100):
        progress.note(stream="pg:c", type="files_progress", items=[item(i) for i in range(start, start + 100)])
    events.emit(stream="pg:c", type="run_finished")

    held = stream_events("pg:c")[1]
    assert held.payload["truncated"] is True
    assert progress.PENDING_CAP <= len(held.payload["items"]) < progress.PENDING_CAP + 100


def test_concurrent_writers_publish_at_most_one_event_per_interval_and_lose_no_item(interval):
    interval(0.2)
    noted: list[int] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            deadline = time.monotonic() + 1.5
            n = 0
            while time.monotonic() < deadline:
                index = offset + n
                progress.note(stream="pg:d", type="files_progress", items=[item(index)])
                with lock:
                    noted.append(index)
                n += 1
        except BaseException as exc:  # reported below: an assertion in a thread would be swallowed
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(offset,)) for offset in (0, 1_000_000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    by_writers = stream_events("pg:d")
    events.emit(stream="pg:d", type="run_finished")

    assert len(noted) > 20  # the writers really raced
    gaps = [(b.created_at - a.created_at).total_seconds() for a, b in itertools.pairwise(by_writers)]
    assert all(gap >= 0.2 for gap in gaps), gaps
    assert len(by_writers) <= 1.5 / 0.2 + 2
    everything = stream_events("pg:d")
    assert [e.seq for e in everything] == list(range(1, len(everything) + 1))
    published = [i["index"] for e in everything if e.type == "files_progress" for i in e.payload["items"]]
    assert sorted(published) == sorted(noted)
