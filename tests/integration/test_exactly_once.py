"""A worker killed mid-stream (SIGKILL) and restarted delivers every alert exactly once.

The story stage reads ``monitor.matches`` one partition per category, in offset order, so its
alerts are a pure function of that order: replaying the committed matches through the same story
step gives the alert ids a crash-free run emits. The test compares them with the committed alerts.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import redis

from monitor.catalog import load_matcher
from monitor.demo import item_link, load_timeline
from monitor.kafka import ARTICLES_TOPIC, MATCHES_TOPIC, read_to_end
from monitor.models import Alert, Article, MatchRecord, Source
from monitor.pipeline import story_step
from monitor.settings import load_settings
from monitor.stories import StoryIndex
from tests.integration.test_rules_live import Stack, produce, wait_for

CATEGORIES = ("ceasefire", "sanctions")


def demo_articles() -> list[Article]:
    settings = load_settings()
    timeline = load_timeline(settings.demo_file)
    fetched = datetime.now(UTC)
    return [
        Article(
            id=item_link(timeline, item),
            title=item.title,
            summary=item.summary,
            link=item_link(timeline, item),
            language=timeline.outlet(item.outlet).language,
            source=Source(
                url=f"https://{item.outlet}.example/feed", name=timeline.outlet(item.outlet).name
            ),
            published=item.published,
            fetched=fetched,
        )
        for item in timeline.items
    ]


def read_values(bootstrap: str, topic: str) -> list[bytes]:
    async def collect() -> list[bytes]:
        return [r.value async for r in read_to_end(bootstrap, topic) if r.value is not None]

    return asyncio.run(collect())


def replayed_alert_ids(bootstrap: str) -> set[str]:
    """The alert ids the committed matches lead to, replayed in their order."""
    index = StoryIndex()
    ids = set()
    for raw in read_values(bootstrap, MATCHES_TOPIC):  # per partition in offset order
        record = MatchRecord.from_bytes(raw)
        _, alert = story_step(index, record)
        if alert is not None:
            ids.add(alert.id)
    return ids


def test_sigkill_and_restart_neither_duplicates_nor_loses_alerts(tmp_path: Path) -> None:
    """Kill the worker with SIGKILL halfway through the demo's articles, restart it, finish:
    every committed alert id is unique and equals what a crash-free run of the same order gives,
    and re-sent articles add no match records."""
    stack = Stack(tmp_path)
    guarantee = {"MONITOR_WORKER_ID": "w"}  # the default guarantee (agents/config.py: what holds)
    stack.start("broker", "broker")
    try:
        runtime = stack.runtime()
        bootstrap, r = str(runtime["kafka"]), redis.Redis.from_url(str(runtime["redis"]))
        stack.start("worker", "worker", **guarantee)
        wait_for(lambda: r.hget("monitor:heartbeats", "worker:w"), 90, "the worker to start")
        articles = demo_articles()
        half = len(articles) // 2
        # each half with re-sends of three of its articles, most likely in the same batch
        first = articles[:half] + articles[:3]
        produce(bootstrap, ARTICLES_TOPIC, [(a.id.encode(), a.to_bytes()) for a in first])
        wait_for(
            lambda: int(r.hget("monitor:counters", "articles.processed") or 0) > half // 2,
            60,
            "the worker to be mid-stream",
        )
        stack.procs["worker"].send_signal(signal.SIGKILL)
        stack.procs.pop("worker").wait(10)

        second = articles[half:] + articles[half : half + 3]
        produce(bootstrap, ARTICLES_TOPIC, [(a.id.encode(), a.to_bytes()) for a in second])
        stack.start("worker2", "worker", **guarantee)

        expected_matches = expected_match_count(articles)
        wait_for(
            lambda: len(read_values(bootstrap, MATCHES_TOPIC)) >= expected_matches,
            180,
            "the restarted worker to match every article",
        )
        expected = replayed_alert_ids(bootstrap)
        alerts: list[Alert] = []

        def caught_up() -> bool:
            alerts[:] = [
                Alert.from_bytes(v)
                for c in CATEGORIES
                for v in read_values(bootstrap, f"alerts.{c}")
            ]
            return {a.id for a in alerts} >= expected

        wait_for(caught_up, 120, "the story stage to emit the replayed alerts")
        time.sleep(3)  # anything duplicated late would show now
        caught_up()
        counts = Counter(a.id for a in alerts)
        assert [i for i, n in counts.items() if n > 1] == []
        assert set(counts) == expected
        assert len(expected) > 20
        assert len(read_values(bootstrap, MATCHES_TOPIC)) == expected_matches
    finally:
        stack.close()


def expected_match_count(articles: list[Article]) -> int:
    """Match records a crash-free worker writes: one per rule hit per distinct article id."""
    matcher = load_matcher(load_settings())
    distinct = {a.id: a for a in articles}
    return sum(len(matcher.match(a).hits) for a in distinct.values())
