"""The Faust app factory. Agents decode, call one ``monitor`` function, send, and record status.

Two stages, so that story state has one owner per category:

    monitor.articles --[match_articles: dedupe, match]--> monitor.matches (a partition per category)
    monitor.matches  --[build_stories: group, decide]---> alerts.<category> (keyed by story id)

The match stage takes articles in batches (whatever is queued, at most BATCH_MAX, read straight
from its channel: agents/fastpath.py) and decides each on its own; only matched versions go to the
dedupe table, whose ids expire after ``MONITOR_STREAM__DEDUPE_HOURS``. Match records are sent
together, held for a moment while the stage is behind (SEND_RECORDS). Status goes to Redis once a
second (counters and alerts in one round trip each). bench/pipeline.py measures it all.

Faust's types are loose (``Any`` streams and events), so this package is not under mypy strict.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust
from faust.streams import _current_event

from agents.config import faust_options, story_placement
from agents.consumer import adjust_consumer
from agents.fastpath import ChannelReader, RawSchema, count_buffer_directly, event_batches
from monitor.embedded import Endpoints
from monitor.kafka import ARTICLES_TOPIC, DEADLETTER_TOPIC, MATCHES_TOPIC
from monitor.models import Alert, Article, MatchRecord, RecordError
from monitor.pipeline import ExpiryIndex, Tally, dead_letter, match_article, story_step
from monitor.rulebook import RuleBook
from monitor.settings import Settings
from monitor.status import StatusStore
from monitor.stories import Story, StoryIndex

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 1.0
DEDUPE_TABLE = "seen_articles"
STORIES_TABLE = "stories"
LOST_COUNTER = "articles.lost"  # articles the broker deleted before a worker read them
MATCHES_LOST_COUNTER = "matches.lost"  # match records the broker deleted before it read them
# The match stage's batches: what the consumer has queued, at most BATCH_MAX articles, without
# waiting for more (agents/fastpath.py). Under load a batch is a fetch's worth; when traffic is
# light an article is decided as soon as it arrives. The bound keeps one batch's work (about
# 30 ms) from holding up the event loop's other tasks for long.
BATCH_MAX = 500
# While the match stage is behind, it holds the match records of consecutive batches until it has
# SEND_RECORDS of them or the first has waited SEND_SECONDS, and sends them together. The
# embedded broker (librdkafka's mock) answers a fetch with one producer batch per partition, and
# under load a fetch of articles is decided in two or three batches: sent batch by batch, match
# records reached the story stage slower than they were made, it fell further behind and the
# broker deleted them unread (it keeps 5 MiB per partition). Kafka gives all it has up to
# 1 MiB per partition, so there this only makes fewer, larger produce requests. A stage that has
# caught up sends at once: light load waits for nothing.
SEND_RECORDS = 200
SEND_SECONDS = 0.25


def create_app(
    settings: Settings,
    endpoints: Endpoints,
    rules: RuleBook,
    *,
    on_decided: Callable[[Article, int], None] | None = None,
) -> faust.App:
    """A Faust app wired to the given broker, Redis and live rule set.

    ``on_decided`` (for bench/pipeline.py) is called with each decoded article and its
    ``monitor.articles`` partition once it is judged a duplicate or matched (or not).
    """
    # topics, partitions, processing guarantee and table store: see agents/config.py
    app = faust.App(settings.app_id, **faust_options(settings, endpoints))
    placement = story_placement(settings, endpoints)  # category -> monitor.matches partition
    if endpoints.embedded:
        _let_followers_sync_first(app)
    tally = Tally()
    # fetch wait; no records lost on resume; articles deleted unread are counted, not skipped
    lost_counters = {ARTICLES_TOPIC: LOST_COUNTER, MATCHES_TOPIC: MATCHES_LOST_COUNTER}
    adjust_consumer(
        app,
        embedded=endpoints.embedded,
        lost=lambda topic, count: tally.add(lost_counters[topic], count),
    )
    count_buffer_directly(app)  # the conductor asks the buffer's size before every delivery
    status = StatusStore.from_url(endpoints.redis)
    raw = RawSchema()  # bytes in and out; the agents decode records themselves
    articles = app.topic(ARTICLES_TOPIC, schema=raw)
    matches = app.topic(MATCHES_TOPIC, schema=raw)
    deadletters = app.topic(DEADLETTER_TOPIC, schema=raw)
    # Dedupe: article id -> revision, per partition like monitor.articles (the app's partitions).
    # Ids are forgotten MONITOR_STREAM__DEDUPE_HOURS after the worker wrote (or recovered) them.
    seen_times = ExpiryIndex(window=settings.stream.dedupe_hours * 3600)

    async def on_seen_changelog(event: Any) -> None:  # recovery: index the ids read back
        if event.value is not None and isinstance(event.key, str):
            seen_times.add(event.message.partition, event.key, time.time())

    seen = app.Table(DEDUPE_TABLE, default=None, on_changelog_event=on_seen_changelog)
    # Stories: story id -> story, per partition like monitor.matches (a category's stories live in
    # its partition: MONITOR_STREAM__STORY_PARTITIONS). The worker places articles with an
    # in-memory index of them, rebuilt from the table after every rebalance (so it holds exactly
    # what the changelog recovered).
    stories = app.Table(STORIES_TABLE, default=None)
    index = StoryIndex()
    index_stale = [True]

    @app.on_partitions_assigned.connect  # type: ignore[untyped-decorator]
    async def _stories_moved(sender: Any, assigned: Any, **kwargs: Any) -> None:
        index_stale[0] = True
        held = {tp.partition for tp in assigned if tp.topic == MATCHES_TOPIC}
        owned = sorted(c for c, partition in placement.items() if partition in held)
        log.info(
            "stories.assigned matches_partitions=%s placed_categories=%s",
            sorted(held),
            ",".join(owned) or "-",
        )

    alert_topics: dict[str, Any] = {}
    pending_alerts: list[Alert] = []

    async def changelog_ebb() -> None:
        """Hold on while the producer's buffer of table changelog writes is over Faust's bound
        (``ProducerBuffer.max_messages``, 100), flushing it. Faust's conductor does this before it
        delivers each message; a batch writes many times without a delivery in between, and the
        buffer then overflows (Faust warns "producer buffer full")."""
        await app.producer.buffer.wait_until_ebb()

    async def to_dead_letter(event: Any, reason: str) -> None:
        msg = event.message
        record = dead_letter(
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            key=event.key,
            value=event.value,
            reason=reason,
        )
        await deadletters.send(key=event.key, value=record.to_bytes())
        tally.add("deadletter")
        log.warning(
            "record.dead_lettered topic=%s offset=%s reason=%s", msg.topic, msg.offset, reason
        )

    async def decide(
        event: Any,
        matched_at: datetime,
        matched: dict[str, tuple[Any, int]],
        out: list[MatchRecord],
    ) -> str:
        """One article: dead-lettered, a duplicate, matched or not. Returns which. A matched
        article's id goes into ``matched`` (with its event and revision) and its match records
        into ``out``, held for :func:`send_matched`."""
        try:
            article = Article.from_bytes(event.value)
        except RecordError as exc:
            await to_dead_letter(event, str(exc))
            return "deadletter"
        earlier = matched.get(article.id)  # matched, not yet sent
        if (earlier is not None and earlier[1] >= article.revision) or (
            article.id in seen and seen[article.id] >= article.revision  # matched and sent
        ):
            if on_decided is not None:
                on_decided(article, event.message.partition)
            return "duplicate"
        try:
            records = match_article(rules.matcher, article, matched_at)
        except Exception as exc:  # a bug on one article must not stop the stream
            log.exception("article.match_failed id=%s", article.id)
            await to_dead_letter(event, f"matching failed: {type(exc).__name__}: {exc}")
            return "deadletter"
        if on_decided is not None:
            on_decided(article, event.message.partition)
        if not records:
            # Only matched versions are remembered: a re-sent article that matched nothing is
            # simply matched (to nothing) again, cheaper than a changelog write per article.
            return "unmatched"
        matched[article.id] = (event, article.revision)
        out.extend(records)
        return "matched"

    async def send_matched(
        matched: dict[str, tuple[Any, int]], out: list[MatchRecord], now: float
    ) -> None:
        """Held match records, then their articles' ids into the dedupe table.

        Sent together, the records for one category leave in one producer batch (up to
        PRODUCER_BATCH bytes: agents/config.py). They are handed to the producer before the
        dedupe table's changelog writes, as when each was sent on its own; their events are acked
        only after this, so a crash before it replays them.
        """
        producer = app.producer  # straight to it: Faust's topic.send lets the loop run between
        for record in out:  # sends, and the producer cut the records into batches of a few
            key, value = record.category.encode(), record.to_bytes()
            partition = placement.get(record.category)  # None: the key's hash decides
            sent = await producer.send(MATCHES_TOPIC, key, value, partition, None, None)
            sent.add_done_callback(_report_failed_send)
        for article_id, (event, revision) in matched.items():
            set_current_event(event)  # the changelog write goes to the article's own partition
            seen[article_id] = revision
            seen_times.add(event.message.partition, article_id, now)
            await changelog_ebb()

    def forget_expired(events: dict[int, Any], now: float) -> None:
        """Drop dedupe ids older than the window, each partition's under one of its events."""
        for partition, event in events.items():
            expired = seen_times.expired(partition, now)
            if not expired:
                continue
            set_current_event(event)  # the tombstones go to this partition's changelog
            for key in expired:
                seen.pop(key, None)
            log.info("dedupe.expired partition=%d ids=%d", partition, len(expired))

    def behind(last: dict[int, Any]) -> bool:
        """Whether a partition has articles past these (each partition's last event of a batch)
        that the consumer knows of (its highwater from the latest fetch)."""
        consumer = app.consumer
        for event in last.values():
            message = event.message
            highwater = consumer.highwater(message.tp)
            if highwater is not None and message.offset + 1 < highwater:
                return True
        return False

    @app.agent(articles, name="match_articles")
    async def match_articles(stream: Any) -> None:
        # Batches: one wake-up, one clock reading, one tally and one expiry pass per batch
        # instead of per article. Each event is still decided on its own (a re-send later than
        # its original but not yet in the table is a duplicate all the same). The matched ones'
        # records and dedupe writes go together (send_matched), each write with its own event
        # current, so it goes to its own partition's changelog as in a one-at-a-time loop (reads
        # need no event): at once when the stage has caught up (nothing queued, and no partition
        # has more articles the consumer knows of), and while it is behind, once SEND_RECORDS are
        # held or the first of them has waited SEND_SECONDS (see there). Events are acked only
        # after their match records are sent, so a crash replays everything not yet sent (the
        # dedupe table makes that safe).
        reader = ChannelReader(stream, BATCH_MAX)
        last_expiry = 0.0
        held: list[Any] = []  # events decided, acked once their match records are sent
        matched: dict[str, tuple[Any, int]] = {}  # article id -> its event, revision
        out: list[MatchRecord] = []  # the held events' match records
        since = 0.0  # when the first of the held match records was made
        while (batch := await reader.take()) is not None:
            now = time.time()
            matched_at = datetime.fromtimestamp(now, UTC)
            outcomes: Counter[str] = Counter()
            last: dict[int, Any] = {}  # partition -> its last event in this batch
            for event in batch:
                last[event.message.partition] = event
                outcomes[await decide(event, matched_at, matched, out)] += 1
            held += batch
            if out and not since:
                since = now
            if (
                not out
                or not (reader.queued() or behind(last))
                or len(out) >= SEND_RECORDS
                or now - since >= SEND_SECONDS
            ):
                await send_matched(matched, out, now)
                reader.ack(held)
                held, matched, out, since = [], {}, [], 0.0
            outcomes["processed"] = len(batch) - outcomes["deadletter"]
            for outcome in ("processed", "duplicate", "matched"):
                if outcomes[outcome]:
                    tally.add(f"articles.{outcome}", outcomes[outcome])
            if now - last_expiry >= 1.0:  # forget ids older than the dedupe window
                last_expiry = now
                forget_expired(last, now)
            await asyncio.sleep(0)  # the drain loop refills the queue, the heartbeat runs

    async def place(event: Any) -> None:
        """One match record: placed into its category's stories, and alerted when due."""
        try:
            record = MatchRecord.from_bytes(event.value)
        except RecordError as exc:
            await to_dead_letter(event, str(exc))
            return
        if index_stale[0]:
            index.clear()
            for value in stories.values():
                if isinstance(value, dict) and "id" in value:  # not an older layout's list
                    index.load(Story.from_dict(value))
            index_stale[0] = False
            log.info("stories.indexed stories=%d", len(index))
        try:
            placement, alert = story_step(index, record)
        except Exception as exc:  # a bug on one record must not stop the stream
            log.exception("story.failed article=%s", record.article.id)
            await to_dead_letter(event, f"story step failed: {type(exc).__name__}: {exc}")
            return
        stories[placement.story.id] = placement.story.to_dict()
        for story_id in placement.expired:  # older than the stories' context: forgotten
            stories.pop(story_id, None)
        await changelog_ebb()
        if alert is None:
            return
        topic = alert_topics.get(record.topic)
        if topic is None:
            topic = alert_topics[record.topic] = app.topic(record.topic, schema=raw)
        await topic.send(key=alert.subject.encode(), value=alert.to_bytes())
        pending_alerts.append(alert)  # to Redis with the next heartbeat, in one round trip
        log.info(
            "alert.emitted topic=%s story=%s kind=%s headline=%r",
            record.topic,
            alert.subject,
            alert.data.kind,
            alert.data.headline,
        )

    @app.agent(matches, name="build_stories")
    async def build_stories(stream: Any) -> None:
        # Batches as in the match stage; each record is made the current event before it
        # touches the story table, so its changelog write goes to its own partition.
        async for batch in event_batches(stream, BATCH_MAX):
            for event in batch:
                set_current_event(event)
                await place(event)

    @app.timer(HEARTBEAT_SECONDS)
    async def heartbeat() -> None:
        alerts, pending_alerts[:] = list(pending_alerts), []
        try:
            await status.record_alerts(alerts)
            await status.count(tally.drain())
            await status.heartbeat(
                "worker",
                settings.worker_id,
                {"rules": rules.matcher.size, "rules_digest": rules.ruleset.digest()},
            )
            await status.record_rules(rules.matcher.rules)  # writes only when the set changed
        except Exception as exc:  # Redis is for people; its loss must not stop the pipeline
            log.warning("status.unavailable error=%s", exc)

    app.monitor_status = status  # type: ignore[attr-defined]  # closed by the runner
    return app


