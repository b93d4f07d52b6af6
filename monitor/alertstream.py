"""Alerts as Server-Sent Events for browsers and scripts: ``GET /api/alerts/stream`` on the status
page's server.

Each alert is one event: ``event: alert``, ``id:`` its CloudEvent id, ``data:`` its CloudEvent
JSON on one line. Like the rest of the status page it reads Redis only, the newest alerts the
workers keep there (``StatusStore.recent_alerts``, 200): one shared reader polls them twice a second
while anyone listens, and hands new ones to every open stream.

- No resume point: alerts from now on.
- ``Last-Event-ID`` (browsers send it when they reconnect) or ``?last_event_id=ID``: every alert
  after that one, then new ones; an id Redis no longer holds gives every alert it still holds
  (clients dedupe on the id).
- ``?category=ceasefire`` (repeatable): only those categories.
- A ``: keepalive`` comment after 15 s without an alert, so proxies keep the connection open.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from aiohttp import web

from monitor.rulesapi import add_rule_api
from monitor.settings import Settings
from monitor.sse import SharedReader, start_event_stream
from monitor.status import RECENT_ALERTS, StatusStore

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
STREAM_PATH = "/api/alerts/stream"


@dataclass(frozen=True)
class StreamEvent:
    seq: int
    id: str
    category: str
    data: str

    def encode(self) -> bytes:
        return f"id: {self.id}\nevent: alert\ndata: {self.data}\n\n".encode()


class AlertFeed(SharedReader):
    """One reader of the recent alerts in Redis for every open stream, while any is open."""

    def __init__(
        self, store: StatusStore, *, poll: float = POLL_SECONDS, size: int = RECENT_ALERTS
    ):
        super().__init__(poll, "alert stream reader")
        self.store, self.size = store, size
        self._events: deque[StreamEvent] = deque(maxlen=size)
        self._seq_of: dict[str, int] = {}
        self._seq = 0
        self._reads = 0

    async def listen(
        self, last_id: str | None = None, *, keepalive: float = KEEPALIVE_SECONDS
    ) -> AsyncGenerator[StreamEvent | None, None]:
        """Alerts after ``last_id`` (or from now on), as they arrive; None after ``keepalive``
        seconds without one."""
        self._attach()
        try:
            async with self._changed:
                reads = self._reads
                await self._changed.wait_for(lambda: self._reads > reads or self._closing)
                position = self._start(last_id)
            while not self._closing:
                async with self._changed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self._changed.wait_for(functools.partial(self._beyond, position)),
                            keepalive,
                        )
                    fresh = [e for e in self._events if e.seq > position]
                    position = self._seq
                if self._closing:
                    return
                if not fresh:
                    yield None
                for event in fresh:
                    yield event
        finally:
            self._detach()

    def _beyond(self, position: int) -> bool:
        return self._seq > position or self._closing

    def _start(self, last_id: str | None) -> int:
        if not last_id:
            return self._seq
        found = self._seq_of.get(last_id)
        if found is not None:
            return found
        return self._events[0].seq - 1 if self._events else self._seq

    async def _read(self) -> None:
        try:
            alerts = await self.store.recent_alerts(self.size)
        except Exception as exc:  # Redis down: streams stay open and catch up when it is back
            log.warning("alertstream.read_failed error=%s", exc)
            alerts = []
        async with self._changed:
            for alert in reversed(alerts):  # oldest first
                self._add(alert)
            self._reads += 1
            self._changed.notify_all()

    def _add(self, alert: dict[str, object]) -> None:
        alert_id = alert.get("id")
        if not isinstance(alert_id, str) or alert_id in self._seq_of:
            return
        data = alert.get("data")
        category = data.get("category") if isinstance(data, dict) else None
        if len(self._events) == self._events.maxlen:
            self._seq_of.pop(self._events[0].id, None)
        self._seq += 1
        self._events.append(
            StreamEvent(
                seq=self._seq,
                id=alert_id,
                category=str(category or ""),
                data=json.dumps(alert, separators=(",", ":"), ensure_ascii=False),
            )
        )
        self._seq_of[alert_id] = self._seq


_FEED_KEY = web.AppKey("alert_feed", AlertFeed)
_KEEPALIVE_KEY = web.AppKey("alert_stream_keepalive", float)


async def _stream(request: web.Request) -> web.StreamResponse:
    last_id = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    categories = set(request.query.getall("category", []))
    response = await start_event_stream(request)
    feed = request.app[_FEED_KEY]
    keepalive = request.app[_KEEPALIVE_KEY]
    try:
        async with contextlib.aclosing(feed.listen(last_id, keepalive=keepalive)) as events:
            async for event in events:
                if event is None:
                    await response.write(b": keepalive\n\n")
                elif not categories or event.category in categories:
                    await response.write(event.encode())
    except ConnectionResetError:
        log.debug("alertstream.closed peer=%s", request.remote)
    return response


def add_alert_stream(
    app: web.Application,
    store: StatusStore,
    *,
    keepalive: float = KEEPALIVE_SECONDS,
    poll: float = POLL_SECONDS,
) -> None:
    """Mount ``GET /api/alerts/stream`` on an aiohttp app (before it starts)."""
    feed = AlertFeed(store, poll=poll)
    app[_FEED_KEY] = feed
    app[_KEEPALIVE_KEY] = keepalive

    async def close_feed(_app: web.Application) -> None:
        await feed.close()

    app.on_shutdown.append(close_feed)
    app.router.add_get(STREAM_PATH, _stream)


def extend_status_server(app: web.Application, *, settings: Settings, store: StatusStore) -> None:
    """Everything the status page's server offers beyond the page: the rules API and the alert
    stream (``WebServer(extend=functools.partial(extend_status_server, ...))``)."""
    add_rule_api(app, settings)
    add_alert_stream(app, store)
