"""`make run`'s demo data: the demo tenant and users (idempotent), and how to sign in.

When `make run` has started the loopback DNS and HTTP servers (`RELAY_DEMO_DNS`, `RELAY_DEMO_HTTP_PORT`),
the demo tenant also gets personas pointed at them and a fully configured demo campaign, ready to start.
Development infrastructure, so it lives here and not in an app; `make run` calls it through
`manage.py shell` (Django set up first).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from django.conf import settings
from django.db import transaction

from campaigns.models import Campaign, DnsPersona, HttpPersona
from campaigns.services.campaigns import campaign_create, phase_config_set
from tenants.models import Role, Tenant, User
from tenants.services import user_create

DEMO_CAMPAIGN = "Demo campaign (loopback)"
DNS_PERSONA = "Loopback DNS (demo)"
HTTP_PERSONA = "Loopback HTTP (demo)"
# With a loopback DNS server that answers SERVFAIL (`RELAY_DEMO_DNS_BROKEN`), a second campaign whose DNS
# persona points at it: its DNS validation fails, for the walkthrough that fixes the persona and retries.
FAILING_CAMPAIGN = "Demo campaign (DNS failure)"
BROKEN_DNS_PERSONA = "Broken DNS (demo)"


def seed_demo(stdout: TextIO) -> None:
    """Create the demo tenant, a platform admin and a tenant admin; print their credentials."""
    password = _password()
    started = time.monotonic()

    def progress(text: str) -> None:
        stdout.write(f"  demo: {text} ({time.monotonic() - started:.1f}s)\n")
        stdout.flush()

    with transaction.atomic():
        tenant, created = Tenant.objects.get_or_create(slug="demo", defaults={"name": "Demo tenant"})
        progress(f"tenant '{tenant.slug}' {'created' if created else 'kept'}")
        accounts = [("admin", None, Role.PLATFORM_ADMIN), ("demo", tenant, Role.TENANT_ADMIN)]
        for done, (username, user_tenant, role) in enumerate(accounts, start=1):
            user = User.objects.filter(username=username).first()
            if user is None:
                user_create(username=username, password=password, tenant=user_tenant, role=role)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            progress(f"users {done}/{len(accounts)} ({username} {'created' if user is None else 'updated'})")
        demo_campaign = _campaign_demo(tenant, progress)
        failing_campaign = _campaign_dns_failure(tenant, progress) if demo_campaign is not None else None
    if demo_campaign is not None:
        stdout.write(
            f"Demo campaign '{demo_campaign.name}' ({demo_campaign.id}), all four phases configured against the "
            f"loopback servers: POST /api/campaigns/{demo_campaign.id}/phases/domain_generation/start\n"
        )
    if failing_campaign is not None:
        broken = DnsPersona.objects.get(tenant=tenant, name=BROKEN_DNS_PERSONA)
        stdout.write(
            f"Demo campaign '{failing_campaign.name}' ({failing_campaign.id}): its DNS persona '{broken.name}' "
            f"({broken.id}) asks a server that answers SERVFAIL, so DNS validation fails until the persona is fixed\n"
        )
    stdout.write(
        f"Demo tenant '{tenant.name}' ({tenant.id}).\n"
        f"  platform admin (Django admin too): admin / {password}\n"
        f"  tenant admin of the demo tenant:   demo / {password}\n"
        f'  API token: POST /api/auth/login {{"username": "demo", "password": "{password}"}}\n'
    )


def _campaign_demo(tenant: Tenant, progress: Callable[[str], None]) -> Campaign | None:
    dns_address, http_port = os.environ.get("RELAY_DEMO_DNS"), os.environ.get("RELAY_DEMO_HTTP_PORT")
    if not (dns_address and http_port):
        progress("no loopback servers (RELAY_DEMO_DNS, RELAY_DEMO_HTTP_PORT): no demo campaign")
        return None
    # The servers' ports can change between runs: the personas follow them.
    dns, _ = DnsPersona.objects.update_or_create(
        tenant=tenant, name=DNS_PERSONA, defaults={"nameservers": [dns_address], "query_types": ["A"]}
    )
    http, _ = HttpPersona.objects.update_or_create(tenant=tenant, name=HTTP_PERSONA, defaults={"port": int(http_port)})
    progress(f"personas 2/2 (DNS {dns_address}, HTTP port {http_port})")
    campaign = Campaign.objects.filter(tenant=tenant, name=DEMO_CAMPAIGN).first()
    if campaign is not None:
        progress(f"campaign '{campaign.name}' kept")
        return campaign
    return _campaign_configured(tenant, DEMO_CAMPAIGN, dns=dns, http=http, progress=progress)


def _campaign_dns_failure(tenant: Tenant, progress: Callable[[str], None]) -> Campaign | None:
    broken_address = os.environ.get("RELAY_DEMO_DNS_BROKEN")
    if not broken_address:
        return None
    # Seeding again points the persona back at the broken server, so the walkthrough can be repeated
    # on a new campaign (delete the old one, or rename it, and run `make run` again).
    broken, _ = DnsPersona.objects.update_or_create(
        tenant=tenant, name=BROKEN_DNS_PERSONA, defaults={"nameservers": [broken_address], "query_types": ["A"]}
    )
    http = HttpPersona.objects.get(tenant=tenant, name=HTTP_PERSONA)
    progress(f"persona '{broken.name}' (DNS {broken_address}, answers SERVFAIL)")
    campaign = Campaign.objects.filter(tenant=tenant, name=FAILING_CAMPAIGN).first()
    if campaign is not None:
        progress(f"campaign '{campaign.name}' kept")
        return campaign
    return _campaign_configured(tenant, FAILING_CAMPAIGN, dns=broken, http=http, progress=progress)


def _campaign_configured(
    tenant: Tenant, name: str, *, dns: DnsPersona, http: HttpPersona, progress: Callable[[str], None]
) -> Campaign:
    campaign = campaign_create(tenant=tenant, name=name, mode="full_sequence")
    configs = {
        "domain_generation": {
            "pattern_type": "prefix",
            "variable_length": 3,
            "character_set": "abcdefghij",
            "constant_string": "shop",
            "tld": "test",
            "num_domains": 1000,
            "batch_size": 250,
        },
        "dns_validation": {"personaIds": [str(dns.pk)]},
        "http_keyword_validation": {"personaIds": [str(http.pk)], "keywords": ["pricing", "login"]},
        "analysis": {"keyword": "pricing"},
    }
    for done, (phase, config) in enumerate(configs.items(), start=1):
        phase_config_set(campaign=campaign, phase=phase, data=config)
        progress(f"campaign '{campaign.name}': phase configs {done}/{len(configs)} ({phase})")
    return campaign


def _password() -> str:
    if os.environ.get("RELAY_DEMO_PASSWORD"):
        return os.environ["RELAY_DEMO_PASSWORD"]
    path = Path(settings.BASE_DIR) / ".data" / "demo-password"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(10))
        path.chmod(0o600)
    return path.read_text().strip()
