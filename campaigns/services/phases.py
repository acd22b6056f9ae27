"""Starting, pausing and resuming phases: the use cases behind the start/pause/resume endpoints, and
the opening of a phase's round that the chain (auto-advance) shares with them."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from core.exceptions import Conflict
from orchestration import events, metrics, stages
from orchestration.db import retry_on_conflict
from orchestration.models import Job, JobState, Priority, Stage
from tenants.fair_share import tenant_fairness_key
from tenants.models import User

from .. import jobs
from ..batches import job_key, remaining_ranges
from ..models import (
    Campaign,
    CampaignMode,
    CampaignPhase,
    CampaignStatus,
    DnsResult,
    DomainScore,
    GeneratedDomain,
    HttpResult,
    PhaseConfig,
    PhaseStatus,
)
from ..models.campaign import PausedReason
from ..phase_configs import batch_size, config_validate
from ..phases import PHASES, Phase, phase_index
from ..selectors import last_failed_phase, missing_configs
from .roles import phase_domain_total, require_phase_size_allowed

logger = logging.getLogger(__name__)

STAGE_KIND = "campaign_phase"
MAX_ATTEMPTS = 3


def stage_ref(*, campaign_id: Any, phase: str) -> str:
    return f"campaign:{campaign_id}:{phase}"


def _locked_rows(campaign: Campaign) -> tuple[Campaign, dict[str, CampaignPhase]]:
    """The campaign and its phase rows, locked in that order (primary-key order within the phases)."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    rows = list(CampaignPhase.objects.select_for_update().filter(campaign=locked).order_by("pk"))
    return locked, {row.phase: row for row in rows}


@retry_on_conflict(attempts=4)
def phase_start(*, campaign: Campaign, phase: str, actor: User | None, restart: bool = False) -> CampaignPhase:
    """Start a phase, or retry it after a failure. Refuses (409) while any phase runs or is paused,
    when an earlier failure must be retried first, when the previous phase has not completed, and
    when configs are missing (in `full_sequence`: every phase from this one to the end); 403 for a
    tenant member when the phase covers more domains than members may start (`roles`).

    A retry runs what is left of the config the phase first started with (its snapshot), whatever was
    edited since; `restart` discards the phase's results and starts it from scratch with the stored
    config instead."""
    with transaction.atomic():
        campaign, rows = _locked_rows(campaign)
        if campaign.cancelled_at is not None:
            raise Conflict("The campaign was cancelled; nothing of it can start again.", code="campaign_cancelled")
        busy = [row.phase for row in rows.values() if row.status in (PhaseStatus.IN_PROGRESS, PhaseStatus.PAUSED)]
        if busy:
            raise Conflict(
                f"Phase {busy[0]} is {rows[busy[0]].status}; wait for it, or resume it.",
                code="phase_running",
                extra={"runningPhase": busy[0]},
            )
        failed = last_failed_phase(rows)
        if failed and failed != phase:
            raise Conflict(
                f"Phase {failed} failed; retry {failed} before starting {phase}.",
                code="retry_required",
                extra={"retryPhase": failed},
            )
        row = rows[phase]
        if row.status == PhaseStatus.COMPLETED:
            raise Conflict(f"Phase {phase} has already completed.", code="phase_completed")
        index = phase_index(phase)
        if index > 0 and rows[PHASES[index - 1]].status != PhaseStatus.COMPLETED:
            raise Conflict(
                f"Phase {PHASES[index - 1]} must complete before {phase} can start.",
                code="phase_gated",
                extra={"requiredPhase": PHASES[index - 1]},
            )
        needed = list(PHASES[index:]) if campaign.mode == CampaignMode.FULL_SEQUENCE else [phase]
        missing, errors, clean = missing_configs(campaign=campaign, phases=needed)
        frozen = row.config_snapshot is not None and not restart
        if frozen:
            # The retry runs the snapshot: check that, not the stored config (which may have been edited).
            missing = [name for name in missing if name != phase]
            errors.pop(phase, None)
            snapshot_errors = _snapshot_errors(campaign=campaign, row=row)
            if snapshot_errors:
                missing, errors = [phase, *missing], {phase: snapshot_errors, **errors}
        if missing:
            logger.info(
                "campaign.start_rejected campaign=%s tenant=%s phase=%s missing=%s",
                campaign.pk,
                campaign.tenant_id,
                phase,
                missing,
            )
            raise Conflict(
                "Configure every phase listed in missingPhases before starting"
                + (" (or restart the phase from scratch with its new config)." if frozen else "."),
                code="missing_phase_config",
                fields=errors,
                extra={"missingPhases": missing},
            )
        # The round runs the snapshot unless restarted from scratch; its size is what a member may start.
        config = (row.config_snapshot or {}) if frozen else clean.get(phase, {})
        require_phase_size_allowed(
            actor=actor, phase=phase, domains=phase_domain_total(campaign=campaign, phase=phase, config=config)
        )
        if restart and row.status == PhaseStatus.FAILED:
            phase_discard_results(campaign=campaign, row=row)
        phase_open_round(campaign=campaign, row=row, config=clean.get(phase, {}), auto=False)
        logger.info(
            "campaign.phase_start campaign=%s tenant=%s phase=%s actor=%s retry=%s restart=%s",
            campaign.pk,
            campaign.tenant_id,
            phase,
            getattr(actor, "pk", None),
            failed == phase,
            restart,
        )
    return row


