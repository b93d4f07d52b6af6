"""The worker's Kafka consumer: how long a fetch may wait, and resuming the streams after a
rebalance without dropping records. Both adjust Faust (faust-streaming 0.15) objects of one app.

Fetch wait. Faust builds its aiokafka consumer with a fixed ``fetch_max_wait_ms=1500`` and no
setting for it. On real Kafka a fetch returns as soon as any data arrives, so the wait only bounds
idle polling; librdkafka's mock cluster (the embedded broker) answers a fetch that found no data
only after the full wait, even if data arrives meanwhile, so each stage of the pipeline added up
to 1.5 s of latency there. :func:`shorten_fetch_wait` sets the worker consumer's wait.

Resuming the streams. After a rebalance Faust reads the tables' changelogs with the consumer flow
running, then ``Recovery.on_recovery_completed`` (``_resume_streams`` for an app without tables):

1. resumes the stream partitions (Faust's own pause: the partitions join the set it fetches);
2. awaits ``perform_seek`` (a round trip to the broker for the committed offsets);
3. resumes flow control, which **empties every stream's queue**, and resumes the consumer flow.

Records of the stream partitions fetched during step 2 go into the stream queues and are emptied
out in step 3, never processed, while the consumer's position has moved past them. Faust then
acks the records after them: a hole one record wide at the committed offset is committed over
(its head-of-queue check lets ``min(acked) - committed == 1`` through), a wider one stops that
partition's commits for good. With Faust's 1.5 s fetch wait the embedded broker rarely delivered
anything inside that window; with a 20 ms wait it did in about half of the SIGKILL-and-restart
runs of tests/integration/test_exactly_once.py, which then missed matches. The same race exists on
real Kafka whenever records arrive within the seek's round trip (faust-streaming issue #596).
:func:`resume_streams_after_seek` defers step 1 to the moment of step 3, so the queues are emptied
before any record of those partitions can enter them: nothing runs between the two.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import faust

FETCH_WAIT_MS = 20
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


def resume_streams_after_seek(app: faust.App) -> None:
    """Make the app's table recovery resume stream partitions only when it empties the queues,
    from their committed offsets or, with none committed, from the beginning."""
    recovery = app.tables.recovery
    for name in RESUMING_METHODS:
        setattr(recovery, name, _deferring_resumes(app, getattr(recovery, name)))


def _deferring_resumes(
    app: faust.App, method: Callable[..., Awaitable[None]]
) -> Callable[..., Awaitable[None]]:
    async def resume_after_seek(*args: Any, **kwargs: Any) -> None:
        consumer, flow = app.consumer, app.flow_control
        deferred: list[Any] = []
        seek = consumer.perform_seek

        def defer(tps: Iterable[Any]) -> None:
            deferred.extend(tps)

        async def seek_then_rewind() -> None:
            await seek()
            # With nothing committed Faust's seek leaves a partition where the consumer is, past
            # any records Faust discarded before; the reset policy says where to start instead.
            fresh = [tp for tp in deferred if not consumer._committed_offset.get(tp)]
            if fresh and app.conf.consumer_auto_offset_reset == "earliest":
                # offset 0, or (retention) the log's start, where the broker resets it
                await consumer.seek_wait(dict.fromkeys(fresh, 0))

        def resume_partitions_and_flow() -> None:
            # one synchronous step: the stream partitions join the fetch set as the queues empty
            type(consumer).resume_partitions(consumer, deferred)
            deferred.clear()
            type(flow).resume(flow)

        with (
            _overriding(consumer, "resume_partitions", defer),
            _overriding(consumer, "perform_seek", seek_then_rewind),
            _overriding(flow, "resume", resume_partitions_and_flow),
        ):
            try:
                await method(*args, **kwargs)
            finally:
                if deferred:  # the seek failed: resume as Faust would have, rather than stall
                    type(consumer).resume_partitions(consumer, deferred)

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


def adjust_consumer(app: faust.App, *, embedded: bool) -> None:
    """Both adjustments for a worker app; the short fetch wait only on the embedded broker (on
    real Kafka a fetch returns when data arrives, and a short wait only adds idle requests)."""
    resume_streams_after_seek(app)
    if embedded:
        shorten_fetch_wait(app)
