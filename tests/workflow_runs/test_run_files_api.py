"""A run's files are paged: the detail stays bounded however many files the run has."""

from __future__ import annotations

from workflow_runs.models import FileStatus

from .factories import make_template, run_in_state, set_price


def big_run(tenant, n: int = 250):
    set_price("text_stats", 1)
    files = [(FileStatus.FAILED if i % 5 == 0 else FileStatus.COMPLETED, 0) for i in range(n)]
    return run_in_state(tenant=tenant, template=make_template(tenant=tenant), files=files)


def test_the_detail_shows_the_first_files_and_the_total(admin_client, tenant):
    run = big_run(tenant)
    body = admin_client.get(f"/api/workflow-runs/{run.pk}").json()
    assert [f["index"] for f in body["files"]] == list(range(200))
    assert body["filesTotal"] == 250
    assert {status: n for status, n in body["fileCounts"].items() if n} == {"completed": 200, "failed": 50}


def test_the_files_endpoint_pages_through_every_file_and_filters_by_status(member_client, tenant):
    run = big_run(tenant)
    seen, url = [], f"/api/workflow-runs/{run.pk}/files?limit=100"
    while url:
        page = member_client.get(url).json()
        assert page["count"] == 250
        seen += [f["index"] for f in page["results"]]
        url = page["next"]
    assert seen == list(range(250))

    failed = member_client.get(f"/api/workflow-runs/{run.pk}/files?status=failed&limit=200").json()
    assert failed["count"] == 50
    assert {f["status"] for f in failed["results"]} == {FileStatus.FAILED}
    assert [f["index"] for f in failed["results"]][:3] == [0, 5, 10]


def test_bad_paging_and_unknown_statuses_are_400_and_another_tenants_run_404(admin_client, tenant, other_tenant):
    run = big_run(tenant, n=3)
    bad = admin_client.get(f"/api/workflow-runs/{run.pk}/files?status=exploded")
    assert bad.status_code == 400 and "status" in bad.json()["error"]["fields"]
    assert admin_client.get(f"/api/workflow-runs/{run.pk}/files?offset=-1").status_code == 400
    assert admin_client.get(f"/api/workflow-runs/{run.pk}/files?limit=0").status_code == 400
    theirs = make_template(tenant=other_tenant)
    foreign = run_in_state(tenant=other_tenant, template=theirs, files=[(FileStatus.COMPLETED, 0)])
    assert admin_client.get(f"/api/workflow-runs/{foreign.pk}/files").status_code == 404
