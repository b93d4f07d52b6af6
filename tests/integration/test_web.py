"""The status page server against a real Redis: JSON status, live events, metrics, health, outages,
security headers, and the bounded time series behind the charts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from monitor import timeseries
from monitor.rules import MatchSpec, WatchRule
from tests.browser.servers import (
    RestartableRedis,
    alert,
    beat_as_stopped,
    feed_state,
    free_port,
    status_page,
)


async def fetch(url: str) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, dict(resp.headers), await resp.text()


async def status_of(url: str) -> dict[str, Any]:
    status, _, body = await fetch(url + "api/status")
    assert status == 200
    result: dict[str, Any] = json.loads(body)
    return result


def rule(rule_id: str, category: str) -> WatchRule:
    return WatchRule(
        id=rule_id,
        title=f"{category} developments",
        event="trump-putin-call-2025-02-12",
        category=category,
        match=MatchSpec.model_validate({"all": {category: [category]}}),
    )


async def test_page_status_and_health_follow_worker_heartbeats(fresh_redis: str) -> None:
    """/healthz is 503 until a worker beats; /api/status carries feeds and counters; the page and
    its assets have a strict Content-Security-Policy."""
    async with status_page(fresh_redis) as (store, server):
        status, headers, body = await fetch(server.url)
        assert status == 200 and "News monitor" in body
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "default-src 'none'" in csp
        for asset in ("app.js", "charts.js", "style.css"):
            status, headers, _ = await fetch(f"{server.url}static/{asset}")
            assert status == 200 and "Content-Security-Policy" in headers
        assert (await fetch(server.url + "static/../web.py"))[0] == 404
        assert (await fetch(server.url + "healthz"))[0] == 503

        await store.heartbeat("worker", "w1")
        await store.count({"articles.processed": 4})
        await store.save_feed(feed_state())
        status, _, body = await fetch(server.url + "healthz")
        assert status == 200
        data = await status_of(server.url)
        assert data["ok"] is True and data["counters"]["articles.processed"] == 4
        assert data["heartbeats"][0]["stale"] is False
        assert data["feeds"][0]["name"] == "Example News"


async def test_feeds_failing_first_with_the_fields_the_poller_recorded(fresh_redis: str) -> None:
    """Feed rows come failing first, then gone, silent, and the healthy ones by name."""
    async with status_page(fresh_redis) as (store, server):
        await store.save_feed(feed_state(url="https://a.example/rss", name="Alpha"))
        await store.save_feed(
            feed_state(url="https://b.example/rss", name="Bravo", status="failing", failures=3)
        )
        await store.save_feed(
            feed_state(url="https://c.example/rss", name="Charlie", status="gone", last_error="410")
        )
        await store.save_feed(
            feed_state(
                url="https://d.example/rss",
                name="Delta",
                health="unhealthy",
                health_reason="silent for 30.0 h",
            )
        )
        feeds = (await status_of(server.url))["feeds"]
        assert [(f["name"], f["status"]) for f in feeds] == [
            ("Bravo", "failing"),
            ("Charlie", "gone"),
            ("Delta", "silent"),
            ("Alpha", "ok"),
        ]
        assert feeds[0]["failures"] == 3 and feeds[1]["last_error"] == "410"
        assert feeds[2]["note"] == "silent for 30.0 h"
        assert feeds[3]["next_poll"] is not None


async def test_workers_stopped_shows_stale_parts_and_healthz_503(fresh_redis: str) -> None:
    """When the worker stopped beating a minute ago, its heartbeat is stale, the status is not ok
    and says why, and /healthz answers 503 with the reason."""
    async with status_page(fresh_redis) as (store, server):
        await beat_as_stopped(store, "worker", "w1", seconds_ago=60)
        await store.heartbeat("poller", "p1")
        data = await status_of(server.url)
        beats = {b["id"]: b for b in data["heartbeats"]}
        assert beats["w1"]["stale"] is True and beats["w1"]["age"] >= 60
        assert beats["p1"]["stale"] is False
        assert data["ok"] is False
        assert data["problems"] == ["no worker has a fresh heartbeat"]
        status, _, body = await fetch(server.url + "healthz")
        assert status == 503 and "no worker has a fresh heartbeat" in body


async def test_redis_down_is_a_clear_message_and_503_then_recovers(tmp_path: Path) -> None:
    """With Redis stopped, /api/status says Redis is unreachable and what to do, and /healthz is
    503; once Redis is back and a worker beats, both are healthy again with no restart."""
    redis = RestartableRedis(tmp_path / "redis")
    redis.start()
    try:
        async with status_page(redis.url) as (store, server):
            await store.heartbeat("worker", "w1")
            assert (await fetch(server.url + "healthz"))[0] == 200

            redis.stop()
            status, _, body = await fetch(server.url + "healthz")
            assert status == 503 and "Redis unreachable" in body
            data = await status_of(server.url)
            assert data["ok"] is False and data["redis"]["ok"] is False
            assert "MONITOR_REDIS_URL" in data["redis"]["error"]
            assert (await fetch(server.url))[0] == 200
            metrics = (await fetch(server.url + "metrics"))[2]
            assert "monitor_redis_up 0" in metrics

            redis.start()
            await store.heartbeat("worker", "w1")
            status, _, _ = await fetch(server.url + "healthz")
            assert status == 200
            assert (await status_of(server.url))["redis"]["ok"] is True
    finally:
        redis.stop()


async def read_status_event(stream: aiohttp.StreamReader) -> dict[str, Any]:
    """The next ``status`` event's data from a Server-Sent Events stream."""
    event = None
    async for raw in stream:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "status":
            result: dict[str, Any] = json.loads(line.removeprefix("data: "))
            return result
    raise AssertionError("the event stream ended")


