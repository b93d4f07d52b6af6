"""The Faust app factory. Agents decode, call one ``monitor`` function, send, and record status.

Two stages, so that story state has one owner per category:

    monitor.articles --[match_articles: dedupe, match]--> monitor.matches (keyed by category)
    monitor.matches  --[build_stories: group, decide]---> alerts.<category> (keyed by story id)

Faust's types are loose (``Any`` streams and events), so this package is not under mypy strict.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust

from agents.config import faust_options
from monitor.embedded import Endpoints
from monitor.kafka import ARTICLES_TOPIC, DEADLETTER_TOPIC, MATCHES_TOPIC
from monitor.models import Article, MatchRecord, RecordError
from monitor.pipeline import Tally, dead_letter, match_article, story_step
from monitor.rulebook import RuleBook
from monitor.settings import Settings
from monitor.status import StatusStore

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 1.0
DEDUPE_TABLE = "seen_articles"
STORIES_TABLE = "stories"


def create_app(settings: Settings, endpoints: Endpoints, rules: RuleBook) -> faust.App:
    """A Faust app wired to the given broker, Redis and live rule set."""
    # topics, partitions, processing guarantee and table store: see agents/config.py
    app = faust.App(settings.app_id, **faust_options(settings, endpoints))
    if endpoints.embedded:
        _let_followers_sync_first(app)
    status = StatusStore.from_url(endpoints.redis)
    tally = Tally()
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    articles = app.topic(ARTICLES_TOPIC, **raw)
    matches = app.topic(MATCHES_TOPIC, **raw)
    deadletters = app.topic(DEADLETTER_TOPIC, **raw)
    seen = app.Table(DEDUPE_TABLE, default=None)  # partitions: the app's, like the topics'
    stories = app.Table(STORIES_TABLE, default=list)
    alert_topics: dict[str, Any] = {}

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
        async for event in stream.events():
            try:
                article = Article.from_bytes(event.value)
            except RecordError as exc:
                await to_dead_letter(event, str(exc))
                continue
            tally.add("articles.processed")
            if (seen.get(article.id) or 0) >= article.revision:  # this version was matched before
                tally.add("articles.duplicate")
                continue
            seen[article.id] = article.revision
            try:
                records = match_article(rules.matcher, article)
            except Exception as exc:  # a bug on one article must not stop the stream
                log.exception("article.match_failed id=%s", article.id)
                await to_dead_letter(event, f"matching failed: {type(exc).__name__}: {exc}")
                continue
            if records:
                tally.add("articles.matched")
            for record in records:
                await matches.send(key=record.category.encode(), value=record.to_bytes())

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
            await status.record_alerts([alert])
            log.info(
                "alert.emitted topic=%s story=%s kind=%s headline=%r",
                record.topic,
                alert.subject,
                alert.data.kind,
                alert.data.headline,
            )

    @app.timer(HEARTBEAT_SECONDS)
    async def heartbeat() -> None:
        try:
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
