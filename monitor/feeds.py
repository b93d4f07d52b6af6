"""The feed list (a validated data file) and parsing fetched feed bytes into articles.

Parsing never raises for a bad feed: the problem is data on the result, as in feedparser itself.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.articles import article_id, to_plain_text
from monitor.errors import ConfigError
from monitor.models import Article, Source


class FeedConfig(BaseModel):
    """One feed to poll."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://")
    name: str | None = None
    language: str | None = None
    interval: float | None = Field(None, gt=0, description="seconds between polls; default setting")
    allow_private: bool = Field(False, description="allow loopback/private addresses (tests, demo)")

    @property
    def label(self) -> str:
        return self.name or self.url


class FeedList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    feeds: list[FeedConfig] = []


def load_feed_list(path: Path) -> list[FeedConfig]:
    """Load and validate a feed list file; raise ConfigError naming the file and field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read feed list: {exc.strerror}", file=path) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=path) from exc
    try:
        return FeedList.model_validate(raw).feeds
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{err['msg']} (got {err.get('input')!r})", file=path, field=loc) from exc


@dataclass(frozen=True)
class ParsedFeed:
    """What feedparser made of one fetched body."""

    articles: list[Article]
    title: str | None = None
    warning: str | None = None
    error: str | None = None
    ttl_seconds: float | None = None
    hub: str | None = None
    skipped: list[str] = field(default_factory=list)


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return None


def _entry_summary(entry: Any) -> str:
    summary = entry.get("summary") or ""
    if not summary and entry.get("content"):
        summary = entry["content"][0].get("value", "")
    return to_plain_text(summary)


def parse_feed(
    body: bytes,
    *,
    feed: FeedConfig,
    headers: dict[str, str] | None = None,
    fetched: datetime | None = None,
) -> ParsedFeed:
    """Parse a fetched feed body into articles. Never raises for bad input."""
    fetched = fetched or datetime.now(UTC)
    parsed = feedparser.parse(body, response_headers=headers or {}, sanitize_html=False)
    feed_title = to_plain_text(parsed.feed.get("title", "")) or None
    warning = None
    if parsed.bozo:
        warning = f"{type(parsed.bozo_exception).__name__}: {parsed.bozo_exception}"
    if not parsed.entries:
        if parsed.bozo:
            return ParsedFeed([], feed_title, error=f"not a feed: {warning}")
        if not parsed.get("version"):
            return ParsedFeed([], feed_title, error="not a feed: no RSS or Atom root element")
    source = Source(url=feed.url, name=feed.name or feed_title or feed.url)
    language = feed.language or _language(parsed)
    articles, skipped = [], []
    for entry in parsed.entries:
        title = to_plain_text(entry.get("title", ""))
        link = entry.get("link", "") or ""
        if not title and not link:
            skipped.append("entry with neither title nor link")
            continue
        articles.append(
            Article(
                id=article_id(guid=entry.get("id"), link=link, feed_url=feed.url, title=title),
                title=title,
                summary=_entry_summary(entry),
                link=link,
                source=source,
                language=language,
                published=_entry_time(entry),
                fetched=fetched,
            )
        )
    if not articles and parsed.bozo:
        return ParsedFeed([], feed_title, error=f"no usable entries: {warning}")
    return ParsedFeed(
        articles,
        feed_title,
        warning=warning,
        ttl_seconds=_ttl(parsed),
        hub=_hub(parsed),
        skipped=skipped,
    )


def _language(parsed: Any) -> str | None:
    lang = parsed.feed.get("language")
    return str(lang).split("-")[0].lower() if lang else None


def _ttl(parsed: Any) -> float | None:
    try:
        return float(parsed.feed["ttl"]) * 60
    except (KeyError, TypeError, ValueError):
        return None


def _hub(parsed: Any) -> str | None:
    for link in parsed.feed.get("links", []):
        if link.get("rel") == "hub":
            return str(link.get("href"))
    return None
