"""The worker's Kafka consumer: how long a fetch may wait, resuming the streams after a rebalance
without dropping records, delivering fetched messages without new tasks, how its thread shares
the interpreter lock, and reporting articles the broker deleted before it read them. All but the
lock adjust Faust (faust-streaming 0.15) objects of one app.

Fetch wait. Faust builds its aiokafka consumer with a fixed ``fetch_max_wait_ms=1500`` and no
setting for it. On real Kafka a fetch returns as soon as any data arrives, so the wait only bounds
idle polling; librdkafka's mock cluster (the embedded broker) answers a fetch that found no data
only after the full wait, even if data arrives meanwhile, so each stage of the pipeline added up
to 1.5 s of latency there. :func:`shorten_fetch_wait` sets the worker consumer's wait to
FETCH_WAIT_MS: each stage then adds about half of it on average, at the price of an idle fetch
(Python protocol code on the consumer thread) every FETCH_WAIT_MS when no data flows.

Resuming the streams. After a rebalance Faust reads the tables' changelogs with the consumer flow
running, then ``Recovery.on_recovery_completed`` (``_resume_streams`` for an app without tables)
resumes the stream partitions (its own pause: they rejoin the set it asks aiokafka for), awaits
``perform_seek`` (committed offsets, a round trip to the broker) and resumes flow control, which
**empties every stream's queue**, then the consumer flow. Records fetched and handed to a stream
during the seek were emptied out unprocessed while the consumer's position had moved past them;
Faust then acked the records after them, and committed straight over a hole one record wide at
the committed offset (its check lets ``min(acked) - committed == 1`` through) or never committed
that partition again. That was the intermittent failure of tests/integration/test_exactly_once.py
with a 20 ms fetch wait: the 1.5 s wait had made it rare on the embedded broker, where a fetch
finding no data is answered only after the full wait; real Kafka answers as data arrives, so it
loses records the same way (faust-streaming issue #596). Faust also drops records it had fetched
for a partition it has just paused (it pauses by narrowing a set that a fetch in flight reads,
and an empty set means every partition to aiokafka), counting on that seek to fetch them again;
for a partition with no committed offset the seek does nothing, so they were lost on a first
start too. :func:`resume_streams_after_seek` stops the consumer flow and flow control for the
whole step, so nothing is fetched into Faust or handed to a stream until Faust resumes both after
its seek, and rewinds partitions with nothing committed to the beginning (``earliest``).
tests/integration/test_consumer_resume.py widens the window to a second and checks every record.

Delivering messages. Faust's drain loop hands each fetched message to the streams by awaiting
``wait_first(callback(message), suspend_flow.wait())``: the delivery races the flow being stopped
for a rebalance, which then cuts a blocked delivery short. That costs four new tasks and an
``asyncio.wait`` for every message, and it was most of the worker's time: 230 µs of CPU per
article in a bare agent, 86 µs without it (bench/pipeline.py, pre-filled topic). A delivery
almost never blocks (it blocks only while flow control is suspended, the producer buffer is full
or a stream's queue is), so :func:`deliver_inline` runs it in the drain loop's own task first,
and only when it does block hands the rest of it to Faust's race as before. The drain loop gets
the same outcome either way. (This was reverted once because bench/pipeline.py's 1M-article
phase lost records with it. The cause was the bench, not the delivery: the embedded broker keeps
only the newest 5 MiB of each partition, and with deliveries this cheap Faust served the
partitions unevenly enough for one to fall further behind than that under the bench's backlog
of 30,000; aiokafka then found its position deleted and skipped to the log start. The bench
now bounds its backlog per partition, and the worker reports such a hole: see below.)

Sharing the GIL. Faust runs the aiokafka consumer on a thread of its own (fetching, decoding
record batches) and the agents on the main thread; both need the interpreter lock. A thread that
wants it waits for the holder to let go, at the latest after ``sys.getswitchinterval()`` (5 ms by
default). The match stage decides a batch without yielding, so the consumer thread often waited
out those 5 ms before it could hand over the next fetch, and the stages ran in turns instead of
overlapping. :func:`share_gil_sooner` makes the interval SWITCH_INTERVAL for the whole process
(bench/pipeline.py applies the same to the bare agent it compares with). Measured again since
the inline delivery, 5 ms and 1 ms gave the same rates and latency within the runs' spread (4
one-worker runs each, and the latency phase); it stays, as it costs nothing measurable.

Articles deleted before they were read. The embedded broker keeps at most the newest 5 MiB (or
100,000 message sets) of a partition, deleting older records whether read or not (librdkafka's
``rd_kafka_mock_partition_init`` hard-codes it), as real Kafka does past ``retention.ms``. A worker
that far behind fetches an offset that is gone; aiokafka resets it to the log's start (``earliest``)
and Faust marks the skipped offsets acked (``_add_gap``), so they are committed unprocessed.
:func:`report_unread_deleted` reports them instead of letting that pass in silence:
``monitor.articles`` is written only by idempotent producers without transactions, so its offsets
have no holes and a fetch that starts past the offset a partition was due to be read from means
the records between were deleted unread. The due offset is set by seeks (the committed offsets
after a rebalance, our rewind to 0) and by each fetch (one past its last record), per fetched
batch, not per record: the drain loop gets nothing new. Faust's own numbers are not used: after a
seek its read offset is the next offset to read, otherwise the last one read, so its gap is one
short or missing when exactly one record went. The report is an ``articles.unread_deleted`` error
with the partition, first and last offset lost and their count, and a callback the app counts
(``articles.lost``). A partition with nothing committed is due from 0 (our rewind): a new group
on a topic that already deleted records reports those too. ``monitor.matches`` is watched the same
way (``matches.unread_deleted``, ``matches.lost``): the worker's own producer writes it without
transactions, and a story stage that fell 5 MiB behind on the embedded broker lost match records
this way in silence (bench/pipeline.py, before the match stage sent its records together).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import sys
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Mapping, Sequence
from typing import Any

import faust
from mode.services import WaitResults

from monitor.kafka import ARTICLES_TOPIC, MATCHES_TOPIC

log = logging.getLogger(__name__)

FETCH_WAIT_MS = 10
SWITCH_INTERVAL = 0.001  # seconds; CPython's default is 0.005
RESUMING_METHODS = ("on_recovery_completed", "_resume_streams")


def shorten_fetch_wait(app: faust.App, wait_ms: int = FETCH_WAIT_MS) -> None:
    """Let the app's worker consumer wait at most ``wait_ms`` for a fetch to fill."""
    transport = app.transport
    base = transport.Consumer

    class Consumer(base):  # type: ignore[misc,valid-type]
        def _new_consumer_thread(self) -> Any:
            thread = super()._new_consumer_thread()
            create = thread._create_worker_consumer

            def create_worker_consumer(*args: Any, **kwargs: Any) -> Any:
                consumer = create(*args, **kwargs)
                consumer._fetch_max_wait_ms = wait_ms  # read when the consumer starts
                return consumer

            thread._create_worker_consumer = create_worker_consumer
            return thread

    transport.Consumer = Consumer


