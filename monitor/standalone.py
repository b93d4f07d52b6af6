"""The parts that run alone: ``poll``, ``web``, ``broker`` and ``alerts follow``."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
from typing import Any

from monitor.alertstream import extend_status_server
from monitor.embedded import resolve_endpoints
from monitor.feeds import FeedConfig
from monitor.follow import follow_alerts
from monitor.outbox import start_idempotent_producer
from monitor.poller import Poller
from monitor.services import start_services, stop_on_signals
from monitor.settings import Settings
from monitor.status import StatusStore
from monitor.web import WebServer

log = logging.getLogger(__name__)


async def run_poller(
    settings: Settings, feeds: list[FeedConfig], *, once: bool = False
) -> dict[str, Any] | None:
    """The pollers until SIGINT/SIGTERM, or one pass over every feed with ``once`` (returning
    its summary). Articles go through an idempotent producer; WebSub runs when configured."""
    endpoints = resolve_endpoints(settings)
    status = StatusStore.from_url(endpoints.redis)
    producer = await start_idempotent_producer(endpoints.kafka)
    poller = Poller(
        feeds, settings=settings.poll, producer=producer, status=status, ident=settings.worker_id
    )
    summary = None
    try:
        if once:
            summary = await poller.run_once()
        else:
            stop = asyncio.Event()
            with stop_on_signals(stop):
                task = asyncio.create_task(poller.run())
                await asyncio.wait(
                    [task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
                )
                poller.stop()
                await task
    finally:
        await producer.stop()
        await status.close()
    return summary


async def run_web(settings: Settings) -> None:
    endpoints = resolve_endpoints(settings)
    status = StatusStore.from_url(endpoints.redis)
    server = WebServer(
        status,
        settings.web.host,
        settings.web.port,
        kafka=endpoints.kafka,
        extend=functools.partial(extend_status_server, settings=settings, store=status),
    )
    await server.start()
    print(f"status page: {server.url}", flush=True)
    stop = asyncio.Event()
    with stop_on_signals(stop):
        await stop.wait()
    await server.stop()
    await status.close()


async def run_broker(settings: Settings) -> None:
    services = await asyncio.to_thread(start_services, settings)
    try:
        print(
            f"kafka bootstrap: {services.endpoints.kafka}\n"
            f"redis: {services.endpoints.redis}\n"
            f"runtime file: {settings.runtime_file} (other monitor commands read it)\n"
            "Ctrl-C stops",
            flush=True,
        )
        stop = asyncio.Event()
        with stop_on_signals(stop):
            await stop.wait()
    finally:
        services.stop()


async def follow(
    settings: Settings, categories: list[str], *, from_beginning: bool, as_json: bool
) -> None:
    endpoints = resolve_endpoints(settings)
    if not as_json:
        where = "from the beginning"
        if not from_beginning:
            where = "new alerts only (--from-beginning replays)"
        topics = "every alerts.* topic"
        if categories:
            topics = ", ".join("alerts." + c for c in categories)
        print(
            f"following {topics} on {endpoints.kafka}, {where}; Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
    stop = asyncio.Event()
    with stop_on_signals(stop), contextlib.suppress(asyncio.CancelledError):
        await follow_alerts(
            endpoints.kafka,
            categories or None,
            out=sys.stdout,
            from_beginning=from_beginning,
            as_json=as_json,
            colour=sys.stdout.isatty() and not as_json,
            stop=stop,
        )
