"""What the status page shows, gathered from Redis into one JSON-ready dict.

:func:`collect_status` reads the status store and never raises for a Redis outage: the result then
says Redis is unreachable and what to do. The helpers that shape the data (feed rows, heartbeat
freshness, alert latency, rules) are pure and take ``now``, so they are tested without servers.

The same dict is served as ``/api/status``, pushed to the page over Server-Sent Events and turned
into Prometheus metrics (``monitor.metrics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError

from monitor import timeseries
from monitor.status import StatusStore

log = logging.getLogger(__name__)

STALE_AFTER = 10.0
ALERTS_SHOWN = 50
EVIDENCE_SHOWN = 6
SILENT_AFTER = 6 * 3600.0
SILENCE_FACTOR = 3.0
BROKER_PROBE_TIMEOUT = 1.0
FEED_ORDER = {"failing": 0, "gone": 1, "silent": 2, "new": 3, "not_modified": 4, "ok": 5}
FLOW_SERIES = ("articles.published", "articles.processed", "articles.matched")


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (``fraction`` in 0..1) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def alert_latency(alerts: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Median and 95th percentile seconds from publication and from fetch to the alert."""
    gaps: dict[str, list[float]] = {"published": [], "fetched": []}
    for alert in alerts:
        stamps = alert.get("data", {}).get("timestamps", {})
        emitted = _epoch(stamps.get("emitted"))
        if emitted is None:
            continue
        for start in gaps:
            began = _epoch(stamps.get(start))
            if began is not None:
                gaps[start].append(max(0.0, emitted - began))
    return {
        start: {
            "count": len(values),
            "median": percentile(values, 0.5),
            "p95": percentile(values, 0.95),
        }
        for start, values in gaps.items()
    }


def heartbeat_rows(beats: Iterable[Mapping[str, Any]], now: float) -> list[dict[str, Any]]:
    """Each poller's and worker's last beat with its age; beats older than STALE_AFTER are stale."""
    rows = []
    for beat in beats:
        age = max(0.0, now - float(beat.get("at", 0)))
        rows.append({**beat, "age": round(age, 1), "stale": age > STALE_AFTER})
    return sorted(rows, key=lambda b: (str(b.get("role")), str(b.get("id"))))


def feed_status(feed: Mapping[str, Any], now: float) -> str:
    """ok, not_modified, failing, gone, new, or silent: polled fine but nothing new for too long.

    The poller flags silence (``health`` unhealthy while fetches work); a state written by an
    older poller without that flag is judged here from ``last_new`` and ``cadence`` the same way.
    """
    status = str(feed.get("status") or "new")
    if status not in ("ok", "not_modified"):
        return status
    if "health" in feed:
        return "silent" if feed["health"] == "unhealthy" else status
    last_new, cadence = _epoch(feed.get("last_new")), _epoch(feed.get("cadence"))
    if (
        last_new is not None
        and cadence
        and now - last_new > max(SILENCE_FACTOR * cadence, SILENT_AFTER)
    ):
        return "silent"
    return status


def feed_rows(feeds: Iterable[Mapping[str, Any]], now: float) -> list[dict[str, Any]]:
    """One row per feed, failing first; fields the poller does not record are None."""
    rows = []
    for feed in feeds:
        status = feed_status(feed, now)
        rows.append(
            {
                "url": feed.get("url"),
                "name": feed.get("name") or feed.get("url"),
                "status": status,
                "last_success": _epoch(feed.get("last_success")),
                "last_error": feed.get("last_error"),
                "note": feed.get("health_reason"),
                "last_new": _epoch(feed.get("last_new")),
                "failures": feed.get("failures"),
                "next_poll": _epoch(feed.get("next_check", feed.get("next_poll"))),
                "new_items": feed.get("new_items"),
                "total_items": feed.get("total_items"),
                "cadence": _epoch(feed.get("cadence")),
                "interval": _epoch(feed.get("interval")),
                "backlog": feed.get("backlog"),
            }
        )
    return sorted(rows, key=lambda r: (FEED_ORDER.get(r["status"], 6), str(r["name"]).casefold()))


def rule_rows(
    active: Sequence[Mapping[str, Any]], hits: Mapping[str, int], last_hit: Mapping[str, float]
) -> list[dict[str, Any]]:
    """Active rules with hit counts and last hit; rules that fired but are no longer published
    by a worker are listed as inactive (or as unknown when no worker published its rules)."""
    rows = {
        str(r["id"]): {**r, "active": True, "hits": 0, "last_hit": None}
        for r in active
        if "id" in r
    }
    for rule, count in hits.items():
        row = rows.setdefault(rule, {"id": rule, "active": False if active else None})
        row["hits"] = count
        row["last_hit"] = last_hit.get(rule)
    return sorted(rows.values(), key=lambda r: (-int(r.get("hits") or 0), str(r["id"])))