def deliver_inline(app: faust.App) -> None:
    """Let the app's consumer deliver a fetched message without new tasks when nothing blocks it
    (see the module's docstring); a delivery that blocks still races ``suspend_flow``."""
    base = app.transport.Consumer

    class Consumer(base):  # type: ignore[misc,valid-type]
        async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:  # noqa: ASYNC109
            flow = self.suspend_flow
            if not (timeout is None and len(coros) == 2 and _waits_on(coros[1], flow)):
                return await super().wait_first(*coros, timeout=timeout)
            delivery, stopped = coros
            if flow.is_set() or not inspect.iscoroutine(delivery):
                return await super().wait_first(delivery, stopped)
            try:
                blocked_on = delivery.send(None)
            except StopIteration:  # delivered without waiting for anything: the common case
                stopped.close()
                return WaitResults([delivery], [None], False)
            except BaseException:
                stopped.close()
                raise
            return await super().wait_first(_Resumed(delivery, blocked_on), stopped)

    app.transport.Consumer = Consumer


def _waits_on(coro: Any, event: Any) -> bool:
    """Whether ``coro`` is a not yet started ``event.wait()``."""
    frame = getattr(coro, "cr_frame", None)
    return (
        inspect.iscoroutine(coro)
        and frame is not None
        and coro.cr_code.co_name == "wait"
        and frame.f_locals.get("self") is event
    )


