"""Builders for test data: plain functions with explicit arguments, no hidden state."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitor.models import Article, Source
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
