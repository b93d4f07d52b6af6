"""The whole pipeline on the demo: real HTTP pollers -> embedded broker -> Faust agents -> alert
topics -> Redis, run by the same orchestrator as ``monitor run --demo``.

The demo corpus labels each item (``event``, ``ceasefire``, ``sanctions``) and names the development
it reports; these tests check the labels against what reached the alert topics.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from agents.runner import run_all
from monitor.backtest import backtest
from monitor.catalog import load_matcher
from monitor.demo import Timeline, load_timeline
from monitor.embedded import read_runtime
from monitor.kafka import (
    ARTICLES_TOPIC,
    DEADLETTER_TOPIC,
    MATCHES_TOPIC,
    alert_topic,
    read_to_end,
    start_consumer,
    start_producer,
)
from monitor.models import Alert, MatchRecord
from monitor.settings import DemoSettings, Settings, WebSettings
from monitor.status import StatusStore
from tests.factories import settings_factory

DEMO_SECONDS = 20.0
CATEGORIES = ("ceasefire", "sanctions")


@dataclass
class DemoRun:
    settings: Settings
    timeline: Timeline
    alerts: list[Alert]
    kafka: str
    redis: str
    output: str


async def wait_for_runtime(settings: Settings, seconds: float = 60) -> tuple[str, str]:
    for _ in range(int(seconds * 10)):
        runtime = read_runtime(settings.runtime_file)
        if runtime and runtime.web:
            return runtime.kafka, runtime.redis
        await asyncio.sleep(0.1)
    raise AssertionError("monitor run did not publish its runtime file")


async def collect_alerts(kafka: str, quiet_for: float, deadline: float) -> list[Alert]:
    """Every alert on the alert topics, read until none arrived for ``quiet_for`` seconds."""
    consumer = await start_consumer(
        kafka, [alert_topic(c) for c in CATEGORIES], from_beginning=True
    )
    loop = asyncio.get_running_loop()
    alerts: list[Alert] = []
    last = loop.time()
    try:
        while loop.time() < deadline and loop.time() - last < quiet_for:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    alerts.append(Alert.from_bytes(record.value))
                    assert record.key == alerts[-1].subject.encode()
                    last = loop.time()
    finally:
        await consumer.stop()
    return alerts


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One accelerated demo run, shared by the assertions below."""
    settings = settings_factory(
        tmp_path_factory.mktemp("demo"),
        web=WebSettings(port=0),
        demo=DemoSettings(speed=180.0 / DEMO_SECONDS, poll_interval=0.25),
    )
    return asyncio.run(_demo_run(settings))


async def _demo_run(settings: Settings) -> DemoRun:
    out = io.StringIO()
    stop = asyncio.Event()
    task = asyncio.create_task(run_all(settings, demo=True, out=out, stop=stop))
    try:
        kafka, redis = await wait_for_runtime(settings)
        loop = asyncio.get_running_loop()
        await asyncio.sleep(DEMO_SECONDS)
        alerts = await collect_alerts(kafka, quiet_for=8.0, deadline=loop.time() + 60)
        replayed = await _backtest_and_live_matches(settings, kafka)
        dead = await _dead_letter_roundtrip(kafka)
        status = StatusStore.from_url(redis)
        snapshot = await status.snapshot()
        await status.close()
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    run = DemoRun(settings, load_timeline(settings.demo_file), alerts, kafka, redis, out.getvalue())
    run.extra = {"dead": dead, "snapshot": snapshot, "replayed": replayed}  # type: ignore[attr-defined]
    return run


