"""WebSub (W3C) subscriber: pushed feed updates reach the poller without waiting for a poll.

When a parsed feed advertises a hub (``<link rel="hub">``), the poller asks :class:`WebSub` to
subscribe to the feed's topic (its ``rel="self"`` URL, else the feed URL). The flow:

1. ``POST hub`` with ``hub.mode=subscribe``, ``hub.topic``, ``hub.callback`` (this server, one path
   per feed), ``hub.secret`` (per subscription) and ``hub.lease_seconds``;
2. the hub verifies intent with ``GET callback?hub.mode=subscribe&hub.topic=..&hub.challenge=..``:
   we echo the challenge only for a topic we asked for, and note the lease;
3. the hub pushes new content with ``POST callback``; the body counts only when its
   ``X-Hub-Signature`` (sha1/sha256/sha384/sha512 HMAC with our secret) matches. A bad or missing
   signature is acknowledged (as the spec asks) and ignored;
4. leases are renewed before they run out. Polling carries on as the fallback.

Subscriptions live in memory; after a restart the first poll of each feed subscribes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import ClientError, web

from monitor.fetch import BodyTooLargeError, Fetcher, decode_body, is_private_host
from monitor.settings import PollSettings

log = logging.getLogger(__name__)
SIGNATURE_METHODS = {"sha1", "sha256", "sha384", "sha512"}
RENEW_MARGIN = 0.1  # renew when less than 10% of the lease is left
TICK = 5.0
PushHandler = Callable[[str, bytes, dict[str, str]], Coroutine[Any, Any, None]]


@dataclass
class Subscription:
    """One feed's subscription at its hub."""

    feed: str
    hub: str
    topic: str
    secret: str
    allow_private: bool
    state: Literal["pending", "active", "denied", "failed"] = "pending"
    lease: float = 0.0
    expires: float = 0.0
    requested: float = 0.0


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``X-Hub-Signature: method=hexdigest`` is the HMAC of ``body`` with ``secret``."""
    if not header or "=" not in header:
        return False
    method, _, digest = header.strip().partition("=")
    if method.lower() not in SIGNATURE_METHODS:
        return False
    expected = hmac.new(secret.encode(), body, method.lower()).hexdigest()
    return hmac.compare_digest(expected, digest.strip().lower())


class WebSub:
    """The callback server and the subscriptions it serves."""

    def __init__(
        self, settings: PollSettings, fetcher: Fetcher, on_push: PushHandler, *, key: bytes = b""
    ):
        if not settings.websub_url:
            raise ValueError("WebSub needs settings.websub_url (MONITOR_POLL__WEBSUB_URL)")
        self.settings = settings
        self.base = settings.websub_url.rstrip("/")
        self.fetcher = fetcher
        self.on_push = on_push
        self.key = key or os.urandom(32)
        self.subscriptions: dict[str, Subscription] = {}  # token -> subscription
        self.pushes = 0
        self.rejected = 0
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def token(self, feed: str) -> str:
        return hmac.new(self.key, feed.encode(), hashlib.sha256).hexdigest()[:32]

    def callback(self, feed: str) -> str:
        return f"{self.base}/websub/{self.token(feed)}"

    async def start(self) -> None:
        app = web.Application(client_max_size=self.settings.max_bytes + 1)
        app.router.add_get("/websub/{token}", self._verify)
        app.router.add_post("/websub/{token}", self._push)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.websub_host, self.settings.websub_port)
        await site.start()
        log.info(
            "websub.listening on=%s:%s callback=%s",
            self.settings.websub_host,
            self.settings.websub_port,
            self.base,
        )

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner:
            await self._runner.cleanup()

    # subscribing -------------------------------------------------------------------------------
    async def ensure(self, feed: str, hub: str, topic: str, *, allow_private: bool) -> None:
        """Subscribe unless an active or pending subscription to this hub and topic exists."""
        token = self.token(feed)
        sub = self.subscriptions.get(token)
        if sub and (sub.hub, sub.topic) == (hub, topic):
            if sub.state in ("pending", "denied") and time.time() - sub.requested < 3600:
                return
            if sub.state == "active" and not self._due(sub, time.time()):
                return
            if sub.state == "failed" and time.time() - sub.requested < 600:
                return
        secret = hmac.new(self.key, f"secret\n{feed}\n{topic}".encode(), "sha256").hexdigest()
        sub = Subscription(feed, hub, topic, secret, allow_private)
        self.subscriptions[token] = sub
        await self._subscribe(sub)

    def _due(self, sub: Subscription, now: float) -> bool:
        return sub.expires - now < max(sub.lease * RENEW_MARGIN, 2 * TICK)

    async def _subscribe(self, sub: Subscription) -> None:
        sub.requested = time.time()
        if not sub.allow_private and await is_private_host(sub.hub):
            sub.state = "failed"
            log.warning("websub.refused feed=%s hub=%s: private address", sub.feed, sub.hub)
            return
        form = {
            "hub.mode": "subscribe",
            "hub.topic": sub.topic,
            "hub.callback": self.callback(sub.feed),
            "hub.secret": sub.secret,
            "hub.lease_seconds": str(self.settings.websub_lease),
        }
        session = self.fetcher.session(sub.allow_private)
        try:
            async with session.post(sub.hub, data=form, allow_redirects=False) as resp:
                if resp.status in (202, 204):
                    sub.state = "pending"
                    log.info("websub.requested feed=%s hub=%s", sub.feed, sub.hub)
                    return
                detail = (await resp.content.read(300)).decode(errors="replace")
                sub.state = "failed"
                log.warning(
                    "websub.subscribe_failed feed=%s hub=%s status=%d body=%s",
                    sub.feed,
                    sub.hub,
                    resp.status,
                    detail,
                )
        except (ClientError, TimeoutError, OSError) as exc:
            sub.state = "failed"
            log.warning("websub.subscribe_failed feed=%s hub=%s error=%s", sub.feed, sub.hub, exc)

    async def renew(self, stop: asyncio.Event) -> None:
        """Renew leases before they run out, until ``stop``."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), TICK)
            now = time.time()
            for sub in list(self.subscriptions.values()):
                if sub.state == "active" and self._due(sub, now):
                    log.info("websub.renewing feed=%s", sub.feed)
                    await self._subscribe(sub)

    # the callback ------------------------------------------------------------------------------
    async def _verify(self, request: web.Request) -> web.Response:
        sub = self.subscriptions.get(request.match_info["token"])
        query = request.query
        mode, topic = query.get("hub.mode", ""), query.get("hub.topic", "")
        if sub is None or topic != sub.topic:
            return web.Response(status=404, text="no such subscription")
        if mode == "denied":
            sub.state = "denied"
            log.warning("websub.denied feed=%s reason=%s", sub.feed, query.get("hub.reason"))
            return web.Response(text="ok")
        if mode != "subscribe" or "hub.challenge" not in query:
            return web.Response(status=404, text="unexpected verification")
        try:
            lease = float(query.get("hub.lease_seconds", self.settings.websub_lease))
        except ValueError:
            lease = float(self.settings.websub_lease)
        sub.state, sub.lease, sub.expires = "active", lease, time.time() + lease
        log.info("websub.active feed=%s lease=%.0f", sub.feed, lease)
        return web.Response(text=query["hub.challenge"], content_type="text/plain")

    async def _push(self, request: web.Request) -> web.Response:
        sub = self.subscriptions.get(request.match_info["token"])
        if sub is None or sub.state not in ("active", "pending"):
            return web.Response(status=410, text="not subscribed")
        raw = await request.read()
        if not signature_ok(sub.secret, raw, request.headers.get("X-Hub-Signature")):
            self.rejected += 1
            log.warning("websub.bad_signature feed=%s", sub.feed)
            return web.Response(status=202, text="ignored")  # the spec: acknowledge, ignore
        try:
            body = decode_body(
                raw, request.headers.get("Content-Encoding", ""), self.settings.max_bytes
            )
        except (BodyTooLargeError, ValueError, OSError) as exc:
            log.warning("websub.bad_body feed=%s error=%s", sub.feed, exc)
            return web.Response(status=202, text="ignored")
        self.pushes += 1
        headers = {k.lower(): v for k, v in request.headers.items()}
        task = asyncio.create_task(self.on_push(sub.feed, body, headers), name="websub push")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=202, text="accepted")
