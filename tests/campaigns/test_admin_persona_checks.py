"""A persona or proxy saved in the Django admin passes the API's own checks: the bounds on every number
(at the bound it is saved, one past it refused on that field), the header rules and the egress policy.
Nothing the admin refuses is stored."""

from __future__ import annotations

from typing import Any

import pytest

from campaigns.models import DnsPersona, HttpPersona, Proxy
from campaigns.persona_limits import DNS, HTTP
from tenants.models import Role

from ..admin_actions import admin_browser, staff
from ..helpers import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(tenant: Any) -> Any:
    perms = [f"add_{model}" for model in ("dnspersona", "httppersona", "proxy")]
    return admin_browser(staff(make_user(tenant=tenant, role=Role.TENANT_ADMIN), *perms))


def dns_form(tenant: Any, **changes: Any) -> dict[str, Any]:
    form = {"tenant": str(tenant.pk), "name": "d", "nameservers": "127.0.0.1", "query_types": "A"}
    form |= {"timeout_seconds": "2", "retries": "1", "concurrency": "10", "rate_limit_per_second": "0"}
    return form | changes


def http_form(tenant: Any, **changes: Any) -> dict[str, Any]:
    form = {"tenant": str(tenant.pk), "name": "h", "user_agent": "RelayBot/1.0", "headers": "{}", "scheme": "http"}
    form |= {"port": "", "timeout_seconds": "5", "max_redirects": "3", "max_body_bytes": "65536"}
    form |= {"concurrency": "10", "rate_limit_per_second": "0", "verify_tls": "on", "address_family": "ipv4_first"}
    return form | changes


def saved(response: Any) -> bool:
    if response.status_code == 302:
        return True
    assert response.status_code == 200, response.status_code
    assert response.context["adminform"].form.errors, "refused without saying why"
    return False


def field_errors(response: Any) -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in response.context["adminform"].form.errors.items()}


PERSONA_NUMBERS = [("dnspersona", DnsPersona, dns_form, DNS, field) for field in sorted(DNS)] + [
    ("httppersona", HttpPersona, http_form, HTTP, field) for field in sorted(set(HTTP) - {"port"})
]


@pytest.mark.parametrize(("page", "model", "form", "bounds", "field"), PERSONA_NUMBERS)
def test_a_persona_number_is_bounded_in_the_admin_as_in_the_api(browser, tenant, page, model, form, bounds, field):
    low, high = bounds[field]
    step = 1 if isinstance(high, int) else 0.1
    add = f"/admin/campaigns/{page}/add/"
    for at in (low, high):
        assert saved(browser.post(add, form(tenant, name=f"at {at}", **{field: str(at)}))), at
    for past in (round(low - step, 1), high + step):
        refused = browser.post(add, form(tenant, name="past", **{field: str(past)}))
        assert not saved(refused) and field in field_errors(refused), past
    assert not model.objects.filter(name="past").exists()


def test_header_injection_is_refused_in_the_admin(browser, tenant):
    refused = browser.post(
        "/admin/campaigns/httppersona/add/", http_form(tenant, headers='{"X-A": "a\\r\\nSet-Cookie: b"}')
    )
    assert not saved(refused) and "headers" in field_errors(refused)
    assert not HttpPersona.objects.exists()


@pytest.mark.parametrize("nameserver", ["169.254.169.254", "10.0.0.1", "::ffff:169.254.169.254"])
def test_a_denied_nameserver_is_refused_in_the_admin(browser, tenant, nameserver):
    refused = browser.post("/admin/campaigns/dnspersona/add/", dns_form(tenant, nameservers=nameserver))
    assert not saved(refused) and "nameservers" in field_errors(refused)
    assert not DnsPersona.objects.exists()


def test_a_proxy_to_a_denied_address_is_refused_in_the_admin(browser, tenant):
    form = {"tenant": str(tenant.pk), "name": "p"}
    refused = browser.post("/admin/campaigns/proxy/add/", {**form, "url": "http://169.254.169.254:80"})
    assert not saved(refused) and "url" in field_errors(refused)
    assert not Proxy.objects.exists()
    assert saved(browser.post("/admin/campaigns/proxy/add/", {**form, "url": "http://127.0.0.1:3128"}))