async def _backtest_and_live_matches(
    settings: Settings, kafka: str
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(rule -> article ids) a backtest of the shipped rules finds, and the live run matched."""
    report = await backtest(kafka, load_matcher(settings), timedelta(days=1), embedded=True)
    live: dict[str, set[str]] = defaultdict(set)
    async for record in read_to_end(kafka, MATCHES_TOPIC):
        match = MatchRecord.from_bytes(record.value)
        live[match.rule].add(match.article.id)
    return dict(report.matched_ids), dict(live)


async def _dead_letter_roundtrip(kafka: str) -> list[dict[str, object]]:
    """Send an undecodable record to monitor.articles; return what reached the dead-letter topic."""
    producer = await start_producer(kafka)
    await producer.send_and_wait(ARTICLES_TOPIC, key=b"broken-1", value=b"{not json")
    await producer.stop()
    consumer = await start_consumer(kafka, [DEADLETTER_TOPIC], from_beginning=True)
    found: list[dict[str, object]] = []
    try:
        for _ in range(40):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [json.loads(r.value) for r in records]
            if found:
                break
    finally:
        await consumer.stop()
    return found


def titles_by(timeline: Timeline, predicate: object) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    for item in timeline.items:
        if predicate(item):  # type: ignore[operator]
            groups[item.development or item.title].add(item.title)
    return groups


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_development_produces_an_alert(demo_run: DemoRun, category: str) -> None:
    """Each development labelled with the category leads to at least one alert in it, whose
    headline is one of that development's reports (or of a story it joined)."""
    alerted = {a.data.headline for a in demo_run.alerts if a.data.category == category}
    developments = titles_by(demo_run.timeline, lambda i: category in i.labels)
    missed = {d: sorted(t) for d, t in developments.items() if not t & alerted}
    assert developments
    assert not missed, f"developments without a {category} alert: {json.dumps(missed, indent=1)}"


@pytest.mark.parametrize("category", CATEGORIES)
def test_nothing_else_alerts(demo_run: DemoRun, category: str) -> None:
    """No alert is raised by an item that is not a development of that category."""
    wrong = {i.title for i in demo_run.timeline.items if category not in i.labels}
    false_alarms = [
        a.data.headline
        for a in demo_run.alerts
        if a.data.category == category and a.data.headline in wrong
    ]
    assert false_alarms == []


def test_copies_alert_once_and_a_story_updates_at_most_once(demo_run: DemoRun) -> None:
    """A headline several outlets carry raises at most one `new` alert (none when an earlier
    rewrite of it opened the story), not one per outlet; a story raises
    one `new` and at most one `update`. (How well stories match the labelled developments depends
    on arrival order; bench/stories.py measures it.)"""
    outlets = Counter((c, i.title) for i in demo_run.timeline.items for c in i.labels)
    copied = {key for key, n in outlets.items() if n > 1 and key[0] in CATEGORIES}
    news = Counter(
        (a.data.category, a.data.headline) for a in demo_run.alerts if a.data.kind == "new"
    )
    assert copied
    assert all(news[key] <= 1 for key in copied), {key: news[key] for key in copied}
    by_story: dict[str, list[str]] = defaultdict(list)
    for alert in demo_run.alerts:
        by_story[alert.data.story].append(alert.data.kind)
    assert all(sorted(k) in (["new"], ["new", "update"]) for k in by_story.values()), by_story


def test_alerts_are_cloudevents_with_evidence_and_timestamps(demo_run: DemoRun) -> None:
    """Every alert is a CloudEvents 1.0 envelope carrying why it matched and when."""
    assert demo_run.alerts
    for alert in demo_run.alerts:
        assert alert.specversion == "1.0" and alert.subject == alert.data.story
        assert alert.data.evidence and alert.data.link.startswith("https://")
        assert {"fetched", "matched", "emitted", "published"} <= set(alert.data.timestamps)
    assert len({a.id for a in demo_run.alerts}) == len(demo_run.alerts)


def test_run_prints_alerts_and_status_lands_in_redis(demo_run: DemoRun) -> None:
    """The run prints alerts with their why; Redis has counters, feeds and recent alerts."""
    assert "status page: http://127.0.0.1:" in demo_run.output
    assert "why:" in demo_run.output
    snapshot = demo_run.extra["snapshot"]  # type: ignore[attr-defined]
    assert snapshot["counters"]["articles.processed"] >= len(demo_run.timeline.items) * 0.9
    assert {f["status"] for f in snapshot["feeds"]} <= {"ok", "not_modified"}
    assert len(snapshot["feeds"]) == len(demo_run.timeline.outlets)
    assert snapshot["alerts"] and any(h["role"] == "worker" for h in snapshot["heartbeats"])


def test_undecodable_records_go_to_the_dead_letter_topic(demo_run: DemoRun) -> None:
    """A record that is not an Article is dead-lettered with its reason, and the stream goes on."""
    dead = demo_run.extra["dead"]  # type: ignore[attr-defined]
    assert [d["key"] for d in dead] == ["broken-1"]
    assert "Article" in str(dead[0]["reason"]) and dead[0]["value"] == "{not json"


def test_a_backtest_finds_what_the_live_run_matched(demo_run: DemoRun) -> None:
    """Replaying the retained articles through the same rules matches the same articles, rule
    by rule, as the worker did live."""
    backtested, live = demo_run.extra["replayed"]  # type: ignore[attr-defined]
    assert live and backtested == live


def test_the_runtime_file_is_removed_on_stop(demo_run: DemoRun) -> None:
    """After a clean stop nothing points other commands at services that are gone."""
    assert not Path(demo_run.settings.runtime_file).exists()
