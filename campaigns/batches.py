"""A phase's batches are `seq` ranges, keyed by the range (`campaign:<id>:<phase>:<first>-<stop>`).

The checkpoint of a retry is the set of ranges whose batch succeeded, not batch numbers: a number
means a different range once the batch size differs, a range means the same domains at any size. The
work left is `[0, total)` minus those ranges, cut into batches of the current size, so every domain
is processed exactly once whatever sizes the earlier runs used.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def job_key(*, campaign_id: Any, phase: str, first: int, stop: int) -> str:
    return f"campaign:{campaign_id}:{phase}:{first}-{stop}"


def remaining_ranges(*, total: int, size: int, done: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """`[0, total)` less the `done` ranges (which may overlap or come from other batch sizes), cut
    into `[first, stop)` pieces of at most `size`."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    remaining: list[tuple[int, int]] = []
    cursor = 0
    for first, stop in sorted(done):
        if first > cursor:
            remaining += _cut(cursor, min(first, total), size)
        cursor = max(cursor, stop)
        if cursor >= total:
            break
    if cursor < total:
        remaining += _cut(cursor, total, size)
    return remaining


def _cut(first: int, stop: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, stop)) for start in range(first, stop, size)]
