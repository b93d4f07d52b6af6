"""The monitor's exceptions, all under one root.

MonitorError
├── ConfigError        a data file (feeds, events, rules, demo) is invalid: carries file, field
├── FeedError          a feed could not be fetched or parsed: carries the feed url
└── ServiceError       Kafka or Redis is unreachable or not configured: says what to start or set
"""

from __future__ import annotations

from pathlib import Path


class MonitorError(Exception):
    """Root of every error the monitor raises on purpose; the CLI prints them without traceback."""


class ConfigError(MonitorError):
    """A configuration or data file is invalid."""

    def __init__(
        self,
        message: str,
        *,
        file: Path | str | None = None,
        field: str | None = None,
        rule: str | None = None,
    ):
        self.file = str(file) if file is not None else None
        self.field = field
        self.rule = rule
        where = ""
        if self.file:
            where = f"{self.file}: "
        if rule:
            where += f"rule {rule!r}: "
        if field:
            where += f"field `{field}`: "
        super().__init__(f"{where}{message}")


class FeedError(MonitorError):
    """A feed could not be fetched or parsed."""

    def __init__(self, message: str, *, url: str, status: int | None = None):
        self.url = url
        self.status = status
        super().__init__(f"feed {url}: {message}")


class ServiceError(MonitorError):
    """Kafka or Redis is not reachable or not configured."""
