"""Pipeline throughput, latency, CPU and memory on the embedded broker (issue 9).

    python bench/pipeline.py [--articles 60000] [--rate 1000] [--seconds 20] [--repeat 1]
                             [--memory 100000,1000000] [--guarantee exactly_once]

Articles are synthetic but realistic: the demo timeline's items (headline plus summary, about
a third of them matched by the shipped rules; each also moved by SHIFTS days, so reprints start
stories of their own) under varied ids and outlets make up ``--relevant`` of the stream (5%),
the dev set's headlines and summaries labelled ``event: false`` the rest, and ``--duplicates``
of them (default 2%) are re-sends of an earlier article, for the dedupe table.
Every article's ``fetched`` is the moment it is produced, so latencies are produce-to-X.

Each phase gets a fresh embedded broker (in this process) and an empty Redis; workers are their own
processes (``multiprocessing`` spawn), so their CPU time and peak memory (``VmHWM``) are theirs.

1. bare: a Faust agent on the same broker, options and consumer (``agents.consumer``) that only
   counts raw ``monitor.articles`` events, one at a time (Faust's per-event stream, which the
   worker's stages go around: agents/fastpath.py);
2. pipeline, one worker: the real app (``agents.app.create_app``: dedupe, match, matches topic,
   stories, alert topics, Redis status) on the same articles;
3. pipeline, two workers (one consumer group, two processes);
4. latency: one worker, ``--rate`` articles per second offered for ``--seconds``; produce to the
   agent's decision (dedupe and match done), and produce to the alert read from its topic
   (``read_committed``, as subscribers read);
5. memory: one worker through each ``--memory`` article count; its peak resident memory;
6. stock (only when asked for): the bare agent with Faust's own delivery of each message
   (``adjust_consumer(inline=False)``), the framework as shipped, for comparison;
7. frame, decode, match (only when asked for): one worker leaving out the work after that step
   (``leave_out``), so that with bare and one they show what each step costs inside a running
   worker: the frame (batching, tables, both stages, heartbeats) without decoding or matching,
   then with decoding, then with matching whose match records are dropped; the whole worker adds
   dedupe writes, sends, stories and alerts.

In the throughput phases the producer keeps at most ``--backlog`` articles (BACKLOG) not yet
decided on each partition of ``monitor.articles``, sending each article to its key's partition
itself; the rate is counted from the moment the workers have processed 10% of the articles to the
last one, so start-up and the first rebalance are not in it. A pipeline phase then reads alerts
until none has come for ALERT_QUIET seconds; if its last alert came after the last decision (the
story stage was behind), the rate and the CPU are counted to that alert, and the row says how
long after the last decision it came. The bound is per partition because
the embedded broker (librdkafka's mock cluster) keeps only the newest 5 MiB of each partition,
about 8,900 of these articles (520 bytes on average), and deletes older ones whether read or not:
a worker further behind than that on one partition loses records (its fetch position is out of
range, it skips to the log start and Faust commits over the hole; the worker reports it as
``articles.unread_deleted``). A bound on the total let one partition fall that far behind once
deliveries got cheaper and Faust served the partitions unevenly; a small total instead left the
broker nearly empty, since a worker holds a fetch of up to 1 MiB per partition (about 1,900
articles) in memory, so every fetch returned a few records and cost more per article. 6,000 per
partition is 3.6 MB at most and keeps fetches full. If the workers stop making progress for STALL
seconds the phase fails with a message instead of waiting.

The producer refills a partition only once it has room for ``--refill`` articles (REFILL), and
then sends them at once. The embedded broker answers a fetch with one of the producer's batches
per partition ("FIXME: Multiple messageSets?" in librdkafka's mock), where Kafka answers a consumer
that is behind with up to 1 MiB per partition. Refilled as room appeared, at every 5 ms pass,
batches held a dozen articles or two, and so did the workers' fetches (one worker: about 13 per
partition and fetch): a fetch's round trip through Faust's consumer thread then cost more than
the articles it brought, and one worker ran at 4,600-6,900/s, in one of two regimes from run to
run. Refilled 1,000 at a time (the producer's 2 ms linger cuts them into batches of about 130),
a fetch brings what a broker with a backlog would give more of; ``--refill 1`` measures the old
way.

Each throughput phase's row ends with the machine's pace just before and after it (``pace``: the
CPU milliseconds of a fixed piece of pure Python). On the shared 2-core machine that moves
between about 45 and 90 ms with nothing else running, so single runs of the same code differ by
up to twice: compare medians of ``--repeat`` runs made in turns, and look at the pace of outliers.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import collections
import json
import logging
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DEVSET = ROOT.parent / "shared" / "data" / "devset.jsonl"
BACKLOG = 6_000  # articles ahead of the workers on each partition (see the docstring)
REFILL = 1000  # articles a partition is refilled with at once (see the docstring)
WAITING = 2000  # articles held back for one partition before the producer stops generating
STALL = 60.0  # seconds without progress before a phase fails
ALERT_QUIET = 3.0  # seconds without a new alert after which a phase's alerts are all in
ALERT_LIMIT = 300.0  # seconds a phase waits at most for its alerts to settle
START_SHARE = 0.1  # rates are counted once the workers have processed this share
SHIFTS = (-6, -3, 0, 3, 6)  # days a timeline item's reprints are moved
WARM_UP = 200  # articles through the workers before an offered-load phase starts
PARTS = ("frame", "decode", "match")  # one worker leaving out the work after it (leave_out)
PART_NAMES = {
    "bare": "bare agent",
    "frame": "frame: batching, stages, heartbeats; no decoding or matching",
    "decode": "decode: + decoding articles",
    "match": "match: + matching (its match records dropped)",
    "one": "one worker: + dedupe writes, sends, stories, alerts",
}

log = logging.getLogger("bench.pipeline")


# articles -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Template:
    """An article's JSON with holes for its id and fetched time: ``parts[0] id parts[1] ...``."""

    parts: tuple[bytes, bytes, bytes]


