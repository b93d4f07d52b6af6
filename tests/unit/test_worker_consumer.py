"""How a worker's consumer delivers fetched messages, shares the interpreter lock and counts
articles deleted before it read them."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from aiokafka.structs import TopicPartition

from agents.consumer import SWITCH_INTERVAL, UnreadDeletions, adjust_consumer
from monitor.kafka import ARTICLES_TOPIC


def test_a_worker_app_hands_the_interpreter_lock_over_sooner() -> None:
    """Adjusting a worker app sets the switch interval below CPython's 5 ms default, so Faust's
    consumer thread is not held up for 5 ms behind a batch of decisions."""
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        adjust_consumer(faust.App("switch-test", broker="kafka://127.0.0.1:9"), embedded=False)
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
        assert SWITCH_INTERVAL < 0.005
    finally:
        sys.setswitchinterval(before)


@pytest.fixture(autouse=True)
def collected() -> Iterator[None]:
    """Each test's Faust objects are collected when it ends. Without this, running this file on
    its own ended (after the tests passed) in "SystemError: AST constructor recursion depth
    mismatch" from CPython 3.11.7, while pytest parsed a module's source for the hypothesis
    plugin; it looks like a later collection running finalizers inside that parse."""
    yield
    gc.collect()


def worker_consumer() -> Any:
    """The consumer of a worker app with the adjustments (nothing connects until it starts)."""
    app = faust.App("inline-test", broker="kafka://127.0.0.1:9")
    adjust_consumer(app, embedded=False)
    return app.consumer


def test_a_delivery_that_waits_for_nothing_runs_without_new_tasks() -> None:
    """The drain loop's wait_first(delivery, suspend_flow.wait()) runs a delivery that never
    blocks in the caller's own task: done, with no task created for it or for the flow."""

    async def scenario() -> tuple[list[str], int, Any]:
        consumer = worker_consumer()
        ran: list[str] = []

        async def delivery() -> None:
            ran.append("delivered")

        before = len(asyncio.all_tasks())
        result = await consumer.wait_first(delivery(), consumer.suspend_flow.wait())
        return ran, len(asyncio.all_tasks()) - before, result

    ran, new_tasks, result = asyncio.run(scenario())
    assert ran == ["delivered"] and new_tasks == 0
    assert result.results == [None] and not result.stopped


def test_a_blocked_delivery_finishes_when_what_it_waits_for_comes() -> None:
    """A delivery that blocks (a full stream queue, suspended flow control) is handed to Faust's
    race and goes on where it stopped once what it waited for arrives."""

    async def scenario() -> list[str]:
        consumer = worker_consumer()
        ran: list[str] = []
        room = asyncio.Event()

        async def delivery() -> None:
            ran.append("waiting")
            await room.wait()
            ran.append("delivered")

        asyncio.get_running_loop().call_later(0.05, room.set)
        await consumer.wait_first(delivery(), consumer.suspend_flow.wait())
        return ran

    assert asyncio.run(scenario()) == ["waiting", "delivered"]


def test_a_blocked_delivery_is_cut_short_when_the_flow_stops() -> None:
    """When the flow stops for a rebalance while a delivery is blocked, the wait ends and the
    delivery is cancelled where it waited, as in Faust's own race: the message is not delivered
    late, after the partitions may have moved."""

    async def scenario() -> tuple[list[str], bool]:
        consumer = worker_consumer()
        ran: list[str] = []
        never = asyncio.Event()

        async def delivery() -> None:
            ran.append("waiting")
            try:
                await never.wait()
            except asyncio.CancelledError:
                ran.append("cancelled")
                raise
            ran.append("delivered")

        asyncio.get_running_loop().call_later(0.05, consumer.stop_flow)
        result = await consumer.wait_first(delivery(), consumer.suspend_flow.wait())
        await asyncio.sleep(0.01)
        return ran, result.results == [True]  # the flow's wait won the race

    ran, flow_won = asyncio.run(scenario())
    assert ran == ["waiting", "cancelled"]
    assert flow_won


ARTICLES = TopicPartition(ARTICLES_TOPIC, 2)


def fetched(tp: TopicPartition, first: int, last: int) -> dict[TopicPartition, list[Any]]:
    """A fetch's records for one partition, offsets ``first`` to ``last``."""
    return {tp: [SimpleNamespace(offset=o) for o in range(first, last + 1)]}


def deletions() -> tuple[UnreadDeletions, list[tuple[int, int, int, int]]]:
    reports: list[tuple[int, int, int, int]] = []
    return UnreadDeletions({ARTICLES_TOPIC: lambda *report: reports.append(report)}), reports


def test_articles_deleted_after_the_last_one_read_are_reported_exactly() -> None:
    """Records read up to offset 9, the next fetch starting at 15 (the broker deleted 10-14 and
    the consumer was reset to the log's start): partition, first and last lost, count 5."""
    tracker, reports = deletions()
    tracker.fetched(fetched(ARTICLES, 0, 9))
    tracker.fetched(fetched(ARTICLES, 15, 20))
    tracker.fetched(fetched(ARTICLES, 21, 30))
    assert reports == [(2, 10, 14, 5)]


@pytest.mark.parametrize(
    ("first_fetched", "expected"),
    [(10, []), (11, [(2, 10, 10, 1)]), (25, [(2, 10, 24, 15)])],
    ids=["none-deleted", "one-deleted", "fifteen-deleted"],
)
def test_articles_deleted_from_the_committed_offset_on_are_reported_exactly(
    first_fetched: int, expected: list[tuple[int, int, int, int]]
) -> None:
    """After a seek to committed offset 10 (the next to read, where Faust's read offset is the
    last read otherwise), a fetch from 11 means exactly offset 10 was lost, one from 10 nothing:
    Faust's own gap is one short there, and missing when one record went."""
    tracker, reports = deletions()
    tracker.fetched(fetched(ARTICLES, 0, 40))  # before a rebalance: read further than committed
    tracker.forget([ARTICLES])
    tracker.seeked({ARTICLES: 10})
    tracker.fetched(fetched(ARTICLES, first_fetched, first_fetched + 5))
    assert reports == expected


def test_a_partition_rewound_to_the_beginning_reports_what_the_log_no_longer_has() -> None:
    """A partition with nothing committed is rewound to 0; a log that starts at 7 lost 0-6."""
    tracker, reports = deletions()
    tracker.seeked({ARTICLES: None})  # nothing committed
    tracker.seeked({ARTICLES: 0})  # the worker's rewind
    tracker.fetched(fetched(ARTICLES, 7, 9))
    assert reports == [(2, 0, 6, 7)]


def test_rereads_other_topics_and_unknown_positions_are_not_reported() -> None:
    """Only ``monitor.articles`` is watched (other topics may have holes: transactions,
    compaction); a fetch behind the due offset (a re-read) and a first fetch after an
    assignment with no seek yet are not losses."""
    tracker, reports = deletions()
    other = TopicPartition("monitor.matches", 2)
    tracker.fetched({**fetched(other, 0, 3), **fetched(ARTICLES, 0, 3)})
    tracker.fetched({**fetched(other, 50, 60), **fetched(ARTICLES, 2, 8)})  # a re-read
    tracker.forget([ARTICLES])
    tracker.fetched(fetched(ARTICLES, 100, 101))  # assigned, nothing known yet
    tracker.seeked({ARTICLES: 0, other: 0})
    tracker.seeked({ARTICLES: -1001})  # aiokafka's "no offset"
    tracker.fetched({**fetched(other, 90, 91), **fetched(ARTICLES, 120, 121)})
    assert reports == []
