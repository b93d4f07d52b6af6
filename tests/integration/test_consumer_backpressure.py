"""A worker whose streams fall behind its fetches still processes every record once."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import faust

from agents.config import faust_options
from agents.consumer import adjust_consumer
from monitor.embedded import Endpoints
from tests.factories import send_numbered, settings_factory

RECORDS = 6000
BUFFER = 16  # the streams' buffer (Faust's stream_buffer_maxsize): full within a few records
PER_BATCH = 0.002  # seconds an agent spends on each batch, so that it falls behind


async def test_every_record_is_processed_when_the_stream_buffer_is_full(
    broker: str, fresh_redis: str, tmp_path: Path
) -> None:
    """With a stream buffer far smaller than the backlog, so that Faust keeps pausing and resuming
    partitions whose buffer is full, an agent taking batches (as the match stage does) sees every
    record. (A change to how the consumer delivers records lost some in bench/pipeline.py's
    1M-article phase and still passed this test: that loss needs a far longer backlog.)"""
    topic_name = f"backpressure-{uuid.uuid4().hex[:8]}"
    settings = settings_factory(tmp_path, app_id=f"backpressure-{uuid.uuid4().hex[:8]}")
    await send_numbered(broker, topic_name, RECORDS)

    endpoints = Endpoints(kafka=broker, redis=fresh_redis, embedded=True)
    options = {**faust_options(settings, endpoints), "stream_buffer_maxsize": BUFFER}
    app = faust.App(settings.app_id, **options)
    adjust_consumer(app, embedded=True)
    topic = app.topic(topic_name, key_serializer="raw", value_serializer="raw")
    seen: list[int] = []

    @app.agent(topic, name="behind")
    async def behind(stream: Any) -> None:
        async for batch in stream.take_events(BUFFER * 4, within=0.01):
            seen.extend(int(event.value) for event in batch)
            await asyncio.sleep(PER_BATCH)

    await app.start()
    try:
        for _ in range(600):  # 60 s; the records take a few seconds
            if len(set(seen)) >= RECORDS:
                break
            await asyncio.sleep(0.1)
    finally:
        await app.stop()
    assert sorted(set(range(RECORDS)) - set(seen)) == []
