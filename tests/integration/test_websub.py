"""A WebSub round trip with a local hub: subscribe, verify intent, signed pushes, lease renewal."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from monitor.feeds import FeedConfig
from monitor.kafka import ARTICLES_TOPIC, start_consumer
from monitor.models import Article
from monitor.outbox import start_idempotent_producer
from monitor.poller import Poller
from monitor.settings import PollSettings
from monitor.status import StatusStore
from monitor.websub import signature_ok
from tests.integration.feedserver import FeedServer


@dataclass
class Hub:
    """A minimal WebSub hub: verifies intent on subscribe, then lets the test publish."""

    subscribers: dict[str, tuple[str, str]] = field(default_factory=dict)  # topic -> (cb, secret)
    requests: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    verified: asyncio.Event = field(default_factory=asyncio.Event)

    async def _subscribe(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.requests += 1
        task = asyncio.create_task(
            self._verify(
                str(form["hub.callback"]),
                str(form["hub.topic"]),
                str(form["hub.secret"]),
                int(str(form["hub.lease_seconds"])),
            )
        )
        self._tasks.add(task)
        return web.Response(status=202)

    async def _verify(self, callback: str, topic: str, secret: str, lease: int) -> None:
        challenge = secrets.token_hex(8)
        params = {
            "hub.mode": "subscribe",
            "hub.topic": topic,
            "hub.challenge": challenge,
            "hub.lease_seconds": str(min(lease, 12)),  # short leases: the poller must renew
        }
        async with (
            aiohttp.ClientSession() as session,
            session.get(callback, params=params) as resp,
        ):
            if resp.status == 200 and await resp.text() == challenge:
                self.subscribers[topic] = (callback, secret)
                self.verified.set()

    async def publish(self, topic: str, body: bytes, *, secret: str | None = None) -> int:
        callback, real_secret = self.subscribers[topic]
        key = (secret or real_secret).encode()
        signature = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                callback,
                data=body,
                headers={"Content-Type": "application/rss+xml", "X-Hub-Signature": signature},
            ) as resp,
        ):
            return resp.status

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hub", self._subscribe)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._runner:
            await self._runner.cleanup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def feed_doc(hub: str, self_url: str, *items: tuple[str, str]) -> bytes:
    entries = "".join(
        f"<item><guid>{g}</guid><title>{t}</title><link>https://h.example/{g}</link></item>"
        for g, t in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
        f'<channel><title>Hubbed</title><atom:link rel="hub" href="{hub}"/>'
        f'<atom:link rel="self" href="{self_url}"/>{entries}</channel></rss>'
    ).encode()


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    started = Hub()
    await started.start()
    yield started
    await started.stop()


async def articles_titled(broker: str, titles: set[str], seconds: float = 20) -> set[str]:
    consumer = await start_consumer(broker, [ARTICLES_TOPIC], from_beginning=True)
    seen: set[str] = set()
    try:
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline and not titles <= seen:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                seen |= {Article.from_bytes(r.value).title for r in records} & titles
    finally:
        await consumer.stop()
    return seen


async def test_a_pushed_update_is_published_without_waiting_for_a_poll(
    broker: str, fresh_redis: str, hub: Hub
) -> None:
    """The poller subscribes at the advertised hub, answers the challenge, publishes a signed
    push at once (no new fetch), ignores a push with a wrong signature, and renews its lease."""
    server = FeedServer()
    await server.start()
    hub_url = f"http://127.0.0.1:{hub.port}/hub"
    topic = server.url("hubbed")
    server.feeds["hubbed"] = feed_doc(hub_url, topic, ("1", "Before the push"))
    port = free_port()
    settings = PollSettings(interval=3600, websub_url=f"http://127.0.0.1:{port}", websub_port=port)
    feed = FeedConfig(url=topic, name="Hubbed", allow_private=True, interval=3600)
    status = StatusStore.from_url(fresh_redis)
    producer = await start_idempotent_producer(broker)
    poller = Poller([feed], settings=settings, producer=producer, status=status)
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.wait_for(hub.verified.wait(), 20)
        assert topic in hub.subscribers
        forged = feed_doc(hub_url, topic, ("3", "Forged push"))
        assert await hub.publish(topic, forged, secret="not-the-secret") == 202
        pushed = feed_doc(hub_url, topic, ("2", "Pushed ceasefire news"), ("1", "Before the push"))
        assert await hub.publish(topic, pushed) == 202
        found = await articles_titled(broker, {"Before the push", "Pushed ceasefire news"})
        assert found == {"Before the push", "Pushed ceasefire news"}
        assert server.count("hubbed") == 1  # the push arrived without another fetch
        assert poller.websub is not None and poller.websub.rejected == 1
        for _ in range(100):  # the 12 s lease is renewed before it runs out
            if hub.requests >= 2:
                break
            await asyncio.sleep(0.2)
        assert hub.requests >= 2
    finally:
        poller.stop()
        await task
        await producer.stop()
        await status.close()
        await server.stop()
    assert "Forged push" not in await articles_titled(broker, {"Forged push"}, seconds=3)


def test_signatures_are_checked_with_every_supported_method() -> None:
    """sha1 to sha512 HMACs verify; a wrong secret, method or missing header does not."""
    body = b"<rss/>"
    for method in ("sha1", "sha256", "sha384", "sha512"):
        digest = hmac.new(b"s3cret", body, method).hexdigest()
        assert signature_ok("s3cret", body, f"{method}={digest}")
        assert not signature_ok("other", body, f"{method}={digest}")
    assert not signature_ok("s3cret", body, None)
    assert not signature_ok("s3cret", body, "md5=" + hashlib.md5(body).hexdigest())  # noqa: S324
