"""Starting and finding the services a command needs: embedded ones when nothing is configured."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field

from monitor.embedded import (
    EmbeddedBroker,
    EmbeddedRedis,
    Endpoints,
    Runtime,
    kafka_bootstrap,
    remove_runtime,
    write_runtime,
)
from monitor.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The endpoints in use, and the embedded services this process owns (if any)."""

    endpoints: Endpoints
    broker: EmbeddedBroker | None = None
    redis: EmbeddedRedis | None = None
    settings: Settings | None = field(default=None, repr=False)

    @property
    def owns_any(self) -> bool:
        return self.broker is not None or self.redis is not None

    def publish(self, web_url: str | None = None) -> None:
        """Write the runtime file so other commands find these services."""
        if self.owns_any and self.settings is not None:
            write_runtime(
                self.settings.runtime_file,
                Runtime(
                    kafka=self.endpoints.kafka,
                    redis=self.endpoints.redis,
                    pid=os.getpid(),
                    web=web_url,
                ),
            )

    def stop(self) -> None:
        if self.settings is not None and self.owns_any:
            remove_runtime(self.settings.runtime_file, os.getpid())
        if self.redis:
            self.redis.stop()
        if self.broker:
            self.broker.stop()


def start_services(settings: Settings) -> Services:
    """Configured Kafka and Redis where set; an embedded broker and redis-server where not."""
    broker = redis = None
    if settings.kafka_broker:
        kafka = kafka_bootstrap(settings.kafka_broker)
    else:
        broker = EmbeddedBroker()
        kafka = broker.start()
    try:
        if broker:
            from monitor.topics import create_embedded_topics

            create_embedded_topics(settings, kafka)  # so that no first alert waits for its topic
        if settings.redis_url:
            redis_url = settings.redis_url
        else:
            redis = EmbeddedRedis(settings.data_dir / "redis")
            redis_url = redis.start()
    except BaseException:
        if broker:
            broker.stop()
        raise
    endpoints = Endpoints(kafka=kafka, redis=redis_url, embedded=broker is not None)
    services = Services(endpoints, broker, redis, settings)
    services.publish()
    return services


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop``; a second Ctrl-C exits at once."""
    loop = asyncio.get_running_loop()
    count = 0

    def handler() -> None:
        nonlocal count
        count += 1
        if count > 1:
            os._exit(130)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, handler)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
