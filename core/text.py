"""Text that PostgreSQL refuses: NUL (in text and jsonb) and lone surrogates (not encodable as UTF-8)."""

from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def is_storable(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


def first_unstorable_path(data: Any) -> list[str] | None:
    """The path (keys/indexes as text) to the first string, key or value, that cannot be stored; None if
    all can. Iterative: the depth is bounded by the parser, but a walk must not recurse anyway."""
    pending: list[tuple[list[str], Any]] = [([], data)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            if not is_storable(value):
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and not is_storable(key):
                    return [*path, "<key>"]
                pending.append(([*path, str(key)], item))
        elif isinstance(value, list):
            pending.extend(([*path, str(index)], item) for index, item in enumerate(value))
    return None
