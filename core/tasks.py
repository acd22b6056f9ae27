"""Control-plane housekeeping of the API layer (`control.*`: routable to a control queue)."""

from celery import shared_task

from .idempotency import purge_expired


@shared_task(name="control.core.purge_idempotency_keys", ignore_result=True)
def purge_idempotency_keys() -> int:
    return purge_expired()
