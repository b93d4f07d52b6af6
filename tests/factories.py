"""Builders for test data: plain functions with explicit arguments, no hidden state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.models import Alert, AlertData, Article, Evidence, Source
from monitor.settings import Settings, load_settings


def article_factory(
    title: str,
    summary: str = "",
    *,
    id: str | None = None,
    published: datetime | None = None,
    source: str = "Test Wire",
    language: str | None = "en",
) -> Article:
    return Article(
        id=id or f"test:{abs(hash(title))}",
        title=title,
        summary=summary,
        link=f"https://test.example/{abs(hash(title))}",
        source=Source(url=f"https://{source.lower().replace(' ', '')}.example/feed", name=source),
        language=language,
        published=published or datetime(2025, 3, 1, 12, tzinfo=UTC),
    )


def settings_factory(data_dir: Path, **overrides: object) -> Settings:
    """Settings for a test: its own data directory, a free web port, nothing from the environment
    except what the test passes."""
    return load_settings(data_dir=data_dir, **overrides)


def alert_factory(category: str, headline: str, *, story: str = "story-1") -> Alert:
    """An alert as a worker emits it on alerts.<category>: a fresh id, emitted now."""
    now = datetime.now(UTC)
    return Alert(
        id=uuid.uuid4().hex,
        type="org.newsmonitor.alert.v1.new",
        source="urn:news-monitor/rules/test",
        subject=story,
        time=now,
        data=AlertData(
            event="trump-putin-call-2025-02-12",
            category=category,
            kind="new",
            rules=["test"],
            story=story,
            headline=headline,
            link="https://news.example/a",
            source=Source(url="https://news.example/feed.xml", name="Example News"),
            published=now - timedelta(minutes=5),
            detected=now,
            score=1.0,
            evidence=[
                Evidence(group="ceasefire", term="ceasefire", field="title", text="x", score=1)
            ],
            sources=["Example News"],
            timestamps={"fetched": now, "matched": now, "emitted": now},
        ),
    )


async def send_numbered(bootstrap: str, topic: str, count: int) -> list[int]:
    """Records ``b"0"`` .. ``b"<count-1>"`` (keys ``k0`` ..) on ``topic``; their offsets."""
    from monitor.kafka import start_producer

    producer = await start_producer(bootstrap)
    try:
        sent = [
            await producer.send(topic, f"{i}".encode(), key=f"k{i}".encode()) for i in range(count)
        ]
        return [(await s).offset for s in sent]
    finally:
        await producer.stop()
