"""A worker that (re)starts with records waiting processes every one of them, however long
Faust's seek to the committed offsets takes (agents/consumer.py explains the races)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from agents.config import faust_options
from agents.consumer import adjust_consumer
from monitor.embedded import EMBEDDED_PARTITIONS, Endpoints
from monitor.kafka import send_all, start_producer
from tests.factories import send_numbered, settings_factory

RECORDS = 200
COMMITTED = 5  # per partition, when the test starts from committed offsets
SEEK_DELAY = 1.0  # seconds added after Faust's seek: records fetched meanwhile used to be dropped
TABLE = "resume_marks"
PER_EVENT = 0.02  # a slow agent, so that records are still queued when the queues are emptied


async def commit_offsets(bootstrap: str, group: str, topic: str, offset: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(EMBEDDED_PARTITIONS)]
        consumer.assign(tps)
        await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp in tps})
    finally:
        await consumer.stop()


@pytest.mark.parametrize("committed", [False, True], ids=["first-start", "restart"])
async def test_records_fetched_while_seeking_are_processed(
    broker: str, fresh_redis: str, tmp_path: Path, committed: bool
) -> None:
    """Records waiting on a topic when a worker starts are all processed (from the committed
    offsets on, or all of them when none is committed): none is lost when the consumer fetches
    them around Faust's seek to the committed offsets, a window the test widens to a second."""
    topic_name = f"resume-{uuid.uuid4().hex[:8]}"
    settings = settings_factory(tmp_path, app_id=f"resume-test-{uuid.uuid4().hex[:8]}")
    offsets = await send_numbered(broker, topic_name, RECORDS)
    producer = await start_producer(broker)
    try:
        # a table with state to recover: Faust keeps the consumer flowing while it reads it
        changelog = f"{settings.app_id}-{TABLE}-changelog"
        await send_all(producer, changelog, [(b'"k0"', b"1")])
    finally:
        await producer.stop()
    first = COMMITTED if committed else 0
    expected = {i for i, offset in enumerate(offsets) if offset >= first}
    if committed:
        await commit_offsets(broker, settings.app_id, topic_name, COMMITTED)

    endpoints = Endpoints(kafka=broker, redis=fresh_redis, embedded=True)
    app = faust.App(settings.app_id, **faust_options(settings, endpoints))
    adjust_consumer(app, embedded=True)
    topic = app.topic(topic_name, key_serializer="raw", value_serializer="raw")
    app.Table(TABLE, default=int)  # the worker's path: a table recovered before the streams
    seen: set[int] = set()

    @app.agent(topic, name="slow")
    async def slow(stream: Any) -> None:
        async for event in stream.events():
            seen.add(int(event.value))
            await asyncio.sleep(PER_EVENT)

    seek = app.consumer.perform_seek

    async def slow_seek() -> None:
        await seek()
        await asyncio.sleep(SEEK_DELAY)

    app.consumer.perform_seek = slow_seek  # type: ignore[method-assign]
    await app.start()
    try:
        for _ in range(300):  # 30 s; the records take 4 s
            if expected <= seen:
                break
            await asyncio.sleep(0.1)
    finally:
        await app.stop()
    assert sorted(expected - seen) == []