def _snapshot_errors(*, campaign: Campaign, row: CampaignPhase) -> Any:
    try:
        config_validate(phase=row.phase, data=row.config_snapshot, tenant=campaign.tenant)
    except ValidationError as exc:
        return exc.detail
    return None


# The results each phase writes, its own first: a restart from scratch empties these (later phases
# have not run, since a phase only starts once the one before it completed, so theirs are empty).
_RESULTS_FROM = {
    Phase.DOMAIN_GENERATION: (DomainScore, HttpResult, DnsResult, GeneratedDomain),
    Phase.DNS_VALIDATION: (DomainScore, HttpResult, DnsResult),
    Phase.HTTP_KEYWORD_VALIDATION: (DomainScore, HttpResult),
    Phase.ANALYSIS: (DomainScore,),
}


def phase_discard_results(*, campaign: Campaign, row: CampaignPhase) -> None:
    """Forget a failed phase's run: its results, its snapshot and its checkpoint (the batches of the
    stage's earlier rounds no longer count as done), so the next round starts from scratch."""
    for model in _RESULTS_FROM[Phase(row.phase)]:
        model.objects.filter(campaign=campaign)._raw_delete(model.objects.db)  # no per-row cascade
    row.config_snapshot = None
    row.checkpoint_round = (row.stage.round + 1) if row.stage is not None else 0
    CampaignPhase.objects.filter(pk=row.pk).update(config_snapshot=None, checkpoint_round=row.checkpoint_round)


def phase_open_round(*, campaign: Campaign, row: CampaignPhase, config: dict[str, Any], auto: bool) -> None:
    """Mark the phase in progress and open its stage's round over the batches still to do. Inside the
    caller's transaction (a request, or the finaliser of the previous phase). `config`: the phase's
    config as `missing_configs` validated it in this transaction. Events before the round opens: a
    round with no batches finalises at once, and its events must follow this one.

    The first start freezes the config on the phase (`config_snapshot`); every later round of the
    phase (a retry) runs the snapshot, so an edit made meanwhile never changes work half done."""
    if row.config_snapshot is None:
        row.config_snapshot = _snapshot(campaign=campaign, phase=row.phase, config=config)
    config = row.config_snapshot
    if row.stage_id is None:
        row.stage = stages.stage_create(
            kind=STAGE_KIND,
            ref=stage_ref(campaign_id=campaign.pk, phase=row.phase),
            stream=campaign.stream,
            max_attempts=MAX_ATTEMPTS,
            fairness_key=tenant_fairness_key(campaign.tenant_id),
            priority=Priority.BULK,
        )
    assert row.stage is not None
    specs = _batch_specs(campaign=campaign, row=row, config=config, stage=row.stage)
    now = timezone.now()
    updated = CampaignPhase.objects.filter(pk=row.pk, status__in=[PhaseStatus.NOT_STARTED, PhaseStatus.FAILED]).update(
        status=PhaseStatus.IN_PROGRESS,
        stage=row.stage,
        started_at=now,
        completed_at=None,
        error="",
        paused_reason="",
        attempts=row.attempts + 1,
        config_snapshot=config,
        updated_at=now,
    )
    if updated != 1:
        raise Conflict(f"Phase {row.phase} changed state meanwhile; reload and try again.", code="phase_changed")
    row.status, row.started_at, row.attempts = PhaseStatus.IN_PROGRESS, now, row.attempts + 1
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING, updated_at=now)
    event = "phase_auto_started" if auto else "phase_started"
    events.emit(
        stream=campaign.stream,
        feeds=campaign.feeds,
        type=event,
        payload={
            "campaignId": str(campaign.pk),
            "phase": row.phase,
            "batches": len(specs),
            "attempt": row.attempts,
            "startedAt": now.isoformat(),
        },
    )
    metrics.incr("relay_phase_auto_starts_total" if auto else "relay_phase_starts_total", phase=row.phase)
    stages.stage_start_round(stage=row.stage, jobs=specs)


def _snapshot(*, campaign: Campaign, phase: str, config: dict[str, Any]) -> dict[str, Any]:
    """What the phase will run, frozen. HTTP also counts the analysis keyword in pages when it is
    known (so analysis can score page content): that is part of what is frozen."""
    snapshot = dict(config)
    if phase == Phase.HTTP_KEYWORD_VALIDATION:
        keywords = list(config.get("keywords") or [])
        analysis = PhaseConfig.objects.filter(campaign=campaign, phase=Phase.ANALYSIS).first()
        if analysis and analysis.config.get("keyword") and analysis.config["keyword"] not in keywords:
            keywords.append(analysis.config["keyword"])
        snapshot["keywords"] = keywords
    return snapshot


