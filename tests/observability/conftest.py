from collections.abc import Iterator

import pytest

from devstack.scan_site import Site


@pytest.fixture(scope="module")
def _site_server() -> Iterator[Site]:
    server = Site()
    yield server
    server.close()


@pytest.fixture
def site(_site_server: Site) -> Site:
    _site_server.reset()
    return _site_server
