"""A proxy's credentials are written, never read back: the API returns the URL only with its user and
password masked, on create, detail, list and update; the admin shows the masked URL and never renders
the stored one; an admin change that leaves the URL empty keeps it. Nothing logs them, whether the
proxy is created, changed, used or fails."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from campaigns import jobs as campaign_jobs
from campaigns.models import HttpPersona, Proxy
from campaigns.phases import http_keyword_validation
from campaigns.proxy_credentials import masked_url

from ..admin_actions import admin_browser

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-pa55"
URL = f"http://relay-user:{SECRET}@127.0.0.1:3128"


def _no_secret(body: object) -> None:
    text = str(body)
    assert SECRET not in text and "relay-user" not in text, text


def test_the_api_never_returns_a_proxys_credentials(admin_client, member_client):
    created = admin_client.post("/api/proxies", {"name": "p", "url": URL}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert "url" not in body
    assert body["masked_url"] == "http://***:***@127.0.0.1:3128"
    _no_secret(body)
    for client in (admin_client, member_client):
        _no_secret(client.get(f"/api/proxies/{body['id']}").json())
        _no_secret(client.get("/api/proxies").json())
    renamed = admin_client.patch(f"/api/proxies/{body['id']}", {"name": "q"}, format="json")
    assert renamed.status_code == 200
    _no_secret(renamed.json())
    assert Proxy.objects.get(pk=body["id"]).url == URL  # stored as written, used by the HTTP phase


def test_the_openapi_schema_marks_the_url_write_only(admin_client):
    schema = admin_client.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    assert "url" in components["ProxyRequest"]["properties"]
    assert "url" not in components["Proxy"]["properties"]
    assert "masked_url" in components["Proxy"]["properties"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:3128", "http://127.0.0.1:3128"),
        ("http://user@proxy.example:8080", "http://***@proxy.example:8080"),
        ("https://u:p@[2001:db8::1]:443/", "https://***:***@[2001:db8::1]:443/"),
        ("http://u:p@host:99999", "***"),  # unreadable: nothing of it shown
    ],
)
def test_a_url_is_shown_without_its_credentials(url, shown):
    assert masked_url(url) == shown


def test_the_admin_shows_the_masked_url_and_keeps_the_stored_one(tenant, platform_admin):
    proxy = Proxy.objects.create(tenant=tenant, name="p", url=URL)
    client = admin_browser(platform_admin)
    for page in ("/admin/campaigns/proxy/", f"/admin/campaigns/proxy/{proxy.pk}/change/"):
        response = client.get(page)
        assert response.status_code == 200
        _no_secret(response.content.decode())
        assert "http://***:***@127.0.0.1:3128" in response.content.decode()
    response = client.post(
        f"/admin/campaigns/proxy/{proxy.pk}/change/", {"tenant": str(tenant.pk), "name": "renamed", "url": ""}
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    proxy.refresh_from_db()
    assert (proxy.name, proxy.url) == ("renamed", URL)


@contextmanager
def forward_proxy() -> Iterator[tuple[int, list[str]]]:
    """A loopback HTTP proxy that answers every proxied request with a page and records each request's
    `Proxy-Authorization` header (so the test sees the credentials were sent)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.headers.get("Proxy-Authorization", ""))
            body = b"<html><title>via proxy</title>pricing</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), seen
    finally:
        server.shutdown()
        server.server_close()


def test_no_log_line_carries_a_proxys_credentials(admin_client, tenant, caplog, capfd):
    """Everything logged (every logger, DEBUG up) and written to stdout/stderr while a proxy is created,
    renamed, given a new URL, used by the HTTP phase's fetch, and used once more after its port died."""
    caplog.set_level(logging.DEBUG)
    with forward_proxy() as (port, seen):
        url = f"http://relay-user:{SECRET}@127.0.0.1:{port}"
        created = admin_client.post("/api/proxies", {"name": "p", "url": url}, format="json")
        assert created.status_code == 201, created.json()
        proxy_id = created.json()["id"]
        assert admin_client.patch(f"/api/proxies/{proxy_id}", {"name": "q"}, format="json").status_code == 200
        assert admin_client.patch(f"/api/proxies/{proxy_id}", {"url": url + "/"}, format="json").status_code == 200
        assert admin_client.post("/api/proxies", {"name": "bad", "url": url + ":x"}, format="json").status_code == 400
        persona = HttpPersona.objects.create(tenant=tenant, name="h", port=80, timeout_seconds=5)

        settings = campaign_jobs.http_personas([str(persona.pk)], proxy_id)
        (fetch,) = http_keyword_validation.fetch_batch([("shop.test", ["127.0.0.1"])], settings, ["pricing"])

        assert fetch.status == http_keyword_validation.OK and fetch.keyword_hits == {"pricing": 1}, fetch
        assert seen and seen[0].startswith("Basic "), seen  # the credentials went to the proxy, and only there
    # The proxy is gone now: a fetch through it fails, and its error is ours, without the URL.
    (failed,) = http_keyword_validation.fetch_batch([("shop.test", ["127.0.0.1"])], settings, ["pricing"])
    assert failed.status != http_keyword_validation.OK
    _no_secret(failed)
    logged = caplog.text
    assert "Bad Request: /api/proxies" in logged, "the capture saw nothing: the test would prove nothing"
    _no_secret(logged)
    out, err = capfd.readouterr()
    _no_secret(out + err)