def templates(devset: Path, timeline_path: Path, outlets: int = 40) -> tuple[list[Template], ...]:
    """(relevant-ish, negative) templates: timeline items, and the dev set's non-event items."""
    from monitor.demo import load_timeline

    timeline = load_timeline(timeline_path)
    id_hole, fetched_hole = "\x00ID\x00", "\x00FETCHED\x00"

    def template(title: str, summary: str, published: datetime, n: int) -> Template:
        outlet = f"outlet-{n % outlets}"
        record = {
            "id": id_hole,
            "title": title,
            "summary": summary,
            "link": f"https://{outlet}.example/a/{n}",
            "source": {"url": f"https://{outlet}.example/feed", "name": f"Outlet {n % outlets}"},
            "language": "en",
            "published": published.isoformat(),
            "fetched": fetched_hole,
        }
        raw = json.dumps(record).encode()
        head, rest = raw.split(id_hole.encode().replace(b"\x00", b"\\u0000"))
        middle, tail = rest.split(fetched_hole.encode().replace(b"\x00", b"\\u0000"))
        return Template((head, middle, tail))

    # each item also a few days earlier and later, so that some reprints fall outside the
    # story window of the first and start a story (and an alert) of their own
    relevant = [
        template(item.title, item.summary, item.published + timedelta(days=shift), n)
        for n, item in enumerate(timeline.items)
        for shift in SHIFTS
        if timeline.start <= item.published + timedelta(days=shift) < timeline.end
    ]
    negatives = []
    for n, line in enumerate(devset.read_text(encoding="utf-8").splitlines()):
        row = json.loads(line)
        if not row["event"]:
            published = datetime.fromisoformat(row["published"]).astimezone(UTC)
            negatives.append(template(row["title"], row.get("summary") or "", published, n))
    return relevant, negatives


class ArticleStream:
    """Endless article records: (key, value bytes) with ``fetched`` = now."""

    def __init__(self, devset: Path, timeline: Path, relevant: float, duplicates: float):
        self.relevant, self.negatives = templates(devset, timeline)
        self.share, self.duplicates = relevant, duplicates
        self.random = random.Random(9)
        self.count = 0
        self.recent: list[tuple[bytes, Template]] = []

    def next(self) -> tuple[bytes, bytes]:
        rnd = self.random
        if self.recent and rnd.random() < self.duplicates:
            key, tpl = rnd.choice(self.recent)
        else:
            self.count += 1
            key = b"bench-%d" % self.count
            pool = self.relevant if rnd.random() < self.share else self.negatives
            tpl = rnd.choice(pool)
            if len(self.recent) < 1000:
                self.recent.append((key, tpl))
            else:
                self.recent[self.count % 1000] = (key, tpl)
        fetched = datetime.now(UTC).isoformat().encode()
        head, middle, tail = tpl.parts
        return key, b"".join((head, key, middle, fetched, tail))