async def test_event_stream_pushes_new_alerts_without_polling(fresh_redis: str) -> None:
    """/api/events sends the status at once, then again as it changes: an alert recorded while
    the stream is open arrives on it, with its evidence and latency."""
    async with status_page(fresh_redis) as (store, server):
        await store.heartbeat("worker", "w1")
        async with (
            aiohttp.ClientSession() as session,
            session.get(server.url + "api/events") as resp,
        ):
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            assert "Content-Security-Policy" in resp.headers
            first = await read_status_event(resp.content)
            assert first["alerts"] == []
            await store.record_alerts([alert("Kremlin agrees to energy truce")])
            while True:
                update = await read_status_event(resp.content)
                if update["alerts"]:
                    break
        headline = update["alerts"][0]["data"]["headline"]
        assert headline == "Kremlin agrees to energy truce"
        assert update["alerts"][0]["data"]["evidence"][0]["term"] == "ceasefire"
        assert update["latency"]["fetched"]["count"] == 1
        assert 1.5 < update["latency"]["fetched"]["median"] < 3.0
        assert update["counters"]["alerts.ceasefire"] == 1


async def test_rules_with_hit_counts_and_last_hit(fresh_redis: str) -> None:
    """Rules the worker published are listed with hits and last hit; a rule that fired but is
    no longer active is listed as inactive."""
    async with status_page(fresh_redis) as (store, server):
        await store.record_rules([rule("ceasefire", "ceasefire"), rule("sanctions", "sanctions")])
        latest = alert(rules=["ceasefire"])
        await store.record_alerts([alert(rules=["ceasefire"]), latest])
        await store.record_alerts([alert(rules=["retired-rule"])])
        rules = {r["id"]: r for r in (await status_of(server.url))["rules"]}
        assert rules["ceasefire"]["hits"] == 2 and rules["ceasefire"]["active"] is True
        assert rules["ceasefire"]["last_hit"] == latest.time.timestamp()
        assert rules["sanctions"]["hits"] == 0 and rules["sanctions"]["last_hit"] is None
        assert rules["retired-rule"]["active"] is False


