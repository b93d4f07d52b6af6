"""The bundled demo: a timeline of news items served as RSS/Atom feeds on a virtual clock.

The timeline (``config/demo/timeline.yaml``) runs from its ``start`` to its ``end``; at speed 1 it
plays in ``duration`` real seconds (three minutes). Each outlet's feed shows its newest items
published up to the virtual now, with ETag and Last-Modified, answering conditional GETs with 304,
so
the real pollers poll it over HTTP exactly as they poll the web.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape

import yaml
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.errors import ConfigError
from monitor.feeds import FeedConfig
from monitor.models import Article, Source
from monitor.web import bound_port

log = logging.getLogger(__name__)
ITEMS_PER_FEED = 30
Label = Literal["event", "ceasefire", "sanctions"]


class Outlet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9-]+$")
    name: str
    format: Literal["rss", "atom"] = "rss"
    language: str = "en"
    site: str


class DemoItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    outlet: str
    published: datetime
    title: str
    summary: str
    labels: tuple[Label, ...] = ()
    development: str | None = None
    link: str | None = None


class Timeline(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    title: str
    start: datetime
    end: datetime
    outlets: list[Outlet]
    items: list[DemoItem]

    def outlet(self, outlet_id: str) -> Outlet:
        return next(o for o in self.outlets if o.id == outlet_id)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")[:60]


def load_timeline(path: Path) -> Timeline:
    """Load and check the demo timeline: every item's outlet exists and its time is in range."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read demo timeline: {exc.strerror}", file=path) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=path) from exc
    try:
        timeline = Timeline.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(
            err["msg"], file=path, field=".".join(str(p) for p in err["loc"])
        ) from exc
    outlets = {o.id for o in timeline.outlets}
    for index, item in enumerate(timeline.items):
        if item.outlet not in outlets:
            raise ConfigError(
                f"unknown outlet {item.outlet!r}", file=path, field=f"items.{index}.outlet"
            )
        if not timeline.start <= item.published <= timeline.end:
            raise ConfigError(
                "published lies outside the timeline's start and end",
                file=path,
                field=f"items.{index}.published",
            )
    items = sorted(timeline.items, key=lambda i: i.published)
    return timeline.model_copy(update={"items": items})


def item_link(timeline: Timeline, item: DemoItem) -> str:
    if item.link:
        return item.link
    site = timeline.outlet(item.outlet).site.rstrip("/")
    return f"{site}/{item.published:%Y/%m/%d}/{_slug(item.title)}"


def item_articles(timeline: Timeline) -> list[Article]:
    """The timeline's items as the pollers would publish them (ids ``demo-001``...), for offline
    tools that measure matching and grouping against the labels."""
    articles = []
    for number, item in enumerate(timeline.items, start=1):
        outlet = timeline.outlet(item.outlet)
        articles.append(
            Article(
                id=f"demo-{number:03d}",
                title=item.title,
                summary=item.summary,
                link=item_link(timeline, item),
                source=Source(url=outlet.site, name=outlet.name),
                language=outlet.language,
                published=item.published,
            )
        )
    return articles


class VirtualClock:
    """Maps real elapsed time onto the timeline: ``start + elapsed * rate``."""

    def __init__(
        self,
        start: datetime,
        end: datetime,
        *,
        duration: float,
        speed: float,
        real_start: float | None = None,
    ):
        self.start, self.end = start, end
        self.rate = (end - start).total_seconds() / (duration / speed)
        self.real_start = time.monotonic() if real_start is None else real_start

    def now(self) -> datetime:
        elapsed = time.monotonic() - self.real_start
        virtual = self.start.timestamp() + elapsed * self.rate
        return datetime.fromtimestamp(min(virtual, self.end.timestamp()), tz=UTC)

    @property
    def finished(self) -> bool:
        return self.now() >= self.end

    def progress(self) -> float:
        total = (self.end - self.start).total_seconds()
        return (self.now() - self.start).total_seconds() / total


def render_feed(timeline: Timeline, outlet: Outlet, items: list[DemoItem]) -> bytes:
    """An RSS 2.0 or Atom document for the given items (newest first)."""
    newest = items[0].published if items else timeline.start
    if outlet.format == "atom":
        entries = "".join(
            f"<entry><id>{escape(item_link(timeline, i))}</id><title>{escape(i.title)}</title>"
            f'<link href="{escape(item_link(timeline, i))}"/>'
            f"<updated>{i.published.isoformat()}</updated>"
            f"<summary>{escape(i.summary)}</summary></entry>"
            for i in items
        )
        return (
            f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
            f'xml:lang="{outlet.language}"><id>{escape(outlet.site)}/</id>'
            f"<title>{escape(outlet.name)}</title><updated>{newest.isoformat()}</updated>"
            f"{entries}</feed>"
        ).encode()
    entries = "".join(
        f"<item><title>{escape(i.title)}</title><link>{escape(item_link(timeline, i))}</link>"
        f'<guid isPermaLink="true">{escape(item_link(timeline, i))}</guid>'
        f"<pubDate>{format_datetime(i.published)}</pubDate>"
        f"<description>{escape(i.summary)}</description></item>"
        for i in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(outlet.name)}</title><link>{escape(outlet.site)}</link>"
        f"<language>{outlet.language}</language><description>{escape(outlet.name)} (demo)"
        f"</description>{entries}</channel></rss>"
    ).encode()


class DemoServer:
    """The local HTTP feed server of the demo."""

    def __init__(self, timeline: Timeline, clock: VirtualClock, host: str = "127.0.0.1"):
        self.timeline, self.clock, self.host = timeline, clock, host
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.requests = 0
        self.not_modified = 0

    def visible(self, outlet_id: str) -> list[DemoItem]:
        now = self.clock.now()
        items = [i for i in self.timeline.items if i.outlet == outlet_id and i.published <= now]
        return items[::-1][:ITEMS_PER_FEED]

    async def _feed(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        outlet_id = request.match_info["outlet"]
        try:
            outlet = self.timeline.outlet(outlet_id)
        except StopIteration:
            raise web.HTTPNotFound(text=f"no demo outlet {outlet_id!r}") from None
        items = self.visible(outlet_id)
        body = render_feed(self.timeline, outlet, items)
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        newest = items[0].published if items else self.timeline.start
        headers = {
            "ETag": etag,
            "Last-Modified": format_datetime(newest, usegmt=True),
            "Cache-Control": "no-cache",
        }
        if request.headers.get("If-None-Match") == etag:
            self.not_modified += 1
            return web.Response(status=304, headers=headers)
        ctype = "application/atom+xml" if outlet.format == "atom" else "application/rss+xml"
        return web.Response(body=body, headers=headers, content_type=ctype, charset="utf-8")

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/feeds/{outlet}.xml", self._feed)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, port)
        await site.start()
        self.port = bound_port(site)
        log.info(
            "demo.started url=http://%s:%s/feeds/ outlets=%d items=%d",
            self.host,
            self.port,
            len(self.timeline.outlets),
            len(self.timeline.items),
        )

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def feeds(self, poll_interval: float) -> list[FeedConfig]:
        """The feed list that polls this server."""
        return [
            FeedConfig(
                url=f"http://{self.host}:{self.port}/feeds/{o.id}.xml",
                name=o.name,
                language=o.language,
                interval=poll_interval,
                allow_private=True,
            )
            for o in self.timeline.outlets
        ]
