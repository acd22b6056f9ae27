"""The egress policy refuses a corpus of hostile targets at every entry point (scan URL, a link in a
scanned page, webhook URL, campaign HTTP fetch, DNS persona nameserver, proxy): a 400 when the target is
configured, an `egress_denied` (or `invalid_url`) outcome when it is used, and the counting listener
that stands for an internal service never sees a connection.

The corpus holds every notation of the internal addresses and names that the loopback DNS server
resolves to internal addresses (`*.internal.test`, asked through the resolver every entry point uses);
a name whose answer changes between lookups (`*.rebind.test`) is tried at each entry point too.

The counting listener's port is made an *allowed port* here, so every refusal below comes from the
address rules, not from the port rule."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import httpx
import pytest

from campaigns import jobs as campaign_jobs
from campaigns.models import DnsPersona, HttpPersona, Proxy
from campaigns.phases import dns_validation, http_keyword_validation
from core import egress
from orchestration.errors import JobError
from scans.checks import links
from scans.checks.fetch import fetch_page
from scans.checks.registry import CheckSettings, ScanTarget
from workflow_runs.processors import webhook
from workflow_runs.processors.registry import ConfigError
from workflow_runs.processors.streams import FileInput

from .egress_resolvers import INTERNAL_NAMES
from .egress_servers import allowed_site

LOOPBACK = ["127.0.0.1", "127.1", "127.0.1", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001"]
LOOPBACK += ["017700000001", "127.127.127.127", "localhost", "0.0.0.0", "0"]  # noqa: S104 (a target, not a bind)
LOOPBACK += ["[::1]", "[0:0:0:0:0:0:0:1]", "[::]"]
LOOPBACK += ["[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]"]
METADATA = ["169.254.169.254", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "[::ffff:169.254.169.254]"]
METADATA += ["[fd00:ec2::254]", "100.100.100.200", "169.254.170.2"]
PRIVATE = ["10.0.0.1", "012.0.0.1", "167772161", "172.16.0.1", "192.168.1.1", "0xc0a80101", "[fc00::1]"]
PRIVATE += ["[fd12:3456::1]", "[::ffff:10.0.0.1]"]
OTHER = ["169.254.1.1", "[fe80::1]", "100.64.0.1", "100.127.255.254", "224.0.0.1", "239.255.255.250", "[ff02::1]"]
OTHER += ["240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1"]
CORPUS = LOOPBACK + METADATA + PRIVATE + OTHER + INTERNAL_NAMES
REFUSED = {egress.EgressDenied.code, "invalid_url"}


def canonical(host: str) -> str | None:
    """The corpus entry as a resolver would hand it over (campaign fetches get resolved addresses)."""
    bare = host.strip("[]")
    if bare == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        return None


CANONICAL = sorted({address for address in map(canonical, CORPUS) if address})
# The fixtures (counter, site, strict, resolver) are in conftest.py.


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 40
    assert len(CANONICAL) >= 30
    assert len(INTERNAL_NAMES) >= 5


def url_of(host: str, port: int) -> str:
    return f"http://{host}:{port}/"


@pytest.mark.parametrize("host", CORPUS)
def test_the_policy_refuses_every_corpus_target(strict, counter, host):
    with pytest.raises(egress.EgressDenied):
        egress.resolve_checked(host.strip("[]"), counter.port)


def test_a_public_address_passes_and_a_denied_port_is_named(strict):
    assert str(egress.check_address("93.184.216.34", 443)) == "93.184.216.34"
    with pytest.raises(egress.EgressDenied) as caught:
        egress.check_address("93.184.216.34", 6379)
    assert caught.value.rule == "port_not_allowed"


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("127.0.0.1", "loopback_address"),
        ("169.254.169.254", "metadata_address"),
        ("::ffff:169.254.169.254", "metadata_address"),
        ("10.1.2.3", "private_address"),
        ("100.64.0.1", "cgnat_address"),
        ("fe80::1", "link_local_address"),
        ("224.0.0.1", "multicast_address"),
        ("240.0.0.1", "reserved_address"),
    ],
)
def test_a_refusal_names_its_rule(strict, address, rule):
    with pytest.raises(egress.EgressDenied) as caught:
        egress.check_address(address, 80)
    assert caught.value.rule == rule
    assert address not in str(caught.value)  # the message never repeats a (resolved) address


def test_the_allow_list_names_an_address_and_port_and_deny_entries_win(settings):
    settings.RELAY_EGRESS_ALLOW = "127.0.0.1/32:8053,10.0.0.0/8"
    settings.RELAY_EGRESS_DENY = "10.0.0.5/32:5432"
    assert egress.check_address("127.0.0.1", 8053)
    assert egress.check_address("10.9.9.9", 5432)
    for address, port in [("127.0.0.1", 5432), ("127.0.0.1", 80), ("10.0.0.5", 5432)]:
        with pytest.raises(egress.EgressDenied):
            egress.check_address(address, port)
    assert egress.parse_entry("fd00::/8:443") == (ipaddress.ip_network("fd00::/8"), 443)
    with pytest.raises(ValueError):
        egress.parse_entry("10.0.0.1")


# --- scans -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_scan_url_is_refused_at_configuration(strict, counter, admin_client):
    for host in CORPUS:
        response = admin_client.post("/api/scans", {"url": url_of(host, counter.port)}, format="json")
        assert response.status_code == 400, host
        assert "url" in response.json()["error"]["fields"], host
    assert counter.connections == 0


def _unparseable(host: str) -> bool:
    """httpx refuses some notations (leading-zero octets) before any connection."""
    try:
        httpx.URL(url_of(host, 80))
    except httpx.InvalidURL:
        return True
    return False


def _fetch_code(url: str) -> str:
    with pytest.raises(JobError) as caught:
        fetch_page(url, service="meta", settings=CheckSettings(fetch_timeout=5))
    return caught.value.code


def test_a_scan_fetch_is_refused_at_run_time_and_after_a_redirect(strict, counter, site):
    for host in CORPUS:
        target = url_of(host, counter.port)
        assert _fetch_code(target) in REFUSED, host
        # A Location httpx cannot parse ends the fetch as an unreadable answer, before any connection.
        after_redirect = REFUSED | ({"page_unreachable"} if _unparseable(host) else set())
        assert _fetch_code(site.url(f"/redirect?to={target}")) in after_redirect, host
    assert counter.connections == 0
    assert fetch_page(site.url(), service="meta", settings=CheckSettings()).status == 200  # the site is allowed


def test_links_inside_a_scanned_page_are_refused(strict, counter, site):
    targets = [url_of(host, counter.port) for host in CORPUS]
    query = "&".join(f"link={target}" for target in targets)
    settings = CheckSettings(max_links=200, link_timeout=5)
    result = links.run(ScanTarget(url=site.url(f"/page?{query}"), keywords=()), settings)
    errors = {entry["error"] for entry in result["broken"]}
    assert result["brokenCount"] >= len(CANONICAL)
    assert errors <= REFUSED, errors
    assert counter.connections == 0


# --- workflow webhooks -------------------------------------------------------------------------------


def test_a_webhook_url_is_refused_at_configuration_and_at_run_time(strict, counter):
    for host in CORPUS:
        url = url_of(host, counter.port)
        with pytest.raises(ConfigError) as refused:
            webhook.validate_config({"url": url})
        assert "url" in refused.value.fields, host
        with pytest.raises(JobError) as caught:
            webhook.process("f.txt", FileInput.from_bytes(b"data"), {"url": url, "timeout_seconds": 5})
        assert caught.value.code in REFUSED and not caught.value.retryable, host
    assert counter.connections == 0


# --- campaigns: HTTP fetches, proxies, nameservers ------------------------------------------------------


def test_a_campaign_fetch_to_a_denied_address_is_refused(strict, counter):
    """Resolved addresses (what the DNS phase stores), and every other notation, which is never resolved."""
    persona = http_keyword_validation.FetchSettings(port=counter.port, timeout_seconds=5)
    targets = CANONICAL + CORPUS
    fetches = http_keyword_validation.fetch_batch([("shop.test", [target]) for target in targets], [persona], [])
    for target, fetch in zip(targets, fetches, strict=True):
        assert fetch.error.split(":")[0] == egress.EgressDenied.code, (target, fetch)
    assert counter.connections == 0


@pytest.mark.parametrize("target", ["169.254.169.254", "10.0.0.1", "127.0.0.1", "[::1]", "shop.test"])
def test_a_campaign_fetch_redirected_by_an_allowed_server_to_a_denied_address_connects_nowhere(strict, counter, target):
    """Offsite redirects end the fetch; a same-host redirect to another port stays on the checked
    address and port (`shop.test` is the fetched name itself)."""
    with allowed_site(redirect_everything_to=f"http://{target}:{counter.port}/next") as redirecting:
        strict.RELAY_EGRESS_ALLOW = f"127.0.0.1/32:{redirecting.port}"
        persona = http_keyword_validation.FetchSettings(port=redirecting.port, timeout_seconds=5, max_redirects=3)
        (fetch,) = http_keyword_validation.fetch_batch([("shop.test", ["127.0.0.1"])], [persona], [])
    if target == "shop.test":
        assert fetch.error == "too_many_redirects", fetch  # every hop went back to the allowed server
    else:
        assert fetch.signals.get("offsite_redirect") is True, fetch
    assert counter.connections == 0


def test_a_name_with_denied_and_allowed_addresses_is_fetched_from_the_allowed_one(strict, site):
    persona = http_keyword_validation.FetchSettings(port=site.port, timeout_seconds=5)
    addresses = ["169.254.169.254", "10.0.0.1", "127.0.0.2", "127.0.0.1"]  # only the last is allowed
    (fetch,) = http_keyword_validation.fetch_batch([("shop.test", addresses)], [persona], [])
    assert (fetch.status, fetch.error) == ("ok", ""), fetch
    (denied,) = http_keyword_validation.fetch_batch([("shop.test", addresses[:3])], [persona], [])
    assert denied.error.startswith(egress.EgressDenied.code), denied


def test_names_the_loopback_dns_server_resolves_to_internal_addresses_are_not_fetched(strict, counter):
    from campaigns.loopback.process import start_dns_server

    for internal in ("10.0.0.1", "127.0.0.1", "169.254.169.254", "100.64.0.1"):
        dns = start_dns_server(args=["--address", internal])
        try:
            strict.RELAY_EGRESS_ALLOW = f"127.0.0.1/32:{dns.port}"  # the resolver itself may be asked
            resolver = dns_validation.ResolverSettings(nameservers=(f"127.0.0.1:{dns.port}",), retries=0)
            lookups = dns_validation.resolve_batch(["a.shop.test", "b.shop.test"], [resolver])
            assert {tuple(lookup.addresses) for lookup in lookups} == {(internal,)}
            persona = http_keyword_validation.FetchSettings(port=counter.port, timeout_seconds=5)
            items = [(lookup.name, lookup.addresses) for lookup in lookups]
            fetches = http_keyword_validation.fetch_batch(items, [persona], [])
            assert all(fetch.error.startswith(egress.EgressDenied.code) for fetch in fetches), fetches
        finally:
            dns.stop()
    assert counter.connections == 0


def test_a_campaign_fetch_through_a_denied_proxy_is_refused(strict, counter, site):
    """Resolved addresses are `egress_denied`; other notations too, or `invalid_url` where the client
    refuses the proxy URL before any connection."""
    resolved = [f"[{address}]" if ":" in address else address for address in CANONICAL]
    for host in resolved + CORPUS:
        persona = http_keyword_validation.FetchSettings(
            port=site.port, timeout_seconds=5, proxy_url=f"http://{host}:{counter.port}"
        )
        (fetch,) = http_keyword_validation.fetch_batch([("shop.test", ["127.0.0.1"])], [persona], [])
        allowed = {egress.EgressDenied.code} if host in resolved else REFUSED
        assert fetch.error.split(":")[0] in allowed, (host, fetch)
    assert counter.connections == 0


@pytest.mark.django_db
def test_a_proxy_is_refused_at_configuration_and_at_run_time(strict, counter, admin_client, tenant):
    for host in CORPUS:
        response = admin_client.post("/api/proxies", {"name": "p", "url": url_of(host, counter.port)}, format="json")
        assert response.status_code == 400, host
        assert "url" in response.json()["error"]["fields"], host
    persona = HttpPersona.objects.create(tenant=tenant, name="h")
    for host in CORPUS:
        proxy = Proxy.objects.create(tenant=tenant, name="p", url=f"http://{host}:{counter.port}")
        with pytest.raises(JobError) as caught:
            campaign_jobs.http_personas([str(persona.pk)], str(proxy.pk))
        assert caught.value.code == egress.EgressDenied.code and not caught.value.retryable, host
    assert counter.connections == 0


def _nameserver(address: str, port: int) -> str:
    return address if ":" in address else f"{address}:{port}"  # the API takes IPv6 nameservers without a port


@pytest.mark.django_db
def test_a_dns_persona_nameserver_is_refused_at_configuration_and_at_run_time(strict, counter, admin_client, tenant):
    """Resolved addresses, and every other notation and name (a nameserver must be an IP: never resolved)."""
    for address in CANONICAL + [host.strip("[]") if host.startswith("[") else host for host in CORPUS]:
        body: dict[str, Any] = {"name": "d", "nameservers": [_nameserver(address, counter.port)]}
        response = admin_client.post("/api/personas/dns", body, format="json")
        assert response.status_code == 400, address
        assert "nameservers" in response.json()["error"]["fields"], address
        persona = DnsPersona.objects.create(tenant=tenant, name="d", nameservers=body["nameservers"])
        with pytest.raises(JobError) as caught:
            campaign_jobs.dns_personas([str(persona.pk)])
        assert caught.value.code == egress.EgressDenied.code and not caught.value.retryable
    assert counter.connections == 0


# --- DNS rebinding --------------------------------------------------------------------------------------


def test_a_name_is_resolved_once_and_the_checked_address_is_the_one_connected(strict, site, counter, monkeypatch):
    """A resolver that answers the allowed site first and an internal address afterwards: the fetch
    connects to the address it checked, and never asks again."""
    answers = iter([("127.0.0.1", site.port)] + [("127.0.0.1", counter.port)] * 10)
    asked: list[str] = []
    real = socket.getaddrinfo

    def rebinding(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        asked.append(host)
        address, _ = next(answers)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    page = fetch_page(f"http://rebind.test:{site.port}/", service="meta", settings=CheckSettings())
    assert page.status == 200
    assert asked == ["rebind.test"]
    assert counter.connections == 0
