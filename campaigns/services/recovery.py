"""Restart recovery (`campaigns.rehydrate`): after any process died, find phases that were
`in_progress` with lost execution (see `_lost_execution`) or `paused`, cancel their stale execution,
re-read their config from the database, mark them `paused` and commit that, and only then resume
the ones that were in progress (when auto-resume is on). Runs at worker start and from beat (every
30 s); any number of processes may run it at once.

A phase a person paused stays paused; one paused by an earlier recovery or a lost worker is treated
like an in-progress one (so a recovery that died between its two steps is finished by the next).

Two recovering processes never run one phase twice: the pause step takes the phase row with
SKIP LOCKED (at worker start it waits for the row instead, so a worker never starts taking work while
another recoverer is still pausing a phase), and the resume step is a compare-and-set on the token the
pause step wrote.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from django.db import DatabaseError, transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Now

from orchestration import metrics, stages
from orchestration.errors import WORKER_LOST
from orchestration.models import Job, JobState

from ..models import CampaignPhase, PhaseConfig, PhaseStatus
from ..models.campaign import PausedReason
from ..phase_configs import config_validate
from ..selectors import campaign_settings
from .phases import phase_mark_paused, phase_mark_resumed

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 100


class RecoveryErrorKind(StrEnum):
    PHASE_FATAL = "phase_fatal"  # needs a person: config gone or invalid, state could not be stored
    RECOVERABLE = "recoverable"  # try again on the next sweep (lock contention, a passing outage)


class RecoveryError(Exception):
    def __init__(self, message: str, *, kind: RecoveryErrorKind) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class RehydrateReport:
    candidates: int = 0
    paused: list[str] = field(default_factory=list)  # "campaign:phase"
    resumed: list[str] = field(default_factory=list)
    left_paused: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (campaign:phase, kind, message)


def _lost_execution(*, after_restart: bool) -> Q:
    """An in-progress phase whose execution was lost: no live batch at all in an unfinished round, and,
    after a restart (a worker starting up), a batch held by a worker whose lease ran out. A phase whose
    batches are queued or held by live workers is healthy. Outside a restart, a batch lost by one dead
    worker is the engine sweeper's to hand back (`chain.on_batch_lost`), without pausing the phase."""
    current_round = Job.objects.filter(stage=OuterRef("stage"), round=OuterRef("stage__round"))
    # A quarantined batch is not lost: an operator set it aside and the round waits for their re-queue.
    live = current_round.filter(state__in=[JobState.QUEUED, JobState.RUNNING, JobState.QUARANTINED])
    lost = Q(stage__finalised_at__isnull=True) & ~Q(Exists(live))
    if after_restart:
        expired = current_round.filter(state=JobState.RUNNING, lease_expires_at__lt=Now())
        lost |= Q(Exists(expired))
    return lost


def candidates(*, limit: int = DEFAULT_LIMIT, after_restart: bool = False) -> list[int]:
    """Phase ids to recover, in one query, oldest first, at most `limit`: phases lost to a crash —
    in progress with lost execution, or paused by an earlier recovery or a lost worker. A phase a
    person paused is not a candidate (any number of them cannot keep a crashed one waiting)."""
    lost = _lost_execution(after_restart=after_restart)
    crashed = Q(status=PhaseStatus.IN_PROGRESS) & lost
    parked = Q(status=PhaseStatus.PAUSED, paused_reason__in=[PausedReason.RESTART, PausedReason.WORKER_LOST])
    return list(
        CampaignPhase.objects.filter(crashed | parked).order_by("updated_at", "pk").values_list("pk", flat=True)[:limit]
    )


def rehydrate(*, limit: int = DEFAULT_LIMIT, after_restart: bool = False) -> RehydrateReport:
    """`after_restart`: called by a worker starting up, so batches whose leases ran out were lost to
    the restart and their phases go through pause → resume as reference 001 describes."""
    report = RehydrateReport()
    auto_resume = campaign_settings().auto_resume_on_restart
    ids = candidates(limit=limit, after_restart=after_restart)
    report.candidates = len(ids)
    logger.info("campaign.rehydrate.start candidates=%s auto_resume=%s", len(ids), auto_resume)
    for phase_id in ids:
        label = str(phase_id)
        try:
            outcome = _rehydrate_one(phase_id=phase_id, auto_resume=auto_resume, wait=after_restart)
        except RecoveryError as exc:
            report.errors.append((label, exc.kind, str(exc)))
            metrics.incr("relay_phase_resume_failures_total", kind=exc.kind)
            logger.error("campaign.rehydrate.error phase_id=%s kind=%s error=%s", phase_id, exc.kind, exc)
            continue
        label, state = outcome
        getattr(report, state).append(label)
    logger.info(
        "campaign.rehydrate.done candidates=%s paused=%s resumed=%s left_paused=%s skipped=%s errors=%s",
        report.candidates,
        len(report.paused),
        len(report.resumed),
        len(report.left_paused),
        len(report.skipped),
        len(report.errors),
    )
    return report


