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
- Story placement (``MONITOR_STREAM__STORY_PARTITIONS``): the match stage sends a category's match
  records to one ``monitor.matches`` partition, so one worker owns its stories. Keyed by category
  with Kafka's partitioner (murmur2), both shipped categories went to partition 1, and with two
  workers one of them built every story: 0.90 against 0.57-0.69 cores busy, and two workers did
  1.3-1.5 times one. The default keeps ceasefire on 1 (where its stories were) and puts sanctions
  on 2: Faust's assignor gives two workers started together partitions 0 and 2, and 1 and 3, and
  when the second joins later, 2 and 3, and 0 and 1; three started together get 0 and 3, 1, and 2.
  1 and 2 are apart in each (and with four workers). A category not listed goes where its name
  hashes to, as before.
- Standby tables (``MONITOR_STREAM__STANDBY_REPLICAS``, 0 by default; Faust's default is 1): a
  standby copy of a table partition is kept current by reading its changelog, so with two workers
  each read every changelog write of the other. In bench/pipeline.py that cost two workers 15-25 µs
  of CPU per article (118-133 µs against 93-107 µs without). The tables here are small
  (matched ids of a few days, stories of 30 days), so a worker taking over a partition without a
  standby reads its compacted changelog in seconds. Set 1 where the tables grow large (rocksdb).
- Table store (``MONITOR_STREAM__STORE``): ``memory://`` rebuilds each table from its compacted
  changelog when a worker gets a partition (start-up time grows with the number of keys);
  ``rocksdb://`` keeps tables on disk under ``MONITOR_DATA_DIR/faust`` so a restarted worker reads
  only the changelog's tail (needs ``pip install 'news-monitor[rocksdb]'`` and a volume).
"""

from __future__ import annotations

import json
from typing import Any

from monitor.embedded import EMBEDDED_PARTITIONS, Endpoints
from monitor.errors import ConfigError
from monitor.settings import Settings

STREAM_BUFFER = 16_384  # events queued for an agent before its partitions are paused
PRODUCER_BATCH = 512 * 1024  # bytes of one partition's records the producer sends as one batch


def faust_broker_url(bootstrap: str) -> str:
    """``a:9092,b:9092`` (aiokafka's form) to ``kafka://a:9092;kafka://b:9092`` (Faust's)."""
    return ";".join(f"kafka://{host}" for host in bootstrap.split(",") if host)


def story_placement(settings: Settings, endpoints: Endpoints) -> dict[str, int]:
    """Category -> ``monitor.matches`` partition, checked against the partition count."""
    partitions = EMBEDDED_PARTITIONS if endpoints.embedded else settings.topics.partitions
    placement = settings.stream.story_partitions
    where = "the embedded broker's" if endpoints.embedded else "MONITOR_TOPICS__PARTITIONS"
    for category, partition in sorted(placement.items()):
        if not 0 <= partition < partitions:
            fits = {c: i % partitions for i, c in enumerate(sorted(placement))}
            raise ConfigError(
                f"puts {category} on partition {partition}, but monitor.matches has {partitions} "
                f"partitions ({where}); use 0 to {partitions - 1}, e.g. {json.dumps(fits)}",
                field="MONITOR_STREAM__STORY_PARTITIONS",
            )
    return dict(placement)


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
        "table_standby_replicas": settings.stream.standby_replicas,
    }
