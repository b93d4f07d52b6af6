"""A local HTTP feed server for tests: serves what the test sets, misbehaving like real servers.

- ``feeds[name]``: a body, served with ETag and Last-Modified, honouring If-None-Match and
  If-Modified-Since, unless ``name`` is in ``ignore_validators`` (then always 200, no validators);
- ``status[name]``: answer with that status (and ``headers[name]``) instead;
- ``redirects[name]``: ``(status, target name or URL)``;
- ``handlers[name]``: any aiohttp handler (stalls, huge or compressed bodies);
- ``headers[name]``: extra response headers (Content-Type with a charset, Cache-Control, ...).

Every request is recorded as ``(name, If-None-Match, If-Modified-Since)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

LAST_MODIFIED = "Tue, 11 Mar 2025 18:00:00 GMT"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class FeedServer:
    feeds: dict[str, bytes] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    redirects: dict[str, tuple[int, str]] = field(default_factory=dict)
    handlers: dict[str, Handler] = field(default_factory=dict)
    ignore_validators: set[str] = field(default_factory=set)
    last_modified_only: set[str] = field(default_factory=set)
    requests: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    port: int = 0
    host: str = "127.0.0.1"
    _runner: web.AppRunner | None = None

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.requests.append(
            (name, request.headers.get("If-None-Match"), request.headers.get("If-Modified-Since"))
        )
        extra = self.headers.get(name, {})
        if name in self.handlers:
            return await self.handlers[name](request)
        if name in self.redirects:
            code, target = self.redirects[name]
            location = target if "://" in target else self.url(target)
            return web.Response(status=code, headers={"Location": location, **extra})
        if name in self.status:
            return web.Response(status=self.status[name], text="nope", headers=extra)
        body = self.feeds.get(name)
        if body is None:
            return web.Response(status=404)
        headers = {"Content-Type": "application/rss+xml", **extra}
        if name in self.ignore_validators:
            return web.Response(body=body, headers=headers)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if name in self.last_modified_only:
            if request.headers.get("If-Modified-Since") == LAST_MODIFIED:
                return web.Response(status=304)
            return web.Response(body=body, headers={"Last-Modified": LAST_MODIFIED, **headers})
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, headers={"ETag": etag, **headers})

    async def start(self) -> None:
        app = web.Application(client_max_size=100 * 2**20)
        app.router.add_route("*", "/{name}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        assert site._server is not None
        self.port = site._server.sockets[0].getsockname()[1]

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.port}/{name}"

    def count(self, name: str) -> int:
        return sum(1 for r in self.requests if r[0] == name)

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


def rss(*items: tuple[str, str, str], extra: str = "", date: str | None = None) -> bytes:
    """An RSS document from (guid, title, description) triples."""
    pub = "Tue, 11 Mar 2025 18:00:00 GMT" if date is None else date
    body = "".join(
        f"<item><guid>{g}</guid><title>{t}</title><link>https://t.example/{g}</link>"
        + (f"<pubDate>{pub}</pubDate>" if pub else "")
        + f"<description>{d}</description></item>"
        for g, t, d in items
    )
    channel = f"<channel><title>T</title>{extra}{body}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'.encode()
