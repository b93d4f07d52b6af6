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


def placed_categories(log: Path) -> set[str] | None:
    """The placed categories a worker said it holds after its latest rebalance (None: none yet)."""
    found = None
    for line in log.read_text(errors="replace").splitlines():
        if "stories.assigned" in line:
            words = json.loads(line)["message"].split()
            found = set(words[-1].split("=", 1)[1].split(",")) - {"-"}
    return found


def test_two_workers_build_the_shipped_categories_stories_one_each(tmp_path: Path) -> None:
    """With the default placement, a second worker joining a running one takes one of the two
    shipped categories' partitions (Faust's assignor keeps 2 and 3 and hands over 0 and 1), so
    each worker builds one category's stories."""
    stack = Stack(tmp_path)
    stack.start("broker", "broker")
    try:
        stack.runtime()
        stack.start("w1", "worker", MONITOR_WORKER_ID="w1")
        wait_for(
            lambda: placed_categories(tmp_path / "w1.log") == {"ceasefire", "sanctions"},
            90,
            "the first worker to hold both shipped categories",
        )
        stack.start("w2", "worker", MONITOR_WORKER_ID="w2")

        def split() -> bool:
            held = [placed_categories(tmp_path / f"{w}.log") for w in ("w1", "w2")]
            return held in ([{"ceasefire"}, {"sanctions"}], [{"sanctions"}, {"ceasefire"}])

        wait_for(split, 90, "the two workers to hold one shipped category each")
    finally:
        stack.close()
