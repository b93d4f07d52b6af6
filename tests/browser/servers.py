"""Real servers for status-page tests: a redis-server that can be stopped and started again on the
same port, the whole demo as a child process (`monitor run --demo`), and status-store factories."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.embedded import redis_server_binary
from monitor.models import Alert, AlertData, Evidence, Source
from monitor.schedule import FeedState
from monitor.status import StatusStore
from monitor.web import WebServer
from tests.processes import LineReader

ROOT = Path(__file__).resolve().parents[2]
MONITOR = [sys.executable, "-m", "monitor.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RestartableRedis:
    """A real redis-server on a fixed loopback port, so clients find it again after a restart."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.workdir)]
        self._proc = subprocess.Popen(
            [redis_server_binary(), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)
        self._proc = None


class DemoProcess:
    """`monitor run --demo` as a user starts it, in its own data directory, on a free port."""

    def __init__(self, workdir: Path, speed: float = 1.0):
        self.workdir = workdir
        self.speed = speed
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        env.update({"MONITOR_DATA_DIR": str(self.workdir / ".monitor"), "PYTHONPATH": str(ROOT)})
        self.proc = subprocess.Popen(
            [*MONITOR, "run", "--demo", "--speed", str(self.speed), "--port", str(free_port())],
            cwd=self.workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        self.output = LineReader(self.proc.stdout)
        line = self.output.until("status page:", timeout=120)
        self.url = line.split("status page:", 1)[1].strip()
        return self.url

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def feed_state(**fields: object) -> FeedState:
    """A feed state with sensible defaults, overridden by ``fields``."""
    now = time.time()
    values: dict[str, object] = {
        "url": "https://news.example/feed.xml",
        "name": "Example News",
        "status": "ok",
        "last_success": now - 30,
        "last_attempt": now - 30,
        "next_check": now + 270,
        "new_items": 2,
        "total_items": 40,
    }
    values.update(fields)
    return FeedState.model_validate(values)


def alert(headline: str = "Ukraine accepts 30-day ceasefire", **data: object) -> Alert:
    """An alert as the worker emits it, fetched two seconds before it was emitted."""
    now = datetime.now(UTC)
    fields: dict[str, object] = {
        "event": "trump-putin-call-2025-02-12",
        "category": "ceasefire",
        "kind": "new",
        "rules": ["ceasefire"],
        "story": "story-1",
        "headline": headline,
        "link": "https://news.example/a",
        "source": Source(url="https://news.example/feed.xml", name="Example News"),
        "published": now - timedelta(minutes=5),
        "detected": now,
        "score": 1.0,
        "evidence": [
            Evidence(group="ceasefire", term="ceasefire", field="title", text="ceasefire", score=1)
        ],
        "sources": ["Example News"],
        "timestamps": {
            "published": now - timedelta(minutes=5),
            "fetched": now - timedelta(seconds=2),
            "matched": now - timedelta(seconds=1),
            "emitted": now,
        },
    }
    fields.update(data)
    ident = f"{headline}-{time.monotonic_ns()}"
    return Alert(
        id=ident,
        type="org.newsmonitor.alert.v1.new",
        source="urn:news-monitor/rules/ceasefire",
        subject=str(fields["story"]),
        time=now,
        data=AlertData.model_validate(fields),
    )


@contextlib.asynccontextmanager
async def status_page(
    redis_url: str, **kwargs: Any
) -> AsyncIterator[tuple[StatusStore, WebServer]]:
    """The status page served in this event loop on a free port, over the Redis at ``redis_url``."""
    store = StatusStore.from_url(redis_url)
    server = WebServer(store, "127.0.0.1", 0, **kwargs)
    await server.start()
    try:
        yield store, server
    finally:
        await server.stop()
        await store.close()


async def beat_as_stopped(store: StatusStore, role: str, ident: str, seconds_ago: float) -> None:
    """A heartbeat as a part leaves it when it stops: its last beat, ``seconds_ago``."""
    payload = {"role": role, "id": ident, "at": time.time() - seconds_ago}
    await store.redis.hset("monitor:heartbeats", f"{role}:{ident}", json.dumps(payload))
