"""Kafka topic names and the plain aiokafka clients used outside Faust (pollers, CLI)."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from monitor.errors import ServiceError

log = logging.getLogger(__name__)

ARTICLES_TOPIC = "monitor.articles"
MATCHES_TOPIC = "monitor.matches"
RULES_TOPIC = "monitor.rules"
DEADLETTER_TOPIC = "monitor.deadletter"
ALERT_TOPIC_PREFIX = "alerts."


def alert_topic(category: str) -> str:
    return f"{ALERT_TOPIC_PREFIX}{category}"


async def start_producer(bootstrap: str, *, linger_ms: int = 5) -> AIOKafkaProducer:
    """A started producer, or ServiceError saying which broker did not answer."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=linger_ms,
        request_timeout_ms=15000,
    )
    try:
        await producer.start()
    except (KafkaConnectionError, KafkaError, OSError) as exc:
        await producer.stop()
        raise ServiceError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    return producer


async def start_consumer(
    bootstrap: str,
    topics: list[str],
    *,
    from_beginning: bool,
    group_id: str | None = None,
) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=group_id is not None,
    )
    try:
        await consumer.start()
    except (KafkaConnectionError, KafkaError, OSError) as exc:
        await consumer.stop()
        raise ServiceError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    return consumer


async def send_all(
    producer: AIOKafkaProducer, topic: str, records: list[tuple[bytes, bytes]]
) -> None:
    """Send a batch and wait until the broker acknowledged every record."""
    futures = [await producer.send(topic, key=key, value=value) for key, value in records]
    await asyncio.gather(*futures)
