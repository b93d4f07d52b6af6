"""The poller against a local HTTP feed server, the embedded broker and a real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer

from monitor.embedded import EmbeddedBroker
from monitor.feeds import FeedConfig
from monitor.fetch import Fetcher
from monitor.health import SOURCES_TOPIC
from monitor.kafka import ARTICLES_TOPIC, start_consumer
from monitor.models import Article, SourceHealthAlert
from monitor.outbox import start_idempotent_producer
from monitor.poller import Poller
from monitor.schedule import FeedState
from monitor.settings import PollSettings
from monitor.status import StatusStore
from tests.integration.feedserver import FeedServer, rss


@pytest.fixture
async def status(fresh_redis: str) -> AsyncIterator[StatusStore]:
    store = StatusStore.from_url(fresh_redis)
    yield store
    await store.close()


@pytest.fixture
async def producer(broker: str) -> AsyncIterator[AIOKafkaProducer]:
    started = await start_idempotent_producer(broker)
    yield started
    await started.stop()


async def records_for(
    broker: str, topic: str, key_prefix: str, expect: int, seconds: float = 15
) -> list[bytes]:
    """Values on ``topic`` whose key starts with ``key_prefix`` (read from the beginning)."""
    consumer = await start_consumer(broker, [topic], from_beginning=True)
    found: list[bytes] = []
    try:
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                found += [
                    r.value
                    for r in records
                    if r.key and r.value and r.key.decode().startswith(key_prefix)
                ]
            if len(found) >= expect and not batches:
                break
    finally:
        await consumer.stop()
    return found


async def published_for(broker: str, feed_url: str, expect: int) -> list[Article]:
    """Articles of one feed on monitor.articles (their keys are the article ids)."""
    values = await records_for(broker, ARTICLES_TOPIC, "", expect=0, seconds=3)
    articles = [Article.from_bytes(v) for v in values]
    found = [a for a in articles if a.source.url == feed_url]
    if len(found) < expect:
        values = await records_for(broker, ARTICLES_TOPIC, "", expect=10**9, seconds=8)
        found = [a for a in (Article.from_bytes(v) for v in values) if a.source.url == feed_url]
    return found


def feed_for(server: FeedServer, name: str, **extra: object) -> FeedConfig:
    return FeedConfig(url=server.url(name), name=name, allow_private=True, **extra)  # type: ignore[arg-type]


async def poll(poller: Poller, feed: FeedConfig, state: FeedState | None = None) -> FeedState:
    """One poll of one feed with a fresh shared client; the state is saved like the loop does."""
    if state is None:
        state = await poller.status.load_feed(feed.url, feed.label, 60)
    async with Fetcher(poller.settings) as fetcher:
        state = await poller.poll_once(fetcher, feed, state)
    await poller.status.save_feed(state)
    return state


async def test_new_entries_are_published_once_and_unchanged_feeds_cost_a_304(
    broker: str, status: StatusStore, producer: AIOKafkaProducer, server: FeedServer
) -> None:
    """First poll publishes every entry; a 304 publishes nothing; an update only the new one."""
    server.feeds["wire"] = rss(("1", "Truce talks", "a"), ("2", "Sanctions", "b"))
    feed = feed_for(server, "wire")
    poller = Poller([feed], settings=PollSettings(), producer=producer, status=status)
    state = await poll(poller, feed)
    assert (state.status, state.new_items) == ("ok", 2)
    state = await poll(poller, feed, state)
    assert (state.status, state.new_items) == ("not_modified", 0)
    assert server.requests[-1][1] is not None  # the second request was conditional
    server.feeds["wire"] = rss(
        ("3", "Black Sea deal", "c"), ("1", "Truce talks", "a"), ("2", "Sanctions", "b")
    )
    state = await poll(poller, feed, state)
    assert (state.status, state.new_items, state.total_items) == ("ok", 1, 3)
    articles = await published_for(broker, feed.url, expect=3)
    assert sorted(a.title for a in articles) == ["Black Sea deal", "Sanctions", "Truce talks"]


async def test_an_unchanged_body_without_validators_is_not_parsed_again(
    status: StatusStore, producer: AIOKafkaProducer, server: FeedServer
) -> None:
    """A server ignoring validators but sending the same bytes costs a fetch, not a parse."""
    server.feeds["plain"] = rss(("1", "Truce talks", "a"))
    server.ignore_validators.add("plain")
    feed = feed_for(server, "plain")
    poller = Poller([feed], settings=PollSettings(), producer=producer, status=status)
    state = await poll(poller, feed)
    assert state.parses == 1
    state = await poll(poller, feed, state)
    assert (state.status, state.parses, server.count("plain")) == ("not_modified", 1, 2)


async def test_duplicate_guids_are_published_once(
    broker: str, status: StatusStore, producer: AIOKafkaProducer, server: FeedServer
) -> None:
    """Two items with one guid in a feed make one article."""
    server.feeds["dup"] = rss(("same", "First copy", "a"), ("same", "Second copy", "b"))
    feed = feed_for(server, "dup")
    poller = Poller([feed], settings=PollSettings(), producer=producer, status=status)
    state = await poll(poller, feed)
    assert state.new_items == 1
    [article] = await published_for(broker, feed.url, expect=1)
    assert article.title == "First copy"


async def test_a_material_change_is_published_again_as_a_new_revision(
    broker: str, status: StatusStore, producer: AIOKafkaProducer, server: FeedServer
) -> None:
    """Same id, new words: revision 2 is published; a whitespace or case change is not."""
    server.feeds["ed"] = rss(("k", "Ceasefire talks begin", "a"))
    feed = feed_for(server, "ed")
    poller = Poller([feed], settings=PollSettings(), producer=producer, status=status)
    state = await poll(poller, feed)
    server.feeds["ed"] = rss(("k", "ceasefire  TALKS begin.", "a"))
    state = await poll(poller, feed, state)
    assert state.new_items == 0
    server.feeds["ed"] = rss(("k", "Ceasefire talks collapse", "a"))
    state = await poll(poller, feed, state)
    assert state.new_items == 1
    articles = await published_for(broker, feed.url, expect=2)
    assert sorted((a.revision, a.title) for a in articles) == [
        (1, "Ceasefire talks begin"),
        (2, "Ceasefire talks collapse"),
    ]


async def test_a_permanent_redirect_moves_the_stored_url(
    status: StatusStore, producer: AIOKafkaProducer, server: FeedServer
) -> None:
    """After a 301 the poller fetches the new URL directly; the feed keeps its identity."""
    server.feeds["new"] = rss(("1", "x", "y"))
    server.redirects["old"] = (301, "new")
    feed = feed_for(server, "old")
    poller = Poller([feed], settings=PollSettings(), producer=producer, status=status)
    state = await poll(poller, feed)
    assert state.fetch_url == server.url("new") and state.url == feed.url
    state = await poll(poller, feed, await status.load_feed(feed.url, "old", 60))
    assert server.count("old") == 1 and server.count("new") == 2
    assert state.status == "not_modified"


async def test_retry_after_and_max_age_push_the_next_check_back(
    status: StatusStore, producer: AIOKafkaProducer, server: FeedServer
) -> None:
    """429 with Retry-After: 3000 waits at least that; max-age 1800 is a floor on success."""
    server.status["busy"] = 429
    server.headers["busy"] = {"Retry-After": "3000"}
    server.feeds["cached"] = rss(("1", "x", "y"))
    server.headers["cached"] = {"Cache-Control": "max-age=1800"}
    settings = PollSettings(interval=60)
    busy, cached = feed_for(server, "busy"), feed_for(server, "cached")
    poller = Poller([busy, cached], settings=settings, producer=producer, status=status)
    before = time.time()
    state = await poll(poller, busy)
    assert state.status == "failing" and state.next_check >= before + 3000
    state = await poll(poller, cached)
    assert state.status == "ok" and state.next_check >= before + 1800 * 0.9


async def test_a_gone_feed_stops_being_polled_and_raises_a_source_alert(
    broker: str, status: StatusStore, producer: AIOKafkaProducer, server: FeedServer
) -> None:
    """410 marks the feed gone, waits the longest backoff, and alerts on alerts.sources."""
    server.status["dead"] = 410
    feed = feed_for(server, "dead")
    poller = Poller([feed], settings=PollSettings(), producer=producer, status=status)
    before = time.time()
    state = await poll(poller, feed)
    assert state.status == "gone" and state.health == "unhealthy"
    assert state.next_check >= before + PollSettings().max_backoff * 0.9
    [raw] = await records_for(broker, SOURCES_TOPIC, feed.url, expect=1)
    alert = SourceHealthAlert.from_bytes(raw)
    assert (alert.subject, alert.data.state, alert.specversion) == (feed.url, "unhealthy", "1.0")
    assert "410" in alert.data.reason


async def test_repeated_failures_flag_a_feed_and_recovery_is_announced(
    broker: str, status: StatusStore, producer: AIOKafkaProducer, server: FeedServer
) -> None:
    """After N failures in a row the feed is unhealthy (one alert); working again, recovered."""
    server.status["flaky"] = 500
    feed = feed_for(server, "flaky")
    settings = PollSettings(failure_threshold=3)
    poller = Poller([feed], settings=settings, producer=producer, status=status)
    state = None
    healths = []
    for _ in range(4):
        state = await poll(poller, feed, state)
        healths.append(state.health)
    assert healths == ["healthy", "healthy", "unhealthy", "unhealthy"]
    del server.status["flaky"]
    server.feeds["flaky"] = rss(("1", "back", "y"))
    state = await poll(poller, feed, state)
    assert state.health == "healthy" and state.failures == 0
    values = await records_for(broker, SOURCES_TOPIC, feed.url, expect=2)
    states = [SourceHealthAlert.from_bytes(v).data.state for v in values]
    assert states == ["unhealthy", "recovered"]


async def test_a_broken_feed_becomes_a_status_not_a_crash(
    status: StatusStore, producer: AIOKafkaProducer, server: FeedServer
) -> None:
    """Server errors and garbage bodies are recorded on the feed; the poller loop carries on."""
    server.status["down"] = 500
    server.feeds["junk"] = b"<html>this is not a feed</html>"
    server.feeds["fine"] = rss(("9", "Easter truce", "x"))
    feeds = [feed_for(server, n) for n in ("down", "junk", "fine")]
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


async def test_private_addresses_are_refused_unless_allowed(
    status: StatusStore, producer: AIOKafkaProducer, server: FeedServer
) -> None:
    """A feed on a loopback address is refused unless the feed list allows it."""
    server.feeds["wire"] = rss(("1", "x", "y"))
    feed = FeedConfig(url=server.url("wire"), name="Wire")
    poller = Poller([feed], settings=PollSettings(), producer=producer, status=status)
    state = await poll(poller, feed)
    assert state.status == "failing" and "private" in (state.last_error or "")
    assert server.requests == []


async def test_shards_split_the_feed_list_without_overlap(
    status: StatusStore, producer: AIOKafkaProducer
) -> None:
    """Three pollers, instance i of 3, together poll every feed exactly once."""
    feeds = [FeedConfig(url=f"https://f{i}.example/rss") for i in range(60)]
    shards = [
        Poller(feeds, settings=PollSettings(shard=i, shards=3), producer=producer, status=status)
        for i in range(3)
    ]
    urls = [f.url for p in shards for f in p.feeds]
    assert sorted(urls) == sorted(f.url for f in feeds)
    assert all(p.feeds for p in shards)


async def test_an_unreachable_broker_fills_a_backlog_that_is_delivered_later(
    broker: str, status: StatusStore, producer: AIOKafkaProducer, server: FeedServer
) -> None:
    """With Kafka down, accepted articles wait in the backlog (shown in Redis), the feed's
    validators are not committed, and once a broker answers everything is delivered once."""
    doomed = EmbeddedBroker()
    doomed_producer = await start_idempotent_producer(doomed.start())
    doomed.stop()  # the broker goes away under a started producer
    gc.collect()
    server.feeds["wire"] = rss(("1", "Truce talks", "a"), ("2", "Sanctions", "b"))
    feed = feed_for(server, "wire")
    poller = Poller([feed], settings=PollSettings(), producer=doomed_producer, status=status)
    poller.outbox.send_timeout = 2
    state = await poll(poller, feed)
    assert (state.status, state.body_hash, poller.outbox.backlog) == ("ok", None, 2)
    assert (await status.backlogs())["poller"] == 2
    state = await poll(poller, feed, state)  # polled again while down: nothing duplicated
    assert poller.outbox.backlog == 2 and state.body_hash is None
    poller.outbox.producer = producer  # the broker is back
    assert await poller.outbox.retry()
    assert poller.outbox.backlog == 0 and (await status.backlogs())["poller"] == 0
    state = await poll(poller, feed, state)
    assert state.new_items == 0 and state.body_hash is not None
    articles = await published_for(broker, feed.url, expect=2)
    assert sorted(a.title for a in articles) == ["Sanctions", "Truce talks"]
    with contextlib.suppress(Exception):
        await asyncio.wait_for(doomed_producer.stop(), 5)
