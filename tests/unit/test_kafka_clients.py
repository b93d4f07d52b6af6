"""Kafka clients outside Faust: a broker that does not answer is a ServiceError naming it."""

from __future__ import annotations

import socket

import pytest

from monitor.errors import ServiceError
from monitor.kafka import start_consumer, start_producer


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once it is closed


async def test_producer_and_consumer_name_the_broker_that_does_not_answer() -> None:
    """Starting either client against a closed port raises ServiceError with the address."""
    bootstrap = closed_port()
    with pytest.raises(ServiceError, match=f"cannot reach Kafka at {bootstrap}"):
        await start_producer(bootstrap)
    with pytest.raises(ServiceError, match=f"cannot reach Kafka at {bootstrap}"):
        await start_consumer(bootstrap, ["monitor.articles"], from_beginning=True)
