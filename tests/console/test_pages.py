"""Console pages without a browser: sign-in, tenant isolation, and the API's errors shown where the
person acted (field errors, 409 `missingPhases`, the role error)."""

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, CampaignPhase
from campaigns.services.campaigns import campaign_create, campaign_set_mode, phase_config_set
from scans.models import ExecutionStatus, Scan, ServiceExecution
from tenants.models import Role
from workflow_runs.models import FileStatus

from ..campaigns.factories import dns_persona, generation_config
from ..helpers import make_user
from ..workflow_runs.factories import fund, make_template, run_in_state

pytestmark = pytest.mark.django_db


def browser_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def htmx(client: Client, url: str, data=None):
    return client.post(url, data or {}, HTTP_HX_REQUEST="true")


def a_scan(tenant, *, status="failed", attempts=1, retryable=True) -> Scan:
    scan = Scan.objects.create(tenant=tenant, url="https://example.com/", services=["meta"], status=status)
    ServiceExecution.objects.create(
        scan=scan,
        service="meta",
        status=ExecutionStatus.FAILED,
        attempts=attempts,
        error_code="fetch_failed",
        error_message="The page answered 503.",
        error_retryable=retryable,
    )
    return scan


def test_signing_in_with_the_form_leads_to_the_dashboard(tenant_admin):
    client = Client()
    assert client.get("/console/").status_code == 302

    response = client.post("/console/login/", {"username": tenant_admin.username, "password": "s3cret-pass!"})

    assert (response.status_code, response["Location"]) == (302, "/console/")
    page = client.get("/console/")
    assert page.status_code == 200
    assert tenant_admin.username in page.content.decode()


