"""Templates: create, update, archive (a soft delete)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.exceptions import ApplicationError
from tenants.models import Tenant, User

from ..models import Template
from ..processors import get_processor
from ..processors.registry import ConfigError

logger = logging.getLogger(__name__)


def _checked_config(*, processor: str, config: dict[str, Any]) -> dict[str, Any]:
    try:
        return get_processor(processor).validate_config(config)
    except LookupError as exc:
        raise ApplicationError("Unknown processor.", fields={"processor": ["Unknown processor."]}) from exc
    except ConfigError as exc:
        raise ApplicationError("Invalid processor config.", fields={"processorConfig": exc.fields}) from exc


def template_create(
    *,
    tenant: Tenant | None,
    actor: User,
    name: str,
    processor: str,
    processor_config: dict[str, Any],
    description: str = "",
    max_attempts: int = 3,
) -> Template:
    """A template of `tenant`, or platform-wide when `tenant` is None (platform admins only)."""
    if tenant is None and not actor.is_platform_admin:
        raise ApplicationError(
            "Only platform admins create platform-wide templates.", code="permission_denied", status=403
        )
    config = _checked_config(processor=processor, config=processor_config)
    template = Template.objects.create(
        tenant=tenant,
        name=name,
        description=description,
        processor=processor,
        processor_config=config,
        max_attempts=max_attempts,
    )
    logger.info(
        "workflow.template_created tenant=%s template=%s processor=%s actor=%s",
        tenant.pk if tenant else None,
        template.pk,
        processor,
        actor.pk,
    )
    return template


def _check_can_edit(*, template: Template, actor: User) -> None:
    if template.tenant_id is None and not actor.is_platform_admin:
        raise ApplicationError(
            "Platform-wide templates are managed by platform admins.", code="permission_denied", status=403
        )


@transaction.atomic
def template_update(*, template: Template, actor: User, **changes: Any) -> Template:
    _check_can_edit(template=template, actor=actor)
    template = Template.objects.select_for_update().get(pk=template.pk)
    processor = changes.get("processor", template.processor)
    if "processor" in changes or "processor_config" in changes:
        config = changes.get("processor_config", template.processor_config if "processor" not in changes else {})
        changes["processor_config"] = _checked_config(processor=processor, config=config)
    for field, value in changes.items():
        setattr(template, field, value)
    template.save()
    logger.info("workflow.template_updated template=%s fields=%s actor=%s", template.pk, sorted(changes), actor.pk)
    return template


def template_archive(*, template: Template, actor: User) -> Template:
    """Hide the template from listings and new runs; runs that used it keep loading it."""
    _check_can_edit(template=template, actor=actor)
    Template.all_objects.filter(pk=template.pk, archived_at__isnull=True).update(archived_at=timezone.now())
    template.refresh_from_db()
    logger.info("workflow.template_archived template=%s actor=%s", template.pk, actor.pk)
    return template