def _trim_alert(alert: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(alert.get("data", {}))
    data["evidence"] = list(data.get("evidence", []))[:EVIDENCE_SHOWN]
    return {**alert, "data": data}


def _sum_known(values: Iterable[Any]) -> int | None:
    known = [int(v) for v in values if isinstance(v, int | float)]
    return sum(known) if known else None


class BrokerProbe:
    """Whether the Kafka bootstrap address accepts TCP connections; cached for a few seconds."""

    def __init__(self, bootstrap: str | None, ttl: float = 5.0):
        self.bootstrap = bootstrap
        self.ttl = ttl
        self._cached: tuple[float, dict[str, Any]] | None = None

    async def check(self, now: float) -> dict[str, Any]:
        if not self.bootstrap:
            return {"ok": None, "address": None, "error": "not known to this status page"}
        if self._cached and now - self._cached[0] < self.ttl:
            return self._cached[1]
        result = await self._connect()
        self._cached = (now, result)
        return result

    async def _connect(self) -> dict[str, Any]:
        assert self.bootstrap is not None
        errors = []
        for address in self.bootstrap.split(","):
            host, _, port = address.strip().rpartition(":")
            try:
                _reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, int(port)), BROKER_PROBE_TIMEOUT
                )
            except (OSError, ValueError, TimeoutError) as exc:
                errors.append(f"{address}: {exc or type(exc).__name__}")
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return {"ok": True, "address": self.bootstrap, "error": None}
        return {"ok": False, "address": self.bootstrap, "error": "; ".join(errors)}


async def collect_status(
    store: StatusStore, broker: BrokerProbe | None = None, now: float | None = None
) -> dict[str, Any]:
    """Everything on the page; with Redis down, a clear message instead of an exception."""
    now = time.time() if now is None else now
    broker_state = await (broker or BrokerProbe(None)).check(now)
    try:
        snapshot = await store.snapshot()
        active = await store.active_rules()
        last_hit = await store.rule_last_hits()
        backlogs = await store.backlogs()
        names = sorted(
            {*FLOW_SERIES, *(n for n in snapshot["counters"] if n.startswith("alerts."))}
        )
        series = await store.series(names, now)
    except (RedisError, OSError) as exc:
        log.warning("status.redis_unreachable error=%s", exc)
        return {
            "ok": False,
            "at": now,
            "problems": ["Redis is unreachable: the page shows nothing until it is back"],
            "redis": {
                "ok": False,
                "error": f"Redis unreachable: {exc}. Start redis-server (or `monitor run`), "
                "or check MONITOR_REDIS_URL; this page retries by itself.",
            },
            "broker": broker_state,
        }
    beats = heartbeat_rows(snapshot["heartbeats"], now)
    feeds = feed_rows(snapshot["feeds"], now)
    counters: dict[str, int] = snapshot["counters"]
    live_workers = [b for b in beats if b.get("role") == "worker" and not b["stale"]]
    problems = []
    if not live_workers:
        problems.append("no worker has a fresh heartbeat")
    if broker_state["ok"] is False:
        problems.append("the Kafka broker is unreachable")
    chart = timeseries.aggregate(series, now)
    published, processed = counters.get("articles.published"), counters.get("articles.processed")
    return {
        "ok": bool(live_workers),
        "at": now,
        "problems": problems,
        "redis": {"ok": True, "error": None},
        "broker": broker_state,
        "heartbeats": beats,
        "pipeline": {
            "lag": max(0, published - processed)
            if published is not None and processed is not None
            else None,
            "backlog": _sum_known(backlogs.values())
            if backlogs
            else _sum_known(
                [f["backlog"] for f in feeds]
                + [b.get("backlog") for b in beats if b.get("role") == "poller"]
            ),
            "worker_lag": _sum_known(b.get("lag") for b in live_workers),
        },
        "counters": counters,
        "feeds": feeds,
        "flow": {
            **chart.to_dict(),
            "per_minute": {n: timeseries.per_minute(b, now) for n, b in series.items()},
        },
        "alerts": [_trim_alert(a) for a in snapshot["alerts"][:ALERTS_SHOWN]],
        "latency": alert_latency(snapshot["alerts"]),
        "rules": rule_rows(active, snapshot["rules"], last_hit),
    }