# worker processes ---------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process is given (picklable for ``spawn``; the last four are shared)."""

    kind: str  # "bare", "stock" (bare with Faust's own delivery), "pipeline" or one of PARTS
    name: str
    bootstrap: str
    redis_url: str
    datadir: str
    guarantee: str
    counter: Any  # articles decided (or counted) per partition, a multiprocessing Array
    stop: Any  # set by the bench when the phase is over, a multiprocessing Event
    results: Any  # (name, latencies) back to the bench, a multiprocessing Queue
    record_latency: Any  # 1 while decision latencies are recorded, a multiprocessing Value


def worker_main(spec: WorkerSpec) -> None:
    logging.basicConfig(
        level=logging.WARNING, format=f"{spec.name} %(levelname)s %(name)s %(message)s"
    )
    profile = os.environ.get("BENCH_PROFILE")  # a file prefix: cProfile stats per worker
    if not profile:
        asyncio.run(_worker(spec))
        return
    import cProfile

    with cProfile.Profile() as prof:
        asyncio.run(_worker(spec))
    prof.dump_stats(f"{profile}-{spec.kind}-{spec.name}.prof")


async def _worker(spec: WorkerSpec) -> None:
    import faust

    from agents.app import _let_followers_sync_first, create_app
    from agents.config import faust_options
    from agents.consumer import adjust_consumer
    from monitor.embedded import Endpoints
    from monitor.kafka import ARTICLES_TOPIC
    from monitor.models import Article
    from monitor.rulebook import open_rulebook
    from monitor.settings import load_settings

    settings = load_settings()
    settings = settings.model_copy(
        update={
            "data_dir": Path(spec.datadir),
            "worker_id": spec.name,
            "stream": settings.stream.model_copy(update={"guarantee": spec.guarantee}),
        }
    )
    endpoints = Endpoints(kafka=spec.bootstrap, redis=spec.redis_url, embedded=True)
    latencies = array.array("d")
    rules = None
    if spec.kind in ("bare", "stock"):
        app = faust.App(settings.app_id + "-bare", **faust_options(settings, endpoints))
        _let_followers_sync_first(app)
        # the worker's consumer (fetch wait, GIL switches); "stock" keeps Faust's own delivery
        adjust_consumer(app, embedded=True, inline=spec.kind == "bare")
        topic = app.topic(ARTICLES_TOPIC, key_serializer="raw", value_serializer="raw")

        @app.agent(topic, name="passthrough")
        async def passthrough(stream: Any) -> None:
            async for event in stream.events():
                spec.counter[event.message.partition] += 1

    else:
        if spec.kind in PARTS:
            leave_out(spec.kind)
        rules = await open_rulebook(settings, spec.bootstrap)
        add = latencies.append

        def on_decided(article: Article, partition: int) -> None:
            spec.counter[partition] += 1
            if spec.record_latency.value:
                add(time.time() - article.fetched.timestamp())

        app = create_app(settings, endpoints, rules, on_decided=on_decided)
    await app.start()
    await asyncio.to_thread(spec.stop.wait)
    spec.results.put((spec.name, latencies.tobytes()))
    await app.stop()
    if rules is not None:
        await app.monitor_status.close()
        await rules.stop()


def leave_out(part: str) -> None:
    """Make this worker process's app (agents/app.py) skip the work after ``part``: its real
    batching, tables, stages and heartbeats stay, so a run shows what the work before costs.

    frame: no decoding (every record "decodes" to one article decoded up front) and no matching;
    decode: no matching; match: matching, but its match records are dropped (so no dedupe table
    writes, sends, story stage or alerts)."""
    import agents.app as worker

    if part == "match":
        match_article = worker.match_article

        def matched_and_dropped(*args: Any, **kwargs: Any) -> list[Any]:
            match_article(*args, **kwargs)
            return []

        worker.match_article = matched_and_dropped
        return
    worker.match_article = lambda *args, **kwargs: []
    if part == "frame":
        from monitor.models import Article, Source

        article = Article(
            id="bench-frame",
            title="A headline",
            source=Source(url="https://outlet.example/feed", name="Outlet"),
        )

        class Undecoded:
            @staticmethod
            def from_bytes(raw: bytes) -> Any:
                return article

        worker.Article = Undecoded


