"""Who may take the costly campaign actions. One rule for every door (API, console, admin actions),
applied inside the phase services: a tenant member may start, retry, restart or resume a phase only
while it covers at most `RELAY_MEMBER_MAX_PHASE_DOMAINS` domains; over that it takes a tenant admin.
The engine's own starts (auto-advance, recovery after a restart) have no actor and are not limited:
they continue what a person with the right already started."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection

from core.exceptions import ApplicationError
from tenants.models import User

from ..models import Campaign
from ..phases import Phase


class AdminRequired(ApplicationError):
    status = 403
    code = "admin_required"


def member_max_phase_domains() -> int:
    return int(settings.RELAY_MEMBER_MAX_PHASE_DOMAINS)


def phase_domain_total(*, campaign: Campaign, phase: str, config: dict[str, Any]) -> int:
    """The size of a phase: the domains its batches cover. Generation makes `num_domains` (of the
    config it will run); every later phase walks the `seq` range of the domains generated (HTTP skips
    the unresolved ones inside its batches, but the range is what it is scheduled over)."""
    if phase == Phase.DOMAIN_GENERATION:
        return int(config["num_domains"])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(max(seq) + 1, 0) FROM campaigns_generateddomain WHERE campaign_id = %s", [campaign.pk]
        )
        (total,) = cursor.fetchone()
    return int(total)


def require_phase_size_allowed(*, actor: User | None, phase: str, domains: int) -> None:
    """403 `admin_required` (in the error envelope, with the size and the limit) for a tenant member
    acting on a phase over the members' limit."""
    limit = member_max_phase_domains()
    if actor is None or actor.is_tenant_admin or domains <= limit:
        return
    raise AdminRequired(
        f"Phase {phase} covers {domains} domains; tenant members may start phases of at most {limit}. "
        "Ask a tenant admin to start it.",
        extra={"phaseDomains": domains, "memberMaxPhaseDomains": limit},
    )
