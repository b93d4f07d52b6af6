"""Delivering alerts to webhooks and Apprise URLs: each alert id once per target, none skipped.

Every target (a webhook, or one Apprise entry) is its own subscriber: a Kafka consumer group
``<app id>.deliver.<kind>.<id>`` on every ``alerts.*`` topic (categories added later included),
read from the earliest offset it has not committed. For each record, in order:

1. skip it if the target does not want its category, or it is older than the target's ``since``
   (default: when delivery to the target first started, kept in Redis), or Redis says the target
   already handled its id;
2. claim the id in Redis for this process (so two delivery processes, e.g. during a rebalance,
   never POST it at the same time), then try up to ``attempts`` times with exponential backoff
   (``backoff`` doubling to ``max_backoff``; a receiver's ``Retry-After`` is honoured);
3. on success remember the id as delivered in Redis; after the last failed try publish a
   :class:`~monitor.models.DeadLetter` to ``monitor.deadletter`` and remember the id as handled;
4. commit the record's offset.

A restart resumes from the committed offsets and skips ids Redis remembers, so nothing already
delivered is sent again and nothing is skipped. The one gap no sender can close: a process killed
after a receiver accepted an alert and before Redis recorded it sends that alert again on restart;
receivers that must never see a duplicate dedupe on the CloudEvent ``id`` (also sent as the
``X-Monitor-Alert-Id`` header). Status per target is in Redis (``StatusStore.deliveries``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol, TypeVar

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from redis.exceptions import RedisError

from monitor import __version__
from monitor.errors import ConfigError
from monitor.kafka import (
    ALERT_TOPIC_PREFIX,
    ALL_ALERTS_PATTERN,
    CLIENT_FETCH_WAIT_MS,
    DEADLETTER_TOPIC,
    start_producer,
    started,
)
from monitor.models import DeadLetter, RecordError
from monitor.notify import AppriseSender
from monitor.settings import DeliverySettings, Settings
from monitor.status import StatusStore
from monitor.webhooks import (
    ALERT_ID_HEADER,
    ATTEMPT_HEADER,
    CONTENT_TYPE,
    SIGNATURE_HEADER,
    AppriseTarget,
    DeliveryError,
    Target,
    Webhook,
    load_targets,
    sign,
)

log = logging.getLogger(__name__)
__all__ = ["Deliverer", "DeliveryError", "backoff_delay", "delivery_tasks", "read_alert_record"]

USER_AGENT = f"news-monitor/{__version__} (alert webhooks)"
HEARTBEAT_SECONDS = 2.0
RESTART_AFTER = 5.0  # seconds before a target's loop starts again after Kafka or a bug stopped it
T = TypeVar("T")


@dataclass(frozen=True)
class AlertRecord:
    """One record of an alert topic, as much as delivery needs of it."""

    id: str
    category: str
    time: datetime | None
    body: bytes
    topic: str
    partition: int
    offset: int
    key: bytes | None


def read_alert_record(record: ConsumerRecord[bytes, bytes]) -> AlertRecord:
    """The CloudEvent's id, category (``data.category``, else the topic's suffix) and time.

    Raises RecordError for a record that is not a CloudEvent with an ``id``.
    """
    where = f"{record.topic}[{record.partition}]@{record.offset}"
    if not record.value:
        raise RecordError(f"{where}: empty record")
    try:
        event = json.loads(record.value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"{where}: not JSON: {exc}") from exc
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not event["id"]:
        raise RecordError(f"{where}: not a CloudEvent (no string `id`)")
    data = event.get("data")
    category = data.get("category") if isinstance(data, dict) else None
    if not isinstance(category, str) or not category:
        category = record.topic.removeprefix(ALERT_TOPIC_PREFIX)
    when = None
    if isinstance(event.get("time"), str):
        with contextlib.suppress(ValueError):
            when = datetime.fromisoformat(event["time"])
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
    return AlertRecord(
        id=event["id"],
        category=category,
        time=when,
        body=record.value,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
    )


def backoff_delay(
    attempt: int, *, base: float, cap: float, retry_after: float | None = None
) -> float:
    """Seconds to wait after failed try number ``attempt`` (1-based): base, 2 base, 4 base, ...
    up to ``cap``; at least what the receiver asked for with Retry-After (also capped)."""
    delay: float = min(cap, base * 2.0 ** (attempt - 1))
    if retry_after is not None:
        delay = min(cap, max(delay, retry_after))
    return delay


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, float(when.timestamp()) - now)


class Sender(Protocol):
    """Sends one alert's CloudEvent JSON to one target; raises DeliveryError when it did not."""

    async def send(self, body: bytes, alert_id: str, attempt: int) -> None: ...


