"""Everything under tests/integration talks to real servers started by the fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.feedserver import FeedServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    """A local HTTP feed server the test fills with bodies and statuses."""
    srv = FeedServer()
    await srv.start()
    yield srv
    await srv.stop()
