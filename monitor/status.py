"""The Redis-backed status store: feed states, counters, recent alerts, heartbeats.

Redis holds state for people and pollers only; Kafka is the system of record. Every write here is
best-effort from the pipeline's point of view: losing Redis never loses an alert.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis

from monitor import timeseries
from monitor.models import Alert
from monitor.rules import WatchRule
from monitor.schedule import FeedState

PREFIX = "monitor:"
RECENT_ALERTS = 200
SEEN_PER_FEED = 5000
RULES_REFRESH = 60.0
DELIVERED_KEPT = 100_000  # alert ids remembered per delivery target


class StatusStore:
    """Typed access to the monitor's keys in Redis."""

    def __init__(self, client: aioredis.Redis):
        self.redis = client
        self._rules_written: tuple[str, float] | None = None

    @classmethod
    def from_url(cls, url: str) -> StatusStore:
        return cls(
            aioredis.from_url(
                url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5
            )
        )

    async def close(self) -> None:
        await self.redis.aclose()

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    # feeds -----------------------------------------------------------------------------------
    async def load_feed(self, url: str, name: str, interval: float) -> FeedState:
        raw = await self.redis.hget(f"{PREFIX}feeds", url)
        if raw:
            return FeedState.model_validate_json(raw).model_copy(
                update={"name": name, "interval": interval}
            )
        return FeedState(url=url, name=name, interval=interval)

    async def save_feed(self, state: FeedState) -> None:
        await self.redis.hset(f"{PREFIX}feeds", state.url, state.model_dump_json())

    async def feeds(self) -> list[FeedState]:
        raw = await self.redis.hgetall(f"{PREFIX}feeds")
        return [FeedState.model_validate_json(v) for v in raw.values()]

    async def unseen(self, feed_url: str, ids: list[str]) -> list[str]:
        """Which of these article ids this feed has not published before."""
        if not ids:
            return []
        scores = await self.redis.zmscore(f"{PREFIX}seen:{feed_url}", ids)
        return [i for i, s in zip(ids, scores, strict=True) if s is None]

    async def mark_seen(self, feed_url: str, ids: Iterable[str], now: float) -> None:
        key = f"{PREFIX}seen:{feed_url}"
        mapping = dict.fromkeys(ids, now)
        if not mapping:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, mapping)
            pipe.zremrangebyrank(key, 0, -SEEN_PER_FEED - 1)
            await pipe.execute()

    async def published_versions(self, feed_url: str, ids: list[str]) -> list[str | None]:
        """For each article id, ``"<revision>:<fingerprint>"`` as last published, or None."""
        if not ids:
            return []
        values = await self.redis.hmget(f"{PREFIX}versions:{feed_url}", ids)
        return [str(v) if v is not None else None for v in values]

    async def mark_published(self, feed_url: str, versions: Mapping[str, str], now: float) -> None:
        """Remember what was published (id -> ``"<revision>:<fingerprint>"``), newest 5,000 kept."""
        if not versions:
            return
        seen, fps = f"{PREFIX}seen:{feed_url}", f"{PREFIX}versions:{feed_url}"
        async with self.redis.pipeline(transaction=False) as pipe:
            # redis-py's Mapping parameter is invariant, so dict[str, str] needs the ignore
            pipe.hset(fps, mapping=dict(versions))  # type: ignore[arg-type]
            pipe.zadd(seen, dict.fromkeys(versions, now))
            pipe.zcard(seen)
            results = await pipe.execute()
        size = int(results[-1])
        if size > SEEN_PER_FEED:
            dropped = await self.redis.zpopmin(seen, size - SEEN_PER_FEED)
            if dropped:
                await self.redis.hdel(fps, *[str(pair[0]) for pair in dropped])

    async def set_backlog(self, ident: str, size: int) -> None:
        """How many accepted articles a poller still holds for Kafka (0 when all delivered)."""
        await self.redis.hset(f"{PREFIX}backlog", ident, size)

    async def backlogs(self) -> dict[str, int]:
        raw = await self.redis.hgetall(f"{PREFIX}backlog")
        return {str(k): int(v) for k, v in raw.items()}

    # counters and alerts ---------------------------------------------------------------------
    async def count(self, counts: Mapping[str, int]) -> None:
        """Add to named counters, and to their time series, in one round trip."""
        counts = {k: v for k, v in counts.items() if v}
        if not counts:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for name, value in counts.items():
                pipe.hincrby(f"{PREFIX}counters", name, value)
            timeseries.queue_add(pipe, counts, time.time())
            await pipe.execute()

    async def counters(self) -> dict[str, int]:
        raw = await self.redis.hgetall(f"{PREFIX}counters")
        return {str(k): int(v) for k, v in raw.items()}

    async def record_alerts(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        per_category = Counter(f"alerts.{a.data.category}" for a in alerts)
        async with self.redis.pipeline(transaction=False) as pipe:
            for alert in alerts:
                pipe.lpush(f"{PREFIX}alerts", alert.model_dump_json())
                pipe.hincrby(f"{PREFIX}counters", f"alerts.{alert.data.category}", 1)
                for rule in alert.data.rules:
                    pipe.hincrby(f"{PREFIX}rule_hits", rule, 1)
                    pipe.hset(f"{PREFIX}rule_last_hit", rule, str(alert.time.timestamp()))
            pipe.ltrim(f"{PREFIX}alerts", 0, RECENT_ALERTS - 1)
            timeseries.queue_add(pipe, per_category, time.time())
            await pipe.execute()

    async def recent_alerts(self, limit: int = 50) -> list[dict[str, Any]]:
        raw = await self.redis.lrange(f"{PREFIX}alerts", 0, limit - 1)
        return [json.loads(r) for r in raw]

    async def rule_hits(self) -> dict[str, int]:
        raw = await self.redis.hgetall(f"{PREFIX}rule_hits")
        return {str(k): int(v) for k, v in raw.items()}

    async def rule_last_hits(self) -> dict[str, float]:
        """When each rule last fired an alert (epoch seconds)."""
        raw = await self.redis.hgetall(f"{PREFIX}rule_last_hit")
        return {str(k): float(v) for k, v in raw.items()}

    async def record_rules(self, rules: Sequence[WatchRule], now: float | None = None) -> None:
        """Publish the active rule set for the status page; writes only when it changed (or
        once a minute, in case Redis lost it), so a worker may call this on every heartbeat."""
        now = time.time() if now is None else now
        entries = {
            r.id: json.dumps(
                {"id": r.id, "title": r.title, "category": r.category, "severity": r.severity}
            )
            for r in rules
        }
        fingerprint = json.dumps(entries, sort_keys=True)
        last = self._rules_written
        if last and last[0] == fingerprint and now - last[1] < RULES_REFRESH:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(f"{PREFIX}rules")
            for rule_id, entry in entries.items():
                pipe.hset(f"{PREFIX}rules", rule_id, entry)
            await pipe.execute()
        self._rules_written = (fingerprint, now)

    async def active_rules(self) -> list[dict[str, Any]]:
        """The rule set a worker published with :meth:`record_rules` (empty if none did)."""
        raw = await self.redis.hgetall(f"{PREFIX}rules")
        return [json.loads(v) for v in raw.values()]

    async def series(
        self, names: Iterable[str], now: float | None = None
    ) -> dict[str, dict[int, int]]:
        """Per-bucket counts of the named counters over the last hours (see ``timeseries``)."""
        now = time.time() if now is None else now
        names = list(names)
        if not names:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            timeseries.queue_read(pipe, names)
            (raws,) = await pipe.execute()
        return {n: timeseries.decode(r, now) for n, r in zip(names, raws, strict=True)}

    # alert delivery (webhooks, Apprise; see monitor/delivery.py) ------------------------------
    # Per target (key "webhook:<id>" or "apprise:<id>"): a hash of its status, a sorted set of
    # the alert ids it has handled (delivered or dead-lettered; newest DELIVERED_KEPT kept) and
    # short-lived claims so two delivery processes never POST the same alert at once.
    async def delivery_since(self, target: str, now: float) -> float:
        """When this target was first delivered to (set to ``now`` on the first call)."""
        key = f"{PREFIX}delivery:{target}:since"
        await self.redis.set(key, str(now), nx=True)
        value = await self.redis.get(key)
        return float(value) if value is not None else now

    async def delivery_done(self, target: str, alert_id: str) -> bool:
        """Whether this target already got (or dead-lettered) this alert id."""
        score = await self.redis.zscore(f"{PREFIX}delivery:{target}:done", alert_id)
        return score is not None

    async def claim_delivery(self, target: str, alert_id: str, owner: str, ttl: float) -> bool:
        """Take the right to deliver this alert to this target for ``ttl`` seconds."""
        key = f"{PREFIX}delivery:{target}:claim:{alert_id}"
        taken = await self.redis.set(key, owner, nx=True, px=max(1, int(ttl * 1000)))
        if taken:
            return True
        return bool(await self.redis.get(key) == owner)

    async def record_delivered(
        self, target: str, alert_id: str, where: str, now: float, *, dead_letter: str | None = None
    ) -> None:
        """The alert is handled: delivered, or (with ``dead_letter``, the reason) given up on."""
        status = f"{PREFIX}delivery:{target}"
        done = f"{PREFIX}delivery:{target}:done"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(done, {alert_id: now})
            pipe.zremrangebyrank(done, 0, -DELIVERED_KEPT - 1)
            pipe.sadd(f"{PREFIX}delivery:targets", target)
            pipe.hset(status, "where", where)
            if dead_letter is None:
                pipe.hincrby(status, "delivered", 1)
                pipe.hset(status, mapping={"last_success": now, "failures": 0})
            else:
                pipe.hincrby(status, "dead_lettered", 1)
                pipe.hset(status, mapping={"last_dead_letter": now, "last_error": dead_letter})
            pipe.hset(status, "last_alert", alert_id)
            pipe.delete(f"{PREFIX}delivery:{target}:claim:{alert_id}")
            await pipe.execute()

    async def record_delivery_failure(
        self, target: str, where: str, error: str, now: float
    ) -> None:
        """One failed try: ``failures`` counts tries failed in a row, ``failed`` all of them."""
        status = f"{PREFIX}delivery:{target}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(f"{PREFIX}delivery:targets", target)
            pipe.hincrby(status, "failures", 1)
            pipe.hincrby(status, "failed", 1)
            pipe.hset(status, mapping={"where": where, "last_error": error, "last_error_at": now})
            await pipe.execute()

    async def deliveries(self) -> dict[str, dict[str, Any]]:
        """Each target's delivery status: where, delivered, failed, failures (in a row),
        dead_lettered, last_success, last_error, last_error_at, last_dead_letter, last_alert."""
        targets = sorted(str(t) for t in await self.redis.smembers(f"{PREFIX}delivery:targets"))
        out: dict[str, dict[str, Any]] = {}
        for target in targets:
            raw = await self.redis.hgetall(f"{PREFIX}delivery:{target}")
            row: dict[str, Any] = {}
            for field, value in raw.items():
                name = str(field)
                if name in ("delivered", "failed", "failures", "dead_lettered"):
                    row[name] = int(value)
                elif name in ("last_success", "last_error_at", "last_dead_letter"):
                    row[name] = float(value)
                else:
                    row[name] = value
            out[target] = row
        return out

    # heartbeats ------------------------------------------------------------------------------
    async def heartbeat(self, role: str, ident: str, info: Mapping[str, Any] | None = None) -> None:
        payload = {"role": role, "id": ident, "at": time.time(), **(info or {})}
        await self.redis.hset(f"{PREFIX}heartbeats", f"{role}:{ident}", json.dumps(payload))

    async def heartbeats(self) -> list[dict[str, Any]]:
        raw = await self.redis.hgetall(f"{PREFIX}heartbeats")
        return [json.loads(v) for v in raw.values()]

    async def snapshot(self) -> dict[str, Any]:
        """Everything the status page shows."""
        return {
            "counters": await self.counters(),
            "feeds": [f.model_dump() for f in sorted(await self.feeds(), key=_feed_order)],
            "alerts": await self.recent_alerts(),
            "rules": await self.rule_hits(),
            "heartbeats": await self.heartbeats(),
        }


def _feed_order(state: FeedState) -> tuple[int, str]:
    rank = {"failing": 0, "gone": 1, "new": 2}.get(state.status, 3)
    return rank, state.name
