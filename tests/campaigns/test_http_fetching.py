"""The HTTP phase reads real pages right: 1 MiB bodies to the end, chunked and compressed bodies,
charsets, HTTPS routed by SNI (with and without certificate checks) and dual-stack hosts whose IPv6
address does not answer. Checked on the fetcher against the loopback server, then through the phase."""

import socket
import ssl
from typing import Any

import pytest

from campaigns.loopback.http_server import BIG_PAGE_BYTES, DEFAULT_TLS_TITLE, page_for
from campaigns.models import DnsResult, HttpResult
from campaigns.phases.http_keyword_validation import FetchSettings, fetch_batch, ordered_addresses
from campaigns.services.campaigns import phase_config_set
from campaigns.services.phases import phase_start

from .factories import configured_campaign, dns_persona, generation_config, http_persona, wait_status


def fetch(name, settings, addresses=("127.0.0.1",), keywords=("pricing",)):
    (result,) = fetch_batch([(name, list(addresses))], [settings], list(keywords))
    return result


def expected_hits(name):
    return {"pricing": 1} if "pricing" in page_for(name).body else {}


def test_a_1_mib_page_is_read_to_its_end_and_the_keyword_at_the_end_is_found(http_server):
    result = fetch("big-one.test", FetchSettings(port=http_server.port, max_body_bytes=2_000_000))
    assert (result.status, result.title, result.keyword_hits) == ("ok", "Big page of big-one.test", {"pricing": 1})
    assert (result.signals["bytes"], result.signals["truncated"]) == (BIG_PAGE_BYTES, False)


def test_a_page_over_the_limit_is_read_up_to_the_limit_and_marked_truncated(http_server):
    result = fetch("big-one.test", FetchSettings(port=http_server.port, max_body_bytes=300_000))
    assert (result.signals["bytes"], result.signals["truncated"]) == (300_000, True)
    assert result.keyword_hits == {}  # beyond the limit
    exact = fetch("big-one.test", FetchSettings(port=http_server.port, max_body_bytes=BIG_PAGE_BYTES))
    assert (exact.signals["bytes"], exact.signals["truncated"], exact.keyword_hits) == (
        BIG_PAGE_BYTES,
        False,
        {"pricing": 1},
    )


@pytest.mark.parametrize("name", ["chunked-one.test", "gzip-one.test", "deflate-one.test", "latin1-one.test"])
def test_chunked_compressed_and_latin1_pages_read_as_the_site_wrote_them(http_server, name):
    result = fetch(name, FetchSettings(port=http_server.port))
    page = page_for(name)
    assert (result.status, result.status_code, result.title) == ("ok", 200, page.title)
    assert result.keyword_hits == expected_hits(name)
    assert result.signals["bytes"] == len(page.body.encode(page.charset))  # decompressed size


def test_the_loopback_tls_listener_routes_by_sni(http_server):
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE

    def title(server_name):
        raw = socket.create_connection(("127.0.0.1", http_server.tls_port), timeout=5)
        with raw, context.wrap_socket(raw, server_hostname=server_name) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: lead1.test\r\n\r\n")
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
        return data.split(b"<title>")[1].split(b"</title>")[0].decode()

    assert title(None) == DEFAULT_TLS_TITLE
    assert title("lead7.test") == page_for("lead7.test").title  # the SNI decides, not the Host header


def test_https_sends_the_domain_as_sni_and_verifies_the_certificate_when_asked(http_server):
    names = [f"lead{i}.test" for i in range(12)]
    unverified = FetchSettings(scheme="https", port=http_server.tls_port, verify_tls=False)
    for name, result in zip(names, fetch_batch([(n, ["127.0.0.1"]) for n in names], [unverified], []), strict=True):
        page = page_for(name, "/landing" if page_for(name).location else "/")
        assert (result.status, result.status_code, result.title) == ("ok", page.status, page.title)
    verified = fetch("lead1.test", FetchSettings(scheme="https", port=http_server.tls_port, verify_tls=True))
    assert (verified.status, verified.error) == ("error", "tls_certificate")  # self-signed


def test_addresses_are_ordered_by_family_not_as_strings():
    addresses = ["2001:db8::1", "93.184.216.34", "::1", "10.0.0.1", "not-an-ip"]
    assert ordered_addresses(addresses, "ipv4_first") == ["93.184.216.34", "10.0.0.1", "2001:db8::1", "::1"]
    assert ordered_addresses(addresses, "ipv6_first") == ["2001:db8::1", "::1", "93.184.216.34", "10.0.0.1"]
    assert ordered_addresses(addresses, "ipv4_only") == ["93.184.216.34", "10.0.0.1"]
    assert ordered_addresses(addresses, "ipv6_only") == ["2001:db8::1", "::1"]


def test_a_refused_address_falls_back_to_the_next_one(http_server):
    # Nothing listens on [::1]:port; 127.0.0.1 answers.
    both = ("::1", "127.0.0.1")
    for family in ("ipv4_first", "ipv6_first"):
        result = fetch("dual-one.test", FetchSettings(port=http_server.port, address_family=family), addresses=both)
        assert (result.status, result.title) == ("ok", page_for("dual-one.test").title)
    only_v6 = fetch("dual-one.test", FetchSettings(port=http_server.port, address_family="ipv6_only"), addresses=both)
    assert (only_v6.status, only_v6.error) == ("error", "connection_failed")


# --- through the phase ------------------------------------------------------------------------------


CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "big": ("big-", {"max_body_bytes": 2_000_000}, {}),
    "gzip": ("gzip-", {}, {}),
    "chunked": ("chunked-", {}, {}),
    "latin1": ("latin1-", {}, {}),
    "https": ("site-", {"scheme": "https", "verify_tls": False}, {}),
    "dual_stack": ("dual-", {"address_family": "ipv6_first"}, {"query_types": ["AAAA", "A"]}),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", list(CASES))
def test_the_http_phase_stores_what_each_kind_of_site_serves(celery_worker, dns_server, http_server, tenant, case):
    prefix, http_overrides, dns_overrides = CASES[case]
    port = http_server.tls_port if http_overrides.get("scheme") == "https" else http_server.port
    campaign = configured_campaign(
        tenant,
        dns=dns_persona(tenant, dns_server.port, **dns_overrides),
        http=http_persona(tenant, port, **http_overrides),
        num_domains=12,
        batch_size=5,
    )
    phase_config_set(
        campaign=campaign,
        phase="domain_generation",
        data=generation_config(12, 5, pattern_type="suffix", constant_string=prefix),
    )
    phase_start(campaign=campaign, phase="domain_generation", actor=None)
    wait_status(campaign, "completed")

    resolved = DnsResult.objects.filter(campaign=campaign, status="resolved")
    assert resolved.exists()
    if case == "dual_stack":
        assert {tuple(r.addresses) for r in resolved} == {("::1", "127.0.0.1")}  # IPv6 then IPv4
    results = {r.domain.name: r for r in HttpResult.objects.filter(campaign=campaign).select_related("domain")}
    assert len(results) == resolved.count()
    for name, result in results.items():
        assert name.startswith(prefix)
        page = page_for(name, "/landing" if page_for(name).location else "/")
        assert (result.status, result.status_code, result.title) == ("ok", page.status, page.title), name
        counts = {word: page.body.lower().count(word) for word in ("pricing", "login")}  # the phase's keywords
        assert result.keyword_hits == {word: count for word, count in counts.items() if count}, name
        assert result.signals["truncated"] is False
