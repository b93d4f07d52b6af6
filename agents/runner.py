"""Running the Faust app inside our own event loop, alone (``monitor worker``) or with every other
part in one process (``monitor run``). The CLI imports this lazily, so ``monitor`` never
imports Faust.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
import time
from collections import Counter
from typing import TextIO

from agents.app import create_app
from monitor.alertstream import extend_status_server
from monitor.catalog import load_matcher
from monitor.delivery import delivery_tasks
from monitor.demo import DemoServer, VirtualClock, load_timeline
from monitor.errors import ServiceError
from monitor.feeds import FeedConfig, load_feed_list
from monitor.follow import follow_alerts
from monitor.models import Alert
from monitor.outbox import start_idempotent_producer
from monitor.poller import Poller
from monitor.rulebook import open_rulebook
from monitor.services import Services, start_services, stop_on_signals
from monitor.settings import Settings
from monitor.status import StatusStore
from monitor.web import WebServer

log = logging.getLogger(__name__)
PROGRESS_EVERY = 10.0


async def run_worker(settings: Settings, services: Services) -> None:
    """The Faust worker until SIGINT/SIGTERM."""
    rules = await open_rulebook(settings, services.endpoints.kafka)
    app = create_app(settings, services.endpoints, rules)
    stop = asyncio.Event()
    with stop_on_signals(stop):
        await app.start()
        log.info("worker.started rules=%d broker=%s", rules.matcher.size, services.endpoints.kafka)
        try:
            await stop.wait()
        finally:
            await app.stop()
            await app.monitor_status.close()
            await rules.stop()


async def run_all(
    settings: Settings, *, demo: bool, out: TextIO = sys.stdout, stop: asyncio.Event | None = None
) -> int:
    """Broker, Redis, (demo feed server), pollers, worker, web and an alert printer in one process.

    Runs until SIGINT/SIGTERM, or until ``stop`` is set by the caller.
    """
    load_matcher(settings)  # refuse bad config rules before starting anything
    timeline = load_timeline(settings.demo_file) if demo else None
    feeds: list[FeedConfig] = [] if demo else load_feed_list(settings.feeds_file)
    services = await asyncio.to_thread(start_services, settings)
    stop = stop or asyncio.Event()
    colour = out.isatty()
    counts: Counter[str] = Counter()
    first_alert: list[float] = []
    started = time.monotonic()
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(services.stop)
        stack.enter_context(stop_on_signals(stop))
        status = StatusStore.from_url(services.endpoints.redis)
        stack.push_async_callback(status.close)
        web = WebServer(
            status,
            settings.web.host,
            settings.web.port,
            kafka=services.endpoints.kafka,
            extend=functools.partial(extend_status_server, settings=settings, store=status),
        )
        try:
            await web.start()
        except OSError as exc:
            raise ServiceError(
                f"cannot serve the status page on {settings.web.host}:{settings.web.port}: "
                f"{exc.strerror}; choose another port with --port or MONITOR_WEB__PORT"
            ) from exc
        stack.push_async_callback(web.stop)
        services.publish(web.url)
        clock = None
        if timeline is not None:
            clock = VirtualClock(
                timeline.start,
                timeline.end,
                duration=settings.demo.duration,
                speed=settings.demo.speed,
            )
            server = DemoServer(timeline, clock)
            await server.start()
            stack.push_async_callback(server.stop)
            feeds = server.feeds(settings.demo.poll_interval)
        rules = await open_rulebook(settings, services.endpoints.kafka)
        stack.push_async_callback(rules.stop)
        app = create_app(settings, services.endpoints, rules)
        await app.start()
        stack.push_async_callback(app.monitor_status.close)
        stack.push_async_callback(app.stop)
        producer = await start_idempotent_producer(services.endpoints.kafka)
        stack.push_async_callback(producer.stop)
        poller = Poller(
            feeds,
            settings=settings.poll,
            producer=producer,
            status=status,
            ident=f"{settings.worker_id}-run",
        )

        def on_alert(alert: Alert) -> None:
            counts[alert.data.category] += 1
            if not first_alert:
                first_alert.append(time.monotonic() - started)

        categories = sorted({r.category for r in rules.matcher.rules})
        _banner(out, settings, services, web.url, feeds, timeline is not None, categories)
        tasks = [
            asyncio.create_task(poller.run(), name="poller"),
            asyncio.create_task(
                follow_alerts(
                    services.endpoints.kafka,
                    None,  # every alerts.* topic, including categories that rules add later
                    out=out,
                    from_beginning=True,
                    colour=colour,
                    stop=stop,
                    on_alert=on_alert,
                ),
                name="follow",
            ),
            asyncio.create_task(_progress(out, status, clock, counts, stop), name="progress"),
            # webhooks and Apprise URLs of config/webhooks.yaml, when any are configured
            *delivery_tasks(
                settings, kafka=services.endpoints.kafka, redis=services.endpoints.redis, stop=stop
            ),
        ]
        stop_task = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stop_task, *tasks], return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        poller.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if task is not stop_task and task.exception():
                raise task.exception()  # type: ignore[misc]
        out.write(_summary(counts, first_alert) + "\n")
        out.write("stopping…\n")
        out.flush()
    return 0


def _banner(
    out: TextIO,
    settings: Settings,
    services: Services,
    web_url: str,
    feeds: list[FeedConfig],
    demo: bool,
    categories: list[str],
) -> None:
    mode = "embedded" if services.owns_any else "external"
    lines = [
        f"news monitor · {mode} mode · broker {services.endpoints.kafka} · "
        f"redis {services.endpoints.redis}",
        f"status page: {web_url}",
        f"polling {len(feeds)} {'demo ' if demo else ''}feeds; alerts on "
        + ", ".join(f"alerts.{c}" for c in categories)
        + " (and any category a new rule adds)",
        f"logs: {settings.data_dir / 'monitor.log'} · follow elsewhere: "
        "monitor alerts follow ceasefire · Ctrl-C stops",
        "",
    ]
    out.write("\n".join(lines) + "\n")
    out.flush()


async def _progress(
    out: TextIO,
    status: StatusStore,
    clock: VirtualClock | None,
    counts: Counter[str],
    stop: asyncio.Event,
) -> None:
    announced_end = False
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PROGRESS_EVERY)
            return
        try:
            counters = await status.counters()
        except Exception:  # status is for people; a Redis hiccup must not stop the run
            counters = {}
        where = ""
        if clock is not None:
            where = f"demo at {clock.now():%Y-%m-%d} ({clock.progress():.0%}) · "
        alerts = ", ".join(f"{c} {n}" for c, n in sorted(counts.items())) or "none yet"
        out.write(
            f"… {where}articles {counters.get('articles.processed', 0)}, "
            f"matched {counters.get('articles.matched', 0)} · alerts: {alerts}\n"
        )
        if clock is not None and clock.finished and not announced_end:
            announced_end = True
            out.write(
                "demo timeline finished · "
                + _summary(counts, None)
                + " · the status page stays up; Ctrl-C stops\n"
            )
        out.flush()


def _summary(counts: Counter[str], first_alert: list[float] | None) -> str:
    total = sum(counts.values())
    per = ", ".join(f"{c} {n}" for c, n in sorted(counts.items())) or "none"
    text = f"{total} alerts ({per})"
    if first_alert:
        text += f"; first alert {first_alert[0]:.1f}s after start"
    return text
