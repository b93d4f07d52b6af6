"""Following alert topics: readable lines for people, JSON Lines for scripts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TextIO

from aiokafka import TopicPartition

from monitor.alerts import format_alert, format_source_alert
from monitor.kafka import ALL_ALERTS_PATTERN, alert_topic, start_consumer
from monitor.models import Alert, RecordError, SourceHealthAlert

log = logging.getLogger(__name__)


async def follow_alerts(
    bootstrap: str,
    categories: list[str] | None,
    *,
    out: TextIO,
    from_beginning: bool,
    as_json: bool = False,
    colour: bool = False,
    stop: asyncio.Event | None = None,
    on_alert: Callable[[Alert], None] | None = None,
) -> None:
    """Print every alert on the categories' topics until ``stop`` is set.

    With no categories, follows every ``alerts.*`` topic, including categories that rules add
    while it runs (their topics are read from their beginning, so no first alert is missed).
    """
    stop = stop or asyncio.Event()
    if categories:
        consumer = await start_consumer(
            bootstrap, [alert_topic(c) for c in categories], from_beginning=from_beginning
        )
    else:
        consumer = await start_consumer(
            bootstrap, [], from_beginning=from_beginning, pattern=ALL_ALERTS_PATTERN
        )
    known: set[TopicPartition] | None = None
    last: dict[TopicPartition, int] = {}
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=250)
            assignment = set(consumer.assignment())
            if known is None and assignment:
                known = assignment
            elif known is not None and assignment - known:
                for tp in assignment - known:  # a topic created after we started: read it all
                    consumer.seek_to_beginning(tp)
                known |= assignment
            for tp, records in batches.items():
                for record in records:
                    if record.offset <= last.get(tp, -1):
                        continue  # re-read after a subscription change
                    last[tp] = record.offset
                    _show(record.value, out=out, as_json=as_json, colour=colour, on_alert=on_alert)
    finally:
        await consumer.stop()


def _show(
    raw: bytes | None,
    *,
    out: TextIO,
    as_json: bool,
    colour: bool,
    on_alert: Callable[[Alert], None] | None,
) -> None:
    if as_json:
        out.write((raw or b"").decode(errors="replace") + "\n")
        out.flush()
    try:
        alert = Alert.from_bytes(raw)
    except RecordError as exc:
        try:
            health = SourceHealthAlert.from_bytes(raw)
        except RecordError:
            log.warning("alert.undecodable error=%s", exc)
            return
        if not as_json:
            out.write(format_source_alert(health, colour=colour) + "\n")
            out.flush()
        return
    if not as_json:
        out.write(format_alert(alert, colour=colour) + "\n")
        out.flush()
    if on_alert:
        on_alert(alert)
