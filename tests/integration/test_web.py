"""The status page server against a real Redis: JSON status, health, security headers."""

from __future__ import annotations

import socket

import aiohttp

from monitor.status import StatusStore
from monitor.web import WebServer


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def fetch(url: str) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, dict(resp.headers), await resp.text()


async def test_page_status_and_health_follow_worker_heartbeats(fresh_redis: str) -> None:
    """/healthz is 503 until a worker beats; /api/status carries feeds and counters; the page has
    a strict Content-Security-Policy."""
    store = StatusStore.from_url(fresh_redis)
    server = WebServer(store, "127.0.0.1", 0)
    await server.start()
    try:
        status, headers, body = await fetch(server.url)
        assert status == 200 and "News monitor" in body
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert (await fetch(server.url + "healthz"))[0] == 503

        await store.heartbeat("worker", "w1")
        await store.count({"articles.processed": 4})
        status, _, body = await fetch(server.url + "healthz")
        assert status == 200
        status, _, body = await fetch(server.url + "api/status")
        assert status == 200 and '"articles.processed": 4' in body and '"stale": false' in body
    finally:
        await server.stop()
        await store.close()


async def test_redis_down_is_a_clear_message_and_503() -> None:
    """With Redis unreachable the page's data says so, and /healthz answers 503."""
    store = StatusStore.from_url(f"redis://127.0.0.1:{closed_port()}/0")
    server = WebServer(store, "127.0.0.1", 0)
    await server.start()
    try:
        status, _, body = await fetch(server.url + "healthz")
        assert status == 503 and "Redis unreachable" in body
        status, _, body = await fetch(server.url + "api/status")
        assert status == 200 and '"ok": false' in body
    finally:
        await server.stop()
        await store.close()
