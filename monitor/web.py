"""The status page's HTTP server. It reads only Redis, so it works while other parts are down.

Routes: ``/`` (the page), ``/api/events`` (the page's data as Server-Sent Events, one ``status``
event per tick), ``/api/status`` (the same JSON, once), ``/metrics`` (Prometheus text format),
``/healthz`` (503 when Redis is unreachable or no worker has a fresh heartbeat).

One :class:`Broadcaster` reads Redis once per tick for all open pages, and only while a page is
open. The page is read-only and served with a strict Content-Security-Policy: scripts and styles
only from this origin, no inline code, no frames, no forms.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from monitor.dashboard import STALE_AFTER, BrokerProbe, collect_status
from monitor.metrics import render_metrics
from monitor.sse import SharedReader, start_event_stream
from monitor.status import StatusStore

log = logging.getLogger(__name__)
__all__ = ["CSP", "STALE_AFTER", "Broadcaster", "WebServer", "bound_port", "create_web_app"]

TICK_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
ASSETS = {
    "app.js": "text/javascript",
    "charts.js": "text/javascript",
    "style.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
_STATUS_KEY = web.AppKey("status", StatusStore)
_BROKER_KEY = web.AppKey("broker", BrokerProbe)


def _static(name: str) -> bytes:
    return resources.files("monitor").joinpath("static", name).read_bytes()


class Broadcaster(SharedReader):
    """Produces the latest status once per tick while anyone listens, and hands it to all."""

    def __init__(self, produce: Callable[[], Awaitable[str]], tick: float = TICK_SECONDS):
        super().__init__(tick, "status broadcaster")
        self._produce = produce
        self._latest = ""
        self._version = 0

    async def listen(
        self, keepalive: float = KEEPALIVE_SECONDS
    ) -> AsyncGenerator[str | None, None]:
        """Each new status as it is produced; None after ``keepalive`` seconds without one."""
        self._attach()
        seen = 0
        try:
            while not self._closing:
                async with self._changed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self._changed.wait_for(functools.partial(self._ready, seen)),
                            keepalive,
                        )
                    if self._closing:
                        return
                    fresh = self._version != seen
                    seen, latest = self._version, self._latest
                yield latest if fresh else None
        finally:
            self._detach()

    def _ready(self, seen: int) -> bool:
        return self._version != seen or self._closing

    async def _read(self) -> None:
        try:
            data = await self._produce()
        except Exception:  # a bug in one tick must not end the page's updates
            log.exception("web.status_failed")
            return
        async with self._changed:
            self._latest, self._version = data, self._version + 1
            self._changed.notify_all()


_FEED_KEY = web.AppKey("broadcaster", Broadcaster)


async def _page(_request: web.Request) -> web.Response:
    return web.Response(body=_static("index.html"), content_type="text/html", charset="utf-8")


async def _asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    return web.Response(
        body=_static(name),
        content_type=ASSETS[name],
        charset="utf-8" if ASSETS[name].startswith("text/") else None,
        headers={"Cache-Control": "no-cache"},
    )


async def _favicon(_request: web.Request) -> web.Response:
    return web.Response(body=_static("favicon.svg"), content_type="image/svg+xml")


async def _status(app: web.Application) -> dict[str, Any]:
    return await collect_status(app[_STATUS_KEY], app[_BROKER_KEY])


async def _api_status(request: web.Request) -> web.Response:
    return web.json_response(await _status(request.app), headers={"Cache-Control": "no-store"})


async def _events(request: web.Request) -> web.StreamResponse:
    response = await start_event_stream(request)
    try:
        async with contextlib.aclosing(request.app[_FEED_KEY].listen()) as updates:
            async for data in updates:
                if data is None:
                    await response.write(b": keepalive\n\n")
                else:
                    await response.write(f"event: status\ndata: {data}\n\n".encode())
    except ConnectionResetError:
        log.debug("web.events_closed peer=%s", request.remote)
    return response


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(
        text=render_metrics(await _status(request.app)),
        content_type="text/plain",
        charset="utf-8",
        headers={"Cache-Control": "no-store"},
    )


async def _healthz(request: web.Request) -> web.Response:
    status = await _status(request.app)
    if not status["redis"]["ok"]:
        return web.json_response({"ok": False, "reason": status["redis"]["error"]}, status=503)
    if not status["ok"]:
        return web.json_response({"ok": False, "reason": "; ".join(status["problems"])}, status=503)
    return web.json_response({"ok": True, "problems": status["problems"]})


async def _security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """On every response, streamed ones and errors included."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"


def create_web_app(store: StatusStore, *, kafka: str | None = None) -> web.Application:
    """The status page app over ``store``; ``kafka`` (a bootstrap address) lets it probe the
    broker, which it otherwise shows as unknown."""
    app = web.Application()
    app[_STATUS_KEY] = store
    app[_BROKER_KEY] = BrokerProbe(kafka)

    async def produce() -> str:
        return json.dumps(await _status(app), separators=(",", ":"))

    feed = Broadcaster(produce)
    app[_FEED_KEY] = feed

    async def close_feed(_app: web.Application) -> None:
        await feed.close()

    app.on_shutdown.append(close_feed)
    app.on_response_prepare.append(_security_headers)
    app.router.add_get("/", _page)
    app.router.add_get("/favicon.ico", _favicon)
    app.router.add_get("/static/{name}", _asset)
    app.router.add_get("/api/status", _api_status)
    app.router.add_get("/api/events", _events)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    return app


def bound_port(site: web.TCPSite) -> int:
    """The port a site listens on (useful after binding port 0)."""
    server = site._server
    sockets = getattr(server, "sockets", None)
    if not sockets:
        raise RuntimeError("the site is not listening")
    return int(sockets[0].getsockname()[1])


class WebServer:
    """Runs the status page inside an existing event loop."""

    def __init__(
        self,
        store: StatusStore,
        host: str,
        port: int,
        *,
        kafka: str | None = None,
        extend: Callable[[web.Application], None] | None = None,
    ):
        self.store, self.host, self.port, self.kafka = store, host, port, kafka
        self.extend = extend  # mounts more routes (the rules API) before the app starts
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def start(self) -> None:
        app = create_web_app(self.store, kafka=self.kafka)
        if self.extend:
            self.extend(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = bound_port(site)
        log.info("web.started url=%s", self.url)

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