def proc_figures(pid: int) -> tuple[float, int]:
    """(CPU seconds, peak resident bytes) of a live process, from /proc."""
    with Path(f"/proc/{pid}/stat").open() as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    peak = 0
    with Path(f"/proc/{pid}/status").open() as f:
        for line in f:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) * 1024
    return cpu, peak


@dataclass
class PhaseResult:
    kind: str
    workers: int
    articles: int
    rate: float
    seconds: float  # of the measured stretch
    cpu: float  # worker CPU seconds in the measured stretch, all workers
    worker_cpu: list[float]  # the same, each worker's
    cpu_per_article_us: float
    bench_cpu: float  # CPU seconds of the bench process (producer, broker) in the same stretch
    peak: int  # the largest worker's peak resident bytes
    decision: list[float]
    alert: list[float]
    alerts: int
    alert_lag: float | None = None  # seconds from the last decision to the last alert read
    pace: tuple[float, float] | None = None  # machine pace (ms) just before and after, see pace()


class Phase:
    """A fresh broker and Redis, some workers, a producer and an alert reader."""

    def __init__(self, args: argparse.Namespace, kind: str, workers: int, record: bool = False):
        self.args, self.kind, self.workers, self.record = args, kind, workers, record
        self.ctx = multiprocessing.get_context("spawn")

    def run(self, articles: int, rate: float | None) -> PhaseResult:
        import redis

        from monitor.embedded import EMBEDDED_PARTITIONS, EmbeddedBroker
        from monitor.settings import load_settings
        from monitor.topics import create_embedded_topics

        broker = EmbeddedBroker()
        bootstrap = broker.start()
        create_embedded_topics(load_settings(), bootstrap)  # as `monitor run` starts the broker
        redis.Redis.from_url(self.args.redis_url).flushall()
        tmp = tempfile.mkdtemp(prefix="bench-pipeline-")
        counters = [
            self.ctx.Array("q", EMBEDDED_PARTITIONS, lock=False) for _ in range(self.workers)
        ]
        recording = self.ctx.Value("b", 0, lock=False)
        stop = self.ctx.Event()
        results = self.ctx.Queue()
        procs = [
            self.ctx.Process(
                target=worker_main,
                args=(
                    WorkerSpec(
                        kind=self.kind,
                        name=f"bench-{i}",
                        bootstrap=bootstrap,
                        redis_url=self.args.redis_url,
                        datadir=tmp,
                        guarantee=self.args.guarantee,
                        counter=counters[i],
                        stop=stop,
                        results=results,
                        record_latency=recording,
                    ),
                ),
            )
            for i in range(self.workers)
        ]
        alert_lat: list[float] = []
        reader_stop = threading.Event()
        since = [float("inf") if self.record else 0.0]  # alerts of articles since then count
        reader = threading.Thread(
            target=read_alerts, args=(bootstrap, alert_lat, since, reader_stop), daemon=True
        )
        if self.kind == "pipeline":
            reader.start()
        for p in procs:
            p.start()
        stream = ArticleStream(
            self.args.devset, self.args.timeline, self.args.relevant, self.args.duplicates
        )

        def decided() -> list[int]:  # per partition, all workers
            return [sum(c[p] for c in counters) for p in range(EMBEDDED_PARTITIONS)]

        def processed() -> int:
            return sum(decided())

        sent = [0] * EMBEDDED_PARTITIONS  # per partition, over the phase

        cpu_at_start: list[float] = []
        bench_at_start: list[float] = []

        def started() -> None:
            cpu_at_start.extend(proc_figures(p.pid)[0] for p in procs if p.pid is not None)
            bench_at_start.append(proc_figures(os.getpid())[0])  # this process: producer, broker
            if self.record:
                recording.value = 1
                since[0] = time.time()

        try:
            warm = 0
            if rate is not None:  # offered load: measure once the workers run
                warm = WARM_UP
                produce(bootstrap, stream, warm, None, decided, sent, mark=1.0)
            alert_lag: float | None = None
            t_start, t_end = produce(
                bootstrap,
                stream,
                articles,
                rate,
                decided,
                sent,
                started,
                mark=0.0 if rate is not None else START_SHARE,
                backlog=self.args.backlog,
                refill=self.args.refill,
            )
            t_end_decided = t_end
            figures = [proc_figures(p.pid) for p in procs if p.pid is not None]
            bench_cpu = proc_figures(os.getpid())[0]
            if self.kind == "pipeline":  # the story stage may still be placing matches
                settled = alerts_settled(alert_lat, procs)
                if settled is not None:
                    last_alert, at_last, bench_at_last = settled
                    alert_lag = last_alert - t_end_decided
                    if rate is None:  # the throughput counts to the last alert
                        t_end, figures, bench_cpu = last_alert, at_last, bench_at_last
        finally:
            stop.set()
            reader_stop.set()
        decision: list[float] = []
        for _ in procs:
            try:
                _, raw = results.get(timeout=60)
            except Exception:  # a worker that died reports nothing
                log.warning("a worker reported no latencies")
                continue
            got = array.array("d")
            got.frombytes(raw)
            decision.extend(got)
        for p in procs:
            p.join(60)
            if p.is_alive():
                p.kill()
        broker.stop()
        done = processed()
        counted = articles - int(articles * (0.0 if rate is not None else START_SHARE))
        worker_cpu = [c - c0 for (c, _), c0 in zip(figures, cpu_at_start, strict=True)]
        cpu = sum(worker_cpu)
        return PhaseResult(
            kind=self.kind,
            workers=self.workers,
            articles=done,
            rate=counted / max(1e-9, t_end - t_start),
            seconds=t_end - t_start,
            cpu=cpu,
            worker_cpu=worker_cpu,
            cpu_per_article_us=cpu / max(1, counted) * 1e6,
            bench_cpu=bench_cpu - bench_at_start[0],
            peak=max(m for _, m in figures),
            decision=decision,
            alert=alert_lat,
            alerts=len(alert_lat),
            alert_lag=alert_lag,
        )


