"""A proxy's credentials are written, never read back: the API returns the URL only with its user and
password masked, on create, detail, list and update; the admin shows the masked URL and never renders
the stored one; an admin change that leaves the URL empty keeps it."""

from __future__ import annotations

import pytest

from campaigns.models import Proxy
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
