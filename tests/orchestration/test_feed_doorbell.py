"""A change feed's doorbell keeps the notes of its rings (the changed streams) until they are taken,
at most `NOTES_CAP` of them; a stream's doorbell keeps none."""

from __future__ import annotations

import asyncio

from orchestration.stream_hub import NOTES_CAP, Doorbell


def test_a_feed_doorbell_keeps_its_notes_until_taken_and_says_when_it_dropped_some():
    async def scenario() -> None:
        bell = Doorbell("feed:tenant:t", keep_notes=True)
        bell.ring("run:2")
        bell.ring("run:1")
        bell.ring("run:2")
        bell.ring(None)  # a (re)subscription: no note, still a ring
        assert bell.take_notes() == (["run:1", "run:2"], False)
        assert not await bell.wait(0.01)  # taking the notes took the ring too
        for i in range(NOTES_CAP + 5):
            bell.ring(f"scan:{i}")
        notes, overflowed = bell.take_notes()
        assert len(notes) == NOTES_CAP and overflowed
        assert bell.take_notes() == ([], False)

    asyncio.run(scenario())


def test_a_stream_doorbell_keeps_no_notes():
    async def scenario() -> None:
        bell = Doorbell("run:1")
        bell.ring("7")
        assert await bell.wait(0.01)
        assert bell.take_notes() == ([], False)

    asyncio.run(scenario())
