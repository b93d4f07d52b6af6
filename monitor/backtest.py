"""Backtests: replay the retained ``monitor.articles`` through draft rules and report what they
would have matched and alerted, without emitting anything.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from monitor.errors import MonitorError
from monitor.kafka import ARTICLES_TOPIC, read_to_end
from monitor.matching import Matcher
from monitor.models import Article, Evidence, RecordError
from monitor.pipeline import match_article, place_match
from monitor.stories import StoryIndex

SAMPLES = 5
EMBEDDED_RETENTION_NOTE = (
    "embedded broker: it keeps only about the newest 5 MB per partition (~14,000 articles), "
    "so older articles cannot be replayed"
)
_DURATION = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_window(text: str) -> timedelta:
    """``14d``, ``12h``, ``30m``, ``2w`` as a timedelta; MonitorError otherwise."""
    found = _DURATION.match(text.strip().lower())
    if not found:
        raise MonitorError(f"backtest window {text!r}: expected a number and m, h, d or w: 14d")
    return timedelta(**{_UNITS[found[2]]: int(found[1])})


@dataclass
class RuleReport:
    """What one rule would have done."""

    matches: int = 0
    per_day: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[Article, list[Evidence]]] = field(default_factory=list)
    alerts: Counter[str] = field(default_factory=Counter)


@dataclass
class BacktestReport:
    window: timedelta
    scanned: int = 0
    in_window: int = 0
    undecodable: int = 0
    rules: dict[str, RuleReport] = field(default_factory=lambda: defaultdict(RuleReport))
    matched_ids: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    note: str | None = None


def replay(
    articles: list[Article], matcher: Matcher, window: timedelta, now: datetime | None = None
) -> BacktestReport:
    """Match articles fetched within the window, in fetch order; group would-be alerts into
    stories exactly as the worker does. Pure."""
    now = now or datetime.now(UTC)
    report = BacktestReport(window=window, scanned=len(articles))
    stories = StoryIndex()
    for article in sorted(articles, key=lambda a: a.fetched):
        if article.fetched < now - window:
            continue
        report.in_window += 1
        for record in match_article(matcher, article, now):
            rule = report.rules[record.rule]
            rule.matches += 1
            report.matched_ids[record.rule].add(article.id)
            day = (article.published or article.fetched).strftime("%Y-%m-%d")
            rule.per_day[day] += 1
            if len(rule.samples) < SAMPLES:
                rule.samples.append((article, record.evidence))
            kind = place_match(stories, record).kind
            if kind:
                rule.alerts[kind] += 1
    return report


async def backtest(
    bootstrap: str, matcher: Matcher, window: timedelta, *, embedded: bool
) -> BacktestReport:
    """Read the retained articles from Kafka and replay them through the matcher."""
    articles, undecodable = [], 0
    async for record in read_to_end(bootstrap, ARTICLES_TOPIC):
        try:
            articles.append(Article.from_bytes(record.value))
        except RecordError:
            undecodable += 1
    report = replay(articles, matcher, window)
    report.undecodable = undecodable
    if embedded:
        report.note = EMBEDDED_RETENTION_NOTE
    return report


def format_report(report: BacktestReport, rule_ids: list[str]) -> str:
    """A readable summary: per rule, matches per day, would-be alerts and a sample with evidence."""
    lines = [
        f"backtest over the last {report.window}: {report.in_window} of {report.scanned} retained "
        f"articles in the window"
        + (f"; {report.undecodable} undecodable skipped" if report.undecodable else "")
    ]
    if report.note:
        lines.append(f"note: {report.note}")
    for rule_id in rule_ids:
        rule = report.rules.get(rule_id, RuleReport())
        alerts = ", ".join(f"{n} {kind}" for kind, n in sorted(rule.alerts.items())) or "none"
        lines.append(
            f"\nrule {rule_id}: {rule.matches} matching article(s); alerts it would "
            f"have emitted: {alerts}"
        )
        for day, count in sorted(rule.per_day.items()):
            lines.append(f"  {day}  {'#' * min(count, 40)} {count}")
        for article, evidence in rule.samples:
            why = "; ".join(f'{e.group} "{e.text}" in {e.field}' for e in evidence[:3])
            lines.append(f"  e.g. {article.title}  [{article.source.name}]  why: {why}")
    return "\n".join(lines)
