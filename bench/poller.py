"""Poller throughput and CPU cost: 1,000 local feeds, 10% of them changing per cycle.

    python bench/poller.py [--feeds 1000] [--cycles 3] [--change 0.1] [--hosts 100]

A child process serves the feeds (RSS, 20 items each, spread over ``--hosts`` ports as if on as
many hosts; one in five ignores validators, so it is judged unchanged by its body hash) and runs
the embedded Kafka broker, so this process's CPU time is the poller's own (fetching, hashing,
parsing in threads, producing, Redis calls). Redis is a real redis-server in its own process.

Cycle 0 publishes every feed (warm-up). Cycle 1 changes nothing: its CPU divided by the feed
count is the cost of an unchanged feed. Cycles 2.. change ``--change`` of the feeds each; their
CPU, less the unchanged feeds' share, divided by the changed count is the cost of a changed feed.
Targets: a full cycle of 1,000 feeds under 15 s; an unchanged feed under 2 ms of CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import multiprocessing
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from aiohttp import web

from monitor.embedded import EmbeddedBroker, EmbeddedRedis
from monitor.feeds import FeedConfig
from monitor.fetch import Fetcher
from monitor.outbox import start_idempotent_producer
from monitor.poller import Poller
from monitor.settings import PollSettings
from monitor.status import StatusStore

ITEMS = 20
START = datetime(2025, 3, 1, tzinfo=UTC)


def render(feed: int, version: int) -> bytes:
    items = []
    for n in range(version + ITEMS - 1, version - 1, -1):
        when = START + timedelta(minutes=17 * n + feed)
        items.append(
            f"<item><guid>https://h{feed}.example/a/{n}</guid>"
            f"<title>Feed {feed} story {n}: ceasefire talks resume in Riyadh</title>"
            f"<link>https://h{feed}.example/a/{n}?utm_source=rss</link>"
            f"<pubDate>{format_datetime(when)}</pubDate>"
            f"<description>&lt;p&gt;Delegations met on day {n} to discuss a partial truce "
            f"covering energy infrastructure and the Black Sea.&lt;/p&gt;</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench feed {feed}</title><link>https://h{feed}.example/</link>"
        f"<language>en</language>{''.join(items)}</channel></rss>"
    ).encode()


def serve(feeds: int, hosts: int, change: float, ready: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """The child: feed server on ``hosts`` ports, and the embedded broker."""
    broker = EmbeddedBroker()
    bootstrap = broker.start()
    versions = [0] * feeds
    bodies = [render(i, 0) for i in range(feeds)]
    etags = ['"' + hashlib.sha256(b).hexdigest()[:16] + '"' for b in bodies]
    cycle = 0

    async def feed(request: web.Request) -> web.Response:
        i = int(request.match_info["n"])
        if i % 5 == 0:  # ignores validators: always the full body, no ETag
            return web.Response(body=bodies[i], content_type="application/rss+xml")
        if request.headers.get("If-None-Match") == etags[i]:
            return web.Response(status=304, headers={"ETag": etags[i]})
        return web.Response(
            body=bodies[i], headers={"ETag": etags[i]}, content_type="application/rss+xml"
        )

    async def advance(_request: web.Request) -> web.Response:
        nonlocal cycle
        cycle += 1
        count = int(feeds * change)
        start = (cycle * count) % feeds
        for i in [(start + k) % feeds for k in range(count)]:
            versions[i] += 1
            bodies[i] = render(i, versions[i])
            etags[i] = '"' + hashlib.sha256(bodies[i]).hexdigest()[:16] + '"'
        return web.json_response({"changed": count})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{n}.xml", feed)
        app.router.add_post("/advance", advance)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        ports = []
        for _ in range(hosts):
            site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
            await site.start()
            assert site._server is not None
            ports.append(site._server.sockets[0].getsockname()[1])
        ready.put({"ports": ports, "bootstrap": bootstrap})
        await asyncio.Event().wait()

    asyncio.run(main())


async def bench(args: argparse.Namespace) -> dict[str, object]:
    ready: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    child = multiprocessing.Process(
        target=serve, args=(args.feeds, args.hosts, args.change, ready), daemon=True
    )
    child.start()
    info = ready.get(timeout=60)
    ports, bootstrap = info["ports"], info["bootstrap"]
    redis = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="bench-redis-")))
    redis_url = redis.start()
    status = StatusStore.from_url(redis_url)
    producer = await start_idempotent_producer(bootstrap)
    feeds = [
        FeedConfig(
            url=f"http://127.0.0.1:{ports[i % len(ports)]}/feed/{i}.xml",
            allow_private=True,
        )
        for i in range(args.feeds)
    ]
    settings = PollSettings(concurrency=args.concurrency)
    poller = Poller(feeds, settings=settings, producer=producer, status=status, ident="bench")
    control = f"http://127.0.0.1:{ports[0]}/advance"
    rows = []
    try:
        async with Fetcher(settings) as fetcher:
            await poller.load_states()
            for cycle in range(args.cycles + 2):
                changed = 0
                if cycle >= 2:
                    async with fetcher.session(True).post(control) as resp:
                        changed = (await resp.json())["changed"]
                cpu, wall = time.process_time(), time.perf_counter()
                await poller.poll_all(fetcher)
                rows.append(
                    {
                        "cycle": cycle,
                        "changed": changed,
                        "wall_s": time.perf_counter() - wall,
                        "cpu_s": time.process_time() - cpu,
                        "published": poller.published,
                    }
                )
                print(json.dumps(rows[-1]), file=sys.stderr)
    finally:
        await producer.stop()
        await status.close()
        redis.stop()
        child.terminate()
    unchanged = rows[1]
    per_unchanged = unchanged["cpu_s"] / args.feeds
    changing = rows[2:]
    per_changed = sum(
        (r["cpu_s"] - (args.feeds - r["changed"]) * per_unchanged) / max(r["changed"], 1)
        for r in changing
    ) / len(changing)
    full_cycle = sum(r["wall_s"] for r in changing) / len(changing)
    return {
        "feeds": args.feeds,
        "hosts": args.hosts,
        "concurrency": args.concurrency,
        "first_cycle_s": round(rows[0]["wall_s"], 2),
        "unchanged_cycle_s": round(unchanged["wall_s"], 2),
        "full_cycle_s (10% changed)": round(full_cycle, 2),
        "feeds_per_s": round(args.feeds / full_cycle, 1),
        "cpu_ms_per_unchanged_feed": round(per_unchanged * 1000, 3),
        "cpu_ms_per_changed_feed": round(per_changed * 1000, 2),
        "published": rows[-1]["published"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=3, help="cycles with changes")
    parser.add_argument("--change", type=float, default=0.1)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=PollSettings().concurrency)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    result = asyncio.run(bench(args))
    for key, value in result.items():
        print(f"{key:32} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
