"""Logging set-up: readable lines on a terminal, JSON lines otherwise; a log file for ``run``."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

NOISY = ("faust", "mode", "aiokafka", "kafka", "aiohttp.access", "asyncio")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload)


def configure(
    level: str = "INFO",
    *,
    log_file: Path | None = None,
    quiet_console: bool = False,
    verbose: bool = False,
) -> None:
    """Console handler (pretty on a TTY, JSON otherwise) and an optional file handler at INFO."""
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING if quiet_console and not verbose else level.upper())
    if sys.stderr.isatty():
        console.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S")
        )
    else:
        console.setFormatter(JsonFormatter())
    root.addHandler(console)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setLevel(logging.INFO)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
