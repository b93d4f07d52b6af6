"""The poller's outbox: what it accepted for Kafka, kept until the broker acknowledged it.

Records are sent at once; if the broker does not answer they stay in a bounded backlog that a
background task retries with exponential backoff, and the backlog's size is written to the status
store. Nothing accepted is dropped: when the backlog is full, :meth:`Outbox.submit` refuses new
records (the poller then keeps the feed's old validators and fetches it again later). An article
is marked as published for its feed only after the broker acknowledged it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from monitor.errors import ServiceError
from monitor.kafka import start_producer
from monitor.status import StatusStore

log = logging.getLogger(__name__)
MAX_RETRY_WAIT = 60.0
BATCH = 1000


class BacklogFullError(ServiceError):
    """The outbox holds as many undelivered records as it may; Kafka has been down too long."""


@dataclass(frozen=True)
class Outgoing:
    """One record for Kafka; ``feed`` and ``version`` say what to remember once it is delivered."""

    topic: str
    key: bytes
    value: bytes
    feed: str | None = None
    version: str | None = None
    ident: str = ""  # what makes two records with one key different (an alert's id)

    @property
    def slot(self) -> tuple[str, bytes, str]:
        """Records in one slot are the same record: a resubmission replaces, never duplicates."""
        return self.topic, self.key, self.ident or self.version or ""


async def start_idempotent_producer(bootstrap: str) -> AIOKafkaProducer:
    """A started producer with idempotence on (no duplicates from its own retries), acks=all."""
    return await start_producer(bootstrap, idempotent=True)


class Outbox:
    """A bounded, retried buffer in front of a Kafka producer."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        status: StatusStore,
        *,
        limit: int,
        ident: str,
        send_timeout: float = 15.0,
    ):
        self.producer = producer
        self.status = status
        self.limit = limit
        self.ident = ident
        self.send_timeout = send_timeout
        self.pending: dict[tuple[str, bytes, str], Outgoing] = {}
        self.delivered = 0
        self.failing = False
        self._wake = asyncio.Event()
        self._reported = -1

    @property
    def backlog(self) -> int:
        return len(self.pending)

    async def submit(self, records: list[Outgoing]) -> bool:
        """Accept all these records (or raise BacklogFullError) and try to deliver them now.

        True when they are delivered; False when they wait in the backlog for a retry.
        """
        new = [r for r in records if r.slot not in self.pending]
        if len(self.pending) + len(new) > self.limit:
            raise BacklogFullError(
                f"outbox full ({self.limit} records waiting for Kafka); "
                "refusing more until the broker is reachable"
            )
        for record in records:
            self.pending[record.slot] = record
        if self.failing:
            await self._report()
            return False
        return await self._deliver(records)

    async def _deliver(self, records: list[Outgoing]) -> bool:
        try:
            await asyncio.wait_for(self._send(records), self.send_timeout)
        except (KafkaError, TimeoutError, OSError) as exc:
            if not self.failing:
                log.warning(
                    "outbox.failing backlog=%d error=%s: %s",
                    len(self.pending),
                    type(exc).__name__,
                    exc,
                )
            self.failing = True
            self._wake.set()
            await self._report()
            return False
        for record in records:
            if self.pending.get(record.slot) == record:
                del self.pending[record.slot]
        self.delivered += len(records)
        await self._remember(records)
        await self._report()
        return True

    async def _send(self, records: list[Outgoing]) -> None:
        futures = [await self.producer.send(r.topic, key=r.key, value=r.value) for r in records]
        await asyncio.gather(*futures)

    async def _remember(self, records: list[Outgoing]) -> None:
        by_feed: dict[str, dict[str, str]] = defaultdict(dict)
        for record in records:
            if record.feed and record.version:
                by_feed[record.feed][record.key.decode()] = record.version
        articles = sum(len(v) for v in by_feed.values())
        try:
            for feed, versions in by_feed.items():
                await self.status.mark_published(feed, versions, time.time())
            await self.status.count({"articles.published": articles})
        except Exception as exc:  # status is best-effort; the worker dedupes a republished id
            log.warning("outbox.status_failed error=%s", exc)

    async def _report(self) -> None:
        if self._reported == len(self.pending):
            return
        try:
            await self.status.set_backlog(self.ident, len(self.pending))
            self._reported = len(self.pending)
        except Exception as exc:
            log.warning("outbox.status_failed error=%s", exc)

    async def run(self, stop: asyncio.Event) -> None:
        """Retry the backlog with exponential backoff (1 s doubling to a minute) until ``stop``."""
        wait = 1.0
        while not stop.is_set():
            if not self.pending or not self.failing:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                break
            wait = 1.0 if await self.retry() else min(wait * 2, MAX_RETRY_WAIT)

    async def retry(self) -> bool:
        """Try to deliver the whole backlog; True when it is empty afterwards."""
        while self.pending:
            batch = list(self.pending.values())[:BATCH]
            self.failing = False
            if not await self._deliver(batch):
                return False
        log.info("outbox.recovered delivered=%d", self.delivered)
        self.failing = False
        return True

    async def drain(self, seconds: float) -> bool:
        """For shutdown and ``--once``: keep retrying until empty or ``seconds`` pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        wait = 0.5
        while self.pending and loop.time() < deadline:
            if await self.retry():
                return True
            await asyncio.sleep(min(wait, max(0.0, deadline - loop.time())))
            wait = min(wait * 2, MAX_RETRY_WAIT)
        return not self.pending
