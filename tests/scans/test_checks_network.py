"""Checks that talk to the network, against the loopback site: fetch failure kinds, broken links with
bounded concurrency, provider-backed services."""

import pytest

from orchestration.errors import ErrorKind, JobError
from scans.checks import backlinks, links, rank_tracker
from scans.checks.fetch import Page, fetch_page
from scans.checks.registry import CheckSettings, ScanTarget

SETTINGS = CheckSettings(fetch_timeout=2.0, link_timeout=2.0)


def fetch_error(url: str, settings: CheckSettings = SETTINGS) -> JobError:
    with pytest.raises(JobError) as caught:
        fetch_page(url, service="meta", settings=settings)
    return caught.value


def test_a_page_is_fetched_with_headers(site):
    fetched = fetch_page(site.url("/good"), service="meta", settings=SETTINGS)
    assert fetched.status == 200 and "Garden tools" in fetched.html
    assert fetched.headers["x-frame-options"] == "DENY"
    assert site.page_hits("meta", "/good") == 1


@pytest.mark.parametrize(
    ("path", "code", "kind"),
    [
        ("/server-error", "page_server_error", ErrorKind.RETRYABLE),
        ("/missing", "page_client_error", ErrorKind.FATAL),
    ],
)
def test_server_errors_are_retryable_and_client_errors_fatal(site, path, code, kind):
    error = fetch_error(site.url(path))
    assert (error.code, error.kind) == (code, kind)


def test_timeouts_and_refused_connections_are_retryable(site):
    slow = fetch_error(site.url("/slow/3"), CheckSettings(fetch_timeout=0.3))
    assert (slow.code, slow.kind) == ("page_timeout", ErrorKind.RETRYABLE)
    refused = fetch_error("http://127.0.0.1:9/")
    assert (refused.code, refused.kind) == ("page_unreachable", ErrorKind.RETRYABLE)


def test_links_are_classified_and_broken_ones_found(site):
    result = links.run(ScanTarget(url=site.url("/bad")), SETTINGS)
    assert (result["total"], result["unique"], result["internal"], result["external"], result["nofollow"]) == (
        5,
        4,
        4,
        1,
        1,
    )
    broken = {item["url"]: (item["status"], item["error"]) for item in result["broken"]}
    assert broken == {
        site.url("/missing"): (404, ""),
        site.url("/server-error"): (500, ""),
        "http://127.0.0.1:9/nowhere": (None, "ConnectError"),
    }
    assert result["brokenCount"] == 3


def test_link_checks_run_concurrently_within_the_bound(site):
    html = "".join(f'<a href="/slow/0.3?n={i}">{i}</a>' for i in range(12))
    found = links.extract_links(Page(url=site.base, final_url=site.base + "/", status=200, headers={}, html=html))
    statuses = links.check_urls([link.url for link in found], CheckSettings(link_concurrency=3, link_timeout=5))
    assert all(status.status == 200 for status in statuses.values()) and len(statuses) == 12
    assert 1 < site.max_in_flight["links"] <= 3


def test_link_checks_stop_at_the_cap(site):
    html = "".join(f'<a href="/ok-target?n={i}">{i}</a>' for i in range(7))
    result = links.summarise(
        links.extract_links(Page(url="http://x/", final_url="http://x/", status=200, headers={}, html=html)),
        {},
        max_links=5,
    )
    assert (result["unique"], result["unchecked"]) == (7, 2)


def provider_settings(site) -> CheckSettings:
    return CheckSettings(
        providers={"rank_tracker": site.url("/provider/rank"), "backlinks": site.url("/provider/backlinks")}
    )


def test_rank_tracker_asks_the_configured_provider(site):
    site.provider_answers["/provider/rank"] = (200, {"rankings": [{"keyword": "spade", "position": 3}]})
    result = rank_tracker.run(
        ScanTarget(url="https://garden.example", keywords=("spade", "rake")), provider_settings(site)
    )
    assert result["rankings"] == [
        {"keyword": "spade", "position": 3, "url": None},
        {"keyword": "rake", "position": None, "url": None},
    ]
    assert (result["ranked"], result["bestPosition"]) == (1, 3)


def test_backlinks_asks_the_configured_provider(site):
    site.provider_answers["/provider/backlinks"] = (
        200,
        {
            "backlinks": [
                {"source": "https://a.example/x"},
                {"source": "https://a.example/y"},
                {"source": "https://b.example/"},
            ]
        },
    )
    result = backlinks.run(ScanTarget(url="https://garden.example"), provider_settings(site))
    assert (result["total"], result["referringDomains"]) == (3, 2)


@pytest.mark.parametrize(
    ("answer", "code", "kind"),
    [
        ((503, {}), "provider_error", ErrorKind.RETRYABLE),
        ((403, {}), "provider_rejected", ErrorKind.FATAL),
    ],
)
def test_provider_failures_have_the_right_kind(site, answer, code, kind):
    site.provider_answers["/provider/rank"] = answer
    with pytest.raises(JobError) as caught:
        rank_tracker.run(ScanTarget(url="https://garden.example"), provider_settings(site))
    assert (caught.value.code, caught.value.kind) == (code, kind)


def test_provider_services_without_a_provider_are_fatally_not_configured():
    for service in (rank_tracker, backlinks):
        with pytest.raises(JobError) as caught:
            service.run(ScanTarget(url="https://garden.example"), CheckSettings())
        assert (caught.value.code, caught.value.kind, caught.value.retryable) == (
            "provider_not_configured",
            ErrorKind.FATAL,
            False,
        )
