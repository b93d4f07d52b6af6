"""The ``monitor`` command line. One entry point, used the same way in every mode.

Kafka and Redis: set MONITOR_KAFKA_BROKER and MONITOR_REDIS_URL for external services; otherwise
``monitor run`` and ``monitor broker`` start embedded ones and the other commands find them through
the runtime file in MONITOR_DATA_DIR (default .monitor/). One module per command group; importing
them registers their commands on ``main``.
"""

from monitor.cli import alerts, feeds, parts, rules, topics
from monitor.cli.app import main

__all__ = ["alerts", "feeds", "main", "parts", "rules", "topics"]
