"""Kafka topic names and the plain aiokafka clients used outside Faust (pollers, CLI)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaConnectionError, KafkaError

from monitor.errors import ServiceError

log = logging.getLogger(__name__)

ARTICLES_TOPIC = "monitor.articles"
MATCHES_TOPIC = "monitor.matches"
RULES_TOPIC = "monitor.rules"
DEADLETTER_TOPIC = "monitor.deadletter"
ALERT_TOPIC_PREFIX = "alerts."
ALL_ALERTS_PATTERN = r"^alerts\..+"
CLIENT_FETCH_WAIT_MS = 100  # how long a fetch of our consumers outside Faust may wait for data


def alert_topic(category: str) -> str:
    return f"{ALERT_TOPIC_PREFIX}{category}"


Client = TypeVar("Client", AIOKafkaProducer, AIOKafkaConsumer)


async def started(client: Client, bootstrap: str) -> Client:
    """Start a producer or consumer; if the broker does not answer, release it and raise
    ServiceError naming the broker."""
    try:
        await client.start()
    except (KafkaConnectionError, KafkaError, OSError) as exc:
        await client.stop()
        raise ServiceError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    return client


async def start_producer(
    bootstrap: str, *, linger_ms: int = 5, idempotent: bool = False
) -> AIOKafkaProducer:
    """A started producer (acks=all; with ``idempotent`` its own retries never duplicate), or
    ServiceError saying which broker did not answer."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=idempotent,
        acks="all",
        linger_ms=linger_ms,
        request_timeout_ms=15000,
    )
    return await started(producer, bootstrap)


async def start_consumer(
    bootstrap: str,
    topics: list[str],
    *,
    from_beginning: bool,
    group_id: str | None = None,
    pattern: str | None = None,
) -> AIOKafkaConsumer:
    """A started consumer on topics (or a topic-name pattern, noticing new topics within 2 s)."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=group_id is not None,
        metadata_max_age_ms=2000 if pattern else 300_000,
        # the embedded broker holds every fetch this long even when data arrives (aiokafka's
        # default, 500 ms, was most of the time from an alert's send to a follower printing it);
        # on Kafka a fetch returns with the data, so this only bounds idle polling
        fetch_max_wait_ms=CLIENT_FETCH_WAIT_MS,
        isolation_level="read_committed",  # records of aborted transactions never show
    )
    if pattern:
        consumer.subscribe(pattern=pattern)
    return await started(consumer, bootstrap)


async def send_all(
    producer: AIOKafkaProducer, topic: str, records: list[tuple[bytes, bytes]]
) -> None:
    """Send a batch and wait until the broker acknowledged every record."""
    futures = [await producer.send(topic, key=key, value=value) for key, value in records]
    await asyncio.gather(*futures)


async def read_to_end(bootstrap: str, topic: str) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record on a topic from its beginning up to its end as of now, then stop."""
    consumer = await start_consumer(bootstrap, [topic], from_beginning=True)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while not consumer.assignment():
            if loop.time() > deadline:
                raise ServiceError(f"no partition of {topic} was assigned within 15s")
            await consumer.getmany(timeout_ms=100)
        ends = await consumer.end_offsets(list(consumer.assignment()))
        pending = {tp for tp, end in ends.items() if end > 0}
        while pending:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield record
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