async def test_metrics_are_prometheus_text(fresh_redis: str) -> None:
    """/metrics serves counters, per-category alerts, heartbeat ages, feeds by status, latency
    quantiles and rule hits, each family with HELP and TYPE, label values escaped."""
    async with status_page(fresh_redis) as (store, server):
        await store.heartbeat("worker", "w1")
        await store.count({"articles.processed": 7, "articles.published": 9})
        await store.save_feed(feed_state(url='https://x.example/"quoted"\\feed', status="failing"))
        await store.record_alerts([alert()])
        status, headers, text = await fetch(server.url + "metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert "monitor_articles_processed_total 7" in text
    assert 'monitor_alerts_total{category="ceasefire"} 1' in text
    assert "monitor_pipeline_lag_articles 2" in text
    assert 'monitor_feeds{status="failing"} 1' in text
    assert 'feed="https://x.example/\\"quoted\\"\\\\feed"' in text
    assert 'monitor_alert_latency_seconds{since="fetched",quantile="0.95"}' in text
    assert 'monitor_rule_hits_total{rule="ceasefire"} 1' in text
    sample = re.compile(r'^monitor_[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)+\})? -?[0-9.e+-]+$')
    families = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            families.add(line.split()[2])
        elif not line.startswith("# HELP "):
            assert sample.match(line), line
            assert re.sub(r"[{ ].*", "", line) in families, line


async def test_time_series_stay_bounded_and_windowed(fresh_redis: str) -> None:
    """Six hours of writes, one per bucket, leave at most SLOTS fields per series, and reading
    returns only the last window's buckets, each with its own count."""
    client = aioredis.from_url(fresh_redis, decode_responses=True)
    start = 1_700_000_000.0
    buckets = 2 * timeseries.SLOTS
    try:
        async with client.pipeline(transaction=False) as pipe:
            for i in range(buckets):
                timeseries.queue_add(pipe, {"articles.processed": i + 1}, start + i * 10)
            timeseries.queue_add(pipe, {"articles.processed": 5}, start + (buckets - 1) * 10)
            await pipe.execute()
        assert await client.hlen(timeseries.KEY_PREFIX + "articles.processed") == timeseries.SLOTS
        now = start + (buckets - 1) * 10
        raw = await client.hgetall(timeseries.KEY_PREFIX + "articles.processed")
        window = timeseries.decode(raw, now)
    finally:
        await client.aclose()
    assert len(window) == timeseries.SLOTS
    assert min(window) == timeseries.bucket_of(now) - timeseries.WINDOW_SECONDS + 10
    assert window[timeseries.bucket_of(now)] == buckets + 5
    assert window[timeseries.bucket_of(now - 10)] == buckets - 1


async def test_counts_feed_the_flow_charts(fresh_redis: str) -> None:
    """Counters recorded by pollers and workers, and alerts, show up in the flow chart series."""
    async with status_page(fresh_redis) as (store, server):
        await store.count({"articles.published": 3, "articles.matched": 1})
        await store.record_alerts([alert(), alert(category="sanctions")])
        flow = (await status_of(server.url))["flow"]
    assert sum(flow["series"]["articles.published"]) == 3
    assert sum(flow["series"]["articles.matched"]) == 1
    assert sum(flow["series"]["alerts.ceasefire"]) == 1
    assert sum(flow["series"]["alerts.sanctions"]) == 1
    assert flow["step"] == timeseries.BUCKET_SECONDS
    assert flow["per_minute"]["articles.published"] > 0


async def test_broker_reachability_is_probed_when_known(fresh_redis: str) -> None:
    """Given the Kafka bootstrap, the page reports whether it accepts connections; a closed
    port is reported unreachable, as a problem, without failing the request."""
    async with status_page(fresh_redis, kafka=f"127.0.0.1:{free_port()}") as (store, server):
        await store.heartbeat("worker", "w1")
        data = await status_of(server.url)
    assert data["broker"]["ok"] is False and data["broker"]["error"]
    assert "the Kafka broker is unreachable" in data["problems"]


async def test_broker_reachable(fresh_redis: str, broker: str) -> None:
    """The embedded broker's bootstrap address is reported reachable."""
    async with status_page(fresh_redis, kafka=broker) as (_store, server):
        data = await status_of(server.url)
    assert data["broker"] == {"ok": True, "address": broker, "error": None}
