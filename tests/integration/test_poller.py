"""The poller against a local HTTP feed server, the embedded broker and a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from monitor.feeds import FeedConfig
from monitor.fetch import new_session
from monitor.kafka import ARTICLES_TOPIC, start_consumer, start_producer
from monitor.models import Article
from monitor.poller import Poller
from monitor.settings import PollSettings
from monitor.status import StatusStore
from tests.integration.feedserver import FeedServer, rss


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    srv = FeedServer()
    await srv.start()
    yield srv
    await srv.stop()


async def published_for(
    broker: str, feed_url: str, expect: int, seconds: float = 15
) -> list[Article]:
    """Articles of one feed on monitor.articles (read from the beginning)."""
    consumer = await start_consumer(broker, [ARTICLES_TOPIC], from_beginning=True)
    found: list[Article] = []
    try:
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                for record in records:
                    article = Article.from_bytes(record.value)
                    if article.source.url == feed_url:
                        assert record.key == article.id.encode()
                        found.append(article)
            if len(found) >= expect and not batches:
                break
    finally:
        await consumer.stop()
    return found


async def test_new_entries_are_published_once_and_unchanged_feeds_cost_a_304(
    broker: str, fresh_redis: str, server: FeedServer
) -> None:
    """First poll publishes every entry; a 304 publishes nothing; an update only the new one."""
    server.feeds["wire"] = rss(("1", "Truce talks", "a"), ("2", "Sanctions", "b"))
    feed = FeedConfig(url=server.url("wire"), name="Wire", allow_private=True)
    status = StatusStore.from_url(fresh_redis)
    producer = await start_producer(broker)
    poller = Poller([feed], settings=PollSettings(), producer=producer, status=status)
    async with new_session(poller.settings) as session:
        state = await status.load_feed(feed.url, feed.label, 60)
        state = await poller.poll_once(session, feed, state)
        assert (state.status, state.new_items) == ("ok", 2)
        state = await poller.poll_once(session, feed, state)
        assert (state.status, state.new_items) == ("not_modified", 0)
        assert server.requests[-1][1] is not None  # the second request was conditional
        server.feeds["wire"] = rss(
            ("3", "Black Sea deal", "c"), ("1", "Truce talks", "a"), ("2", "Sanctions", "b")
        )
        state = await poller.poll_once(session, feed, state)
        assert (state.status, state.new_items, state.total_items) == ("ok", 1, 3)
    await producer.stop()
    await status.close()
    articles = await published_for(broker, feed.url, expect=3)
    assert sorted(a.title for a in articles) == ["Black Sea deal", "Sanctions", "Truce talks"]


async def test_a_broken_feed_becomes_a_status_not_a_crash(
    broker: str, fresh_redis: str, server: FeedServer
) -> None:
    """Server errors and garbage bodies are recorded on the feed; the poller carries on."""
    server.status["down"] = 500
    server.feeds["junk"] = b"<html>this is not a feed</html>"
    server.feeds["fine"] = rss(("9", "Easter truce", "x"))
    feeds = [
        FeedConfig(url=server.url(n), name=n, allow_private=True) for n in ("down", "junk", "fine")
    ]
    status = StatusStore.from_url(fresh_redis)
    producer = await start_producer(broker)
    poller = Poller(feeds, settings=PollSettings(interval=60), producer=producer, status=status)
    task = asyncio.create_task(poller.run())
    try:
        for _ in range(100):
            states = {s.name: s for s in await status.feeds()}
            if len(states) == 3:
                break
            await asyncio.sleep(0.1)
    finally:
        poller.stop()
        await task
    assert states["down"].status == "failing" and "HTTP 500" in (states["down"].last_error or "")
    assert states["junk"].status == "failing" and "not a feed" in (states["junk"].last_error or "")
    assert states["fine"].status == "ok" and states["fine"].new_items == 1
    await producer.stop()
    await status.close()


async def test_private_addresses_are_refused_unless_allowed(
    fresh_redis: str, broker: str, server: FeedServer
) -> None:
    """A feed on a loopback address is refused unless the feed list allows it."""
    server.feeds["wire"] = rss(("1", "x", "y"))
    feed = FeedConfig(url=server.url("wire"), name="Wire")
    status = StatusStore.from_url(fresh_redis)
    producer = await start_producer(broker)
    poller = Poller([feed], settings=PollSettings(), producer=producer, status=status)
    async with new_session(poller.settings) as session:
        state = await poller.poll_once(session, feed, await status.load_feed(feed.url, "Wire", 60))
    assert state.status == "failing" and "private" in (state.last_error or "")
    assert server.requests == []
    await producer.stop()
    await status.close()
