"""Editing the feed list file and checking one feed by hand (``monitor feeds ...``)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from monitor.errors import ConfigError, FeedError, MonitorError
from monitor.feeds import FeedConfig, load_feed_list, parse_feed
from monitor.fetch import Fetcher
from monitor.models import Article
from monitor.settings import Settings


async def check_feed(settings: Settings, target: str) -> tuple[list[Article], dict[str, Any]]:
    """Fetch (or read) and parse one feed; FeedError when nothing usable comes back.

    Anything unexpected also becomes a FeedError, so the command never prints a traceback.
    """
    try:
        return await _check(settings, target)
    except MonitorError:
        raise
    except Exception as exc:
        raise FeedError(
            f"could not check this feed: {type(exc).__name__}: {exc}", url=target
        ) from exc


async def _check(settings: Settings, target: str) -> tuple[list[Article], dict[str, Any]]:
    base_url = target
    if target.startswith(("http://", "https://")):
        feed = FeedConfig(url=target, allow_private=True)
        async with Fetcher(settings.poll) as fetcher:
            result = await fetcher.fetch(target, allow_private=True)
        if not result.ok:
            raise FeedError(result.error or "fetch failed", url=target, status=result.status)
        body, headers = result.body, result.headers
        base_url = result.final_url or target
    else:
        body, feed = await asyncio.to_thread(_read_feed_file, Path(target))
        headers = {}
        base_url = feed.url
    parsed = await asyncio.to_thread(
        parse_feed, body, feed=feed, headers=headers, base_url=base_url
    )
    if parsed.error:
        raise FeedError(parsed.error, url=target)
    summary = {
        "feed": target,
        "title": parsed.title,
        "articles": len(parsed.articles),
        "duplicates": parsed.duplicates,
        "skipped": len(parsed.skipped),
        "warning": parsed.warning,
        "ttl_seconds": parsed.ttl_seconds,
        "hub": parsed.hub,
    }
    if target.startswith(("http://", "https://")):
        summary |= {
            "status": result.status,
            "final_url": base_url,
            "moved_to": result.permanent_url,
        }
    return parsed.articles, summary


def _read_feed_file(path: Path) -> tuple[bytes, FeedConfig]:
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise FeedError(f"cannot read file: {exc.strerror}", url=str(path)) from exc
    return body, FeedConfig(
        url=f"http://localhost{path.absolute()}", name=path.name, allow_private=True
    )


def _write(path: Path, feeds: list[FeedConfig]) -> None:
    data = {
        "version": 1,
        "feeds": [
            f.model_dump(exclude_none=True, exclude_defaults=True) | {"url": f.url} for f in feeds
        ],
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def add_feed(path: Path, url: str, name: str | None) -> None:
    feeds = load_feed_list(path) if path.exists() else []
    if any(f.url == url for f in feeds):
        raise ConfigError(f"{url} is already in the feed list", file=path)
    try:
        feeds.append(FeedConfig(url=url, name=name))
    except ValueError as exc:
        raise ConfigError(
            f"not a feed URL (expected http:// or https://): {url}", file=path, field="url"
        ) from exc
    _write(path, feeds)


def remove_feed(path: Path, url: str) -> None:
    feeds = load_feed_list(path)
    kept = [f for f in feeds if f.url != url]
    if len(kept) == len(feeds):
        raise ConfigError(f"{url} is not in the feed list", file=path)
    _write(path, kept)
