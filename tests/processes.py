"""Helpers for tests that run the monitor's commands as child processes."""

from __future__ import annotations

import queue
import threading
import time
from typing import IO


class LineReader:
    """Reads a child's stream on a thread, so a test can wait for a line without hanging."""

    def __init__(self, stream: IO[str]):
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, needle: str, timeout: float) -> str:
        """The first line containing ``needle`` (every line read so far is in ``seen``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.seen.append(line)
            if needle in line:
                return line
        raise AssertionError(
            f"{needle!r} not seen in {timeout}s; got:\n" + "\n".join(self.seen[-40:])
        )

    def rest(self, timeout: float = 30) -> list[str]:
        """Every remaining line, until the stream closes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.lines.get(timeout=deadline - time.monotonic())
            if line is None:
                break
            self.seen.append(line)
        return self.seen
