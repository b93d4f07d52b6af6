"""Browser tests drive Debian's headless Chromium (/usr/bin/chromium) over the DevTools Protocol
against the real status page, served from a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.browser.cdp import Browser, ChromiumProcess


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium() -> Iterator[str]:
    """DevTools WebSocket address of one headless Chromium for the session (fresh profile)."""
    process = ChromiumProcess()
    yield process.start()
    process.stop()


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    """A DevTools connection for one test; its pages close when the test ends."""
    async with Browser(chromium) as connection:
        yield connection