def _report_failed_send(sent: Any) -> None:
    """Log a match record the producer could not deliver, as Faust's ``topic.send`` did."""
    if not sent.cancelled() and sent.exception() is not None:
        log.error("match.send_failed error=%s", sent.exception())


def set_current_event(event: Any) -> None:
    """Make ``event`` the one this task's table writes attribute their changelog records to.

    The stages read their events around the stream (agents/fastpath.py), so the stream's own
    ``current_event`` is not set for them; this task's context variable is what tables read.
    """
    _current_event.set(weakref.ref(event))


EMBEDDED_SYNC_GRACE = 0.3


def _let_followers_sync_first(app: faust.App) -> None:
    """Delay the group leader's assignment a moment on the embedded broker.

    librdkafka's mock group coordinator completes a rebalance as soon as the leader's SyncGroup
    arrives and answers a follower's later SyncGroup with INVALID_REQUEST, after which the group
    can take a minute to settle. Real Kafka waits for every member; the mock needs followers to
    sync first, which a short pause in the leader (only at rebalances) makes the usual order.
    """
    assign = app.assignor.assign

    def delayed(cluster: Any, member_metadata: Any) -> Any:
        if len(member_metadata) > 1:
            time.sleep(EMBEDDED_SYNC_GRACE)  # blocks this worker's loop only during a rebalance
        return assign(cluster, member_metadata)

    app.assignor.assign = delayed  # type: ignore[method-assign]
