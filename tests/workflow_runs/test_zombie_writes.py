"""A file job whose claim was taken away (a zombie worker) changes nothing of its file."""

import pytest

from orchestration import fencing
from orchestration.models import Job
from workflow_runs import jobs as run_jobs
from workflow_runs.models import FileStatus, RunFile

from ..orchestration.engine import zombie_of
from .factories import fund, make_template, upload

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_zombie_file_job_does_not_touch_its_file(settings, tenant, admin_client):
    settings.WORKFLOW_RUNS_QUEUE = "wr-zombie"  # no worker takes it
    fund(tenant, monthly=10)
    template = make_template(tenant=tenant, credits_per_run=1)
    response = admin_client.post(
        "/api/workflow-runs", {"template": str(template.pk), "files": [upload("a.txt", "a")]}, format="multipart"
    )
    assert response.status_code == 201, response.content
    job = Job.objects.get(key__startswith=f"run:{response.json()['id']}:file:")
    zombie = zombie_of(job.pk)

    with pytest.raises(fencing.LeaseLost):
        run_jobs.run_file_job(zombie)

    assert RunFile.objects.get(run_id=response.json()["id"]).status == FileStatus.PENDING
