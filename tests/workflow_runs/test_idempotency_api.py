"""Idempotency-Key on the workflow-run and credit POSTs: a retried request replays the first answer
(one run, one reservation), a concurrent one gets 409, another payload 422, keys are per tenant."""

import threading

import pytest
from django.db import close_old_connections, connection, transaction

from core.models import IdempotencyKey
from tenants.models import Role
from workflow_runs.models import CreditLedgerEntry, FileStatus, WorkflowRun

from ..helpers import client_for, make_user
from .factories import assert_reconciled, balance, entries, fund, make_template, run_in_state, upload


def start(client, template, key, files=None, **extra):
    files = files if files is not None else [upload("a.txt", "alpha"), upload("b.txt", "beta")]
    return client.post(
        "/api/workflow-runs",
        {"template": str(template.pk), "files": files, **extra},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY=key,
    )


@pytest.mark.django_db
def test_the_same_key_and_request_replays_the_first_response(admin_client, tenant):
    fund(tenant, monthly=10)
    template = make_template(tenant=tenant, credits_per_run=2)

    first = start(admin_client, template, "k-1")
    again = start(admin_client, template, "k-1")

    assert first.status_code == again.status_code == 201, first.content
    assert again.json()["id"] == first.json()["id"] and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert WorkflowRun.objects.count() == 1 and entries(tenant, "reserve") == [4]
    assert balance(tenant) == (6, 0)


@pytest.mark.django_db
def test_the_same_key_with_another_request_is_422(admin_client, tenant):
    fund(tenant, monthly=10)
    template = make_template(tenant=tenant)
    start(admin_client, template, "k-2")

    other_content = start(admin_client, template, "k-2", files=[upload("a.txt", "ALPHA"), upload("b.txt", "beta")])
    other_mode = start(admin_client, template, "k-2", mode="batch")
    other_endpoint = admin_client.post(
        f"/api/workflow-runs/{WorkflowRun.objects.get().pk}/retry-failed", HTTP_IDEMPOTENCY_KEY="k-2"
    )

    for response in (other_content, other_mode, other_endpoint):
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert WorkflowRun.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_scoped_per_tenant(admin_client, tenant, other_tenant):
    fund(tenant, monthly=10)
    fund(other_tenant, monthly=10)
    shared = make_template(tenant=None)
    stranger = client_for(make_user(tenant=other_tenant, role=Role.TENANT_ADMIN))

    mine = start(admin_client, shared, "same-key")
    theirs = start(stranger, shared, "same-key")

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "Idempotent-Replayed" not in theirs.headers
    assert (mine.json()["tenant"], theirs.json()["tenant"]) == (str(tenant.pk), str(other_tenant.pk))


@pytest.mark.django_db
def test_a_business_refusal_is_replayed_but_invalid_input_frees_the_key(admin_client, tenant):
    template = make_template(tenant=tenant, credits_per_run=2)

    refused = start(admin_client, template, "k-402")
    fund(tenant, monthly=10)
    replayed = start(admin_client, template, "k-402")
    invalid = start(admin_client, template, "k-400", mode="sometimes")
    fixed = start(admin_client, template, "k-400", mode="per_file")

    assert refused.status_code == replayed.status_code == 402
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert invalid.status_code == 400 and fixed.status_code == 201
    assert WorkflowRun.objects.count() == 1


@pytest.mark.django_db
def test_continue_and_grants_honour_the_key(admin_client, platform_admin, tenant):
    fund(tenant, monthly=100)
    run = run_in_state(
        tenant=tenant, template=make_template(tenant=tenant, credits_per_run=3), files=[(FileStatus.FAILED, 0)]
    )
    grant = {"tenant": str(tenant.pk), "amount": 5, "source": "purchased", "reason": "purchase"}
    admin = client_for(platform_admin)

    retries = [
        admin_client.post(f"/api/workflow-runs/{run.pk}/retry-failed", HTTP_IDEMPOTENCY_KEY="c-1") for _ in range(2)
    ]
    grants = [admin.post("/api/credits/grant", grant, format="json", HTTP_IDEMPOTENCY_KEY="g-1") for _ in range(2)]

    assert [r.status_code for r in retries] == [200, 200] and retries[1].json() == retries[0].json()
    assert [g.status_code for g in grants] == [201, 201]
    assert entries(tenant, "reserve") == [3] and entries(tenant, "purchase") == [5]