def produce(
    bootstrap: str,
    stream: ArticleStream,
    articles: int,
    rate: float | None,
    decided: Any,
    sent: list[int],
    on_start: Any = None,
    *,
    mark: float,
    backlog: int = BACKLOG,
    refill: int = REFILL,
    timeout: float = 1800,
) -> tuple[float, float]:
    """Produce ``articles``, at ``rate`` per second or as fast as the workers keep up; return
    when the workers passed ``mark`` of them, and when they processed them all.

    ``decided()`` is the articles the workers decided on each partition and ``sent`` what was
    produced to each (updated here, over the whole phase). Each article goes to the partition of
    its key (CRC32, so a re-send follows its original); as fast as the workers keep up means at
    most ``backlog`` articles not yet decided on any one partition, sent ``refill`` at a time."""
    import zlib

    from confluent_kafka import Producer

    from monitor.kafka import ARTICLES_TOPIC

    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 2, "enable.idempotence": True}
    )
    partitions = len(sent)
    before = sum(decided())  # decided in earlier calls of the same phase
    produced = 0
    # articles generated for a partition that had no room yet, in order; a re-send stays behind
    # its original since both go to the same partition
    waiting: list[collections.deque[tuple[bytes, bytes]]] = [
        collections.deque() for _ in range(partitions)
    ]
    began = time.monotonic()
    t_start = t_end = None
    mark_count = int(articles * mark)
    last_done, last_progress = -1, began
    while True:
        now = time.monotonic()
        if now - began > timeout:
            raise SystemExit(
                f"workers processed {sum(decided()) - before} of {articles} in {timeout}s"
            )
        per_partition = decided()
        done = sum(per_partition) - before
        if done != last_done:
            last_done, last_progress = done, now
        elif produced > done and now - last_progress > STALL:
            raise SystemExit(
                f"workers processed {done:,} of {articles:,} articles and none in the last "
                f"{STALL:.0f} s with {produced - done:,} sent and not processed: look in the "
                "workers' log above for the cause (a crash, or `articles.unread_deleted`: "
                "records the embedded broker deleted before they were read)"
            )
        if t_start is None and done >= mark_count:
            t_start = now
            if on_start is not None:
                on_start()
        if done >= articles:
            t_end = now
            break
        generated = produced + sum(map(len, waiting))
        if rate is None:
            room = min(articles - generated, 2000)
        else:
            room = min(articles - generated, int((now - began) * rate) - generated)
        for _ in range(max(0, room)):
            key, value = stream.next()
            waiting[zlib.crc32(key) % partitions].append((key, value))
            if rate is None and max(map(len, waiting)) >= WAITING:
                break  # a partition far enough ahead holds this many: let the workers catch up
        for partition, queue in enumerate(waiting):
            ahead = sent[partition] - per_partition[partition]
            free = len(queue) if rate is not None else min(len(queue), backlog - ahead)
            if rate is None and free < min(len(queue), refill):
                continue  # refilled in whole chunks: see REFILL
            for _ in range(max(0, free)):
                key, value = queue.popleft()
                while True:
                    try:
                        producer.produce(ARTICLES_TOPIC, key=key, value=value, partition=partition)
                        break
                    except BufferError:
                        producer.poll(0.01)
                sent[partition] += 1
                produced += 1
        producer.poll(0)
        time.sleep(0.002 if rate else 0.005)
    producer.flush(30)
    assert t_start is not None
    return t_start, t_end