class WebhookSender:
    """POSTs the CloudEvent JSON, signed with the webhook's secret."""

    def __init__(self, hook: Webhook, session: aiohttp.ClientSession, *, timeout: float):
        self.hook = hook
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def send(self, body: bytes, alert_id: str, attempt: int) -> None:
        headers = {
            "Content-Type": CONTENT_TYPE,
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(body, self.hook.secret.get_secret_value()),
            ALERT_ID_HEADER: alert_id,
            ATTEMPT_HEADER: str(attempt),
        }
        where = self.hook.where
        try:
            async with self.session.post(
                self.hook.url,
                data=body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            ) as response:
                if 200 <= response.status < 300:
                    return
                snippet = (await response.content.read(200)).decode("utf-8", "replace").strip()
                raise DeliveryError(
                    f"HTTP {response.status} from {where}" + (f": {snippet}" if snippet else ""),
                    target=self.hook.key,
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                )
        except aiohttp.ClientError as exc:
            raise DeliveryError(
                f"{type(exc).__name__} posting to {where}: {exc}", target=self.hook.key
            ) from exc
        except TimeoutError as exc:
            raise DeliveryError(
                f"no answer from {where} within {self.timeout.total:g}s", target=self.hook.key
            ) from exc


class _StoppedError(Exception):
    """The stop event was set while waiting; leave without committing."""


