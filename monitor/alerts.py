"""Building alert records (CloudEvents 1.0) and showing them to people."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from monitor.matching import RuleHit
from monitor.models import Alert, AlertData, Article, SourceHealthAlert
from monitor.stories import Story

ALERT_TYPE = "org.newsmonitor.alert.v1"
ALERT_SOURCE = "urn:news-monitor"


def alert_id(rule: str, story: str, kind: str, stage: str = "") -> str:
    """The idempotency key: the same rule, story, kind and stage always give the same id."""
    return hashlib.sha256(f"{rule}|{story}|{kind}|{stage}".encode()).hexdigest()[:32]


def build_alert(
    *,
    event: str,
    article: Article,
    hit: RuleHit,
    story: Story,
    kind: str,
    matched: datetime,
    now: datetime | None = None,
) -> Alert:
    now = now or datetime.now(UTC)
    timestamps = {"fetched": article.fetched, "matched": matched, "emitted": now}
    if article.published:
        timestamps["published"] = article.published
    return Alert(
        id=alert_id(hit.rule, story.id, kind, str(len(story.sources)) if kind == "update" else ""),
        type=f"{ALERT_TYPE}.{kind}",
        source=f"{ALERT_SOURCE}/rules/{hit.rule}",
        subject=story.id,
        time=now,
        data=AlertData(
            event=event,
            category=hit.category,
            kind=kind,
            rules=[hit.rule],
            story=story.id,
            headline=article.title,
            link=article.link,
            source=article.source,
            published=article.published,
            detected=matched,
            score=hit.score,
            evidence=list(hit.evidence),
            sources=list(story.sources),
            timestamps=timestamps,
        ),
    )


_COLOURS = {"ceasefire": "\033[1;36m", "sanctions": "\033[1;33m", "sources": "\033[1;35m"}
_DIM, _RESET = "\033[2m", "\033[0m"


def format_alert(alert: Alert, *, colour: bool = False) -> str:
    """Two or three readable lines: what, where from, why it matched."""
    d = alert.data
    when = d.published.strftime("%Y-%m-%d %H:%M") if d.published else "undated"
    tag = f"[{d.category} {d.kind}]"
    if colour:
        tag = f"{_COLOURS.get(d.category, chr(27) + '[1m')}{tag}{_RESET}"
    why = "; ".join(f'{e.group} "{e.text}" in {e.field} ({e.score:.2f})' for e in d.evidence[:4])
    sources = f" · {len(d.sources)} sources" if len(d.sources) > 1 else ""
    lines = [
        f"{tag} {d.headline}",
        f"    {d.source.name} · {when} UTC{sources} · {d.link}",
        f"    why: {why} · score {d.score:.2f}",
    ]
    if colour:
        lines[1:] = [f"{_DIM}{line}{_RESET}" for line in lines[1:]]
    return "\n".join(lines)


def format_source_alert(alert: SourceHealthAlert, *, colour: bool = False) -> str:
    """One or two lines: which feed turned unhealthy or recovered, and why."""
    d = alert.data
    tag = f"[sources {d.state}]"
    if colour:
        tag = f"{_COLOURS['sources']}{tag}{_RESET}"
    detail = f"    {d.reason} · status {d.status} · {d.failures} failure(s)"
    if d.last_error:
        detail += f" · last error: {d.last_error}"
    return f"{tag} {d.name} ({d.feed})\n" + (f"{_DIM}{detail}{_RESET}" if colour else detail)
