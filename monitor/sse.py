"""Server-Sent Events plumbing shared by the status page and the alert stream.

:func:`start_event_stream` opens a response as an event stream. :class:`SharedReader` is one
background reader shared by every listener, running only while anyone listens.

The status page's :class:`monitor.web.Broadcaster` and the alert stream's
:class:`monitor.alertstream.AlertFeed` both read Redis on a timer for all their open connections
at once. This base holds that lifecycle: listeners attach and detach, the first attach starts the
loop, the loop stops when the last one leaves, :meth:`close` wakes everyone and ends it. A
subclass says what one read does (:meth:`_read`, which updates its state under ``_changed`` and
notifies) and how listeners consume the state.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

RETRY_MS = 2000


async def start_event_stream(request: web.Request) -> web.StreamResponse:
    """A prepared ``text/event-stream`` response, not cached or buffered by proxies, that tells
    the browser to reconnect after ``RETRY_MS``."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(f"retry: {RETRY_MS}\n\n".encode())
    return response


class SharedReader:
    def __init__(self, interval: float, name: str):
        self.interval = interval
        self._name = name
        self._changed = asyncio.Condition()
        self._listeners = 0
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def _attach(self) -> None:
        self._listeners += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self._name)

    def _detach(self) -> None:
        self._listeners -= 1

    async def _read(self) -> None:
        """One read; update state under ``self._changed`` and notify. Must not raise."""
        raise NotImplementedError

    async def _run(self) -> None:
        while self._listeners and not self._closing:
            await self._read()
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