@pytest.mark.django_db
def test_a_bad_key_is_400(admin_client, tenant):
    response = start(admin_client, make_template(tenant=tenant), "x" * 256)

    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_idempotency_key"


@pytest.mark.django_db
def test_the_openapi_schema_documents_the_header(admin_client):
    schema = admin_client.get("/api/schema/", {"format": "json"}).json()

    for path in ("/api/workflow-runs", "/api/workflow-runs/{run_id}/retry-failed", "/api/credits/grant"):
        operation = schema["paths"][path]["post"]
        assert "Idempotency-Key" in [p["name"] for p in operation["parameters"] if p["in"] == "header"], path
        assert {"409", "422"} <= set(operation["responses"]), path


def in_threads(count, call):
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def work(i):
        try:
            barrier.wait(timeout=30)
            results[i] = call(i)
        except Exception as exc:  # reported as a result, asserted on below
            results[i] = exc
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.mark.django_db(transaction=True)
def test_a_request_while_the_key_is_in_flight_is_409_and_runs_once_the_holder_is_gone(tenant, tenant_admin):
    fund(tenant, monthly=10)
    template = make_template(tenant=tenant)
    client = client_for(tenant_admin)
    locked, release = threading.Event(), threading.Event()

    def first_request_in_flight():
        # What the first request holds while it runs: the key's row lock. It dies without an answer.
        try:
            with transaction.atomic():
                IdempotencyKey.objects.create(
                    scope=f"tenant:{tenant.pk}",
                    key="k-busy",
                    fingerprint="x",
                    method="POST",
                    path="/",
                    expires_at="2999-01-01T00:00:00Z",
                )
            with transaction.atomic():
                IdempotencyKey.objects.select_for_update().get(key="k-busy")
                locked.set()
                release.wait(timeout=60)
        finally:
            connection.close()

    holder = threading.Thread(target=first_request_in_flight)
    holder.start()
    assert locked.wait(timeout=30)
    try:
        busy = start(client, template, "k-busy")
    finally:
        release.set()
        holder.join(timeout=30)
    after = start(client, template, "k-busy")

    assert busy.status_code == 409 and busy.json()["error"]["code"] == "idempotency_key_in_flight"
    assert after.status_code == 201, after.content  # the holder died uncommitted: this request runs
    assert WorkflowRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_make_one_run_and_one_reservation(tenant, tenant_admin):
    fund(tenant, monthly=100)
    template = make_template(tenant=tenant, credits_per_run=2)
    clients = [client_for(tenant_admin) for _ in range(8)]

    def post(i):
        response = start(clients[i], template, "k-race", files=[upload(f"{n}.txt", f"file {n}") for n in range(20)])
        return response.status_code, response.headers.get("Idempotent-Replayed"), response.json()

    results = in_threads(8, post)

    assert all(isinstance(r, tuple) for r in results), results
    statuses = sorted(status for status, _, _ in results)
    assert set(statuses) <= {201, 409}, statuses
    created = [body for status, replayed, body in results if status == 201 and replayed is None]
    assert len(created) == 1, statuses
    assert {body["id"] for status, _, body in results if status == 201} == {created[0]["id"]}
    assert WorkflowRun.objects.count() == 1
    assert entries(tenant, "reserve") == [40]
    assert CreditLedgerEntry.objects.filter(reason="reserve").count() == 1
    assert_reconciled()
