"""The Faust app's options, from the settings and the resolved endpoints. No Faust import here.

- Topics: on external Kafka the app may declare (create) the topics and changelogs it uses, with
  ``MONITOR_TOPICS__PARTITIONS`` partitions and ``MONITOR_TOPICS__REPLICATION`` replicas, the same
  values ``monitor topics ensure`` provisions. The embedded broker has no CreateTopics and
  auto-creates every topic with 4 partitions, so there the app declares nothing and assumes 4.
- Co-partitioning: the dedupe table is keyed like ``monitor.articles`` and the story table like
  ``monitor.matches``; a table's changelog must have as many partitions as its source topic or
  Faust refuses to start (PartitionsMismatch). One partition count for all of them keeps that true.
- Processing guarantee (``MONITOR_STREAM__GUARANTEE``) is passed to Faust as
  ``processing_guarantee``, but Faust only uses transactions when its own ``faust.Worker`` runs
  the app (``app.in_worker``); agents/runner.py starts the app itself, so with either value the
  worker consumes ``read_uncommitted``, sends without transactions and commits offsets after the
  producer flushed (at least once). What holds after a crash or a rebalance is that replayed
  records change nothing: a matched version is in the dedupe table (its changelog flushed before
  the offset), story state comes back from its changelog, and alert ids are idempotency keys
  (tests/integration/test_exactly_once.py checks that no alert id repeats or goes missing across a
  SIGKILL). Turning Faust's transactions on would not help as things are: on the embedded broker
  (librdkafka's mock) records of open transactions are visible to ``read_committed`` readers and
  every commit or abort marker is written with CRC 0, which aiokafka and librdkafka consumers
  reject ("Invalid CRC"); and Faust puts each send in the transaction of its destination
  partition, so a match keyed by category would not commit with the article offset it came from.
- Stream buffer: each agent's channel queues up to STREAM_BUFFER fetched events before the
  conductor pauses their partitions. Faust's default, 4,096, is less than one fetch of the four
  article partitions from a consumer that is behind (Kafka returns up to 1 MiB per partition,
  about 1,900 articles); it then paused and refetched on every fetch and the agent sat idle.
- Producer batches: up to PRODUCER_BATCH bytes of one partition's records go in one batch
  (aiokafka's default is 16 KiB, six match records). The match stage sends its match records
  together (agents/app.py, SEND_RECORDS), and the embedded broker answers a fetch with one
  producer batch per partition, so the story stage reads as many per fetch as a batch holds.
- Table store (``MONITOR_STREAM__STORE``): ``memory://`` rebuilds each table from its compacted
  changelog when a worker gets a partition (start-up time grows with the number of keys);
  ``rocksdb://`` keeps tables on disk under ``MONITOR_DATA_DIR/faust`` so a restarted worker reads
  only the changelog's tail (needs ``pip install 'news-monitor[rocksdb]'`` and a volume).
"""

from __future__ import annotations

from typing import Any

from monitor.embedded import EMBEDDED_PARTITIONS, Endpoints
from monitor.settings import Settings

STREAM_BUFFER = 16_384  # events queued for an agent before its partitions are paused
PRODUCER_BATCH = 512 * 1024  # bytes of one partition's records the producer sends as one batch


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
        # matches, alerts and changelog writes are a few per hundred articles: send them at once
        "producer_linger_ms": 1,
        "stream_buffer_maxsize": STREAM_BUFFER,
        "producer_max_batch_size": PRODUCER_BATCH,
    }
