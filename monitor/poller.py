"""The poller loop: fetch due feeds, parse changed ones off the event loop, publish what is new.

- One shared :class:`~monitor.fetch.Fetcher`; a body equal (by hash) to the last one is not parsed.
- An entry is published when its id is new for the feed, or again (``revision`` + 1) when its
  title or summary changed materially; keyed by article id, through the :class:`Outbox`.
- A feed's new validators are stored only once its articles are delivered, so a crash or a broker
  outage means fetching again, never losing an article.
- A broken feed is a feed status, never a crash; a feed turning sick or recovering sends a
  source-health alert to ``alerts.sources``.
- ``settings.shard`` of ``settings.shards`` selects this instance's part of the feed list.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from monitor.articles import content_fingerprint
from monitor.feeds import FeedConfig, ParsedFeed, parse_feed, select_shard
from monitor.fetch import Fetcher, FetchResult, Validators
from monitor.health import SOURCES_TOPIC, source_health_alert
from monitor.kafka import ARTICLES_TOPIC
from monitor.models import Article
from monitor.outbox import BacklogFullError, Outbox, Outgoing
from monitor.schedule import Bounds, FeedState, after_failure, after_success, health_change
from monitor.settings import PollSettings
from monitor.status import StatusStore
from monitor.websub import WebSub

log = logging.getLogger(__name__)
TICK = 0.25


def bounds_of(settings: PollSettings) -> Bounds:
    return Bounds(
        min_interval=settings.min_interval,
        max_interval=settings.max_interval,
        max_backoff=settings.max_backoff,
        failure_threshold=settings.failure_threshold,
        silence_factor=settings.silence_factor,
        min_silence=settings.min_silence,
    )


class Poller:
    """Polls its shard of a feed list forever (or until ``stop``), one shared HTTP client."""

    def __init__(
        self,
        feeds: Sequence[FeedConfig],
        *,
        settings: PollSettings,
        producer: AIOKafkaProducer,
        status: StatusStore,
        ident: str = "poller",
    ):
        self.feeds = select_shard(list(feeds), settings.shard, settings.shards)
        self.by_url = {f.url: f for f in self.feeds}
        self.settings = settings
        self.bounds = bounds_of(settings)
        self.status = status
        self.ident = ident
        self.outbox = Outbox(producer, status, limit=settings.backlog, ident=ident)
        self.states: dict[str, FeedState] = {}
        self.hubs: dict[str, tuple[str, str]] = {}  # feed url -> (hub, topic) advertised
        self._stopping = asyncio.Event()
        self._locks: dict[str, asyncio.Lock] = {}
        self.websub: WebSub | None = None

    @property
    def published(self) -> int:
        return self.outbox.delivered

    def stop(self) -> None:
        self._stopping.set()

    async def load_states(self) -> None:
        for feed in self.feeds:
            self.states[feed.url] = await self.status.load_feed(
                feed.url, feed.label, feed.interval or self.settings.interval
            )
            self.states[feed.url] = self.states[feed.url].model_copy(
                update={"fixed_interval": feed.interval is not None}
            )

    async def run(self) -> None:
        """Poll due feeds until :meth:`stop`; the outbox retries Kafka in the background."""
        limit = asyncio.Semaphore(self.settings.concurrency)
        in_flight: dict[str, asyncio.Task[None]] = {}
        async with Fetcher(self.settings) as fetcher:
            await self.load_states()
            outbox_task = asyncio.create_task(self.outbox.run(self._stopping), name="outbox")
            if self.settings.websub_url:
                self.websub = WebSub(self.settings, fetcher, self.pushed)
                await self.websub.start()
                renew = asyncio.create_task(self.websub.renew(self._stopping), name="websub")
            log.info(
                "poller.started feeds=%d shard=%d/%d",
                len(self.feeds),
                self.settings.shard,
                self.settings.shards,
            )
            last_beat = 0.0
            while not self._stopping.is_set():
                now = time.time()
                for feed in self.feeds:
                    if feed.url in in_flight or self.states[feed.url].next_check > now:
                        continue
                    task = asyncio.create_task(
                        self._poll(fetcher, feed, limit), name=f"poll {feed.url}"
                    )
                    in_flight[feed.url] = task
                    task.add_done_callback(functools.partial(_forget, in_flight, feed.url))
                if now - last_beat >= 2:
                    await self._heartbeat()
                    last_beat = now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), TICK)
            for task in list(in_flight.values()):
                task.cancel()
            await asyncio.gather(*in_flight.values(), return_exceptions=True)
            await outbox_task
            if self.websub:
                await renew
                await self.websub.stop()
                self.websub = None
            await self.outbox.drain(seconds=5)
        log.info("poller.stopped published=%d backlog=%d", self.published, self.outbox.backlog)

    async def run_once(self, *, drain_seconds: float = 60.0) -> dict[str, Any]:
        """Poll every feed of this shard once, wait for Kafka, and say how it went."""
        async with Fetcher(self.settings) as fetcher:
            await self.load_states()
            await self.poll_all(fetcher)
        delivered = await self.outbox.drain(seconds=drain_seconds)
        states = [self.states[f.url] for f in self.feeds]
        await self._heartbeat()
        return {
            "feeds": len(states),
            "ok": sum(s.status in ("ok", "not_modified") for s in states),
            "failing": sum(s.status == "failing" for s in states),
            "gone": sum(s.status == "gone" for s in states),
            "published": self.published,
            "backlog": self.outbox.backlog,
            "delivered": delivered,
        }

    async def poll_all(self, fetcher: Fetcher) -> None:
        """Poll every feed of this shard once, ``concurrency`` at a time, due or not."""
        limit = asyncio.Semaphore(self.settings.concurrency)
        await asyncio.gather(*(self._poll(fetcher, f, limit) for f in self.feeds))

    async def _heartbeat(self) -> None:
        try:
            await self.status.heartbeat(
                "poller",
                self.ident,
                {
                    "feeds": len(self.feeds),
                    "published": self.published,
                    "backlog": self.outbox.backlog,
                    "shard": f"{self.settings.shard}/{self.settings.shards}",
                },
            )
        except Exception as exc:  # status is for people; Redis hiccups must not stop polling
            log.warning("poller.heartbeat_failed error=%s", exc)

    def _lock(self, url: str) -> asyncio.Lock:
        return self._locks.setdefault(url, asyncio.Lock())

    async def _poll(self, fetcher: Fetcher, feed: FeedConfig, limit: asyncio.Semaphore) -> None:
        async with limit, self._lock(feed.url):
            state = self.states[feed.url]
            try:
                state = await self.poll_once(fetcher, feed, state)
            except Exception as exc:  # a bug on one feed must not stop the others
                log.exception("feed.poll_crashed feed=%s", feed.url)
                state = after_failure(
                    state, now=time.time(), error=f"internal error: {exc!r}", bounds=self.bounds
                )
            self.states[feed.url] = state
            await self._save(state)
        if self.websub and feed.url in self.hubs:
            hub, topic = self.hubs[feed.url]
            await self.websub.ensure(feed.url, hub, topic, allow_private=feed.allow_private)

    async def pushed(self, feed_url: str, body: bytes, headers: dict[str, str]) -> None:
        """Content a WebSub hub pushed for a feed: parsed and published at once."""
        feed = self.by_url.get(feed_url)
        if feed is None:
            return
        async with self._lock(feed.url):
            state = self.states[feed.url]
            try:
                state = await self.ingest(
                    feed, state, body, headers=headers, base_url=state.fetch_url or feed.url
                )
            except Exception:  # a bad push must not take the callback server down
                log.exception("feed.push_failed feed=%s", feed.url)
                return
            log.info("feed.pushed feed=%s new=%d", feed.url, state.new_items)
            self.states[feed.url] = state
            await self._save(state)

    async def _save(self, state: FeedState) -> None:
        try:
            await self.status.save_feed(state)
        except Exception as exc:
            log.warning("feed.save_failed feed=%s error=%s", state.url, exc)

    async def poll_once(self, fetcher: Fetcher, feed: FeedConfig, state: FeedState) -> FeedState:
        """One fetch-parse-publish cycle for one feed; returns the feed's next state."""
        url = state.fetch_url or feed.url
        result = await fetcher.fetch(
            url,
            validators=Validators(state.etag, state.last_modified, state.body_hash),
            allow_private=feed.allow_private,
        )
        now = time.time()
        if result.permanent_url and result.permanent_url != state.fetch_url:
            log.info("feed.moved feed=%s to=%s", feed.url, result.permanent_url)
            state = state.model_copy(update={"fetch_url": result.permanent_url})
        if not result.ok:
            log.warning("feed.failed feed=%s error=%s", feed.url, result.error)
            state = after_failure(
                state,
                now=now,
                error=result.error or "unknown",
                gone=result.gone,
                retry_after=result.retry_after,
                bounds=self.bounds,
            )
            return await self._check_health(state, now)
        if result.not_modified:
            log.debug("feed.not_modified feed=%s status=%s", feed.url, result.status)
            state = after_success(
                state,
                now=now,
                new_items=0,
                not_modified=True,
                etag=result.validators.etag,
                last_modified=result.validators.last_modified,
                body_hash=result.validators.body_hash,
                min_interval=_floor(result),
                bounds=self.bounds,
            )
            return await self._check_health(state, now)
        return await self.ingest(
            feed,
            state,
            result.body,
            headers=result.headers,
            base_url=result.final_url or url,
            validators=result.validators,
            floor=_floor(result),
            elapsed=result.elapsed,
        )

    async def ingest(
        self,
        feed: FeedConfig,
        state: FeedState,
        body: bytes,
        *,
        headers: dict[str, str],
        base_url: str,
        validators: Validators | None = None,
        floor: float | None = None,
        elapsed: float = 0.0,
    ) -> FeedState:
        """Parse a body (fetched, or pushed by a WebSub hub) and publish what is new in it."""
        now = time.time()
        parsed = await asyncio.to_thread(
            parse_feed,
            body,
            feed=feed,
            headers=headers,
            base_url=base_url,
            fetched=datetime.fromtimestamp(now, tz=UTC),
        )
        if parsed.error:
            log.warning("feed.parse_failed feed=%s error=%s", feed.url, parsed.error)
            state = after_failure(state, now=now, error=parsed.error, bounds=self.bounds)
            return await self._check_health(state, now)
        if parsed.warning:
            log.info("feed.bozo feed=%s warning=%s", feed.url, parsed.warning)
        if parsed.hub:
            self.hubs[feed.url] = (parsed.hub, parsed.self_url or base_url)
        fresh, delivered = await self._publish(feed, parsed)
        if not delivered or validators is None:
            validators = Validators(state.etag, state.last_modified, state.body_hash)
        log.info(
            "feed.polled feed=%s entries=%d new=%d delivered=%s duplicates=%d elapsed_ms=%.0f",
            feed.url,
            len(parsed.articles),
            fresh,
            delivered,
            parsed.duplicates,
            elapsed * 1000,
        )
        floors = [f for f in (floor, parsed.ttl_seconds) if f]
        state = after_success(
            state,
            now=now,
            new_items=fresh,
            not_modified=False,
            etag=validators.etag,
            last_modified=validators.last_modified,
            body_hash=validators.body_hash,
            min_interval=max(floors, default=None),
            cadence=parsed.cadence,
            newest_entry=parsed.newest,
            parsed=True,
            bounds=self.bounds,
        )
        state = state.model_copy(update={"hub": parsed.hub, "warning": parsed.warning})
        return await self._check_health(state, now)

    async def _publish(self, feed: FeedConfig, parsed: ParsedFeed) -> tuple[int, bool]:
        """Hand new and materially changed articles to the outbox: (how many, delivered now)."""
        articles = await self._fresh(feed, parsed.articles)
        if not articles:
            return 0, True
        records = [
            Outgoing(
                ARTICLES_TOPIC,
                article.id.encode(),
                article.to_bytes(),
                feed=feed.url,
                version=f"{article.revision}:{fingerprint}",
            )
            for article, fingerprint in articles
        ]
        try:
            return len(records), await self.outbox.submit(records)
        except BacklogFullError as exc:
            log.warning("feed.deferred feed=%s articles=%d: %s", feed.url, len(records), exc)
            return 0, False

    async def _fresh(self, feed: FeedConfig, articles: list[Article]) -> list[tuple[Article, str]]:
        versions = await self.status.published_versions(feed.url, [a.id for a in articles])
        fresh = []
        for article, version in zip(articles, versions, strict=True):
            fingerprint = content_fingerprint(article.title, article.summary)
            if version is None:
                fresh.append((article, fingerprint))
                continue
            revision, _, old = version.partition(":")
            if old != fingerprint:
                number = int(revision) if revision.isdigit() else 1
                revised = article.model_copy(update={"revision": number + 1})
                fresh.append((revised, fingerprint))
        return fresh

    async def _check_health(self, state: FeedState, now: float) -> FeedState:
        state, change = health_change(state, now=now, bounds=self.bounds)
        if change is None:
            return state
        log.warning("feed.%s feed=%s reason=%s", change.state, state.url, change.reason)
        alert = source_health_alert(state, change, now=now, poller=self.ident)
        record = Outgoing(SOURCES_TOPIC, state.url.encode(), alert.to_bytes(), ident=alert.id)
        try:
            await self.outbox.submit([record])
        except BacklogFullError as exc:
            log.warning("feed.health_alert_dropped feed=%s: %s", state.url, exc)
        return state


def _floor(result: FetchResult) -> float | None:
    floors = [f for f in (result.max_age, result.retry_after) if f]
    return max(floors, default=None)


def _forget(in_flight: dict[str, asyncio.Task[None]], url: str, _task: asyncio.Task[None]) -> None:
    in_flight.pop(url, None)
