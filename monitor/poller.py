"""The poller loop: fetch due feeds, parse them off the event loop, publish new articles.

An article is published to ``monitor.articles`` (keyed by its id) before it is marked as seen for
its feed, so a crash in between republishes rather than loses it; the worker dedupes. A broken feed
is a feed status, never a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Sequence

import aiohttp
from aiokafka import AIOKafkaProducer

from monitor.feeds import FeedConfig, parse_feed
from monitor.fetch import Validators, fetch_feed, new_session
from monitor.kafka import ARTICLES_TOPIC, send_all
from monitor.schedule import FeedState, after_failure, after_success
from monitor.settings import PollSettings
from monitor.status import StatusStore

log = logging.getLogger(__name__)
TICK = 0.25


class Poller:
    """Polls a list of feeds forever (or until ``stop``), one shared HTTP client."""

    def __init__(
        self,
        feeds: Sequence[FeedConfig],
        *,
        settings: PollSettings,
        producer: AIOKafkaProducer,
        status: StatusStore,
        ident: str = "poller",
    ):
        self.feeds = list(feeds)
        self.settings = settings
        self.producer = producer
        self.status = status
        self.ident = ident
        self._stopping = asyncio.Event()
        self.published = 0

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        limit = asyncio.Semaphore(self.settings.concurrency)
        in_flight: dict[str, asyncio.Task[None]] = {}
        async with new_session(self.settings) as session:
            states = {f.url: await self._load(f) for f in self.feeds}
            log.info("poller.started feeds=%d", len(self.feeds))
            last_beat = 0.0
            while not self._stopping.is_set():
                now = time.time()
                for feed in self.feeds:
                    if feed.url in in_flight or states[feed.url].next_check > now:
                        continue
                    task = asyncio.create_task(
                        self._poll(session, feed, states, limit), name=f"poll {feed.url}"
                    )
                    in_flight[feed.url] = task
                    task.add_done_callback(functools.partial(_forget, in_flight, feed.url))
                if now - last_beat >= 2:
                    await self.status.heartbeat(
                        "poller",
                        self.ident,
                        {"feeds": len(self.feeds), "published": self.published},
                    )
                    last_beat = now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), TICK)
            for task in list(in_flight.values()):
                task.cancel()
            await asyncio.gather(*in_flight.values(), return_exceptions=True)
        log.info("poller.stopped published=%d", self.published)

    async def _load(self, feed: FeedConfig) -> FeedState:
        return await self.status.load_feed(
            feed.url, feed.label, feed.interval or self.settings.interval
        )

    async def _poll(
        self,
        session: aiohttp.ClientSession,
        feed: FeedConfig,
        states: dict[str, FeedState],
        limit: asyncio.Semaphore,
    ) -> None:
        async with limit:
            state = states[feed.url]
            state = await self.poll_once(session, feed, state)
            states[feed.url] = state
            await self.status.save_feed(state)

    async def poll_once(
        self, session: aiohttp.ClientSession, feed: FeedConfig, state: FeedState
    ) -> FeedState:
        """One fetch-parse-publish cycle for one feed; returns the feed's next state."""
        validators = Validators(state.etag, state.last_modified, state.body_hash)
        result = await fetch_feed(
            session,
            feed.url,
            validators=validators,
            max_bytes=self.settings.max_bytes,
            allow_private=feed.allow_private,
        )
        now = time.time()
        if not result.ok:
            log.warning("feed.failed feed=%s error=%s", feed.url, result.error)
            return after_failure(
                state, now=now, error=result.error or "unknown", gone=result.status == 410
            )
        if result.not_modified:
            log.debug("feed.not_modified feed=%s", feed.url)
            return after_success(
                state,
                now=now,
                new_items=0,
                not_modified=True,
                etag=result.validators.etag,
                last_modified=result.validators.last_modified,
                body_hash=result.validators.body_hash,
            )
        parsed = await asyncio.to_thread(parse_feed, result.body, feed=feed, headers=result.headers)
        if parsed.error:
            log.warning("feed.parse_failed feed=%s error=%s", feed.url, parsed.error)
            return after_failure(state, now=now, error=parsed.error)
        if parsed.warning:
            log.info("feed.bozo feed=%s warning=%s", feed.url, parsed.warning)
        by_id = {a.id: a for a in parsed.articles}
        new_ids = await self.status.unseen(feed.url, list(by_id))
        await send_all(
            self.producer, ARTICLES_TOPIC, [(i.encode(), by_id[i].to_bytes()) for i in new_ids]
        )
        await self.status.mark_seen(feed.url, new_ids, now)
        await self.status.count({"articles.published": len(new_ids)})
        self.published += len(new_ids)
        log.info(
            "feed.polled feed=%s status=%s entries=%d new=%d elapsed_ms=%.0f",
            feed.url,
            result.status,
            len(by_id),
            len(new_ids),
            result.elapsed * 1000,
        )
        return after_success(
            state,
            now=now,
            new_items=len(new_ids),
            not_modified=False,
            etag=result.validators.etag,
            last_modified=result.validators.last_modified,
            body_hash=result.validators.body_hash,
            min_interval=parsed.ttl_seconds,
        )


def _forget(in_flight: dict[str, asyncio.Task[None]], url: str, _task: asyncio.Task[None]) -> None:
    in_flight.pop(url, None)
