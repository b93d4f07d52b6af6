"""How a worker's consumer delivers fetched messages and shares the interpreter lock."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Iterator
from typing import Any

import faust
import pytest

from agents.consumer import SWITCH_INTERVAL, adjust_consumer


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
