from collections.abc import Iterator

import pytest

from campaigns.loopback.process import Server, start_dns_server, start_http_server


@pytest.fixture(scope="session")
def dns_server() -> Iterator[Server]:
    """Loopback DNS: every name resolves to 127.0.0.1 except one in five (NXDOMAIN) and `nx*` names."""
    server = start_dns_server(args=["--nxdomain-every", "5"])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def http_server() -> Iterator[Server]:
    server = start_http_server()
    yield server
    server.stop()