def alerts_settled(
    alerts: list[float], procs: list[Any]
) -> tuple[float, list[tuple[float, int]], float] | None:
    """Wait until no alert has been read for ALERT_QUIET seconds (at most ALERT_LIMIT): the
    story stage may be behind the match stage when the last article is decided. Returns when the
    last alert was read (``time.monotonic``), the workers' figures and the bench's CPU then; None
    when no alert came meanwhile."""
    count, began = len(alerts), time.monotonic()
    settled = None
    while (
        time.monotonic() - (settled[0] if settled else began) < ALERT_QUIET
        and time.monotonic() - began < ALERT_LIMIT
    ):
        time.sleep(0.05)
        if len(alerts) != count:
            count = len(alerts)
            figures = [proc_figures(p.pid) for p in procs if p.pid is not None]
            settled = (time.monotonic(), figures, proc_figures(os.getpid())[0])
    return settled


def read_alerts(
    bootstrap: str, out: list[float], since: list[float], stop: threading.Event
) -> None:
    """Produce-to-alert latency of every alert read (read_committed) from an alerts.* topic."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from monitor.catalog import load_matcher
    from monitor.embedded import EMBEDDED_PARTITIONS
    from monitor.kafka import alert_topic
    from monitor.settings import load_settings

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-alerts",  # assigned, not subscribed: no group to join
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": 10,
        }
    )
    seen_alerts = []
    topics = sorted({alert_topic(rule.category) for rule in load_matcher(load_settings()).rules})
    consumer.assign(
        [
            TopicPartition(topic, p, OFFSET_BEGINNING)
            for topic in topics
            for p in range(EMBEDDED_PARTITIONS)
        ]
    )
    try:
        while not stop.is_set():
            msg = consumer.poll(0.05)
            if msg is not None and msg.error():
                log.warning("alerts.read_error %s", msg.error())
            if msg is None or msg.error() or msg.value() is None:
                continue
            seen_alerts.append(1)
            now = time.time()
            data = json.loads(msg.value())["data"]
            fetched = datetime.fromisoformat(data["timestamps"]["fetched"]).timestamp()
            if fetched >= since[0]:
                out.append(now - fetched)
    finally:
        consumer.close()
        log.warning("alerts read: %d on %s", len(seen_alerts), topics)


def pace() -> float:
    """Milliseconds of CPU a fixed piece of pure Python takes now (median of 3): this machine's
    speed at the moment. On the shared 2-core machine it moves between about 45 ms and 90 ms
    from one second to the next with nothing else running, which is most of the spread between
    runs; a phase's row shows it just before and just after the phase."""
    times = []
    for _ in range(3):
        start = time.thread_time()
        counts: dict[str, int] = {}
        for i in range(200_000):
            key = str(i % 5_000)
            counts[key] = counts.get(key, 0) + i
        times.append((time.thread_time() - start) * 1000)
    return statistics.median(times)