def _batch_specs(
    *, campaign: Campaign, row: CampaignPhase, config: dict[str, Any], stage: Stage
) -> list[stages.JobSpec]:
    phase = row.phase
    size = batch_size(phase=phase, config=config)
    total = phase_domain_total(campaign=campaign, phase=phase, config=config)
    # A retry runs only the ranges no succeeded batch covers: the checkpoint is the job table, read
    # by range (the key and payload of every batch carry it), from the rounds since the last restart.
    done = Job.objects.filter(stage=stage, state=JobState.SUCCEEDED, round__gte=row.checkpoint_round).values_list(
        "payload__first", "payload__stop"
    )
    payload_extra = {"keywords": config["keywords"]} if phase == Phase.HTTP_KEYWORD_VALIDATION else {}
    return [
        stages.JobSpec(
            key=job_key(campaign_id=campaign.pk, phase=phase, first=first, stop=stop),
            kind=jobs.JOB_KIND,
            queue=campaign.queue or None,
            payload={
                "campaign": str(campaign.pk),
                "phase": phase,
                "batch": f"{first}-{stop}",
                "first": first,
                "stop": stop,
                "config": config,
                **payload_extra,
            },
        )
        for first, stop in remaining_ranges(total=total, size=size, done=[(int(a), int(b)) for a, b in done])
    ]


@retry_on_conflict(attempts=4)
def phase_pause(*, campaign: Campaign, phase: str, actor: User | None) -> CampaignPhase:
    """Hold a running phase: its queued batches wait, running ones finish. 409 unless in progress."""
    with transaction.atomic():
        campaign, rows = _locked_rows(campaign)
        row = rows[phase]
        if row.status != PhaseStatus.IN_PROGRESS or row.stage is None:
            raise Conflict(f"Phase {phase} is {row.status}, not in progress.", code="phase_not_running")
        phase_mark_paused(campaign=campaign, row=row, reason=PausedReason.USER)
        logger.info(
            "campaign.phase_pause campaign=%s tenant=%s phase=%s actor=%s",
            campaign.pk,
            campaign.tenant_id,
            phase,
            getattr(actor, "pk", None),
        )
    return row


def phase_mark_paused(*, campaign: Campaign, row: CampaignPhase, reason: str, token: str = "") -> bool:
    now = timezone.now()
    updated = CampaignPhase.objects.filter(pk=row.pk, status=PhaseStatus.IN_PROGRESS).update(
        status=PhaseStatus.PAUSED, paused_reason=reason, recovery_token=token, updated_at=now
    )
    if not updated:
        return False
    row.status, row.paused_reason = PhaseStatus.PAUSED, reason
    Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.RUNNING).update(
        status=CampaignStatus.PAUSED, updated_at=now
    )
    assert row.stage is not None
    stages.stage_pause(stage=row.stage)
    events.emit(
        stream=campaign.stream,
        feeds=campaign.feeds,
        type="phase_paused",
        payload={"campaignId": str(campaign.pk), "phase": row.phase, "reason": reason},
    )
    return True


@retry_on_conflict(attempts=4)
def phase_resume(*, campaign: Campaign, phase: str, actor: User | None) -> CampaignPhase:
    """Continue a paused phase from where it stopped: its unfinished batches are dispatched again.
    The members' size limit holds here too (a resume restarts the work a start would)."""
    with transaction.atomic():
        campaign, rows = _locked_rows(campaign)
        row = rows[phase]
        if row.status != PhaseStatus.PAUSED or row.stage is None:
            raise Conflict(f"Phase {phase} is {row.status}, not paused.", code="phase_not_paused")
        require_phase_size_allowed(
            actor=actor,
            phase=phase,
            domains=phase_domain_total(campaign=campaign, phase=phase, config=row.config_snapshot or {}),
        )
        phase_mark_resumed(campaign=campaign, row=row)
        logger.info(
            "campaign.phase_resume campaign=%s tenant=%s phase=%s actor=%s",
            campaign.pk,
            campaign.tenant_id,
            phase,
            getattr(actor, "pk", None),
        )
    return row


def phase_mark_resumed(*, campaign: Campaign, row: CampaignPhase, token: str | None = None) -> bool:
    now = timezone.now()
    query = CampaignPhase.objects.filter(pk=row.pk, status=PhaseStatus.PAUSED)
    if token is not None:
        query = query.filter(recovery_token=token)
    if not query.update(status=PhaseStatus.IN_PROGRESS, paused_reason="", recovery_token="", updated_at=now):
        return False
    row.status, row.paused_reason = PhaseStatus.IN_PROGRESS, ""
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING, updated_at=now)
    assert row.stage is not None
    requeued = stages.stage_resume(stage=row.stage)
    events.emit(
        stream=campaign.stream,
        feeds=campaign.feeds,
        type="phase_resumed",
        payload={"campaignId": str(campaign.pk), "phase": row.phase, "batches": requeued},
    )
    return True
