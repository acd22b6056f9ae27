"""Webhook: POST the file to a configured URL (an LLM or extraction service) and keep its answer.

Transient trouble is retryable (timeouts, connection errors, 429, 5xx): the engine retries with backoff,
then the file ends `failed` and Continue may retry it for a charge. Any other 4xx is the service
refusing this file: fatal, the file ends `error` and is never retried.

The file is streamed to the service (64 KB at a time, never read whole), and the answer is read only up
to `max_body_bytes()`: a longer answer is stored as the text it began with, cut so the whole output
fits `RELAY_MAX_OUTPUT_BYTES`, with `body_truncated: true`; the rest is never read. An answer that is
JSON PostgreSQL could not store (NUL, a lone surrogate, a number beyond a float) is kept as text too.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any, cast
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from core import egress
from core.egress_transports import http_transport
from core.text import first_unstorable_path
from orchestration.errors import JobError

from .output import output_bytes
from .registry import ConfigError, Processor, register
from .streams import FileInput

DEFAULT_TIMEOUT = 30.0
ENVELOPE_BYTES = 512  # room in the stored output for the status, the content type and the marker


def max_output_bytes() -> int:
    return int(settings.RELAY_MAX_OUTPUT_BYTES)


def max_body_bytes() -> int:
    """The most of an answer read and kept: what fits the stored output beside its envelope."""
    return max(0, max_output_bytes() - ENVELOPE_BYTES)


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    unknown = set(config) - {"url", "timeout_seconds", "headers"}
    for key in sorted(unknown):
        errors[key] = ["Unknown option."]
    url = config.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        errors["url"] = ["An http(s) URL is required."]
    else:
        try:
            egress.check_url(str(url))
        except egress.EgressDenied as exc:
            errors["url"] = [f"This address is not allowed ({exc.rule})."]
    timeout = config.get("timeout_seconds", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        errors["timeout_seconds"] = ["A number of seconds from 0 to 300."]
    headers = config.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        errors["headers"] = ["An object of string header values."]
    if errors:
        raise ConfigError(errors)
    return {"url": url, "timeout_seconds": float(timeout), "headers": headers}


def process(name: str, source: FileInput, config: dict[str, Any]) -> dict[str, Any]:
    if source.seek(0, os.SEEK_END) == 0:
        raise JobError.fatal("the file is empty", code="invalid_file")
    source.seek(0)
    url = config["url"]
    try:
        with (
            httpx.Client(transport=http_transport()) as client,
            client.stream(
                "POST",
                url,
                files={
                    "file": (name, cast(IO[bytes], source), "application/octet-stream")
                },  # streamed: httpx reads 64 KB at a time
                # An encoded answer would be decoded whole before we could count it.
                headers={**(config.get("headers") or {}), "Accept-Encoding": "identity"},
                timeout=float(config.get("timeout_seconds", DEFAULT_TIMEOUT)),
                follow_redirects=False,
            ) as response,
        ):
            status = response.status_code
            _raise_for_status(status)
            body, truncated = _read_capped(response, max_body_bytes())
    except egress.EgressDenied as exc:
        raise JobError.fatal(f"the webhook's address is not allowed ({exc.rule})", code="egress_denied") from exc
    except httpx.InvalidURL as exc:
        raise JobError.fatal("the webhook URL is not valid", code="invalid_url") from exc
    except httpx.TimeoutException as exc:
        raise JobError.retryable_error(f"the service timed out: {type(exc).__name__}", code="timeout") from exc
    except httpx.TransportError as exc:
        raise JobError.retryable_error(
            f"could not reach the service ({type(exc).__name__})", code="connection_error"
        ) from exc
    content_type = response.headers.get("content-type", "")[:200]
    encoding = response.headers.get("content-encoding", "identity").lower()
    return stored_output(
        status=status, content_type=content_type, body=body, truncated=truncated, encoded=encoding != "identity"
    )


def _raise_for_status(status: int) -> None:
    if status == 429:
        raise JobError.retryable_error("the service is rate limiting us (429)", code="rate_limited")
    if status >= 500:
        raise JobError.retryable_error(f"the service failed ({status})", code="upstream_error")
    if status >= 400:
        raise JobError.fatal(f"the service refused the file ({status})", code="rejected")
    if status >= 300:
        raise JobError.fatal(
            f"the service answered a redirect ({status}); configure the final URL", code="unexpected_redirect"
        )


def _read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    """At most `cap` bytes of the answer, and whether there was more (which is never read)."""
    received = bytearray()
    for chunk in response.iter_raw():
        received += chunk[: cap + 1 - len(received)]
        if len(received) > cap:
            return bytes(received[:cap]), True
    return bytes(received), False


def stored_output(
    *, status: int, content_type: str, body: bytes, truncated: bool, encoded: bool = False
) -> dict[str, Any]:
    """What is stored for an answer: its JSON when it is whole, storable JSON; else its text, cut so that
    the output's JSON is at most `RELAY_MAX_OUTPUT_BYTES`."""
    output: dict[str, Any] = {"status": status, "content_type": content_type, "body": None, "body_truncated": truncated}
    if encoded:  # asked for identity and got gzip or another coding: not decoded, not stored
        output["body_encoding"] = "not decoded"
        return output
    if not truncated:
        parsed = _storable_json(body)
        if parsed is not _NOT_JSON:
            output["body"] = parsed
            if output_bytes(output) <= max_output_bytes():
                return output
    text = body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    output["body"] = text
    limit = max_output_bytes()
    if output_bytes(output) > limit:
        # Escapes make the stored JSON longer than the text: keep the longest prefix that fits.
        low, high = 0, len(text)
        while low < high:
            middle = (low + high + 1) // 2
            if output_bytes({**output, "body": text[:middle], "body_truncated": True}) <= limit:
                low = middle
            else:
                high = middle - 1
        output.update(body=text[:low], body_truncated=True)
    return output


_NOT_JSON = object()


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


def _storable_json(body: bytes) -> Any:
    try:
        parsed = json.loads(body.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, NaN/Infinity, too deep
        return _NOT_JSON
    return _NOT_JSON if first_unstorable_path(parsed) is not None else parsed


register(
    Processor(
        name="webhook",
        description="POSTs the file to a URL and stores the response.",
        process=process,
        validate_config=validate_config,
    )
)