def measure(args: argparse.Namespace, kind: str, workers: int, articles: int) -> PhaseResult:
    """A throughput phase, with the machine's pace just before and just after it."""
    before = pace()
    result = Phase(args, kind, workers).run(articles, None)
    result.pace = (before, pace())
    return result


# report -------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def describe(values: list[float]) -> str:
    if not values:
        return "none"
    ms = [v * 1000 for v in values]
    return (
        f"median {statistics.median(ms):.1f} ms, p95 {pct(ms, 0.95):.1f} ms, "
        f"p99 {pct(ms, 0.99):.1f} ms (n={len(ms)})"
    )


def row(r: PhaseResult) -> str:
    busy, bench = (r.cpu + r.bench_cpu) / r.seconds, r.bench_cpu / r.seconds
    return (
        f"{r.kind:9} x{r.workers}: {r.articles:>8,} articles, {r.rate:>8,.0f}/s, "
        f"worker CPU {r.cpu_per_article_us:.0f} µs/article, "
        f"cores busy {busy:.2f} ("
        + (
            "workers " + " + ".join(f"{c / r.seconds:.2f}" for c in r.worker_cpu) + ", "
            if len(r.worker_cpu) > 1
            else ""
        )
        + f"bench process {bench:.2f}), "
        f"peak RSS {r.peak / 2**20:.0f} MB, {r.alerts} alerts"
        + (f" (the last {r.alert_lag:.1f} s after the last decision)" if r.alert_lag else "")
        + (f", machine pace {r.pace[0]:.0f}/{r.pace[1]:.0f} ms" if r.pace else "")
    )


