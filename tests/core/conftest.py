"""Fixtures of the egress tests: the counting listener that stands for an internal service, the allowed
site, the resolver every lookup goes through, and the strict policy naming only the allowed site."""

from __future__ import annotations

import socket

import pytest

from .egress_resolvers import NamesResolver, internal_dns_servers
from .egress_servers import allowed_site, counting_listener


@pytest.fixture(scope="module")
def internal_dns():
    with internal_dns_servers() as servers:
        yield servers


@pytest.fixture
def resolver(internal_dns, monkeypatch):
    """Every lookup the entry points make (httpx, aiohttp, the policy itself) goes through this."""
    installed = NamesResolver(servers=internal_dns, real=socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", installed)
    return installed


@pytest.fixture
def counter():
    with counting_listener() as listening:
        yield listening


@pytest.fixture
def site():
    with allowed_site() as serving:
        yield serving


@pytest.fixture
def strict(settings, counter, site, resolver):
    """Nothing internal allowed but the allowed site's own address and port; the counter's port is an
    allowed port (so the address rules are what refuse)."""
    settings.RELAY_EGRESS_ALLOW = f"127.0.0.1/32:{site.port}"
    settings.RELAY_EGRESS_DENY = ""
    settings.RELAY_EGRESS_PORTS = f"80,443,8080,8443,{counter.port}"
    settings.RELAY_EGRESS_DNS_PORTS = f"53,{counter.port}"
    return settings
