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

from monitor.articles import absolute_link, article_id, to_plain_text
from monitor.errors import ConfigError
from monitor.models import Article, Source
from monitor.schedule import cadence_of, shard_of

EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)


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
    self_url: str | None = None
    skipped: list[str] = field(default_factory=list)
    duplicates: int = 0

    @property
    def cadence(self) -> float | None:
        return cadence_of([a.published for a in self.articles if a.published])

    @property
    def newest(self) -> float | None:
        times = [a.published.timestamp() for a in self.articles if a.published]
        return max(times, default=None)


def select_shard(feeds: list[FeedConfig], shard: int, shards: int) -> list[FeedConfig]:
    """This instance's part of the feed list: every feed lands in exactly one of ``shards``."""
    if not 0 <= shard < shards:
        raise ConfigError(f"shard {shard} is not between 0 and {shards - 1}", field="poll.shard")
    return [f for f in feeds if shard_of(f.url, shards) == shard]


def parse_feed(
    body: bytes,
    *,
    feed: FeedConfig,
    headers: dict[str, str] | None = None,
    fetched: datetime | None = None,
    base_url: str | None = None,
) -> ParsedFeed:
    """Parse a fetched feed body into normalised articles. Never raises for bad input.

    feedparser drops DTD entity declarations (no external entities, no expansion bombs) and
    resolves relative links against ``base_url`` (the URL the body came from).
    """
    fetched = fetched or datetime.now(UTC)
    response_headers = dict(headers or {})
    response_headers["content-location"] = base_url or feed.url
    try:
        parsed = feedparser.parse(
            body, response_headers=response_headers, sanitize_html=False, resolve_relative_uris=True
        )
    except Exception as exc:  # feedparser promises not to raise; a parse bug is still a feed error
        return ParsedFeed([], error=f"parser failed: {type(exc).__name__}: {exc}")
    feed_title = to_plain_text(str(parsed.feed.get("title", ""))) or None
    warning = None
    if parsed.bozo:
        warning = f"{type(parsed.bozo_exception).__name__}: {parsed.bozo_exception}"
    if not parsed.entries:
        if parsed.bozo:
            return ParsedFeed([], feed_title, error=f"not a feed: {warning}")
        if not parsed.get("version"):
            return ParsedFeed([], feed_title, error="not a feed: no RSS or Atom root element")
    source = Source(url=feed.url, name=feed.name or feed_title or feed.url)
    context = _Context(feed, source, feed.language or _language(parsed), base_url or feed.url)
    articles: dict[str, Article] = {}
    skipped: list[str] = []
    duplicates = 0
    for entry in parsed.entries:
        article = normalise_entry(entry, context, fetched)
        if article is None:
            skipped.append("entry with neither title nor link")
        elif article.id in articles:
            duplicates += 1  # the first (newest, in feed order) wins
        else:
            articles[article.id] = article
    if not articles and parsed.bozo:
        return ParsedFeed([], feed_title, error=f"no usable entries: {warning}")
    return ParsedFeed(
        list(articles.values()),
        feed_title,
        warning=warning,
        ttl_seconds=_ttl(parsed),
        hub=_link(parsed, "hub"),
        self_url=_link(parsed, "self"),
        skipped=skipped,
        duplicates=duplicates,
    )


@dataclass(frozen=True)
class _Context:
    feed: FeedConfig
    source: Source
    language: str | None
    base_url: str


def normalise_entry(entry: Any, context: _Context, fetched: datetime) -> Article | None:
    """One feed entry as an Article; None when it has neither a title nor a link."""
    title = to_plain_text(str(entry.get("title") or ""))
    link = absolute_link(str(entry.get("link") or ""), context.base_url)
    if not title and not link:
        return None
    guid = entry.get("id")
    return Article(
        id=article_id(
            guid=str(guid) if guid else None, link=link, feed_url=context.feed.url, title=title
        ),
        title=title,
        summary=_entry_summary(entry),
        link=link,
        source=context.source,
        language=_entry_language(entry) or context.language,
        published=entry_time(entry, fetched),
        fetched=fetched,
    )


def entry_time(entry: Any, fetched: datetime) -> datetime:
    """Published, else updated, else created, else the fetch time; in UTC. Dates before 1990 are
    absurd and skipped; dates in the future are clamped to the fetch time."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = dict.get(entry, key)  # plain dict access: no feedparser key aliasing or warning
        if not value:
            continue
        try:
            when = datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            continue
        if when < EARLIEST:
            continue
        return min(when, fetched)
    return fetched


def _entry_summary(entry: Any) -> str:
    summary = entry.get("summary") or ""
    if not summary and entry.get("content"):
        summary = entry["content"][0].get("value", "")
    return to_plain_text(str(summary))


def _entry_language(entry: Any) -> str | None:
    for detail in ("title_detail", "summary_detail"):
        lang = (entry.get(detail) or {}).get("language")
        if lang:
            return _short_language(str(lang))
    return None


def _short_language(lang: str) -> str | None:
    code = lang.strip().replace("_", "-").split("-")[0].lower()
    return code if code.isalpha() and 2 <= len(code) <= 3 else None


def _language(parsed: Any) -> str | None:
    lang = parsed.feed.get("language")
    return _short_language(str(lang)) if lang else None


def _ttl(parsed: Any) -> float | None:
    try:
        ttl = float(parsed.feed["ttl"]) * 60
    except (KeyError, TypeError, ValueError):
        return None
    return ttl if 0 < ttl < 7 * 86400 else None


def _link(parsed: Any, rel: str) -> str | None:
    for link in parsed.feed.get("links", []):
        if link.get("rel") == rel and link.get("href"):
            return str(link.get("href"))
    return None