class Deliverer:
    """Delivers every alert of the alert topics to one target, in order, from its own group."""

    def __init__(
        self,
        target: Target,
        sender: Sender,
        *,
        bootstrap: str,
        group: str,
        store: StatusStore,
        producer: AIOKafkaProducer,
        settings: DeliverySettings,
        owner: str,
    ):
        self.target = target
        self.sender = sender
        self.bootstrap = bootstrap
        self.group = group
        self.store = store
        self.producer = producer
        self.settings = settings
        self.owner = owner
        self.since: float | None = None
        self._stop = asyncio.Event()

    @property
    def _claim_ttl(self) -> float:
        s = self.settings
        return s.attempts * (s.timeout + s.max_backoff) + 30.0

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; Kafka trouble or a bug restarts the loop after a pause."""
        self._stop = stop
        while not stop.is_set():
            try:
                await self._consume()
            except _StoppedError:
                return
            except Exception:  # one target's trouble must not stop delivery; retried
                log.exception("delivery.loop_failed target=%s", self.target.key)
                with contextlib.suppress(_StoppedError):
                    await self._pause(RESTART_AFTER)

    async def _consume(self) -> None:
        if self.target.since is not None:
            self.since = self.target.since.timestamp()
        elif self.since is None:
            self.since = await self._redis(
                lambda: self.store.delivery_since(self.target.key, time.time())
            )
        consumer = await self._start_consumer()
        log.info("delivery.started target=%s group=%s", self.target.key, self.group)
        try:
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=100)
                for tp, records in batches.items():
                    for record in records:
                        if tp not in consumer.assignment():
                            break  # revoked in a rebalance: its new owner continues from there
                        await self._handle(record)
                        await self._commit(consumer, tp, record.offset + 1)
        finally:
            await consumer.stop()

    async def _start_consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            client_id=f"{self.group}-{self.owner}",
            auto_offset_reset="earliest",  # a topic or group without offsets: from its start
            enable_auto_commit=False,  # offsets are committed after delivery, one by one
            isolation_level="read_committed",  # never deliver an aborted alert
            metadata_max_age_ms=2000,  # notice new alerts.* topics within 2 s
            fetch_max_wait_ms=CLIENT_FETCH_WAIT_MS,  # the embedded broker holds a fetch this long
            max_poll_interval_ms=int((self._claim_ttl + 60) * 1000),
        )
        consumer.subscribe(pattern=ALL_ALERTS_PATTERN)
        return await started(consumer, self.bootstrap)

    async def _commit(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
        try:
            await consumer.commit({tp: offset})
        except (CommitFailedError, IllegalStateError) as exc:
            # a rebalance took the partition: its new owner starts at the last committed offset
            # and finds this alert already handled in Redis
            log.info("delivery.commit_skipped target=%s tp=%s error=%s", self.target.key, tp, exc)

    async def _handle(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            alert = read_alert_record(record)
        except RecordError as exc:
            log.warning("delivery.undecodable target=%s error=%s", self.target.key, exc)
            return
        key = self.target.key
        if not self.target.wants(alert.category):
            return
        if (
            alert.time is not None
            and self.since is not None
            and alert.time.timestamp() < self.since
        ):
            log.debug("delivery.before_since target=%s alert=%s", key, alert.id)
            return
        while not await self._redis(
            lambda: self.store.claim_delivery(key, alert.id, self.owner, self._claim_ttl)
        ):
            if await self._redis(lambda: self.store.delivery_done(key, alert.id)):
                return
            await self._pause(1.0)  # another process is delivering it right now
        if await self._redis(lambda: self.store.delivery_done(key, alert.id)):
            log.debug("delivery.already_done target=%s alert=%s", key, alert.id)
            return
        await self._deliver(alert)

    async def _deliver(self, alert: AlertRecord) -> None:
        key, where = self.target.key, self.target.where
        last: DeliveryError | None = None
        for attempt in range(1, self.settings.attempts + 1):
            try:
                await self.sender.send(alert.body, alert.id, attempt)
            except DeliveryError as exc:
                last = exc
                log.warning(
                    "delivery.failed target=%s alert=%s attempt=%d error=%s",
                    key,
                    alert.id,
                    attempt,
                    exc,
                )
                with contextlib.suppress(RedisError, OSError):  # status only: best effort
                    await self.store.record_delivery_failure(key, where, str(exc), time.time())
                if attempt < self.settings.attempts:
                    await self._pause(
                        backoff_delay(
                            attempt,
                            base=self.settings.backoff,
                            cap=self.settings.max_backoff,
                            retry_after=exc.retry_after,
                        )
                    )
                continue
            await self._redis(
                lambda: self.store.record_delivered(key, alert.id, where, time.time())
            )
            log.info(
                "delivery.delivered target=%s alert=%s topic=%s attempt=%d",
                key,
                alert.id,
                alert.topic,
                attempt,
            )
            return
        reason = f"not delivered after {self.settings.attempts} tries; last: {last}"
        await self._dead_letter(alert, reason)
        await self._redis(
            lambda: self.store.record_delivered(
                key, alert.id, where, time.time(), dead_letter=reason
            )
        )

    async def _dead_letter(self, alert: AlertRecord, reason: str) -> None:
        record = DeadLetter(
            topic=alert.topic,
            partition=alert.partition,
            offset=alert.offset,
            key=alert.key.decode("utf-8", "replace") if alert.key else None,
            reason=f"{self.target.key}: {reason}",
            value=alert.body.decode("utf-8", "replace"),
        )
        while True:
            try:
                await self.producer.send_and_wait(
                    DEADLETTER_TOPIC, key=alert.id.encode(), value=record.to_bytes()
                )
                break
            except KafkaError as exc:  # the dead letter must not be lost: retry until Kafka is back
                log.warning("delivery.deadletter_retry target=%s error=%s", self.target.key, exc)
                await self._pause(RESTART_AFTER)
        log.warning(
            "delivery.dead_lettered target=%s alert=%s reason=%s", self.target.key, alert.id, reason
        )

    async def _redis(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run a Redis call, waiting out a Redis outage (delivery decisions need Redis)."""
        delay = 0.5
        while True:
            try:
                return await call()
            except (RedisError, OSError) as exc:
                log.warning("delivery.redis_unavailable target=%s error=%s", self.target.key, exc)
                await self._pause(delay)
                delay = min(delay * 2, RESTART_AFTER)

    async def _pause(self, seconds: float) -> None:
        """Sleep, or raise _StoppedError as soon as the stop event is set."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        if self._stop.is_set():
            raise _StoppedError


def consumer_group(settings: Settings, target: Target) -> str:
    return f"{settings.app_id}.deliver.{target.kind}.{target.id}"


def delivery_tasks(
    settings: Settings,
    *,
    kafka: str,
    redis: str,
    stop: asyncio.Event,
    targets: list[Target] | None = None,
) -> list[asyncio.Task[None]]:
    """The delivery loop as a task, when any target is configured (else no task).

    Targets are loaded and checked now (ConfigError for a bad file, ServiceError when Apprise
    targets are configured without the extra), so a bad configuration fails before anything runs.
    """
    targets = load_targets(settings.webhooks_file) if targets is None else targets
    if not targets:
        return []
    for target in targets:
        if isinstance(target, AppriseTarget):
            AppriseSender(target, timeout=settings.delivery.timeout)  # refuses early
    return [
        asyncio.create_task(
            deliver(settings, targets, kafka=kafka, redis=redis, stop=stop), name="deliver"
        )
    ]


async def deliver(
    settings: Settings, targets: list[Target], *, kafka: str, redis: str, stop: asyncio.Event
) -> None:
    """Deliver to every target until ``stop`` is set."""
    if not targets:
        raise ConfigError(
            "no webhooks and no apprise entries: nothing to deliver to (see the README, Delivery)",
            file=settings.webhooks_file,
        )
    owner = f"{settings.worker_id}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    store = StatusStore.from_url(redis)
    producer = await start_producer(kafka)
    session = aiohttp.ClientSession()
    try:
        deliverers = []
        for target in targets:
            sender: Sender
            if isinstance(target, Webhook):
                sender = WebhookSender(target, session, timeout=settings.delivery.timeout)
            elif isinstance(target, AppriseTarget):
                sender = AppriseSender(target, timeout=settings.delivery.timeout)
            else:  # pragma: no cover - load_targets builds only these two
                raise ConfigError(f"unknown delivery target kind {target.kind!r}")
            deliverers.append(
                Deliverer(
                    target,
                    sender,
                    bootstrap=kafka,
                    group=consumer_group(settings, target),
                    store=store,
                    producer=producer,
                    settings=settings.delivery,
                    owner=owner,
                )
            )
        tasks = [
            asyncio.create_task(d.run(stop), name=f"deliver {d.target.key}") for d in deliverers
        ]
        tasks.append(
            asyncio.create_task(_heartbeat(store, settings.worker_id, targets, stop), name="beat")
        )
        await asyncio.gather(*tasks)
    finally:
        await session.close()
        await producer.stop()
        await store.close()


async def _heartbeat(
    store: StatusStore, ident: str, targets: list[Target], stop: asyncio.Event
) -> None:
    info = {"targets": [f"{t.key} {t.where}" for t in targets]}
    while not stop.is_set():
        try:
            await store.heartbeat("deliver", ident, info)
        except (RedisError, OSError) as exc:  # the status page's business; delivery goes on
            log.debug("delivery.heartbeat_failed error=%s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), HEARTBEAT_SECONDS)


async def run_deliver(settings: Settings) -> None:
    """``monitor deliver``: the delivery loop alone, until SIGINT/SIGTERM."""
    from monitor.embedded import resolve_endpoints
    from monitor.services import stop_on_signals

    targets = load_targets(settings.webhooks_file)
    if not targets:
        raise ConfigError(
            "no webhooks and no apprise entries: nothing to deliver to; add one (see the README, "
            "Delivery) or set MONITOR_DELIVERY__FILE",
            file=settings.webhooks_file,
        )
    endpoints = resolve_endpoints(settings)
    stop = asyncio.Event()
    with stop_on_signals(stop):
        await deliver(settings, targets, kafka=endpoints.kafka, redis=endpoints.redis, stop=stop)
