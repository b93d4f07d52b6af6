"""Settings, read from ``MONITOR_*`` environment variables (nested with ``__``).

Built once at each entry point with :func:`load_settings` and passed down; nothing here reads the
environment at import time.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = PROJECT_ROOT / "config"
DEFAULT_WEB_PORT = 8080
DEFAULT_USER_AGENT = "news-monitor/0.1 (+https://github.com/news-monitor; feed poller)"


class WebSettings(BaseModel):
    """The status page's HTTP server."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_WEB_PORT


class PollSettings(BaseModel):
    """Feed polling."""

    interval: float = Field(300.0, description="seconds between polls of one feed when unsure")
    timeout: float = Field(20.0, description="total seconds allowed for one fetch")
    max_bytes: int = Field(5_000_000, description="largest feed body accepted")
    user_agent: str = DEFAULT_USER_AGENT
    concurrency: int = Field(16, description="fetches in flight at once")
    shard: int = Field(0, ge=0, description="this poller's shard, 0 to shards - 1")
    shards: int = Field(1, ge=1, description="pollers sharing the feed list, each polling 1/shards")
    connect_timeout: float = Field(10.0, gt=0, description="seconds allowed to connect")
    read_timeout: float = Field(15.0, gt=0, description="seconds a server may stay silent")
    per_host: int = Field(2, ge=1, description="fetches in flight to one host")
    min_interval: float = Field(60.0, gt=0, description="adaptive interval's lower bound")
    max_interval: float = Field(3600.0, gt=0, description="adaptive interval's upper bound")
    max_backoff: float = Field(6 * 3600.0, gt=0, description="longest wait after failures")
    failure_threshold: int = Field(5, ge=1, description="failures in a row that flag a feed")
    silence_factor: float = Field(3.0, gt=1, description="silence beyond N x cadence flags")
    min_silence: float = Field(6 * 3600.0, ge=0, description="never flag silence sooner")
    backlog: int = Field(10_000, ge=1, description="articles kept while Kafka is unreachable")
    websub_url: str | None = Field(
        None, description="public base URL of the WebSub callback server; unset: no WebSub"
    )
    websub_host: str = Field("127.0.0.1", description="address the WebSub callback listens on")
    websub_port: int = Field(8081, ge=0, description="port the WebSub callback listens on")
    websub_lease: int = Field(86400, gt=0, description="lease asked of hubs, seconds")


class TopicSettings(BaseModel):
    """How `monitor topics ensure` provisions topics on external Kafka (see monitor/topics.py).

    The embedded broker ignores these: it auto-creates every topic with 4 partitions.
    """

    partitions: int = Field(
        4,
        ge=1,
        description="partitions of monitor.articles, monitor.matches and the worker tables' "
        "changelogs (co-partitioned: always equal); the most workers that share the work",
    )
    replication: int = Field(1, ge=1, description="replication factor of every topic")
    min_insync_replicas: int = Field(
        1, ge=1, description="replicas that must have a record before acks=all succeeds"
    )
    articles_retention_days: float = Field(
        90.0,
        description="how long monitor.articles is kept: how far back backtests reach; -1 keeps all",
    )
    alerts_retention_days: float = Field(
        30.0, description="how long alerts.<category> is kept for late subscribers; -1 keeps all"
    )
    matches_retention_days: float = Field(7.0, description="monitor.matches, an internal stage")
    deadletter_retention_days: float = Field(
        30.0, description="monitor.deadletter, kept for investigating bad records"
    )