def print_parts(parts: dict[str, list[PhaseResult]]) -> None:
    """Medians of the bare agent, the one-worker runs leaving out work and the whole worker."""
    print("where one worker's time goes (medians; each row adds to the one above):")
    before = None
    for kind in ("bare", *PARTS, "one"):
        runs = parts.get(kind)
        if not runs:
            continue
        rate = statistics.median(r.rate for r in runs)
        cpu = statistics.median(r.cpu_per_article_us for r in runs)
        added = "" if before is None else f", {cpu - before:+.0f} µs"
        print(f"  {PART_NAMES[kind]:60} {rate:>7,.0f}/s {cpu:5.0f} µs/article{added}")
        before = cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--articles", type=int, default=60_000, help="articles per throughput phase"
    )
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="articles per second offered, latency phase"
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="length of the latency phase in seconds"
    )
    parser.add_argument(
        "--memory",
        default="",
        help="comma-separated article counts, one memory phase each (e.g. 100000,1000000)",
    )
    parser.add_argument(
        "--phases",
        default="bare,one,two,latency,memory",
        help="comma-separated phases to run: bare, one, two, latency, memory; and, not by "
        "default: stock (the bare agent with Faust's own delivery of each message instead of "
        "the worker's, for comparison; its rate and one worker's against it are printed), and "
        "frame, decode, match (one worker leaving out the work after that step: no decoding or "
        "matching, no matching, matching whose results are dropped; with bare and one they show "
        "what each step costs inside the worker, in turns with the others under --repeat)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run the bare, one-worker and two-worker phases (and frame, decode, match) this "
        "many times in turns; print the median of the one-worker / bare pairs and two workers' "
        "median against one worker's (single runs of the same code differ by up to 2x on the "
        "shared 2-core machine, whose own pace moves that much: see each row's machine pace)",
    )
    parser.add_argument(
        "--guarantee",
        default="exactly_once",
        choices=("at_least_once", "exactly_once"),
        help="the workers' MONITOR_STREAM__GUARANTEE",
    )
    parser.add_argument(
        "--backlog",
        type=int,
        default=BACKLOG,
        help="articles not yet decided the producer allows on each partition in the throughput "
        "phases; the embedded broker keeps only the newest 5 MiB of a partition (about 8,900 of "
        "these articles), so a partition further behind than that loses records "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--refill",
        type=int,
        default=REFILL,
        help="in the throughput phases, a partition is sent more articles only once it has room "
        "for this many, all at once: the embedded broker answers a fetch with one of the "
        "producer's batches, where Kafka gives a consumer that is behind up to 1 MiB; 1 sends "
        "whatever there is room for at every pass, in batches of a few articles "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--relevant", type=float, default=0.05, help="share of articles from the demo timeline"
    )
    parser.add_argument(
        "--duplicates", type=float, default=0.02, help="share of re-sends of an earlier article"
    )
    parser.add_argument(
        "--devset", type=Path, default=DEFAULT_DEVSET, help="dev set JSONL (its non-event items)"
    )
    parser.add_argument(
        "--timeline",
        type=Path,
        default=ROOT / "config/demo/timeline.yaml",
        help="demo timeline YAML (its items, moved by SHIFTS days)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from monitor.embedded import EmbeddedRedis

    phases = args.phases.split(",")
    redis_server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="bench-redis-")))
    args.redis_url = redis_server.start()
    print(
        f"guarantee {args.guarantee}; {args.relevant:.0%} timeline items, "
        f"{args.duplicates:.0%} re-sends, the rest dev-set negatives; {os.cpu_count()} cores",
        flush=True,
    )
    try:
        bare = one = None
        ratios: list[float] = []
        one_rates: list[float] = []
        two_rates: list[float] = []
        parts: dict[str, list[PhaseResult]] = collections.defaultdict(list)
        for _ in range(args.repeat):  # the phases in turns, so slow spells hit them all
            if "bare" in phases:
                bare = measure(args, "bare", 1, args.articles)
                parts["bare"].append(bare)
                print(row(bare), flush=True)
            for part in (p for p in PARTS if p in phases):
                result = measure(args, part, 1, args.articles)
                parts[part].append(result)
                print(row(result), flush=True)
                if bare:
                    print(f"  {part} / bare agent: {result.rate / bare.rate:.2f}")
            if "one" in phases:
                one = measure(args, "pipeline", 1, args.articles)
                one_rates.append(one.rate)
                parts["one"].append(one)
                print(row(one), flush=True)
                if bare:
                    ratios.append(one.rate / bare.rate)
                    print(f"  one worker / bare agent: {ratios[-1]:.2f} (target >= 0.80)")
            if "two" in phases:
                two = measure(args, "pipeline", 2, args.articles)
                two_rates.append(two.rate)
                print(row(two), flush=True)
                if one:
                    scale = two.rate / one.rate
                    print(f"  two workers / one worker: {scale:.2f} (target >= 1.6)")
        if len(ratios) > 1:
            print(
                f"one worker / bare agent over {len(ratios)} pairs: median "
                f"{statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f}; "
                "target >= 0.80)",
                flush=True,
            )
        if any(p in phases for p in PARTS):
            print_parts(parts)
        if "stock" in phases:
            stock = measure(args, "stock", 1, args.articles)
            print(row(stock), flush=True)
            if one_rates:
                print(
                    "  one worker (median) / bare agent with Faust's own delivery: "
                    f"{statistics.median(one_rates) / stock.rate:.2f}"
                )
        if len(two_rates) > 1 and one_rates:
            print(
                f"two workers / one worker over {len(two_rates)} runs each: medians "
                f"{statistics.median(two_rates):,.0f}/s / {statistics.median(one_rates):,.0f}/s = "
                f"{statistics.median(two_rates) / statistics.median(one_rates):.2f} "
                "(target >= 1.6)",
                flush=True,
            )
        if "latency" in phases:
            n = int(args.rate * args.seconds)
            lat = Phase(args, "pipeline", 1, record=True).run(n, args.rate)
            print(f"latency at {args.rate:,.0f} articles/s offered, {n:,} articles:", flush=True)
            print(f"  produce -> decision: {describe(lat.decision)}")
            print(f"  produce -> alert read: {describe(lat.alert)}")
            print(f"  worker CPU {lat.cpu / lat.seconds:.0%} of a core")
        if "memory" in phases:
            for n in [int(x) for x in args.memory.split(",") if x]:
                mem = measure(args, "pipeline", 1, n)
                print(f"memory after {n:,} articles: {row(mem)}", flush=True)
    finally:
        redis_server.stop()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
