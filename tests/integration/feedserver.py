"""A local HTTP feed server for tests: serves whatever bytes the test sets, with ETags."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class FeedServer:
    """Routes /<name> to the body in ``feeds[name]``; honours If-None-Match; counts requests."""

    feeds: dict[str, bytes] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    async def _serve(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.requests.append((name, request.headers.get("If-None-Match")))
        if name in self.status:
            return web.Response(status=self.status[name], text="nope")
        body = self.feeds.get(name)
        if body is None:
            return web.Response(status=404)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, headers={"ETag": etag}, content_type="application/rss+xml")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{name}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        self.port = site._server.sockets[0].getsockname()[1]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


def rss(*items: tuple[str, str, str]) -> bytes:
    """An RSS document from (guid, title, description) triples."""
    body = "".join(
        f"<item><guid>{g}</guid><title>{t}</title><link>https://t.example/{g}</link>"
        f"<pubDate>Tue, 11 Mar 2025 18:00:00 GMT</pubDate><description>{d}</description></item>"
        for g, t, d in items
    )
    channel = f"<channel><title>T</title>{body}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'.encode()
