"""What ``monitor rules add | remove | list | test --backtest`` do, for the CLI and the web API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from monitor.backtest import BacktestReport, backtest, format_report
from monitor.embedded import resolve_endpoints
from monitor.errors import ConfigError
from monitor.kafka import start_producer
from monitor.matching import Matcher
from monitor.rulebook import (
    RuleRecord,
    RuleSet,
    check_events,
    publish_rules,
    read_rules,
    remove_rule,
)
from monitor.rules import WatchRule, load_events_dir, load_rules, load_rules_dir
from monitor.settings import Settings
from monitor.status import StatusStore


def load_drafts(settings: Settings, files: list[Path]) -> list[WatchRule]:
    """Every rule of every file, validated (file, rule, field) and checked against the events;
    ConfigError before anything is published if any rule is invalid."""
    events = load_events_dir(settings.events_dir)
    rules: list[WatchRule] = []
    origin: dict[str, Path] = {}
    for path in files:
        loaded = load_rules(path)
        check_events(loaded, events, str(path))
        for rule in loaded:
            if rule.id in origin:
                raise ConfigError(
                    f"duplicate rule id {rule.id!r}, also in {origin[rule.id]}",
                    file=path,
                    rule=rule.id,
                    field="id",
                )
            origin[rule.id] = path
        rules += loaded
    return rules


async def ensure_alert_topics(bootstrap: str, rules: list[WatchRule]) -> None:
    """Make each rule's alert topic exist, so followers see a new category at once."""
    producer = await start_producer(bootstrap)
    try:
        for topic in sorted({r.alert_topic for r in rules}):
            await producer.partitions_for(topic)  # metadata request: auto-creates where allowed
    finally:
        await producer.stop()


@dataclass
class AddOutcome:
    published: list[RuleRecord]
    unchanged: list[str]
    report: BacktestReport | None = None


async def add_rules(
    settings: Settings,
    rules: list[WatchRule],
    *,
    added_by: str,
    origin: str,
    window: timedelta | None = None,
    confirm: Callable[[str], bool] | None = None,
) -> AddOutcome | None:
    """Publish rules (after an optional backtest the user confirms); None when not confirmed."""
    endpoints = resolve_endpoints(settings)
    events = load_events_dir(settings.events_dir)
    report = None
    if window is not None:
        report = await backtest(
            endpoints.kafka, Matcher(events, rules), window, embedded=endpoints.embedded
        )
        if confirm and not confirm(format_report(report, [r.id for r in rules])):
            return None
    current = await read_rules(endpoints.kafka, events)
    records = await publish_rules(endpoints.kafka, rules, current, added_by=added_by, origin=origin)
    await ensure_alert_topics(endpoints.kafka, [r.rule for r in records])
    published = {r.rule.id for r in records}
    return AddOutcome(records, [r.id for r in rules if r.id not in published], report)


async def remove(settings: Settings, rule_id: str) -> None:
    endpoints = resolve_endpoints(settings)
    current = await read_rules(endpoints.kafka, load_events_dir(settings.events_dir))
    await remove_rule(endpoints.kafka, rule_id, current)


async def active_rules(settings: Settings) -> tuple[RuleSet, dict[str, int]]:
    """The rule set on the topic and alert counts per rule (empty if Redis is unreachable)."""
    endpoints = resolve_endpoints(settings)
    current = await read_rules(endpoints.kafka, load_events_dir(settings.events_dir))
    store = StatusStore.from_url(endpoints.redis)
    try:
        hits = await store.rule_hits()
    except Exception:  # the list is still useful without hit counts
        hits = {}
    finally:
        await store.close()
    return current, hits


def rule_rows(current: RuleSet, hits: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {
            "id": r.rule.id,
            "version": r.version,
            "category": r.rule.category,
            "topic": r.rule.alert_topic,
            "enabled": r.rule.enabled,
            "added_by": r.added_by,
            "added_at": r.added_at.isoformat(timespec="seconds"),
            "origin": r.origin,
            "alerts": hits.get(r.rule.id, 0),
            "title": r.rule.title,
        }
        for r in sorted(current.records.values(), key=lambda r: r.rule.id)
    ]


async def backtest_drafts(settings: Settings, files: list[Path], window: timedelta) -> str:
    """``monitor rules test --backtest``: the report for draft files (or the config rules)."""
    endpoints = resolve_endpoints(settings)
    events = load_events_dir(settings.events_dir)
    rules = load_drafts(settings, files) if files else load_rules_dir(settings.rules_dir, events)
    report = await backtest(
        endpoints.kafka, Matcher(events, rules), window, embedded=endpoints.embedded
    )
    return format_report(report, [r.id for r in rules])
