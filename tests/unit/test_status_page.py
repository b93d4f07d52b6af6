"""The status page's data shaping, without servers: feed rows, staleness, latency, charts, rules,
Prometheus text."""

from __future__ import annotations

import asyncio
import contextlib

from monitor import timeseries
from monitor.dashboard import (
    alert_latency,
    feed_rows,
    feed_status,
    heartbeat_rows,
    percentile,
    rule_rows,
)
from monitor.metrics import metric_name, render_metrics
from monitor.web import Broadcaster

NOW = 1_750_000_000.0


def test_percentile_is_nearest_rank() -> None:
    """Median and p95 pick observed values (nearest rank); no data gives None."""
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.95) == 95
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([], 0.5) is None


def test_alert_latency_from_publication_and_fetch() -> None:
    """Latency is emitted minus published, and emitted minus fetched, per alert; alerts without
    a timestamp are left out of that figure only."""
    alerts = [
        {
            "data": {
                "timestamps": {
                    "published": "2025-03-11T17:00:00+00:00",
                    "fetched": "2025-03-11T17:09:58+00:00",
                    "emitted": "2025-03-11T17:10:00+00:00",
                }
            }
        },
        {
            "data": {
                "timestamps": {
                    "fetched": "2025-03-11T18:00:00+00:00",
                    "emitted": "2025-03-11T18:00:04+00:00",
                }
            }
        },
    ]
    latency = alert_latency(alerts)
    assert latency["published"] == {"count": 1, "median": 600.0, "p95": 600.0}
    assert latency["fetched"] == {"count": 2, "median": 2.0, "p95": 4.0}


def test_heartbeats_older_than_ten_seconds_are_stale() -> None:
    """A part that beat 11 s ago is stale; one that beat 2 s ago is not."""
    rows = heartbeat_rows(
        [
            {"role": "worker", "id": "a", "at": NOW - 11},
            {"role": "worker", "id": "b", "at": NOW - 2},
        ],
        NOW,
    )
    assert [(r["id"], r["stale"], r["age"]) for r in rows] == [("a", True, 11.0), ("b", False, 2.0)]


def test_silent_feed_from_the_pollers_flag_or_from_its_cadence() -> None:
    """A working feed the poller flagged unhealthy is silent; a state without the flag is judged
    from its last new entry and cadence; failing feeds stay failing."""
    assert feed_status({"status": "ok", "health": "unhealthy"}, NOW) == "silent"
    assert feed_status({"status": "not_modified", "health": "healthy"}, NOW) == "not_modified"
    assert feed_status({"status": "failing", "health": "unhealthy"}, NOW) == "failing"
    old = {"status": "ok", "last_new": NOW - 7 * 3600, "cadence": 600.0}
    assert feed_status(old, NOW) == "silent"
    assert feed_status({**old, "cadence": 4 * 3600.0}, NOW) == "ok"
    assert feed_status({"status": "ok"}, NOW) == "ok"


def test_feed_rows_failing_first_and_missing_fields_as_none() -> None:
    """Rows sort failing, gone, silent, new, not modified, ok, then by name; a state from an
    older poller (no cadence, no next check) still renders with None for what it lacks."""
    rows = feed_rows(
        [
            {"url": "u1", "name": "b", "status": "ok"},
            {"url": "u2", "name": "a", "status": "ok"},
            {"url": "u3", "name": "z", "status": "failing", "failures": 2},
            {"url": "u4", "name": "y", "status": "gone"},
            {"url": "u5", "name": "x", "status": "ok", "health": "unhealthy"},
            {"url": "u6", "status": "new"},
        ],
        NOW,
    )
    assert [r["name"] for r in rows] == ["z", "y", "x", "u6", "a", "b"]
    assert rows[-1]["cadence"] is None and rows[-1]["next_poll"] is None


def test_rule_rows_merge_published_rules_and_hits() -> None:
    """Published rules are active with zero hits until they fire; hits of a rule no longer
    published mark it inactive; with no published set, activity is unknown (None)."""
    rows = rule_rows(
        [
            {"id": "ceasefire", "category": "ceasefire"},
            {"id": "sanctions", "category": "sanctions"},
        ],
        {"ceasefire": 3, "old": 1},
        {"ceasefire": NOW},
    )
    assert [(r["id"], r["hits"], r["active"]) for r in rows] == [
        ("ceasefire", 3, True),
        ("old", 1, False),
        ("sanctions", 0, True),
    ]
    assert rule_rows([], {"ceasefire": 1}, {})[0]["active"] is None


def test_aggregate_cuts_the_span_into_at_most_sixty_bars() -> None:
    """Bars cover at least five minutes and at most the window; counts land in their bar, and
    a long history widens each bar instead of adding bars."""
    now = timeseries.bucket_of(NOW) + 5
    recent = {now - 30: 2, now - 10: 3}
    chart = timeseries.aggregate(
        {"a": {timeseries.bucket_of(t): n for t, n in recent.items()}}, now
    )
    assert chart.step == timeseries.BUCKET_SECONDS and len(chart.series["a"]) == 30
    assert sum(chart.series["a"]) == 5 and chart.series["a"][-2] == 3

    old = timeseries.bucket_of(now - 2 * 3600)
    chart = timeseries.aggregate({"a": {old: 7, timeseries.bucket_of(now): 1}}, now)
    assert len(chart.series["a"]) <= timeseries.MAX_BARS
    assert chart.step % timeseries.BUCKET_SECONDS == 0 and chart.step > timeseries.BUCKET_SECONDS
    assert sum(chart.series["a"]) == 8
    assert chart.start <= old < chart.start + chart.step


def test_metric_names_and_redis_down_metrics() -> None:
    """Counter names become valid metric names; with Redis down only the up gauges are served."""
    assert metric_name("articles.processed") == "articles_processed"
    assert metric_name("9-lives") == "_9_lives"
    text = render_metrics({"ok": False, "redis": {"ok": False}, "broker": {"ok": None}})
    assert "monitor_redis_up 0" in text and "monitor_healthy 0" in text
    assert "broker_up" not in text and text.endswith("\n")


async def test_broadcaster_shares_one_reader_and_stops_when_nobody_listens() -> None:
    """Two open pages get the same produced status; once both leave, production stops."""
    calls = 0

    async def produce() -> str:
        nonlocal calls
        calls += 1
        return f"status {calls}"

    feed = Broadcaster(produce, tick=0.01)
    async with contextlib.aclosing(feed.listen()) as one, contextlib.aclosing(feed.listen()) as two:
        first = await anext(one)
        assert first == "status 1"
        assert await anext(two) in ("status 1", "status 2")
    await asyncio.sleep(0.1)
    assert feed._task is not None and feed._task.done()
    stopped_at = calls
    await asyncio.sleep(0.05)
    assert calls == stopped_at
    await feed.close()