class _Resumed:
    """The rest of a coroutine that has run up to its first wait, as an awaitable: awaiting it
    waits for what the coroutine waits for and goes on with it, as ``await coroutine`` would have
    (results, exceptions and cancellation pass through)."""

    def __init__(self, coro: Any, blocked_on: Any):
        self._coro, self._blocked_on = coro, blocked_on

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, waiting = self._coro, self._blocked_on
        while True:
            try:
                sent = yield waiting
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # thrown in by the task (cancelled): pass it on
                try:
                    waiting = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waiting = coro.send(sent)
                except StopIteration as done:
                    return done.value


def resume_streams_after_seek(app: faust.App) -> None:
    """Make the app's table recovery hand stream records over only from the seeked positions:
    the committed offsets or, with none committed, the beginning."""
    recovery = app.tables.recovery
    for name in RESUMING_METHODS:
        setattr(recovery, name, _stopping_flow_until_seeked(app, getattr(recovery, name)))


def _stopping_flow_until_seeked(
    app: faust.App, method: Callable[..., Awaitable[None]]
) -> Callable[..., Awaitable[None]]:
    async def resume_after_seek(*args: Any, **kwargs: Any) -> None:
        consumer, flow = app.consumer, app.flow_control
        seek = consumer.perform_seek

        async def seek_then_rewind() -> None:
            await seek()
            # With nothing committed Faust's seek leaves a partition where the consumer is, past
            # any records it discarded; the reset policy says where to start instead.
            changelogs = app.tables.changelog_topics
            fresh = [
                tp
                for tp in consumer.assignment()
                if tp.topic not in changelogs and not consumer._committed_offset.get(tp)
            ]
            if fresh and app.conf.consumer_auto_offset_reset == "earliest":
                # offset 0, or (retention) the log's start, where the broker resets it
                await consumer.seek_wait(dict.fromkeys(fresh, 0))

        # Faust resumes both after its seek (flow control first, emptying the queues); until
        # then nothing is fetched into Faust or handed to a stream.
        consumer.stop_flow()
        flow.suspend()
        with _overriding(consumer, "perform_seek", seek_then_rewind):
            try:
                await method(*args, **kwargs)
            except BaseException:
                flow.resume()  # as Faust left them before the call
                consumer.resume_flow()
                raise

    return resume_after_seek


@contextlib.contextmanager
def _overriding(obj: Any, name: str, replacement: Any) -> Iterator[None]:
    """``obj.name`` is ``replacement`` inside the block, then what it was (an instance attribute
    or the class's)."""
    own = vars(obj)
    had, previous = name in own, own.get(name)
    setattr(obj, name, replacement)
    try:
        yield
    finally:
        if had:
            setattr(obj, name, previous)
        else:
            delattr(obj, name)


def share_gil_sooner(interval: float = SWITCH_INTERVAL) -> None:
    """Let a thread waiting for the interpreter lock have it after ``interval`` seconds."""
    sys.setswitchinterval(interval)


UNREAD_DELETED_HINT = {
    True: "the embedded broker keeps only the newest 5 MiB of each partition: run Kafka "
    "(external mode, docker-compose.yml) when workers may fall that far behind",
    False: "raise the topic's retention.ms above the longest time a worker may be down or "
    "behind, or keep workers running",
}


class UnreadDeletions:
    """Records of some topics deleted before they were read (see the module's docstring): the
    offset each of their partitions is due to be read from next, kept from seeks and fetched
    batches, and its topic's ``report(partition, first, last, count)`` for every fetch that starts
    past it."""

    def __init__(self, reports: Mapping[str, Callable[[int, int, int, int], None]]):
        self._reports = reports
        self._due: dict[Any, int] = {}  # topic partition -> the offset it is due to be read from

    def fetched(self, records: Mapping[Any, Sequence[Any]]) -> None:
        """A fetch's records (topic partition -> records in offset order)."""
        due, reports = self._due, self._reports
        for tp, batch in records.items():
            report = reports.get(tp.topic)
            if report is None or not batch:
                continue
            first, expected = batch[0].offset, due.get(tp)
            if expected is not None and first > expected:
                report(tp.partition, expected, first - 1, first - expected)
            due[tp] = batch[-1].offset + 1

    def seeked(self, offsets: Mapping[Any, int | None]) -> None:
        """Partitions moved to these offsets; None or negative: to no known offset."""
        for tp, offset in offsets.items():
            if tp.topic not in self._reports:
                continue
            if offset is None or offset < 0:
                self._due.pop(tp, None)
            else:
                self._due[tp] = offset

    def forget(self, tps: Iterable[Any]) -> None:
        """Partitions revoked or newly assigned: due nowhere until a seek or a fetch says."""
        for tp in tps:
            self._due.pop(tp, None)


