"""The API's JSON parser: the body size and nesting depth are bounded *before* the JSON is parsed (a
100,000 `[` body would otherwise end in a RecursionError), and text PostgreSQL cannot store (NUL) or
UTF-8 cannot encode (lone surrogates) is refused with a field error instead of failing at save time."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser

from .text import first_unstorable_path

# A JSON string literal (escapes included); removed before counting brackets so "[[[" inside text is text.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is too large."


def max_body_bytes() -> int:
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440)


def max_depth() -> int:
    return int(getattr(settings, "RELAY_API_MAX_JSON_DEPTH", 32))


def nesting_depth(text: str) -> int:
    """The deepest `[`/`{` nesting of a JSON text, counted without parsing it."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _read_bounded(stream: IO[bytes] | None, *, limit: int) -> bytes:
    if stream is None:
        return b""
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise RequestTooLarge(f"The request body is over {limit} bytes.")
    return raw


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        limit = max_body_bytes()
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and str(declared).isdigit() and int(declared) > limit:
            raise RequestTooLarge(f"The request body is over {limit} bytes.")
        raw = _read_bounded(stream, limit=limit)
        try:
            text = raw.decode((parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET)
        except UnicodeDecodeError:
            raise exceptions.ParseError("The body is not valid UTF-8.") from None
        if nesting_depth(text) > max_depth():
            raise exceptions.ParseError(f"JSON nested deeper than {max_depth()} levels.")
        try:
            data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
        except (ValueError, RecursionError):
            raise exceptions.ParseError("The body is not valid JSON.") from None
        path = first_unstorable_path(data)
        if path is not None:
            raise exceptions.ValidationError(
                {
                    path[0] if path else "non_field_errors": [
                        "Text may not contain NUL characters or unpaired surrogates."
                    ]
                }
            )
        return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    """`1e999` parses as infinity, which jsonb refuses at save time: refuse it here."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value
