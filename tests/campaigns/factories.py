"""Builders for campaign tests: personas pointed at the loopback servers, configured campaigns, and
readers for what the user sees (events, phase states)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync

from campaigns.models import Campaign, CampaignPhase, DnsPersona, HttpPersona
from campaigns.phases import PHASES
from campaigns.services.campaigns import campaign_create, campaign_set_mode, phase_config_set
from orchestration.models import Event
from tenants.models import Tenant

from ..helpers import wait_until

DEAD_PORT = 9  # discard: nothing answers DNS there on loopback


def dns_persona(tenant: Tenant, port: int, **overrides: Any) -> DnsPersona:
    values: dict[str, Any] = {
        "name": "loopback dns",
        "nameservers": [f"127.0.0.1:{port}"],
        "query_types": ["A"],
        "timeout_seconds": 1.0,
        "retries": 0,
        "concurrency": 50,
    }
    return DnsPersona.objects.create(tenant=tenant, **{**values, **overrides})


def http_persona(tenant: Tenant, port: int, **overrides: Any) -> HttpPersona:
    values: dict[str, Any] = {"name": "loopback http", "port": port, "timeout_seconds": 5.0, "concurrency": 20}
    return HttpPersona.objects.create(tenant=tenant, **{**values, **overrides})


def generation_config(num_domains: int = 40, batch_size: int = 10, **overrides: Any) -> dict[str, Any]:
    return {
        "pattern_type": "prefix",
        "variable_length": 2,
        "character_set": "abcdefgh",
        "constant_string": "shop",
        "tld": "test",
        "num_domains": num_domains,
        "batch_size": batch_size,
        **overrides,
    }


def configured_campaign(
    tenant: Tenant,
    *,
    dns: DnsPersona,
    http: HttpPersona,
    mode: str = "full_sequence",
    num_domains: int = 40,
    batch_size: int = 10,
    queue: str = "",
    skip: tuple[str, ...] = (),
) -> Campaign:
    campaign = campaign_create(tenant=tenant, name="test campaign")
    if queue:
        Campaign.objects.filter(pk=campaign.pk).update(queue=queue)
        campaign.refresh_from_db()
    configs = {
        "domain_generation": generation_config(num_domains, batch_size),
        "dns_validation": {"personaIds": [str(dns.pk)], "batch_size": batch_size},
        "http_keyword_validation": {
            "personaIds": [str(http.pk)],
            "keywords": ["pricing", "login"],
            "batch_size": batch_size,
        },
        "analysis": {"keyword": "pricing", "batch_size": batch_size},
    }
    for phase in PHASES:
        if phase not in skip:
            phase_config_set(campaign=campaign, phase=phase, data=configs[phase])
    if mode != campaign.mode:
        campaign_set_mode(campaign=campaign, mode=mode, actor=None)
    return campaign


def event_types(campaign: Campaign, *, exclude: tuple[str, ...] = ("campaign_created", "mode_changed")) -> list[str]:
    return [e.type for e in Event.objects.filter(stream=campaign.stream).order_by("seq") if e.type not in exclude]


def phase_events(campaign: Campaign) -> list[tuple[str, str | None]]:
    return [
        (e.type, e.payload.get("phase"))
        for e in Event.objects.filter(stream=campaign.stream).order_by("seq")
        if e.type not in ("campaign_created", "mode_changed")
    ]


def phase_status(campaign: Campaign, phase: str) -> str:
    return CampaignPhase.objects.get(campaign=campaign, phase=phase).status


def wait_status(campaign: Campaign, status: str, *, timeout: float = 120) -> Campaign:
    def check() -> Campaign | None:
        campaign.refresh_from_db()
        return campaign if campaign.status == status else None

    return wait_until(check, timeout=timeout, interval=0.2, message=f"campaign {status}")


def wait_phase(campaign: Campaign, phase: str, status: str, *, timeout: float = 120) -> None:
    wait_until(
        lambda: phase_status(campaign, phase) == status, timeout=timeout, interval=0.2, message=f"{phase} {status}"
    )


def streamed_text(response: Any) -> str:
    """The body of a response streamed from an async iterator (as ASGI sends it, page by page)."""
    assert response.is_async

    async def collect() -> bytes:
        return b"".join([part async for part in response.streaming_content])

    return async_to_sync(collect)().decode()
