"""Each category's match records go to the ``monitor.matches`` partition the settings give it
(MONITOR_STREAM__STORY_PARTITIONS), so the worker holding that partition builds its stories."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import redis

from monitor.kafka import ARTICLES_TOPIC, MATCHES_TOPIC, read_to_end
from monitor.models import MatchRecord
from tests.integration.test_exactly_once import demo_articles, expected_match_count, read_values
from tests.integration.test_rules_live import Stack, produce, wait_for

PLACEMENT = {"ceasefire": 2, "sanctions": 1}  # not the default, and not where the names hash to


def partitions_by_category(bootstrap: str) -> dict[str, set[int]]:
    async def collect() -> dict[str, set[int]]:
        found: dict[str, set[int]] = {}
        async for record in read_to_end(bootstrap, MATCHES_TOPIC):
            assert record.value is not None
            category = MatchRecord.from_bytes(record.value).category
            found.setdefault(category, set()).add(record.partition)
        return found

    return asyncio.run(collect())


def test_match_records_go_to_their_categorys_configured_partition(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    stack.start("broker", "broker")
    try:
        runtime = stack.runtime()
        bootstrap, r = str(runtime["kafka"]), redis.Redis.from_url(str(runtime["redis"]))
        stack.start(
            "worker",
            "worker",
            MONITOR_WORKER_ID="w",
            MONITOR_STREAM__STORY_PARTITIONS=json.dumps(PLACEMENT),
        )
        wait_for(lambda: r.hget("monitor:heartbeats", "worker:w"), 90, "the worker to start")
        articles = demo_articles()
        produce(bootstrap, ARTICLES_TOPIC, [(a.id.encode(), a.to_bytes()) for a in articles])
        expected = expected_match_count(articles)
        wait_for(
            lambda: len(read_values(bootstrap, MATCHES_TOPIC)) >= expected,
            120,
            "the worker to match every article",
        )
        assert partitions_by_category(bootstrap) == {c: {p} for c, p in PLACEMENT.items()}
        for category in PLACEMENT:  # the stories of both were built from there
            wait_for(
                lambda c=category: read_values(bootstrap, f"alerts.{c}"),  # type: ignore[misc]
                60,
                f"alerts on alerts.{category}",
            )
    finally:
        stack.close()
