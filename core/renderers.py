"""The API's JSON renderer: DRF's output, written by orjson.

Encoding was about a tenth of a list read's CPU under bench-load (Python's `json` with DRF's encoder),
and a stored JSON document (a scan service's result) had to be decoded from PostgreSQL only to be
encoded again. orjson writes the same bytes DRF's renderer writes for what the API answers (compact,
UTF-8, datetimes as ISO 8601 with `Z` for UTC, U+2028/U+2029 escaped; tests/core/test_renderers.py),
hands what it does not know to DRF's own encoder (Decimal, lazy strings, querysets, timedelta), and
embeds a `StoredJSON` (JSON text as PostgreSQL stores it) as it is. What orjson refuses (an integer past 64
bits) goes through DRF's renderer instead.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from rest_framework import renderers
from rest_framework.utils import encoders

OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
# DRF's renderer escapes these two so that the output is also a strict JavaScript subset.
LINE_SEPARATOR, PARAGRAPH_SEPARATOR = "\u2028".encode(), "\u2029".encode()

_drf = encoders.JSONEncoder()


class StoredJSON:
    """A JSON document's text (e.g. a `jsonb` column read `::text`), answered without decoding it."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoredJSON) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def _default(value: Any) -> Any:
    if isinstance(value, StoredJSON):
        return orjson.Fragment(value.text)
    return _drf.default(value)


class _FallbackEncoder(encoders.JSONEncoder):
    def default(self, value: Any) -> Any:
        if isinstance(value, StoredJSON):
            return json.loads(value.text)
        return super().default(value)


class JSONRenderer(renderers.JSONRenderer):
    encoder_class = _FallbackEncoder

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        pretty = self.get_indent(accepted_media_type or "", renderer_context or {}) is not None
        if pretty or self.ensure_ascii or not self.compact:  # the browsable API, or other DRF settings
            return super().render(data, accepted_media_type, renderer_context)
        try:
            body = orjson.dumps(data, default=_default, option=OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        return body.replace(LINE_SEPARATOR, b"\\u2028").replace(PARAGRAPH_SEPARATOR, b"\\u2029")
