"""agents/fastpath.py: batches read from an agent's channel, and raw events without the registry.

The channel and its queue are Faust's own (an unstarted app needs no broker for them); the events
put on the queue stand in for delivered ones and record their acks.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import pytest
from faust.transport.producer import ProducerBuffer
from faust.types import Message

from agents.fastpath import ChannelReader, RawSchema, count_buffer_directly, event_batches


class Delivered:
    """An event as the consumer queues it; ``ack`` records that it was acknowledged."""

    def __init__(self, n: int, acks: list[int]) -> None:
        self.n, self._acks = n, acks

    def ack(self) -> bool:
        self._acks.append(self.n)
        return True


class AgentStream:
    """What ``event_batches`` reads of an agent's stream: its channel."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel


@pytest.fixture
def app() -> faust.App:
    return faust.App("fastpath-test", broker="kafka://localhost:1", autodiscover=False)


def fill(queue: Any, events: list[Delivered]) -> None:
    for event in events:
        queue.put_nowait(event)


async def test_a_batch_is_what_is_queued_up_to_the_bound_and_acked_when_the_next_is_asked(
    app: faust.App,
) -> None:
    channel = aiter(app.channel())
    acks: list[int] = []
    fill(channel.queue, [Delivered(n, acks) for n in range(7)])
    batches = event_batches(AgentStream(channel), 3)

    first = await anext(batches)
    assert [e.n for e in first] == [0, 1, 2]
    assert acks == []  # not before the agent is done with it
    second = await anext(batches)
    assert acks == [0, 1, 2]
    assert [e.n for e in second] == [3, 4, 5]
    third = await anext(batches)
    assert [e.n for e in third] == [6]  # what was queued; no waiting for a full batch
    assert acks == [0, 1, 2, 3, 4, 5]
    await batches.aclose()
    assert acks == [0, 1, 2, 3, 4, 5]  # an unfinished batch is not acked: it is read again


async def test_draining_a_full_queue_resumes_fetching_its_partition(app: faust.App) -> None:
    """The consumer pauses a partition when the queue it delivers to is nearly full; taking
    events out must tell it when to fetch again, as Faust's own stream does."""
    channel = aiter(app.channel(maxsize=10))
    acks: list[int] = []
    paused, resumed = [], []
    for n in range(9):
        channel.queue.put_nowait_enhanced(
            Delivered(n, acks),
            on_pressure_high=lambda: paused.append(True),
            on_pressure_drop=lambda: resumed.append(True),
        )
    assert paused and not resumed
    batches = event_batches(AgentStream(channel), 10)
    assert len(await anext(batches)) == 9
    assert resumed
    await batches.aclose()


async def test_an_empty_queue_waits_for_the_next_event(app: faust.App) -> None:
    channel = aiter(app.channel())
    acks: list[int] = []
    batches = event_batches(AgentStream(channel), 10)
    waiting = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    fill(channel.queue, [Delivered(1, acks)])
    assert [e.n for e in await asyncio.wait_for(waiting, 1)] == [1]
    await batches.aclose()


async def test_an_error_thrown_into_the_channel_reaches_the_agent(app: faust.App) -> None:
    channel = aiter(app.channel())
    batches = event_batches(AgentStream(channel), 10)
    await channel.throw(KeyError("broken"))
    with pytest.raises(KeyError, match="broken"):
        await anext(batches)


async def test_batches_end_when_the_channel_is_closed(app: faust.App) -> None:
    channel = aiter(app.channel())
    batches = event_batches(AgentStream(channel), 10)
    await channel.throw(StopAsyncIteration())
    assert [batch async for batch in batches] == []


async def test_batches_end_when_the_channel_is_closed_with_events_queued(app: faust.App) -> None:
    channel = aiter(app.channel())
    acks: list[int] = []
    batches = event_batches(AgentStream(channel), 10)
    waiting = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0)
    fill(channel.queue, [Delivered(1, acks)])
    await channel.throw(StopAsyncIteration())  # closed before the waiting agent resumed
    fill(channel.queue, [Delivered(2, acks)])
    with pytest.raises(StopAsyncIteration):  # the batches ended (not a RuntimeError)
        await asyncio.wait_for(waiting, 1)
    assert acks == []  # nothing taken is acked: it is read again after a restart


async def test_raw_schema_gives_the_message_bytes_as_they_came(app: faust.App) -> None:
    topic = app.topic("monitor.articles", schema=RawSchema())
    message = Message("monitor.articles", 2, 41, 0.0, 0, {}, b"key-1", b'{"id": "a"}', None)
    event = await topic.decode(message, propagate=True)
    assert (event.key, event.value, event.message) == (b"key-1", b'{"id": "a"}', message)
    empty = Message("monitor.articles", 2, 42, 0.0, 0, {}, None, None, None)
    event = await topic.decode(empty, propagate=True)
    assert (event.key, event.value) == (None, None)  # the agent dead-letters an empty record


def test_raw_schema_still_encodes_with_the_raw_codec(app: faust.App) -> None:
    topic = app.topic("alerts.ceasefire", schema=RawSchema())
    assert (topic.key_serializer, topic.value_serializer) == ("raw", "raw")
    assert topic.prepare_value(b"payload", None)[0] == b"payload"


async def test_the_buffer_counts_its_pending_writes_as_faust_does(app: faust.App) -> None:
    count_buffer_directly(app)
    buffer = app.producer.buffer
    assert isinstance(buffer, ProducerBuffer) and type(buffer) is not ProducerBuffer
    assert buffer.size == ProducerBuffer.size.fget(buffer) == 0  # type: ignore[attr-defined]
    for n in range(3):  # what a table write puts there: a changelog message to send
        buffer.pending.put_nowait(f"changelog-{n}")
    assert buffer.size == ProducerBuffer.size.fget(buffer) == 3  # type: ignore[attr-defined]
    buffer.pending.get_nowait()
    assert buffer.size == 2


async def test_a_reader_leaves_acking_to_the_agent(app: faust.App) -> None:
    """The match stage holds batches until their match records are sent: taking the next batch
    acks nothing, and ``queued`` says whether more is waiting."""
    channel = aiter(app.channel())
    acks: list[int] = []
    fill(channel.queue, [Delivered(n, acks) for n in range(5)])
    reader = ChannelReader(AgentStream(channel), 3)
    first = await reader.take()
    assert first is not None and [e.n for e in first] == [0, 1, 2]
    assert reader.queued()
    second = await reader.take()
    assert second is not None and [e.n for e in second] == [3, 4]
    assert not reader.queued()
    assert acks == []
    reader.ack(first + second)
    assert acks == [0, 1, 2, 3, 4]
    await channel.throw(StopAsyncIteration())  # how Faust closes an agent's channel
    assert await reader.take() is None
