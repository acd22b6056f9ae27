"""Deleting a campaign removes what the engine holds for it: its event stream and its phases' stages
with their jobs; another campaign's stay. A running phase blocks the delete (409) and nothing goes."""

import pytest
from django.db import transaction

from campaigns.models import Campaign, CampaignPhase, PhaseStatus
from campaigns.services.campaigns import campaign_create
from campaigns.services.phases import STAGE_KIND
from orchestration import events, stages
from orchestration.models import Event, EventStream, Job, JobState, Stage

pytestmark = pytest.mark.django_db


def campaign_with_a_phase_run(tenant, *, status: str) -> tuple[Campaign, Stage]:
    """A campaign whose domain generation ran two batches (the engine rows a phase start leaves)."""
    campaign = campaign_create(tenant=tenant, name="to delete")
    with transaction.atomic():
        stage = stages.stage_create(kind=STAGE_KIND, ref=f"campaign:{campaign.pk}", stream=campaign.stream)
        stages.stage_start_round(
            stage=stage,
            jobs=[
                stages.JobSpec(key=f"campaign:{campaign.pk}:b{n}", kind="campaign.batch", queue="tests-private")
                for n in range(2)
            ],
        )
        Job.objects.filter(stage=stage).update(state=JobState.SUCCEEDED)
        CampaignPhase.objects.filter(campaign=campaign, phase="domain_generation").update(stage=stage, status=status)
        events.emit(stream=campaign.stream, type="phase_started", payload={"phase": "domain_generation"})
    return campaign, stage


@pytest.mark.django_db(transaction=True)  # committed: the foreign keys are checked
def test_deleting_a_campaign_removes_its_events_its_stages_and_their_jobs(admin_client, tenant):
    campaign, stage = campaign_with_a_phase_run(tenant, status=PhaseStatus.COMPLETED)
    other, other_stage = campaign_with_a_phase_run(tenant, status=PhaseStatus.COMPLETED)
    assert Event.objects.filter(stream=campaign.stream).count() == 2

    response = admin_client.delete(f"/api/campaigns/{campaign.pk}")

    assert response.status_code == 204
    assert not Campaign.objects.filter(pk=campaign.pk).exists()
    assert not Event.objects.filter(stream=campaign.stream).exists()
    assert not EventStream.objects.filter(name=campaign.stream).exists()
    assert not Stage.objects.filter(pk=stage.pk).exists() and not Job.objects.filter(stage_id=stage.pk).exists()
    assert Event.objects.filter(stream=other.stream).count() == 2
    assert Job.objects.filter(stage=other_stage).count() == 2


def test_a_campaign_with_a_running_phase_is_not_deleted_and_keeps_its_events(admin_client, tenant):
    campaign, stage = campaign_with_a_phase_run(tenant, status=PhaseStatus.IN_PROGRESS)

    response = admin_client.delete(f"/api/campaigns/{campaign.pk}")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "phase_running"
    assert Event.objects.filter(stream=campaign.stream).count() == 2
    assert Job.objects.filter(stage=stage).count() == 2
