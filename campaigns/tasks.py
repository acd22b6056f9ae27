"""Thin Celery entry points. `campaigns.rehydrate` runs from beat (config.settings); a starting worker
runs the same recovery through the stage kind's `on_worker_start`."""

from celery import shared_task

from .services.recovery import rehydrate as rehydrate_service


@shared_task(name="campaigns.rehydrate")
def rehydrate(limit: int = 100) -> dict[str, int]:
    report = rehydrate_service(limit=limit)
    return {
        "candidates": report.candidates,
        "resumed": len(report.resumed),
        "left_paused": len(report.left_paused),
        "errors": len(report.errors),
    }
