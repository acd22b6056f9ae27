"""DNS rebinding at every entry point: a name (`*.rebind.test`) answers the allowed site's address at
its first lookup and an internal one (another loopback address, listening on the allowed site's port)
at every later lookup. A configuration-time check sees the allowed address and accepts; the run-time
connection resolves once, checks what it got and connects to that: the internal service never sees a
connection. Where an entry point never resolves names (a campaign fetch, a nameserver), no lookup is
made at all."""

from __future__ import annotations

import httpx
import pytest

from campaigns import jobs as campaign_jobs
from campaigns.models import DnsPersona, HttpPersona
from campaigns.phases import http_keyword_validation
from core import egress
from orchestration.errors import JobError
from scans.checks import links
from scans.checks.fetch import fetch_page
from scans.checks.registry import CheckSettings, ScanTarget
from workflow_runs.processors import webhook
from workflow_runs.processors.streams import FileInput

from .egress_resolvers import REBIND_INTERNAL
from .egress_servers import counting_listener

REFUSED = {egress.EgressDenied.code, "invalid_url"}


@pytest.fixture
def internal(site):
    """What the rebinding names turn into: an internal service on the allowed site's port."""
    with counting_listener(REBIND_INTERNAL, site.port) as listening:
        yield listening


def url(name: str, site, path: str = "/") -> str:
    return f"http://{name}.rebind.test:{site.port}{path}"


def fetch_code(target: str) -> str:
    with pytest.raises(JobError) as caught:
        fetch_page(target, service="meta", settings=CheckSettings(fetch_timeout=5))
    assert not caught.value.retryable
    return caught.value.code


@pytest.mark.django_db
def test_a_scan_url_accepted_at_configuration_is_refused_when_it_rebinds(
    strict, site, internal, resolver, admin_client
):
    target = url("scan", site)
    response = admin_client.post("/api/scans", {"url": target}, format="json")
    assert response.status_code == 201, response.json()  # the first answer was the allowed site
    assert fetch_code(target) == egress.EgressDenied.code
    assert internal.connections == 0


def test_a_scan_fetch_connects_to_the_address_it_checked(strict, site, internal, resolver):
    page = fetch_page(url("first", site), service="meta", settings=CheckSettings(fetch_timeout=5))
    assert page.status == 200
    assert resolver.lookups == ["first.rebind.test"]  # one lookup, the checked address connected to
    assert fetch_code(url("first", site)) == egress.EgressDenied.code  # a new fetch asks again: internal now
    assert internal.connections == 0


def test_a_scan_redirect_to_a_rebinding_name_is_checked_at_its_hop(strict, site, internal, resolver):
    fetch_page(url("hop", site), service="meta", settings=CheckSettings(fetch_timeout=5))  # its first answer
    assert fetch_code(site.url(f"/redirect?to={url('hop', site)}")) == egress.EgressDenied.code
    assert internal.connections == 0


def test_links_to_a_rebinding_name_never_reach_the_internal_address(strict, site, internal, resolver):
    targets = [url("link", site, f"/{i}") for i in range(5)]
    query = "&".join(f"link={target}" for target in targets)
    result = links.run(ScanTarget(url=site.url(f"/page?{query}"), keywords=()), CheckSettings(link_timeout=5))
    errors = {entry["error"] for entry in result["broken"]}
    assert errors <= REFUSED, errors
    assert result["brokenCount"] >= 1  # the lookups after the first answered the internal address
    assert internal.connections == 0


def test_a_webhook_accepted_at_configuration_is_refused_when_it_rebinds(strict, site, internal, resolver):
    config = webhook.validate_config({"url": url("hook", site), "timeout_seconds": 5})
    with pytest.raises(JobError) as caught:
        webhook.process("f.txt", FileInput.from_bytes(b"data"), config)
    assert caught.value.code == egress.EgressDenied.code and not caught.value.retryable
    assert internal.connections == 0


def test_a_campaign_fetch_never_looks_its_name_up(strict, site, internal, resolver):
    persona = http_keyword_validation.FetchSettings(port=site.port, timeout_seconds=5)
    (fetch,) = http_keyword_validation.fetch_batch([("shop.rebind.test", ["127.0.0.1"])], [persona], [])
    assert (fetch.status, fetch.status_code) == ("ok", 200), fetch
    (denied,) = http_keyword_validation.fetch_batch([("shop.rebind.test", [REBIND_INTERNAL])], [persona], [])
    assert denied.error.startswith(egress.EgressDenied.code), denied
    assert resolver.lookups == []  # the addresses the DNS phase stored are the ones connected to
    assert internal.connections == 0


@pytest.mark.django_db
def test_a_nameserver_is_never_a_name(strict, internal, resolver, admin_client, tenant):
    body = {"name": "d", "nameservers": ["ns.rebind.test"]}
    response = admin_client.post("/api/personas/dns", body, format="json")
    assert response.status_code == 400
    assert "nameservers" in response.json()["error"]["fields"]
    persona = DnsPersona.objects.create(tenant=tenant, name="d", nameservers=body["nameservers"])
    with pytest.raises(JobError) as caught:
        campaign_jobs.dns_personas([str(persona.pk)])
    assert caught.value.code == egress.EgressDenied.code and not caught.value.retryable
    assert resolver.lookups == []
    assert internal.connections == 0


@pytest.mark.django_db
def test_a_proxy_accepted_at_configuration_is_refused_when_it_rebinds(
    strict, site, internal, resolver, admin_client, tenant
):
    response = admin_client.post("/api/proxies", {"name": "p", "url": url("proxy", site, "")}, format="json")
    assert response.status_code == 201, response.json()
    persona = HttpPersona.objects.create(tenant=tenant, name="h")
    with pytest.raises(JobError) as caught:
        campaign_jobs.http_personas([str(persona.pk)], response.json()["id"])
    assert caught.value.code == egress.EgressDenied.code and not caught.value.retryable
    assert internal.connections == 0


def test_a_proxy_connection_resolves_once_and_is_checked(strict, site, internal, resolver):
    """The proxy check passed (its first answer); the connection's own lookup is internal: refused."""
    egress.check_url(url("via", site, ""))
    persona = http_keyword_validation.FetchSettings(port=site.port, timeout_seconds=5, proxy_url=url("via", site, ""))
    (fetch,) = http_keyword_validation.fetch_batch([("shop.test", ["127.0.0.1"])], [persona], [])
    assert fetch.error.startswith(egress.EgressDenied.code), fetch
    assert resolver.lookups == ["via.rebind.test", "via.rebind.test"]
    assert internal.connections == 0


def test_httpx_would_have_reached_the_internal_address_without_the_policy(site, internal, resolver):
    """The test double works: a plain client that looks the name up again does reach it."""
    resolver.lookups.append("plain.rebind.test")  # as if the check had asked first
    with pytest.raises(httpx.HTTPError):
        httpx.get(url("plain", site), timeout=2)
    assert internal.connections == 1
