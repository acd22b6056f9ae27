"""Webhook: POST the file to a configured URL (an LLM or extraction service) and keep its answer.

Transient trouble is retryable (timeouts, connection errors, 429, 5xx): the engine retries with backoff,
then the file ends `failed` and Continue may retry it for a charge. Any other 4xx is the service
refusing this file: fatal, the file ends `error` and is never retried.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from core import egress
from core.egress_transports import http_transport
from orchestration.errors import JobError

from .registry import ConfigError, Processor, register

MAX_STORED_BODY = 64_000
DEFAULT_TIMEOUT = 30.0


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


def process(name: str, content: bytes, config: dict[str, Any]) -> dict[str, Any]:
    if not content:
        raise JobError.fatal("the file is empty", code="invalid_file")
    url = config["url"]
    try:
        with httpx.Client(transport=http_transport()) as client:
            response = client.post(
                url,
                files={"file": (name, content, "application/octet-stream")},
                headers=config.get("headers") or {},
                timeout=float(config.get("timeout_seconds", DEFAULT_TIMEOUT)),
                follow_redirects=False,
            )
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
    status = response.status_code
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
    return {"status": status, "content_type": response.headers.get("content-type", ""), "body": _body(response)}


def _body(response: httpx.Response) -> Any:
    if len(response.content) > MAX_STORED_BODY:  # a huge answer is not stored whole
        return response.text[:MAX_STORED_BODY]
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:MAX_STORED_BODY]


register(
    Processor(
        name="webhook",
        description="POSTs the file to a URL and stores the response.",
        process=process,
        validate_config=validate_config,
    )
)
