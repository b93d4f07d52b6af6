"""The status page's HTTP server. It reads only Redis, so it works while other parts are down.

Routes: ``/`` (the page), ``/api/status`` (JSON of everything on it), ``/healthz`` (503 when Redis
is unreachable or no worker has a fresh heartbeat).
"""

from __future__ import annotations

import logging
import time
from importlib import resources
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from monitor.status import StatusStore

log = logging.getLogger(__name__)
STALE_AFTER = 10.0
CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'"
_STATUS_KEY = web.AppKey("status", StatusStore)


def _static(name: str) -> bytes:
    return resources.files("monitor").joinpath("static", name).read_bytes()


async def _page(_request: web.Request) -> web.Response:
    return web.Response(body=_static("index.html"), content_type="text/html", charset="utf-8")


async def _asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    types = {"app.js": "text/javascript", "style.css": "text/css"}
    if name not in types:
        raise web.HTTPNotFound()
    return web.Response(body=_static(name), content_type=types[name], charset="utf-8")


async def collect_status(store: StatusStore) -> dict[str, Any]:
    """The page's data, with a clear message instead of an exception when Redis is down."""
    now = time.time()
    try:
        snapshot = await store.snapshot()
    except (RedisError, OSError) as exc:
        return {
            "ok": False,
            "redis": {"ok": False, "error": f"Redis unreachable: {exc}"},
            "at": now,
        }
    for beat in snapshot["heartbeats"]:
        beat["age"] = round(now - beat["at"], 1)
        beat["stale"] = beat["age"] > STALE_AFTER
    workers = [b for b in snapshot["heartbeats"] if b["role"] == "worker" and not b["stale"]]
    return {"ok": bool(workers), "redis": {"ok": True}, "at": now, **snapshot}


async def _api_status(request: web.Request) -> web.Response:
    return web.json_response(await collect_status(request.app[_STATUS_KEY]))


async def _healthz(request: web.Request) -> web.Response:
    status = await collect_status(request.app[_STATUS_KEY])
    if not status["redis"]["ok"]:
        return web.json_response({"ok": False, "reason": status["redis"]["error"]}, status=503)
    if not status["ok"]:
        return web.json_response(
            {"ok": False, "reason": "no worker has a fresh heartbeat"}, status=503
        )
    return web.json_response({"ok": True})


@web.middleware
async def _security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def create_web_app(store: StatusStore) -> web.Application:
    app = web.Application(middlewares=[_security_headers])
    app[_STATUS_KEY] = store
    app.router.add_get("/", _page)
    app.router.add_get("/static/{name}", _asset)
    app.router.add_get("/api/status", _api_status)
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

    def __init__(self, store: StatusStore, host: str, port: int):
        self.store, self.host, self.port = store, host, port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def start(self) -> None:
        self._runner = web.AppRunner(create_web_app(self.store), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = bound_port(site)
        log.info("web.started url=%s", self.url)

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