class StreamSettings(BaseModel):
    """The Faust worker's processing options (see agents/config.py)."""

    guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "exactly_once",
        description=(
            "passed to Faust as processing_guarantee; the worker does not run Faust's"
            " transactions either way (agents/config.py): replays are made harmless instead"
        ),
    )
    session_timeout: float = Field(
        10.0,
        gt=1,
        description="seconds before the group gives a silent worker's partitions to others "
        "(a killed worker's partitions move after this)",
    )
    store: str = Field(
        "memory://",
        pattern=r"^(memory|rocksdb)://",
        description="table store: memory:// rebuilds tables from changelogs at start, "
        "rocksdb:// keeps them on disk under MONITOR_DATA_DIR (needs the rocksdb extra)",
    )
    dedupe_hours: float = Field(
        72.0,
        gt=0,
        description="hours an article id stays in the dedupe table after the worker saw it; "
        "a re-send after that is matched again (bounds the table's memory)",
    )
    story_partitions: dict[str, int] = Field(
        default_factory=lambda: {"ceasefire": 1, "sanctions": 2},
        description="category -> monitor.matches partition, whose worker builds the "
        "category's stories (JSON); a category not listed goes to the partition its name "
        "hashes to. Fixed once stories exist: see the README's Scaling",
    )
    standby_replicas: int = Field(
        0,
        ge=0,
        description="workers that each keep a standby copy of another worker's tables, read "
        "from its changelogs, so a takeover starts at once; 0: a worker taking over a "
        "partition reads its changelog first (seconds for these small tables)",
    )


class DeliverySettings(BaseModel):
    """Delivering alerts to webhooks and Apprise URLs (``monitor deliver``, monitor/delivery.py).

    Where to deliver is data: ``config/webhooks.yaml`` (or ``file``), validated on load.
    """

    file: Path | None = Field(
        None, description="the delivery targets file; unset: webhooks.yaml in the config directory"
    )
    attempts: int = Field(
        6, ge=1, description="tries per alert and target before it goes to monitor.deadletter"
    )
    backoff: float = Field(1.0, gt=0, description="seconds before the first retry, doubling")
    max_backoff: float = Field(60.0, gt=0, description="longest wait between two tries")
    timeout: float = Field(10.0, gt=0, description="seconds allowed for one POST or notification")


class DemoSettings(BaseModel):
    """The bundled demo timeline."""

    speed: float = Field(1.0, description="1.0 plays the whole timeline in about three minutes")
    duration: float = Field(180.0, description="real seconds the timeline lasts at speed 1")
    poll_interval: float = Field(1.0, description="real seconds between polls of a demo feed")


class Settings(BaseSettings):
    """Everything configurable. See the README's settings table for each variable."""

    model_config = SettingsConfigDict(
        env_prefix="MONITOR_", env_nested_delimiter="__", extra="ignore"
    )

    kafka_broker: str | None = Field(
        None, description="kafka://host:port[;host:port]; unset means the embedded broker"
    )
    redis_url: str | None = Field(None, description="redis://host:port/db; unset means embedded")
    data_dir: Path = Field(Path(".monitor"), description="runtime file and local state")
    config_dir: Path = Field(DEFAULT_CONFIG_DIR, description="feeds, events, rules, demo")
    app_id: str = Field("news-monitor", description="Faust app id and consumer group")
    worker_id: str = Field(default_factory=socket.gethostname)
    log_level: str = "INFO"
    api_token: SecretStr | None = Field(
        None, description="bearer token for rule changes over HTTP; unset makes the API read-only"
    )
    web: WebSettings = WebSettings()
    poll: PollSettings = PollSettings()
    demo: DemoSettings = DemoSettings()
    topics: TopicSettings = TopicSettings()
    stream: StreamSettings = StreamSettings()
    delivery: DeliverySettings = DeliverySettings()

    @property
    def runtime_file(self) -> Path:
        return self.data_dir / "runtime.json"

    @property
    def feeds_file(self) -> Path:
        return self.config_dir / "feeds.yaml"

    @property
    def events_dir(self) -> Path:
        return self.config_dir / "events"

    @property
    def rules_dir(self) -> Path:
        return self.config_dir / "rules"

    @property
    def demo_file(self) -> Path:
        return self.config_dir / "demo" / "timeline.yaml"

    @property
    def webhooks_file(self) -> Path:
        return self.delivery.file or self.config_dir / "webhooks.yaml"


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment, with explicit overrides (e.g. from CLI flags)."""
    return Settings(**overrides)  # type: ignore[arg-type]
