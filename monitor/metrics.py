"""The status page's data as Prometheus text exposition format (version 0.0.4), for ``/metrics``.

Written by hand from the dict ``monitor.dashboard.collect_status`` returns; no client library is
needed for a dozen families. Counters keep the store's names: ``articles.processed`` becomes
``monitor_articles_processed_total``; ``alerts.<category>`` becomes
``monitor_alerts_total{category="..."}``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

PREFIX = "monitor_"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(name: str) -> str:
    """A valid metric name from a counter name (dots and dashes become underscores)."""
    cleaned = _UNSAFE.sub("_", name)
    return cleaned if not cleaned[:1].isdigit() else f"_{cleaned}"


def _label_value(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, value: float, labels: Mapping[str, object] | None = None) -> str:
    text = PREFIX + name
    if labels:
        text += "{" + ",".join(f'{k}="{_label_value(v)}"' for k, v in labels.items()) + "}"
    number = repr(float(value)) if isinstance(value, float) else str(value)
    return f"{text} {number}"


class _Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: Iterable[str]) -> None:
        rows = list(samples)
        if not rows:
            return
        self.lines.append(f"# HELP {PREFIX}{name} {help_text}")
        self.lines.append(f"# TYPE {PREFIX}{name} {kind}")
        self.lines.extend(rows)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render_metrics(status: Mapping[str, Any]) -> str:
    """Prometheus text for one status dict (with Redis down, only the up/health gauges)."""
    out = _Exposition()
    redis_ok = bool(status.get("redis", {}).get("ok"))
    out.family(
        "redis_up",
        "gauge",
        "Whether the status page can read Redis.",
        [_sample("redis_up", int(redis_ok))],
    )
    broker_ok = status.get("broker", {}).get("ok")
    if broker_ok is not None:
        out.family(
            "broker_up",
            "gauge",
            "Whether the Kafka bootstrap accepts connections.",
            [_sample("broker_up", int(bool(broker_ok)))],
        )
    out.family(
        "healthy",
        "gauge",
        "1 when Redis is reachable and a worker beats.",
        [_sample("healthy", int(bool(status.get("ok"))))],
    )
    if not redis_ok:
        return out.text()
    _counters(out, status.get("counters", {}))
    _parts(out, status)
    _alerts(out, status)
    return out.text()


def _counters(out: _Exposition, counters: Mapping[str, int]) -> None:
    alerts = {k.removeprefix("alerts."): v for k, v in counters.items() if k.startswith("alerts.")}
    out.family(
        "alerts_total",
        "counter",
        "Alerts emitted, by category.",
        [_sample("alerts_total", v, {"category": c}) for c, v in sorted(alerts.items())],
    )
    for name, value in sorted(counters.items()):
        if name.startswith("alerts."):
            continue
        family = metric_name(name) + "_total"
        out.family(
            family, "counter", f"Counter {name} from the status store.", [_sample(family, value)]
        )


def _parts(out: _Exposition, status: Mapping[str, Any]) -> None:
    beats = status.get("heartbeats", [])
    out.family(
        "heartbeat_age_seconds",
        "gauge",
        "Seconds since each part's last heartbeat.",
        [
            _sample("heartbeat_age_seconds", float(b["age"]), {"role": b["role"], "id": b["id"]})
            for b in beats
        ],
    )
    out.family(
        "heartbeat_stale",
        "gauge",
        "1 when a part's heartbeat is stale.",
        [
            _sample("heartbeat_stale", int(b["stale"]), {"role": b["role"], "id": b["id"]})
            for b in beats
        ],
    )
    pipeline = status.get("pipeline", {})
    for key, help_text in (
        ("lag", "Articles published by pollers and not yet processed by workers (estimate)."),
        ("backlog", "Articles fetched by pollers and not yet published."),
    ):
        if pipeline.get(key) is not None:
            name = f"pipeline_{key}_articles"
            out.family(name, "gauge", help_text, [_sample(name, pipeline[key])])
    feeds = status.get("feeds", [])
    by_status = Counter(str(f["status"]) for f in feeds)
    out.family(
        "feeds",
        "gauge",
        "Feeds by status.",
        [_sample("feeds", n, {"status": s}) for s, n in sorted(by_status.items())],
    )
    out.family(
        "feed_failures",
        "gauge",
        "Consecutive failed polls of each feed.",
        [_sample("feed_failures", int(f.get("failures") or 0), {"feed": f["url"]}) for f in feeds],
    )


def _alerts(out: _Exposition, status: Mapping[str, Any]) -> None:
    rows = []
    for since, stats in sorted(status.get("latency", {}).items()):
        for quantile, key in (("0.5", "median"), ("0.95", "p95")):
            if stats.get(key) is not None:
                rows.append(
                    _sample(
                        "alert_latency_seconds",
                        float(stats[key]),
                        {"since": since, "quantile": quantile},
                    )
                )
    out.family(
        "alert_latency_seconds",
        "gauge",
        "Seconds from publication or fetch to alert, over the recent alerts.",
        rows,
    )
    out.family(
        "rule_hits_total",
        "counter",
        "Alerts fired by each rule.",
        [
            _sample("rule_hits_total", int(r.get("hits") or 0), {"rule": r["id"]})
            for r in status.get("rules", [])
        ],
    )