# What a run of deleted records means, for each topic the worker reports them on.
UNREAD_DELETED = {
    ARTICLES_TOPIC: (
        "articles",
        "these articles before this worker read them; they were never matched and their offsets "
        "are committed as if they had been",
    ),
    MATCHES_TOPIC: (
        "matches",
        "these match records before this worker read them; their articles were matched but never "
        "placed into stories (no alert came of them), and their offsets are committed as if they "
        "had been",
    ),
}


def report_unread_deleted(
    app: faust.App, *, embedded: bool, lost: Callable[[str, int], None] | None = None
) -> UnreadDeletions:
    """Log every run of ``monitor.articles`` or ``monitor.matches`` records deleted before the
    app's consumer read them, as an ``articles.unread_deleted`` or ``matches.unread_deleted``
    error, and pass the topic and the count to ``lost``. Both topics are written without
    transactions (the pollers' idempotent producers, the worker's own), so their offsets have no
    holes."""
    hint = UNREAD_DELETED_HINT[embedded]

    def reporter(topic: str) -> Callable[[int, int, int, int], None]:
        name, what = UNREAD_DELETED[topic]
        message = (
            name
            + ".unread_deleted partition=%d first=%d last=%d count=%d: the broker deleted "
            + what
            + ". To keep it from happening again: %s"
        )

        def report(partition: int, first: int, last: int, count: int) -> None:
            log.error(
                message,
                partition,
                first,
                last,
                count,
                hint,
            )
            if lost is not None:
                lost(topic, count)

        return report

    deletions = UnreadDeletions({topic: reporter(topic) for topic in UNREAD_DELETED})
    base = app.transport.Consumer

    class Consumer(base):  # type: ignore[misc,valid-type]
        async def _getmany(self, active_partitions: Any, timeout: float) -> Any:  # noqa: ASYNC109
            records = await super()._getmany(active_partitions, timeout)
            if records:
                deletions.fetched(records)
            return records

        async def seek_to_committed(self) -> Mapping[Any, int]:
            committed = await super().seek_to_committed()
            deletions.seeked(committed)
            return committed

        async def seek_wait(self, partitions: Mapping[Any, int]) -> None:
            await super().seek_wait(partitions)
            deletions.seeked(partitions)

        async def seek(self, partition: Any, offset: int) -> None:
            await super().seek(partition, offset)
            deletions.seeked({partition: offset})

        async def on_partitions_revoked(self, revoked: Any) -> None:
            deletions.forget(revoked)
            await super().on_partitions_revoked(revoked)

        async def on_partitions_assigned(self, assigned: Any, *args: Any, **kwargs: Any) -> None:
            deletions.forget(assigned)
            await super().on_partitions_assigned(assigned, *args, **kwargs)

    app.transport.Consumer = Consumer
    return deletions


def adjust_consumer(
    app: faust.App,
    *,
    embedded: bool,
    lost: Callable[[str, int], None] | None = None,
    inline: bool = True,
) -> None:
    """The adjustments for a worker app; the short fetch wait only on the embedded broker (on
    real Kafka a fetch returns when data arrives, and a short wait only adds idle requests). The
    switch interval is the process's: every app in it shares the lock the same way. ``lost``
    gets the topic and count of every run of articles or match records deleted before the worker
    read them. ``inline=False``
    keeps Faust's own delivery (bench/pipeline.py's ``stock`` phase compares with it)."""
    resume_streams_after_seek(app)
    if inline:
        deliver_inline(app)
    report_unread_deleted(app, embedded=embedded, lost=lost)
    share_gil_sooner()
    if embedded:
        shorten_fetch_wait(app)
