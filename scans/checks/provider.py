"""Services backed by an outside HTTP provider (rankings, backlinks). Without a configured endpoint they
fail fatally with `provider_not_configured`: retrying cannot help until an operator sets one."""

from __future__ import annotations

from typing import Any

import httpx

from orchestration.errors import JobError

from .fetch import user_agent
from .registry import CheckSettings, ScanTarget


def call_provider(service: str, target: ScanTarget, settings: CheckSettings) -> dict[str, Any]:
    endpoint = settings.providers.get(service, "")
    if not endpoint:
        raise JobError.fatal(f"the {service} provider is not configured", code="provider_not_configured")
    headers = {"User-Agent": user_agent(service)}
    if settings.provider_token:
        headers["Authorization"] = f"Bearer {settings.provider_token}"
    try:
        response = httpx.post(
            endpoint,
            json={"url": target.url, "keywords": list(target.keywords)},
            headers=headers,
            timeout=settings.provider_timeout,
        )
    except httpx.TimeoutException as exc:
        raise JobError.retryable_error(f"the {service} provider timed out", code="provider_timeout") from exc
    except httpx.HTTPError as exc:
        raise JobError.retryable_error(
            f"the {service} provider is unreachable: {type(exc).__name__}", code="provider_unreachable"
        ) from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise JobError.retryable_error(
            f"the {service} provider answered HTTP {response.status_code}", code="provider_error"
        )
    if response.status_code >= 400:
        raise JobError.fatal(
            f"the {service} provider refused the request (HTTP {response.status_code})", code="provider_rejected"
        )
    try:
        data = response.json()
    except ValueError as exc:
        raise JobError.retryable_error(
            f"the {service} provider sent invalid JSON", code="provider_bad_response"
        ) from exc
    if not isinstance(data, dict):
        raise JobError.retryable_error(
            f"the {service} provider sent an unexpected answer", code="provider_bad_response"
        )
    return data
