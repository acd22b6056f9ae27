"""A scan service job whose claim was taken away (a zombie worker) changes nothing of the scan."""

import pytest
from django.db import transaction

from orchestration import fencing
from orchestration.models import Event, Job
from scans import jobs as scan_jobs
from scans.models import ExecutionStatus, ScanStatus, ServiceExecution
from scans.services import scan_create

from ..orchestration.engine import PRIVATE_QUEUE, zombie_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_zombie_service_job_does_not_mark_its_service_running(tenant, tenant_admin):
    with transaction.atomic():
        scan = scan_create(tenant=tenant, actor=tenant_admin, url="http://127.0.0.1:9/", services=["meta"])
        Job.objects.filter(stage=scan.stage).update(queue=PRIVATE_QUEUE)  # no worker takes it
    zombie = zombie_of(Job.objects.get(stage=scan.stage).pk)

    with pytest.raises(fencing.LeaseLost):
        scan_jobs.run_service_job(zombie)

    execution = ServiceExecution.objects.get(scan=scan, service="meta")
    assert execution.status == ExecutionStatus.PENDING
    scan.refresh_from_db()
    assert scan.status == ScanStatus.PENDING
    assert not Event.objects.filter(stream=scan.stream, type="service_started").exists()
