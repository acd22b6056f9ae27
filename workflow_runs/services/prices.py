"""The platform's price list: only platform admins write it; tenants never set a price."""

from __future__ import annotations

import logging

from django.db import transaction

from core.exceptions import ApplicationError
from tenants.models import User

from ..models import ProcessorPrice
from ..processors import available

logger = logging.getLogger(__name__)


def _check_platform_admin(actor: User) -> None:
    if not actor.is_platform_admin:
        raise ApplicationError("Prices are set by the platform.", code="permission_denied", status=403)


@transaction.atomic
def price_set(*, actor: User, processor: str, credits_per_file: int, plan: str = "") -> ProcessorPrice:
    """Create or change the price of `processor` for `plan` (blank: the default for every plan).
    Runs already started keep the price they snapshotted."""
    _check_platform_admin(actor)
    if processor not in available():
        raise ApplicationError("Unknown processor.", fields={"processor": ["Unknown processor."]})
    if credits_per_file <= 0:
        raise ApplicationError("A price is at least 1 credit.", fields={"creditsPerFile": ["Must be at least 1."]})
    price, created = ProcessorPrice.objects.select_for_update().get_or_create(
        processor=processor, plan=plan, defaults={"credits_per_file": credits_per_file, "updated_by": actor}
    )
    if not created:
        old = price.credits_per_file
        price.credits_per_file = credits_per_file
        price.updated_by = actor
        price.save(update_fields=["credits_per_file", "updated_by", "updated_at"])
        logger.info(
            "workflow.price_changed processor=%s plan=%s from=%s to=%s actor=%s",
            processor,
            plan,
            old,
            credits_per_file,
            actor.pk,
        )
    else:
        logger.info(
            "workflow.price_created processor=%s plan=%s price=%s actor=%s", processor, plan, credits_per_file, actor.pk
        )
    return price


def price_delete(*, actor: User, price: ProcessorPrice) -> None:
    _check_platform_admin(actor)
    ProcessorPrice.objects.filter(pk=price.pk).delete()
    logger.info("workflow.price_deleted processor=%s plan=%s actor=%s", price.processor, price.plan, actor.pk)
