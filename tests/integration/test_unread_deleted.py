"""A worker that falls further behind on ``monitor.articles`` or ``monitor.matches`` than the
embedded broker keeps (the newest 5 MiB of a partition) reports the records deleted before it
read them, then goes on."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import confluent_kafka
import pytest

from agents.app import LOST_COUNTER, MATCHES_LOST_COUNTER, create_app
from monitor.catalog import load_matcher
from monitor.embedded import EmbeddedBroker, Endpoints
from monitor.kafka import ARTICLES_TOPIC, MATCHES_TOPIC
from monitor.models import MatchRecord
from monitor.pipeline import match_article
from monitor.rulebook import RuleBook, open_rulebook
from monitor.settings import Settings
from monitor.status import StatusStore
from monitor.topics import create_embedded_topics
from tests.factories import article_factory, settings_factory

PARTITION = 1
FIRST_RUN = 40  # articles the worker reads and commits before it stops
BACKLOG = 7000  # ~1 KiB articles: more than the 5 MiB the embedded broker keeps of a partition
FILLER = "an article long enough that a few thousand of them fill megabytes " * 14


@pytest.fixture
def own_broker() -> Iterator[str]:
    """An embedded broker for this test alone: it fills a partition of ``monitor.articles``,
    which other tests use on the session's broker."""
    broker = EmbeddedBroker()
    yield broker.start()
    broker.stop()


def produce_articles(bootstrap: str, start: int, count: int) -> None:
    """Articles ``start`` .. ``start+count-1`` (about 1 KiB each) on PARTITION, as the pollers
    write them: an idempotent producer without transactions."""
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    )
    articles = (
        article_factory(f"filler {i}", FILLER, id=f"lost-test:{i}")
        for i in range(start, start + count)
    )
    send_all(producer, ARTICLES_TOPIC, ((a.id.encode(), a.to_bytes()) for a in articles))


def send_all(
    producer: confluent_kafka.Producer, topic: str, records: Iterable[tuple[bytes, bytes]]
) -> None:
    """(key, value) records to PARTITION of ``topic``, waiting whenever the producer's queue is
    full; all delivered."""
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value, key, partition=PARTITION)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(30) == 0


def log_and_commit(bootstrap: str, group: str, topic: str = ARTICLES_TOPIC) -> tuple[int, int, int]:
    """PARTITION's low and high watermarks and the group's committed offset."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tp = confluent_kafka.TopicPartition(topic, PARTITION)
        low, high = consumer.get_watermark_offsets(tp, timeout=10)
        [committed] = consumer.committed([tp], timeout=10)
        return low, high, committed.offset
    finally:
        consumer.close()


def unread_deleted_reports(caplog: pytest.LogCaptureFixture, name: str) -> list[tuple[object, ...]]:
    """(partition, first, last, count) of each ``<name>.unread_deleted`` error logged."""
    return [
        tuple(record.args or ())[:4]
        for record in caplog.records
        if record.levelno == logging.ERROR and record.msg.startswith(f"{name}.unread_deleted")
    ]


async def run_worker_until(
    settings: Settings, endpoints: Endpoints, rules: RuleBook, done: dict[str, int]
) -> dict[str, int]:
    """Run a worker app until the status store's counters reach ``done``; the counters then."""
    app = create_app(settings, endpoints, rules)
    store = StatusStore.from_url(endpoints.redis)
    counters: dict[str, int] = {}
    await app.start()
    try:
        for _ in range(600):  # 60 s; the articles take a few seconds
            counters = await store.counters()
            if all(counters.get(name, 0) >= value for name, value in done.items()):
                break
            await asyncio.sleep(0.1)
    finally:
        await app.stop()
        await app.monitor_status.close()  # type: ignore[attr-defined]
        await store.close()
    return counters


