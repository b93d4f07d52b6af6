"""The worker's ways around Faust's per-event machinery, where it does work it has no use for.

Batches of events read straight from an agent's channel (:func:`event_batches`): how both stages
take their records.

Faust's ``stream.take_events`` runs every event through the stream's per-event machinery before
it reaches the buffer: a background task iterates the stream (the sensors' ``on_stream_event_in``,
the stream's current event, its processors, one of which appends the event to the buffer), and
once the batch is done each event is acked through the stream again (``on_stream_event_out``,
``on_message_out``). That machinery costs as much as the rest of delivering an event, and the
stages have no use for it: they work a batch at a time and set each event's context themselves.
So :class:`ChannelReader` (and :func:`event_batches` on top of it) reads the events the
consumer delivered to the agent's channel:

- it waits for one event, then takes whatever else is queued, up to ``max_events``, without
  waiting for more: under load a batch is what the consumer delivered since the last; under light
  load an article is decided as soon as it arrives, where ``take_events`` held it for its window;
- it uses the queue's own ``get`` and ``get_nowait``, so what Faust's stream relies on still
  happens: an error thrown into the channel is raised in the agent, and a partition whose fetching
  was paused because the queue filled up is resumed as it drains (flow control);
- :func:`event_batches` acks a batch's events (``Event.ack``: the consumer may commit their
  offsets) only when the agent asks for the next batch, so a batch the agent did not finish (a
  crash, a cancelled task at shutdown) is read again from the committed offsets, as with
  ``take_events``; an agent using the reader itself acks when its work is done (the match stage
  holds batches until their match records are sent);
- it lets the event loop run other tasks between batches (Faust's buffer task did that for it),
  and ends when the channel is closed (Faust throws ``StopAsyncIteration`` into it on stopping).

Faust's per-event sensors do not see these events; the worker reports its own counts to Redis.

Raw keys and values without the serializer registry (:class:`RawSchema`): the worker's topics
carry bytes that the agents decode themselves (``monitor.models``), yet for every message Faust's
default schema asked the app's serializer registry to "decode" key and value with the ``raw``
codec, through several layers and a settings lookup, to get the same bytes back.

The producer buffer's size without a settings lookup (:func:`count_buffer_directly`): before it
delivers each fetched message, Faust's conductor waits until the producer's buffer of table
changelog writes is back under its bound, and the buffer's ``size`` asks the app's settings
(``app.conf.producer_threaded``, a registry lookup several layers deep) which queue to count,
every time. That lookup was about 3% of the worker's event loop. The setting cannot change once
the producer exists, so the buffer of an unthreaded producer counts its own queue directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import faust
from faust.transport.producer import ProducerBuffer


class ChannelReader:
    """Batches of events read straight from an agent's channel (see the module's docstring), for
    an agent that acks them itself: :meth:`take` a batch, :meth:`ack` its events once the work
    they stand for is done (or handed to the producer)."""

    def __init__(self, stream: Any, max_events: int) -> None:
        # aiter() makes the channel the conductor delivers to, as iterating the stream would have
        queue = aiter(stream.channel).queue
        self._get, self._get_nowait, self._empty = queue.get, queue.get_nowait, queue.empty
        self.max_events = max_events

    async def take(self) -> list[Any] | None:
        """1 to ``max_events`` events in the order the consumer delivered them: waits for one,
        then takes whatever else is queued without waiting. None once the channel is closed (the
        agent is stopping; what it did not ack is read again after a restart)."""
        try:
            batch = [await self._get()]
            while len(batch) < self.max_events and not self._empty():
                batch.append(self._get_nowait())
        except StopAsyncIteration:
            return None
        return batch

    def queued(self) -> bool:
        """Whether more events are waiting (the stage is behind)."""
        return not self._empty()

    @staticmethod
    def ack(events: list[Any]) -> None:
        """Let the consumer commit past these events."""
        for event in events:
            event.ack()


async def event_batches(stream: Any, max_events: int) -> AsyncIterator[list[Any]]:
    """Lists of 1 to ``max_events`` events from the agent's ``stream``'s channel, in the order the
    consumer delivered them; a list's events are acked when the next one is asked for."""
    reader = ChannelReader(stream, max_events)
    while (batch := await reader.take()) is not None:
        yield batch
        reader.ack(batch)
        await asyncio.sleep(0)  # the drain loop refills the queue, the heartbeat runs


class RawSchema(faust.Schema):
    """Keys and values as bytes (the ``raw`` serializer), decoded into events without the
    serializer registry. Use it as a topic's ``schema`` when the agent decodes records itself;
    sending through the topic still encodes with the ``raw`` codec."""

    def __init__(self) -> None:
        super().__init__(key_serializer="raw", value_serializer="raw")

    def compile(self, app: Any, **kwargs: Any) -> Any:
        """The topic's ``decode``: an event holding the message's own key and value bytes (a raw
        key or value cannot fail to decode, so the error callbacks are never needed)."""
        event_type = app.conf.Event

        async def decode(message: Any, *, propagate: bool = False) -> Any:
            return event_type(app, message.key, message.value, message.headers, message)

        return decode


class _UnthreadedBuffer(ProducerBuffer):
    """The producer buffer of an app whose producer is not threaded: ``size`` is the length of
    its own queue of pending changelog writes, as Faust's ``size`` finds after a settings lookup."""

    @property
    def size(self) -> int:
        return len(self.pending._queue)  # the deque under the asyncio queue, as Faust counts


def count_buffer_directly(app: faust.App) -> None:
    """Make the buffer of the app's (unthreaded) producer count its queue without a settings
    lookup. A threaded producer keeps Faust's own buffer: its queue lives on another thread."""
    base = app.transport.Producer

    class Producer(base):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if not self.app.conf.producer_threaded and type(self.buffer) is ProducerBuffer:
                self.buffer.__class__ = _UnthreadedBuffer

    app.transport.Producer = Producer
