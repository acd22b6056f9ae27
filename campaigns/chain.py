"""The phase chain: what happens when a phase's round ends (the engine's finaliser for
`campaign_phase` stages), and what happens to a batch whose worker died.

The finaliser runs exactly once per round, inside the transaction of the job that ended the round,
so the next phase's round opened here (auto-advance in `full_sequence`) is opened exactly once, and
its batches are published only after that transaction commits: that publication is the chain's
continuation. Mode and the next phase's config are read from the database at that moment.
"""

from __future__ import annotations

import logging
import uuid

from django.utils import timezone

from orchestration import events, metrics
from orchestration.models import Job, JobState, Stage
from orchestration.registry import LostAction

from . import reports
from .models import Campaign, CampaignMode, CampaignPhase, CampaignStatus, PhaseStatus
from .models.campaign import PausedReason
from .phases import next_phase
from .selectors import campaign_settings, missing_configs
from .services.phases import phase_mark_paused, phase_open_round

logger = logging.getLogger(__name__)


def _phase_of(stage: Stage) -> CampaignPhase | None:
    return CampaignPhase.objects.select_related("campaign", "campaign__tenant").filter(stage=stage).first()


def finalise_phase(stage: Stage) -> None:
    row = _phase_of(stage)
    if row is None:
        logger.warning("campaign.finalise_orphan stage=%s ref=%s", stage.pk, stage.ref)
        return
    campaign = row.campaign
    if stage.cancel_requested_at is not None:
        from .services.cancel import campaign_mark_cancelled

        campaign_mark_cancelled(campaign=campaign, phase=row)
        return
    now = timezone.now()
    log = f"campaign={campaign.pk} tenant={campaign.tenant_id} phase={row.phase} stage={stage.pk} round={stage.round}"
    if stage.failed or stage.errored:
        failed_job = (
            Job.objects.filter(stage=stage, round=stage.round, state__in=[JobState.FAILED, JobState.ERROR])
            .order_by("pk")
            .first()
        )
        error = f"{failed_job.key}: {failed_job.error_code}: {failed_job.error_message}" if failed_job else "failed"
        updated = CampaignPhase.objects.filter(
            pk=row.pk, status__in=[PhaseStatus.IN_PROGRESS, PhaseStatus.PAUSED]
        ).update(status=PhaseStatus.FAILED, failed_at=now, error=error[:2000], paused_reason="", updated_at=now)
        if not updated:
            return
        Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.FAILED, updated_at=now)
        events.emit(
            stream=campaign.stream,
            feeds=campaign.feeds,
            type="phase_failed",
            payload={
                "campaignId": str(campaign.pk),
                "phase": row.phase,
                "error": error[:500],
                "failedBatches": stage.failed + stage.errored,
                "batches": stage.total,
            },
        )
        metrics.incr("relay_phase_failures_total", phase=row.phase)
        logger.warning("campaign.phase_failed %s error=%s", log, error[:300])
        return

    updated = CampaignPhase.objects.filter(pk=row.pk, status__in=[PhaseStatus.IN_PROGRESS, PhaseStatus.PAUSED]).update(
        status=PhaseStatus.COMPLETED, completed_at=now, paused_reason="", updated_at=now
    )
    if not updated:
        return
    events.emit(
        stream=campaign.stream,
        feeds=campaign.feeds,
        type="phase_completed",
        payload={
            "campaignId": str(campaign.pk),
            "phase": row.phase,
            "batches": stage.total,
            "completedAt": now.isoformat(),
        },
    )
    metrics.incr("relay_phase_completions_total", phase=row.phase)
    logger.info("campaign.phase_completed %s", log)
    following = next_phase(row.phase)
    if following is None:
        reports.report_build(campaign=campaign)
        Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.COMPLETED, updated_at=now)
        events.emit(
            stream=campaign.stream,
            feeds=campaign.feeds,
            type="campaign_completed",
            payload={"campaignId": str(campaign.pk)},
        )
        metrics.incr("relay_campaign_completions_total")
        logger.info("campaign.completed campaign=%s tenant=%s", campaign.pk, campaign.tenant_id)
        return
    if not phase_advance(campaign_id=campaign.pk, completed_phase=row.phase):
        Campaign.objects.filter(pk=campaign.pk, status__in=[CampaignStatus.RUNNING, CampaignStatus.PAUSED]).update(
            status=CampaignStatus.IDLE, updated_at=now
        )


def phase_advance(*, campaign_id: uuid.UUID, completed_phase: str) -> bool:
    """Auto-start the phase after `completed_phase` if the campaign is (still) in `full_sequence` and the
    next config exists. Idempotent: the next phase must be `not_started` (a compare-and-set in
    `phase_open_round`), so a second call for the same completion starts nothing."""
    campaign = Campaign.objects.select_related("tenant").get(pk=campaign_id)  # mode as committed now
    following = next_phase(completed_phase)
    if campaign.mode != CampaignMode.FULL_SEQUENCE or following is None:
        return False
    # Locked: concurrent callers for one completion queue up here, and the second sees `in_progress`.
    row = (
        CampaignPhase.objects.select_for_update(of=("self",))
        .select_related("stage")
        .get(campaign=campaign, phase=following)
    )
    done = CampaignPhase.objects.filter(campaign=campaign, phase=completed_phase, status=PhaseStatus.COMPLETED)
    if row.status != PhaseStatus.NOT_STARTED or not done.exists():
        return False
    missing, _, clean = missing_configs(campaign=campaign, phases=[following])
    if missing:
        logger.warning(
            "campaign.chain_stopped campaign=%s tenant=%s from_phase=%s to_phase=%s reason=missing_config",
            campaign.pk,
            campaign.tenant_id,
            completed_phase,
            following,
        )
        return False
    phase_open_round(campaign=campaign, row=row, config=clean[following], auto=True)
    logger.info(
        "campaign.phase_auto_started campaign=%s tenant=%s from_phase=%s to_phase=%s",
        campaign.pk,
        campaign.tenant_id,
        completed_phase,
        following,
    )
    return True


def recover_after_restart() -> None:
    """A worker is starting: restart recovery (reference 001) before the engine hands lost batches
    back, so an in-progress phase is paused and persisted, then resumed (or left for a person)."""
    from .services.recovery import rehydrate

    rehydrate(after_restart=True)


def on_batch_lost(job: Job) -> LostAction:
    """A worker died holding a batch (the sweeper found its lease run out).

    Auto-resume on: the batch goes back in its old place in the fair order and the phase runs on; the
    attempt is counted, so a batch that kills its worker every time ends `failed` and fails the phase.
    One lost batch does not pause the whole phase (its other batches keep running on live workers).
    Auto-resume off: an operator asked that lost work waits for a person, so the batch is parked and
    the phase is marked paused (`worker_lost`) until someone resumes it."""
    if campaign_settings().auto_resume_on_restart:
        logger.warning(
            "campaign.batch_requeued_worker_lost key=%s worker=%s attempt=%s", job.key, job.worker, job.attempts
        )
        return LostAction.REQUEUE
    row = _phase_of(job.stage)
    if row is None or row.status != PhaseStatus.IN_PROGRESS:
        return LostAction.PAUSE  # another of the phase's lost batches paused it in this sweep already
    phase_mark_paused(campaign=row.campaign, row=row, reason=PausedReason.WORKER_LOST)
    logger.warning(
        "campaign.phase_paused_worker_lost campaign=%s phase=%s key=%s worker=%s",
        row.campaign_id,
        row.phase,
        job.key,
        job.worker,
    )
    return LostAction.PAUSE