async def test_articles_deleted_before_a_restarted_worker_read_them_are_reported(
    own_broker: str, fresh_redis: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker commits some articles of a partition and stops; more than the broker keeps is
    written there, so it deletes articles the worker never read. The restarted worker logs one
    ``articles.unread_deleted`` error naming the partition and exactly the offsets the broker
    deleted after the committed one (from the committed offset to the log's new start), counts
    them as ``articles.lost`` in Redis, and processes every article still on the log."""
    settings = settings_factory(tmp_path, app_id=f"lost-test-{uuid.uuid4().hex[:8]}")
    endpoints = Endpoints(kafka=own_broker, redis=fresh_redis, embedded=True)
    create_embedded_topics(settings, own_broker)  # as `monitor run` does with its broker
    rules = await open_rulebook(settings, own_broker)
    try:
        produce_articles(own_broker, 0, FIRST_RUN)
        await run_worker_until(settings, endpoints, rules, {"articles.processed": FIRST_RUN})
        produce_articles(own_broker, FIRST_RUN, BACKLOG)
        low, high, committed = log_and_commit(own_broker, settings.app_id)
        assert committed == FIRST_RUN
        assert low > committed  # the broker deleted articles the worker had not read
        lost = low - committed
        with caplog.at_level(logging.ERROR, logger="agents.consumer"):
            counters = await run_worker_until(
                settings,
                endpoints,
                rules,
                {"articles.processed": FIRST_RUN + high - low, LOST_COUNTER: lost},
            )
    finally:
        await rules.stop()
    reports = unread_deleted_reports(caplog, "articles")
    assert reports == [(PARTITION, committed, low - 1, lost)]
    assert counters[LOST_COUNTER] == lost
    assert counters["articles.processed"] == FIRST_RUN + high - low


def match_record(settings: Settings) -> MatchRecord:
    """A match record of the shipped rules, as a worker's match stage writes it."""
    article = article_factory("Putin and Trump agree to a ceasefire in Ukraine", FILLER)
    return match_article(load_matcher(settings), article)[0]


def produce_matches(bootstrap: str, record: MatchRecord, start: int, count: int) -> None:
    """Copies of ``record``, one per article id ``start`` .. ``start+count-1``, on PARTITION of
    ``monitor.matches``."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    key = record.category.encode()
    copies = (
        record.model_copy(
            update={"article": record.article.model_copy(update={"id": f"lost-match:{i}"})}
        )
        for i in range(start, start + count)
    )
    send_all(producer, MATCHES_TOPIC, ((key, copy.to_bytes()) for copy in copies))


async def test_match_records_deleted_before_the_story_stage_read_them_are_reported(
    own_broker: str, fresh_redis: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The same for the story stage: match records written past what the broker keeps while the
    worker is stopped are reported as ``matches.unread_deleted`` (the partition and exactly the
    deleted offsets) and counted as ``matches.lost``."""
    settings = settings_factory(tmp_path, app_id=f"lost-matches-{uuid.uuid4().hex[:8]}")
    endpoints = Endpoints(kafka=own_broker, redis=fresh_redis, embedded=True)
    create_embedded_topics(settings, own_broker)
    rules = await open_rulebook(settings, own_broker)
    record = match_record(settings)
    backlog = 6 * 2**20 // len(record.to_bytes()) + 1  # more than the 5 MiB the broker keeps
    try:
        produce_matches(own_broker, record, 0, FIRST_RUN)

        app = create_app(settings, endpoints, rules)
        await app.start()
        try:
            for _ in range(600):
                if (
                    await asyncio.to_thread(
                        lambda: log_and_commit(own_broker, settings.app_id, MATCHES_TOPIC)[2]
                    )
                    >= FIRST_RUN
                ):
                    break
                await asyncio.sleep(0.1)
        finally:
            await app.stop()
            await app.monitor_status.close()  # type: ignore[attr-defined]
        produce_matches(own_broker, record, FIRST_RUN, backlog)
        low, _, done = log_and_commit(own_broker, settings.app_id, MATCHES_TOPIC)
        assert done == FIRST_RUN
        assert low > done  # the broker deleted match records the worker had not read
        lost = low - done
        with caplog.at_level(logging.ERROR, logger="agents.consumer"):
            counters = await run_worker_until(
                settings, endpoints, rules, {MATCHES_LOST_COUNTER: lost}
            )
    finally:
        await rules.stop()
    reports = unread_deleted_reports(caplog, "matches")
    assert reports == [(PARTITION, done, low - 1, lost)]
    assert counters[MATCHES_LOST_COUNTER] == lost
