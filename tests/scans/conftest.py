from collections.abc import Iterator

import pytest

from devstack.scan_site import Site


@pytest.fixture(scope="session")
def _site_server() -> Iterator[Site]:
    server = Site()
    yield server
    server.close()


@pytest.fixture
def site(_site_server: Site) -> Site:
    """The loopback site, with its switches and counters reset for this test."""
    _site_server.reset()
    return _site_server
