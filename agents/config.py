"""The Faust app's options, from the settings and the resolved endpoints. No Faust import here.

- Topics: on external Kafka the app may declare (create) the topics and changelogs it uses, with
  ``MONITOR_TOPICS__PARTITIONS`` partitions and ``MONITOR_TOPICS__REPLICATION`` replicas, the same
  values ``monitor topics ensure`` provisions. The embedded broker has no CreateTopics and
  auto-creates every topic with 4 partitions, so there the app declares nothing and assumes 4.
- Co-partitioning: the dedupe table is keyed like ``monitor.articles`` and the story table like
  ``monitor.matches``; a table's changelog must have as many partitions as its source topic or
  Faust refuses to start (PartitionsMismatch). One partition count for all of them keeps that true.
- Processing guarantee (``MONITOR_STREAM__GUARANTEE``): ``exactly_once`` (the default) makes Faust
  write table changes, sends and offsets in one Kafka transaction per partition, which the alert
  stage relies on for "never twice, never lost" across crashes and rebalances; consumers of the
  alert topics read with ``isolation.level=read_committed``. ``at_least_once`` commits offsets
  after processing, so a crash replays records (alert ids stay idempotency keys).
- Table store (``MONITOR_STREAM__STORE``): ``memory://`` rebuilds each table from its compacted
  changelog when a worker gets a partition (start-up time grows with the number of keys);
  ``rocksdb://`` keeps tables on disk under ``MONITOR_DATA_DIR/faust`` so a restarted worker reads
  only the changelog's tail (needs ``pip install 'news-monitor[rocksdb]'`` and a volume).
"""

from __future__ import annotations

from typing import Any

from monitor.embedded import EMBEDDED_PARTITIONS, Endpoints
from monitor.settings import Settings


def faust_broker_url(bootstrap: str) -> str:
    """``a:9092,b:9092`` (aiokafka's form) to ``kafka://a:9092;kafka://b:9092`` (Faust's)."""
    return ";".join(f"kafka://{host}" for host in bootstrap.split(",") if host)


def faust_options(settings: Settings, endpoints: Endpoints) -> dict[str, Any]:
    """Keyword arguments for ``faust.App(settings.app_id, **options)``."""
    embedded = endpoints.embedded
    return {
        "broker": faust_broker_url(endpoints.kafka),
        "store": settings.stream.store,
        "datadir": str(settings.data_dir / "faust"),
        "processing_guarantee": settings.stream.guarantee,
        "topic_allow_declare": not embedded,
        "topic_disable_leader": True,
        "topic_partitions": EMBEDDED_PARTITIONS if embedded else settings.topics.partitions,
        "topic_replication_factor": 1 if embedded else settings.topics.replication,
        "producer_acks": -1,
        "web_enabled": False,
        "autodiscover": False,
        "consumer_auto_offset_reset": "earliest",
        # a killed worker's partitions move to the others after this many seconds
        "broker_session_timeout": settings.stream.session_timeout,
        "broker_heartbeat_interval": min(3.0, settings.stream.session_timeout / 5),
        "producer_linger_ms": 5,
    }
