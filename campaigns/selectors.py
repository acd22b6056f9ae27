"""Reads and derived state: the pipeline view the API returns, configs, results."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError

from orchestration.fairness import priority_label
from tenants.models import User
from tenants.selectors import scoped

from .models import Campaign, CampaignPhase, CampaignSettings, CampaignStatus, PhaseConfig, PhaseStatus
from .phase_configs import config_validate
from .phases import PHASES, phase_index


def campaign_list(*, user: User) -> QuerySet[Campaign]:
    return scoped(Campaign.objects.all(), user=user)


CAMPAIGN_SUMMARY_FIELDS = ("id", "tenant_id", "name", "mode", "status", "created_at", "updated_at")


def campaign_summary_rows(*, user: User) -> QuerySet[Campaign, dict[str, Any]]:
    """`campaign_list` as the `CAMPAIGN_SUMMARY_FIELDS` a list page shows (`api.presenters`)."""
    return campaign_list(user=user).values(*CAMPAIGN_SUMMARY_FIELDS)


def phase_rows(*, campaign: Campaign) -> dict[str, CampaignPhase]:
    return {row.phase: row for row in CampaignPhase.objects.filter(campaign=campaign).select_related("stage")}


def configured_phases(*, campaign: Campaign) -> set[str]:
    return set(PhaseConfig.objects.filter(campaign=campaign).values_list("phase", flat=True))


def missing_configs(
    *, campaign: Campaign, phases: list[str]
) -> tuple[list[str], dict[str, Any], dict[str, dict[str, Any]]]:
    """Phases (of `phases`) with no config, or with one that no longer validates (a deleted persona),
    the validation errors of the latter, and the validated configs of all the others (read from the
    database now, so a start uses exactly what was checked)."""
    stored = {row.phase: row.config for row in PhaseConfig.objects.filter(campaign=campaign, phase__in=phases)}
    missing: list[str] = []
    errors: dict[str, Any] = {}
    clean: dict[str, dict[str, Any]] = {}
    for phase in phases:
        if phase not in stored:
            missing.append(phase)
            continue
        try:
            clean[phase] = config_validate(phase=phase, data=stored[phase], tenant=campaign.tenant)
        except ValidationError as exc:
            missing.append(phase)
            errors[phase] = exc.detail
    return missing, errors, clean


def last_failed_phase(rows: dict[str, CampaignPhase]) -> str | None:
    failed = [row for row in rows.values() if row.status == PhaseStatus.FAILED]
    if not failed:
        return None
    return max(failed, key=lambda row: (row.failed_at is not None, row.failed_at, phase_index(row.phase))).phase


def retry_eligible_phases(rows: dict[str, CampaignPhase]) -> list[str]:
    failed = last_failed_phase(rows)
    return list(PHASES[phase_index(failed) :]) if failed else []


def next_user_action(rows: dict[str, CampaignPhase]) -> dict[str, Any]:
    none = {"action": "none", "phase": None}
    if any(row.status == PhaseStatus.IN_PROGRESS for row in rows.values()):
        return none
    for phase in PHASES:
        if rows[phase].status == PhaseStatus.PAUSED:  # by a person, a restart or a lost worker
            return {"action": "resume_phase", "phase": phase}
    failed = last_failed_phase(rows)
    if failed:
        return {"action": "retry_phase", "phase": failed}
    for phase in PHASES:
        if rows[phase].status != PhaseStatus.COMPLETED:
            return {"action": "start_phase", "phase": phase}
    return none


def pipeline_state(campaign: Campaign, rows: dict[str, CampaignPhase]) -> tuple[str, str | None]:
    """(state, paused_reason): `idle` before the first start, `paused` after a failure or a pause (the
    reason says which), `awaiting_start` between phases, `running`, `completed`."""
    statuses = {row.status for row in rows.values()}
    if PhaseStatus.IN_PROGRESS in statuses:
        return "running", None
    paused = [row for row in rows.values() if row.status == PhaseStatus.PAUSED]
    if paused:
        return "paused", paused[0].paused_reason or "user"
    if PhaseStatus.FAILED in statuses:
        return "paused", "phase_failed"
    if statuses == {PhaseStatus.NOT_STARTED}:
        return "idle", None
    if campaign.status == CampaignStatus.COMPLETED or statuses == {PhaseStatus.COMPLETED}:
        return "completed", None
    return "awaiting_start", None


def campaign_pipeline(*, campaign: Campaign) -> dict[str, Any]:
    rows = phase_rows(campaign=campaign)
    configured = configured_phases(campaign=campaign)
    state, reason = pipeline_state(campaign, rows)
    phases = []
    for phase in PHASES:
        row = rows[phase]
        stage = row.stage
        phases.append(
            {
                "phase": phase,
                "status": row.status,
                "configured": phase in configured,
                "attempts": row.attempts,
                "startedAt": row.started_at,
                "completedAt": row.completed_at,
                "failedAt": row.failed_at,
                "error": row.error or None,
                "pausedReason": row.paused_reason or None,
                "progress": None
                if stage is None
                else {
                    "round": stage.round,
                    "priority": priority_label(stage),
                    "batches": stage.total,
                    "succeeded": stage.succeeded,
                    "failed": stage.failed,
                    "errored": stage.errored,
                },
            }
        )
    return {
        "phases": phases,
        "pipelineState": state,
        "pausedReason": reason,
        "lastFailedPhase": last_failed_phase(rows),
        "retryEligiblePhases": retry_eligible_phases(rows),
        "nextUserAction": next_user_action(rows),
    }


def campaign_settings() -> CampaignSettings:
    settings, _ = CampaignSettings.objects.get_or_create(pk=1)
    return settings


def domain_page(*, campaign: Campaign, after: int, limit: int) -> list[dict[str, Any]]:
    """Domains after `seq` with their results (keyset paging: constant cost at any depth)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT d.seq, d.name, r.status, r.addresses, r.error, h.status, h.status_code, h.final_url, h.title,
                   h.signals::text, h.keyword_hits::text, h.error, s.score, s.keyword_matched, s.reasons
            FROM campaigns_generateddomain d
            LEFT JOIN campaigns_dnsresult r ON r.domain_id = d.id
            LEFT JOIN campaigns_httpresult h ON h.domain_id = d.id
            LEFT JOIN campaigns_domainscore s ON s.domain_id = d.id
            WHERE d.campaign_id = %s AND d.seq > %s ORDER BY d.seq LIMIT %s
            """,
            [campaign.pk, after, limit],
        )
        rows = cursor.fetchall()
    return [
        {
            "seq": r[0],
            "name": r[1],
            "dns": None if r[2] is None else {"status": r[2], "addresses": r[3], "error": r[4] or None},
            "http": None
            if r[5] is None
            else {
                "status": r[5],
                "statusCode": r[6],
                "finalUrl": r[7],
                "title": r[8],
                "signals": r[9],
                "keywordHits": r[10],
                "error": r[11] or None,
            },
            "score": None if r[12] is None else {"score": r[12], "keywordMatched": r[13], "reasons": r[14]},
        }
        for r in rows
    ]
