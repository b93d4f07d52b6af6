"""Following alert topics: readable lines for people, JSON Lines for scripts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TextIO

from monitor.alerts import format_alert
from monitor.kafka import alert_topic, start_consumer
from monitor.models import Alert, RecordError

log = logging.getLogger(__name__)


async def follow_alerts(
    bootstrap: str,
    categories: list[str],
    *,
    out: TextIO,
    from_beginning: bool,
    as_json: bool = False,
    colour: bool = False,
    stop: asyncio.Event | None = None,
    on_alert: Callable[[Alert], None] | None = None,
) -> None:
    """Print every alert on the categories' topics until ``stop`` is set."""
    stop = stop or asyncio.Event()
    consumer = await start_consumer(
        bootstrap, [alert_topic(c) for c in categories], from_beginning=from_beginning
    )
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=250)
            for records in batches.values():
                for record in records:
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
        log.warning("alert.undecodable error=%s", exc)
        return
    if not as_json:
        out.write(format_alert(alert, colour=colour) + "\n")
        out.flush()
    if on_alert:
        on_alert(alert)
