"""The Faust app factory. Agents decode, call one ``monitor`` function, send, and record status.

Two stages, so that story state has one owner per category:

    monitor.articles --[match_articles: dedupe, match]--> monitor.matches (keyed by category)
    monitor.matches  --[build_stories: group, decide]---> alerts.<category> (keyed by story id)

The match stage takes its events in batches (up to BATCH_MAX, waiting at most BATCH_WAIT) and
decides each on its own; only matched versions go to the dedupe table, whose ids expire after
``MONITOR_STREAM__DEDUPE_HOURS``. Status goes to Redis once a second (counters and alerts in one
round trip each). bench/pipeline.py measures it all.

Faust's types are loose (``Any`` streams and events), so this package is not under mypy strict.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust
from faust.streams import _current_event

from agents.config import faust_options
from monitor.embedded import Endpoints
from monitor.kafka import ARTICLES_TOPIC, DEADLETTER_TOPIC, MATCHES_TOPIC
from monitor.models import Alert, Article, MatchRecord, RecordError
from monitor.pipeline import ExpiryIndex, Tally, dead_letter, match_article, story_step
from monitor.rulebook import RuleBook
from monitor.settings import Settings
from monitor.status import StatusStore

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 1.0
DEDUPE_TABLE = "seen_articles"
STORIES_TABLE = "stories"
BATCH_MAX = 500  # articles per batch of the match stage, at most
BATCH_WAIT = 0.005  # seconds a batch waits to fill: latency added when traffic is light


def create_app(
    settings: Settings,
    endpoints: Endpoints,
    rules: RuleBook,
    *,
    on_decided: Callable[[Article], None] | None = None,
) -> faust.App:
    """A Faust app wired to the given broker, Redis and live rule set.

    ``on_decided`` (for bench/pipeline.py) is called with each decoded article once it is judged
    a duplicate or matched (or not).
    """
    # topics, partitions, processing guarantee and table store: see agents/config.py
    app = faust.App(settings.app_id, **faust_options(settings, endpoints))
    if endpoints.embedded:
        _let_followers_sync_first(app)
    _shorten_fetch_wait(app, FETCH_WAIT_MS)
    status = StatusStore.from_url(endpoints.redis)
    tally = Tally()
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    articles = app.topic(ARTICLES_TOPIC, **raw)
    matches = app.topic(MATCHES_TOPIC, **raw)
    deadletters = app.topic(DEADLETTER_TOPIC, **raw)
    # Dedupe: article id -> revision, per partition like monitor.articles (the app's partitions).
    # Ids are forgotten MONITOR_STREAM__DEDUPE_HOURS after the worker wrote (or recovered) them.
    seen_times = ExpiryIndex(window=settings.stream.dedupe_hours * 3600)

    async def on_seen_changelog(event: Any) -> None:  # recovery: index the ids read back
        if event.value is not None and isinstance(event.key, str):
            seen_times.add(event.message.partition, event.key, time.time())

    seen = app.Table(DEDUPE_TABLE, default=None, on_changelog_event=on_seen_changelog)
    stories = app.Table(STORIES_TABLE, default=list)
    alert_topics: dict[str, Any] = {}
    pending_alerts: list[Alert] = []

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

    @app.agent(articles, name="match_articles")
    async def match_articles(stream: Any) -> None:
        # Events come in batches (one wake-up of this agent, one tally and one expiry pass per
        # batch instead of per article); each event is still its own decision, and the current
        # event is set before touching the table, so every changelog write goes to the
        # partition of the article that caused it, as in a one-event-at-a-time loop. Only this
        # task's context variable is set: the stream's own ``current_event`` belongs to the
        # task filling the next batch meanwhile (setting it would make that task buffer a
        # stale event in place of the new one).
        async for batch in stream.take_events(BATCH_MAX, within=BATCH_WAIT):
            now = time.time()
            matched_at = datetime.fromtimestamp(now, UTC)
            processed = duplicates = matched = 0
            last: dict[int, Any] = {}  # partition -> its last event in this batch
            for event in batch:
                set_current_event(event)
                partition = event.message.partition
                last[partition] = event
                try:
                    article = Article.from_bytes(event.value)
                except RecordError as exc:
                    await to_dead_letter(event, str(exc))
                    continue
                processed += 1
                if (seen.get(article.id) or 0) >= article.revision:  # matched before
                    duplicates += 1
                    if on_decided is not None:
                        on_decided(article)
                    continue
                try:
                    records = match_article(rules.matcher, article, matched_at)
                except Exception as exc:  # a bug on one article must not stop the stream
                    log.exception("article.match_failed id=%s", article.id)
                    await to_dead_letter(event, f"matching failed: {type(exc).__name__}: {exc}")
                    continue
                if on_decided is not None:
                    on_decided(article)
                if records:
                    # Only matched versions are remembered: a re-sent article that matched
                    # nothing is simply matched (to nothing) again, which costs less than a
                    # changelog write for every article (most match nothing).
                    seen[article.id] = article.revision
                    seen_times.add(partition, article.id, now)
                    matched += 1
                for record in records:
                    await matches.send(key=record.category.encode(), value=record.to_bytes())
            for partition, event in last.items():  # forget ids older than the dedupe window
                expired = seen_times.expired(partition, now)
                if expired:
                    set_current_event(event)  # tombstones to this partition
                    for key in expired:
                        seen.pop(key, None)
                    log.info("dedupe.expired partition=%d ids=%d", partition, len(expired))
            tally.add("articles.processed", processed)
            tally.add("articles.duplicate", duplicates)
            tally.add("articles.matched", matched)

    @app.agent(matches, name="build_stories")
    async def build_stories(stream: Any) -> None:
        async for event in stream.events():
            try:
                record = MatchRecord.from_bytes(event.value)
            except RecordError as exc:
                await to_dead_letter(event, str(exc))
                continue
            try:
                stored, alert = story_step(stories[record.category], record)
            except Exception as exc:  # a bug on one record must not stop the stream
                log.exception("story.failed article=%s", record.article.id)
                await to_dead_letter(event, f"story step failed: {type(exc).__name__}: {exc}")
                continue
            stories[record.category] = stored
            if alert is None:
                continue
            topic = alert_topics.get(record.topic)
            if topic is None:
                topic = alert_topics[record.topic] = app.topic(record.topic, **raw)
            await topic.send(key=alert.subject.encode(), value=alert.to_bytes())
            pending_alerts.append(alert)  # to Redis with the next heartbeat, in one round trip
            log.info(
                "alert.emitted topic=%s story=%s kind=%s headline=%r",
                record.topic,
                alert.subject,
                alert.data.kind,
                alert.data.headline,
            )

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


def set_current_event(event: Any) -> None:
    """Make ``event`` the one table writes in this task attribute their changelog records to."""
    _current_event.set(weakref.ref(event))


EMBEDDED_SYNC_GRACE = 0.3
FETCH_WAIT_MS = 20


def _shorten_fetch_wait(app: faust.App, wait_ms: int) -> None:
    """Let the worker's consumer fetch wait at most ``wait_ms`` instead of Faust's fixed 1.5 s.

    A fetch returns as soon as the broker has data on real Kafka, but librdkafka's mock cluster
    (the embedded broker) holds every fetch for the full wait even with data waiting, which made
    each stage add up to 1.5 s of latency there (median produce-to-decision about 0.9 s at
    1,000 articles/s). Faust has no setting for it, so its consumer class is extended. On real
    Kafka a short wait only means more (cheap, empty) fetch requests while the topic is idle.
    """
    transport = app.transport
    base = transport.Consumer

    class Consumer(base):  # type: ignore[misc,valid-type]
        def _new_consumer_thread(self) -> Any:
            thread = super()._new_consumer_thread()
            create = thread._create_worker_consumer

            def create_worker_consumer(*args: Any, **kwargs: Any) -> Any:
                consumer = create(*args, **kwargs)
                consumer._fetch_max_wait_ms = wait_ms
                return consumer

            thread._create_worker_consumer = create_worker_consumer
            return thread

    transport.Consumer = Consumer


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