def test_a_wrong_password_shows_the_error_on_the_sign_in_page(tenant_admin):
    response = Client().post("/console/login/", {"username": tenant_admin.username, "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()


def test_sign_in_is_throttled_like_the_apis_login(tenant_admin, settings):
    client = Client(REMOTE_ADDR="10.30.0.1")
    for _ in range(10):  # the API's per-username budget (RELAY_LOGIN_RATE_PER_USERNAME, 10/min)
        client.post("/console/login/", {"username": tenant_admin.username, "password": "nope"})

    response = client.post("/console/login/", {"username": tenant_admin.username, "password": "s3cret-pass!"})

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many sign-in attempts" in response.content.decode()


def test_the_dashboard_lists_only_the_tenants_own_objects(tenant, other_tenant, tenant_member):
    campaign_create(tenant=tenant, name="ours")
    campaign_create(tenant=other_tenant, name="theirs")

    lists = browser_for(tenant_member).get("/console/lists").content.decode()

    assert "ours" in lists and "theirs" not in lists


def test_another_tenants_pages_answer_404(tenant, other_tenant, tenant_admin):
    campaign = campaign_create(tenant=other_tenant, name="theirs")
    template = make_template(tenant=other_tenant)
    run = run_in_state(tenant=other_tenant, template=template, files=[(FileStatus.FAILED, 0)])
    scan = a_scan(other_tenant)
    client = browser_for(tenant_admin)

    for url in (
        f"/console/campaigns/{campaign.pk}",
        f"/console/campaigns/{campaign.pk}/pipeline",
        f"/console/runs/{run.pk}",
        f"/console/runs/{run.pk}/files",
        f"/console/scans/{scan.pk}",
    ):
        assert client.get(url).status_code == 404, url
    assert htmx(client, f"/console/campaigns/{campaign.pk}/phases/domain_generation/start").status_code == 404
    assert htmx(client, f"/console/runs/{run.pk}/continue").status_code == 404
    assert htmx(client, f"/console/scans/{scan.pk}/retry").status_code == 404


def test_a_config_form_shows_the_apis_field_errors_and_then_the_ready_mark(tenant, tenant_member):
    campaign = campaign_create(tenant=tenant, name="c")
    client = browser_for(tenant_member)
    url = f"/console/campaigns/{campaign.pk}/phases/domain_generation/config"

    bad = htmx(client, url, {**generation_config(), "variable_length": "0", "num_domains": ""})

    assert bad.status_code == 400
    body = bad.content.decode()
    assert 'data-testid="field-error-variable_length"' in body
    assert "Ensure this value is greater than or equal to 1." in body
    assert 'data-testid="field-error-num_domains"' in body
    good = htmx(client, url, generation_config())
    assert good.status_code == 200
    assert "✓ Ready" in good.content.decode()
    assert good["HX-Trigger"] == "pipeline-changed"


def test_starting_a_full_sequence_with_missing_configs_lists_them_with_configure_now(tenant, tenant_member):
    campaign = campaign_create(tenant=tenant, name="c")
    phase_config_set(campaign=campaign, phase="domain_generation", data=generation_config())
    campaign_set_mode(campaign=campaign, mode="full_sequence", actor=None)

    response = htmx(browser_for(tenant_member), f"/console/campaigns/{campaign.pk}/phases/domain_generation/start")

    assert response.status_code == 409
    body = response.content.decode()
    for phase in ("dns_validation", "http_keyword_validation", "analysis"):
        assert f'data-testid="configure-now-{phase}"' in body


def test_later_start_buttons_are_hidden_in_full_sequence(tenant, tenant_member):
    campaign = campaign_create(tenant=tenant, name="c")
    client = browser_for(tenant_member)
    step = client.get(f"/console/campaigns/{campaign.pk}/pipeline").content.decode()
    assert 'data-testid="start-dns_validation"' in step

    full = htmx(client, f"/console/campaigns/{campaign.pk}/mode", {"mode": "full_sequence"}).content.decode()

    assert 'data-testid="start-domain_generation"' in full
    assert 'data-testid="start-dns_validation"' not in full


def test_a_phase_that_failed_twice_shows_the_recovery_steps_and_its_retry_as_the_one_action(tenant, tenant_member):
    campaign = campaign_create(tenant=tenant, name="c")
    CampaignPhase.objects.filter(campaign=campaign, phase="domain_generation").update(status="completed")
    CampaignPhase.objects.filter(campaign=campaign, phase="dns_validation").update(
        status="failed", attempts=2, error="resolvers_unreachable", failed_at=timezone.now()
    )

    body = browser_for(tenant_member).get(f"/console/campaigns/{campaign.pk}/pipeline").content.decode()

    assert 'data-testid="recovery-steps"' in body
    assert 'data-state="paused"' in body
    assert body.count('class="primary"') == 1
    assert 'class="primary" data-testid="retry-dns_validation"' in body


def test_a_member_gets_the_role_error_on_admin_only_actions(tenant, tenant_member):
    campaign = campaign_create(tenant=tenant, name="c")
    fund(tenant, purchased=10)
    run = run_in_state(tenant=tenant, template=make_template(tenant=tenant), files=[(FileStatus.FAILED, 0)])
    scan = a_scan(tenant)
    client = browser_for(tenant_member)

    for url in (f"/console/campaigns/{campaign.pk}/cancel", f"/console/runs/{run.pk}/continue"):
        response = htmx(client, url)
        assert response.status_code == 403, url
        assert 'data-code="permission_denied"' in response.content.decode()
    retry = htmx(client, f"/console/scans/{scan.pk}/retry", {"services": "meta"})
    assert retry.status_code == 403
    assert "Only the scan&#x27;s author or a tenant admin may retry it." in retry.content.decode()


def test_personas_are_edited_with_the_apis_validation_and_roles(tenant, other_tenant, tenant_admin, tenant_member):
    persona = dns_persona(tenant, 53)
    theirs = dns_persona(other_tenant, 53)
    url = f"/console/personas/dns/{persona.pk}"

    refused = htmx(browser_for(tenant_member), url, {"nameservers": "127.0.0.1:5353"})
    invalid = htmx(browser_for(tenant_admin), url, {"nameservers": "nope"})
    saved = htmx(browser_for(tenant_admin), url, {"nameservers": "127.0.0.1:5353", "retries": "2"})

    assert refused.status_code == 403
    assert invalid.status_code == 400
    assert "is not an IP address or IP:port." in invalid.content.decode()
    assert saved.status_code == 200
    persona.refresh_from_db()
    assert (persona.nameservers, persona.retries) == (["127.0.0.1:5353"], 2)
    assert htmx(browser_for(tenant_admin), f"/console/personas/dns/{theirs.pk}", {}).status_code == 404
    assert "loopback dns" in browser_for(tenant_member).get("/console/personas").content.decode()


@pytest.mark.parametrize("kind", ["dns", "http"])
def test_a_personas_shared_rate_limit_is_set_in_the_console_within_its_bound(tenant, tenant_admin, kind):
    from campaigns.models import HttpPersona

    from ..campaigns.factories import http_persona

    persona = dns_persona(tenant, 53) if kind == "dns" else http_persona(tenant, 80)
    url = f"/console/personas/{kind}/{persona.pk}"
    form = {"nameservers": "127.0.0.1:5353"} if kind == "dns" else {}  # the form sends its list fields
    refused = htmx(browser_for(tenant_admin), url, {**form, "rate_limit_per_second": "1001"})
    assert refused.status_code == 400
    assert htmx(browser_for(tenant_admin), url, {**form, "rate_limit_per_second": "20"}).status_code == 200
    model = type(persona) if kind == "dns" else HttpPersona
    assert model.objects.get(pk=persona.pk).rate_limit_per_second == 20


def test_continue_shows_its_cost_before_it_is_confirmed(tenant, tenant_admin):
    fund(tenant, purchased=10)
    template = make_template(tenant=tenant, credits_per_run=3)
    files = [(FileStatus.COMPLETED, 0), (FileStatus.FAILED, 0), (FileStatus.FAILED, 0), (FileStatus.PENDING, 0)]
    run = run_in_state(tenant=tenant, template=template, files=files)
    client = browser_for(tenant_admin)

    confirm = client.get(f"/console/runs/{run.pk}/continue?step=confirm").content.decode()

    assert 'data-testid="continue-credits">6<' in confirm
    assert "3 file(s)" in confirm


def test_continue_without_enough_credits_shows_the_402(tenant, tenant_admin):
    template = make_template(tenant=tenant, credits_per_run=3)
    run = run_in_state(tenant=tenant, template=template, files=[(FileStatus.FAILED, 0)])

    response = htmx(browser_for(tenant_admin), f"/console/runs/{run.pk}/continue")

    assert response.status_code == 402
    assert 'data-code="insufficient_credits"' in response.content.decode()


def test_the_files_table_pages_through_the_runs_files(tenant, tenant_member):
    template = make_template(tenant=tenant)
    run = run_in_state(tenant=tenant, template=template, files=[(FileStatus.COMPLETED, 0)] * 120)
    client = browser_for(tenant_member)

    second = client.get(f"/console/runs/{run.pk}/files?offset=50").content.decode()

    assert second.count('data-testid="file-row"') == 50
    assert "51\u2013100 of 120" in second
    failed_only = client.get(f"/console/runs/{run.pk}/files?status=failed").content.decode()
    assert failed_only.count('data-testid="file-row"') == 0


def test_a_scan_card_shows_its_attempts_and_whether_it_can_retry(tenant, tenant_member):
    scan = a_scan(tenant, attempts=1)
    body = browser_for(tenant_member).get(f"/console/scans/{scan.pk}").content.decode()
    assert "Attempt 1/2 \u2013 <strong>can retry</strong>" in body
    assert 'data-testid="retry-check-meta"' in body


def test_a_platform_admin_names_the_tenant_it_creates_for(tenant):
    client = browser_for(make_user(tenant=None, role=Role.PLATFORM_ADMIN))
    assert 'name="tenant"' in client.get("/console/").content.decode()

    unnamed = htmx(client, "/console/campaigns/new", {"name": "ops"})
    named = htmx(client, "/console/campaigns/new", {"name": "ops", "tenant": str(tenant.pk)})

    assert unnamed.status_code == 400
    assert "A platform admin must name the tenant." in unnamed.content.decode()
    assert named.status_code == 200
    campaign = Campaign.objects.get(name="ops")
    assert (campaign.tenant_id, named["HX-Redirect"]) == (tenant.pk, f"/console/campaigns/{campaign.pk}")