def _rehydrate_one(*, phase_id: int, auto_resume: bool, wait: bool) -> tuple[str, str]:
    token = uuid.uuid4().hex
    # Step 1: take the phase (or leave it to the recoverer that holds it), cancel stale execution,
    # check its config, persist `paused`.
    try:
        with transaction.atomic():
            row = (
                CampaignPhase.objects.select_for_update(skip_locked=not wait, of=("self",))
                .select_related("campaign", "campaign__tenant", "stage")
                .filter(pk=phase_id)
                .first()
            )
            if row is None or row.status not in (PhaseStatus.IN_PROGRESS, PhaseStatus.PAUSED) or row.stage is None:
                return str(phase_id), "skipped"
            label = f"{row.campaign_id}:{row.phase}"
            was = row.status
            cancelled = _cancel_stale_jobs(row)
            config_error = _config_problem(row, label)
            # Paused by an earlier recovery or a lost worker (not by a person): resumable like in-progress.
            resumable = was == PhaseStatus.IN_PROGRESS or row.paused_reason in (
                PausedReason.RESTART,
                PausedReason.WORKER_LOST,
            )
            if was == PhaseStatus.IN_PROGRESS:
                phase_mark_paused(campaign=row.campaign, row=row, reason=PausedReason.RESTART, token=token)
            elif resumable:
                CampaignPhase.objects.filter(pk=row.pk, status=PhaseStatus.PAUSED).update(recovery_token=token)
                stages.stage_pause(stage=row.stage)
            logger.info(
                "campaign.rehydrate.paused campaign=%s phase=%s was=%s cancelled_jobs=%s",
                row.campaign_id,
                row.phase,
                was,
                cancelled,
            )
            if resumable:  # a person's pause is left as it is, and not counted as a recovery
                metrics.incr("relay_phase_rehydrations_total", phase=row.phase)
    except DatabaseError as exc:
        raise RecoveryError(
            f"phase {phase_id}: could not persist the paused state: {exc}", kind=RecoveryErrorKind.PHASE_FATAL
        ) from exc
    if config_error is not None:  # paused and committed; a person has to fix the config and resume
        raise config_error
    if not resumable or not auto_resume:
        logger.info(
            "campaign.rehydrate.left_paused campaign=%s phase=%s was=%s auto_resume=%s",
            row.campaign_id,
            row.phase,
            was,
            auto_resume,
        )
        return label, "left_paused"
    # Step 2 (a new transaction, after `paused` is committed): resume what this process paused.
    try:
        with transaction.atomic():
            row = (
                CampaignPhase.objects.select_for_update(of=("self",))
                .select_related("campaign", "stage")
                .get(pk=phase_id)
            )
            resumed = phase_mark_resumed(campaign=row.campaign, row=row, token=token)
    except DatabaseError as exc:
        raise RecoveryError(f"{label}: resume failed: {exc}", kind=RecoveryErrorKind.RECOVERABLE) from exc
    if not resumed:
        return label, "skipped"
    metrics.incr("relay_phase_resumes_total", phase=row.phase)
    logger.info("campaign.rehydrate.resumed campaign=%s phase=%s", row.campaign_id, row.phase)
    return label, "resumed"


def _config_problem(row: CampaignPhase, label: str) -> RecoveryError | None:
    config = PhaseConfig.objects.filter(campaign=row.campaign, phase=row.phase).first()
    if config is None:
        return RecoveryError(f"{label}: the phase config is missing", kind=RecoveryErrorKind.PHASE_FATAL)
    try:
        config_validate(phase=row.phase, data=config.config, tenant=row.campaign.tenant)
    except Exception as exc:
        return RecoveryError(
            f"{label}: the phase config no longer validates: {exc}", kind=RecoveryErrorKind.PHASE_FATAL
        )
    return None


def _cancel_stale_jobs(row: CampaignPhase) -> int:
    """Batches whose worker is gone (lease expired) go back to `pending`; queued ones are held by the
    pause. A batch with a live lease belongs to a live worker and is left to finish (if that worker
    is dead after all, the sweeper hands it back when its lease runs out)."""
    assert row.stage is not None
    return Job.objects.filter(
        stage=row.stage, round=row.stage.round, state=JobState.RUNNING, lease_expires_at__lt=Now()
    ).update(
        state=JobState.PENDING,
        lease_owner="",
        lease_expires_at=None,
        error_code=WORKER_LOST,
        error_message="cancelled by restart recovery",
        error_retryable=True,
    )
