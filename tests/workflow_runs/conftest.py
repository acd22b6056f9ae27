from collections.abc import Iterator

import pytest

from .loopback import LoopbackService, start_loopback


@pytest.fixture
def loopback() -> Iterator[LoopbackService]:
    service = start_loopback()
    yield service
    service.server.shutdown()
    service.server.server_close()
