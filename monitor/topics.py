"""Topic provisioning for external Kafka (``monitor topics ensure``).

Three steps, the middle one pure:

    desired_topics(settings, alert_topics)       what the monitor's topics should look like
    plan_topics(desired, cluster, ...)           what differs: create, add partitions, set configs,
                                                 plus conflicts that need a person, and notes
    apply_plan(admin, plan)                      make it so, through confluent-kafka's AdminClient

Co-partitioning: ``monitor.articles`` feeds the dedupe table and ``monitor.matches`` the story
table, so both topics and every Faust changelog (``<app_id>-<table>-changelog``) must have the
same partition count (``MONITOR_TOPICS__PARTITIONS``). Changing that count on a deployment moves
keys to other partitions and splits the tables' state, so the plan refuses it (a conflict) instead
of doing it. Other topics (alerts, dead letters) may gain partitions; none ever loses any.

The embedded broker (librdkafka's mock cluster) has no controller: no CreateTopics, no configs. It
auto-creates a topic with 4 partitions when a client asks for its metadata, and that is all
:func:`ensure_topics` does there, saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.embedded import EMBEDDED_PARTITIONS, kafka_bootstrap, read_runtime
from monitor.errors import MonitorError, ServiceError
from monitor.kafka import (
    ALERT_TOPIC_PREFIX,
    ARTICLES_TOPIC,
    DEADLETTER_TOPIC,
    MATCHES_TOPIC,
    RULES_TOPIC,
)
from monitor.settings import Settings, TopicSettings

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
RULES_PARTITIONS = 1  # every worker reads the whole topic; one partition keeps changes in order
MANAGED_CONFIGS = ("cleanup.policy", "retention.ms", "min.insync.replicas")
ADMIN_TIMEOUT = 15.0


class TopicPlanError(MonitorError):
    """The cluster's topics conflict with the settings in a way only a person should resolve."""


@dataclass(frozen=True)
class TopicSpec:
    """One topic as the monitor wants it."""

    name: str
    partitions: int
    replication: int
    config: Mapping[str, str]
    copartitioned: bool = False  # its partition count must equal the tables' (never changed)

    def describe(self) -> str:
        text = f"{self.partitions} partitions, replication {self.replication}"
        configs = " ".join(f"{k}={v}" for k, v in sorted(self.config.items()))
        return f"{text}, {configs}" if configs else text


@dataclass(frozen=True)
class TopicState:
    """One topic as it is on the cluster (configs: only the ones the monitor manages)."""

    name: str
    partitions: int
    replication: int
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterState:
    """What :func:`plan_topics` needs to know about a cluster."""

    brokers: int
    topics: Mapping[str, TopicState]


@dataclass(frozen=True)
class AddPartitions:
    topic: str
    current: int
    wanted: int


@dataclass(frozen=True)
class SetConfig:
    topic: str
    key: str
    current: str | None
    wanted: str


@dataclass
class TopicPlan:
    """What ``ensure`` would change. ``conflicts`` block applying; ``notes`` are informational."""

    create: list[TopicSpec] = field(default_factory=list)
    add_partitions: list[AddPartitions] = field(default_factory=list)
    set_config: list[SetConfig] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return len(self.create) + len(self.add_partitions) + len(self.set_config)

    def lines(self) -> list[str]:
        """The plan as lines for people, one per change, conflict or note."""
        out = [f"create {spec.name}: {spec.describe()}" for spec in self.create]
        out += [f"add partitions {a.topic}: {a.current} -> {a.wanted}" for a in self.add_partitions]
        out += [
            f"set {c.topic} {c.key}: {c.current if c.current is not None else '(unset)'} -> "
            f"{c.wanted}"
            for c in self.set_config
        ]
        out += [f"unchanged {name}" for name in self.unchanged]
        out += [f"conflict: {text}" for text in self.conflicts]
        out += [f"note: {text}" for text in self.notes]
        return out


def retention_ms(days: float) -> str:
    """Kafka's ``retention.ms`` for a number of days; a negative number keeps records forever."""
    return "-1" if days < 0 else str(round(days * DAY_MS))


def desired_topics(topics: TopicSettings, alert_topics: Iterable[str]) -> list[TopicSpec]:
    """The monitor's topics as the settings want them, alert topics included (sorted by name)."""
    insync = {"min.insync.replicas": str(topics.min_insync_replicas)}

    def spec(name: str, partitions: int, policy: str, days: float | None, co: bool) -> TopicSpec:
        config = {"cleanup.policy": policy, **insync}
        if days is not None:
            config["retention.ms"] = retention_ms(days)
        return TopicSpec(name, partitions, topics.replication, config, copartitioned=co)

    n = topics.partitions
    specs = [
        spec(ARTICLES_TOPIC, n, "delete", topics.articles_retention_days, True),
        spec(MATCHES_TOPIC, n, "delete", topics.matches_retention_days, True),
        spec(RULES_TOPIC, RULES_PARTITIONS, "compact", None, False),
        spec(DEADLETTER_TOPIC, n, "delete", topics.deadletter_retention_days, False),
    ]
    specs += [
        spec(name, n, "delete", topics.alerts_retention_days, False) for name in set(alert_topics)
    ]
    return sorted(specs, key=lambda s: s.name)


def is_faust_internal(name: str, app_id: str) -> bool:
    """A Faust changelog or repartition topic of this app (co-partitioned with the sources)."""
    return name.startswith(f"{app_id}-") and name.endswith(("-changelog", "-repartition"))


def plan_topics(
    desired: Iterable[TopicSpec], cluster: ClusterState, *, app_id: str, partitions: int
) -> TopicPlan:
    """Compare the wanted topics with the cluster's. Pure: no I/O."""
    plan = TopicPlan()
    wanted = list(desired)
    for spec in wanted:
        _check_feasible(plan, spec, cluster.brokers)
        current = cluster.topics.get(spec.name)
        if current is None:
            plan.create.append(spec)
        else:
            _plan_existing(plan, spec, current)
    for name in sorted(cluster.topics):
        if is_faust_internal(name, app_id):
            _plan_faust_internal(plan, cluster.topics[name], partitions)
    # several specs share one feasibility problem: report it once
    plan.conflicts = list(dict.fromkeys(plan.conflicts))
    return plan


def _check_feasible(plan: TopicPlan, spec: TopicSpec, brokers: int) -> None:
    if spec.replication > brokers:
        plan.conflicts.append(
            f"replication {spec.replication} needs at least {spec.replication} brokers, the "
            f"cluster has {brokers}: lower MONITOR_TOPICS__REPLICATION or add brokers"
        )
    insync = int(spec.config.get("min.insync.replicas", "1"))
    if insync > spec.replication:
        plan.conflicts.append(
            f"min.insync.replicas {insync} is more than the replication factor "
            f"{spec.replication}: every acks=all write would fail; lower "
            "MONITOR_TOPICS__MIN_INSYNC_REPLICAS"
        )


def _plan_existing(plan: TopicPlan, spec: TopicSpec, current: TopicState) -> None:
    before = plan.changes
    if current.partitions != spec.partitions:
        if spec.copartitioned:
            plan.conflicts.append(_repartition_conflict(spec.name, current.partitions, spec))
        elif current.partitions < spec.partitions:
            plan.add_partitions.append(
                AddPartitions(spec.name, current.partitions, spec.partitions)
            )
        else:
            plan.notes.append(
                f"{spec.name} has {current.partitions} partitions, more than the "
                f"{spec.partitions} wanted; Kafka cannot remove partitions, left as is"
            )
    if current.replication != spec.replication:
        plan.notes.append(
            f"{spec.name} has replication {current.replication}, settings want "
            f"{spec.replication}; changing it is a partition reassignment "
            "(kafka-reassign-partitions.sh), left as is"
        )
    for key, value in sorted(spec.config.items()):
        if current.config.get(key) != value:
            plan.set_config.append(SetConfig(spec.name, key, current.config.get(key), value))
    if plan.changes == before:
        plan.unchanged.append(spec.name)


def _plan_faust_internal(plan: TopicPlan, current: TopicState, partitions: int) -> None:
    if current.partitions != partitions:
        plan.conflicts.append(
            f"{current.name} has {current.partitions} partitions but MONITOR_TOPICS__PARTITIONS "
            f"is {partitions}; Faust refuses to start when a table's changelog and its source "
            "topic differ. Set MONITOR_TOPICS__PARTITIONS back to "
            f"{current.partitions}, or stop the workers, delete the changelog topics and "
            "let the workers rebuild them (the tables' state is lost)"
        )
    else:
        plan.unchanged.append(current.name)


def _repartition_conflict(name: str, current: int, spec: TopicSpec) -> str:
    return (
        f"{name} has {current} partitions, MONITOR_TOPICS__PARTITIONS wants {spec.partitions}. "
        "It is co-partitioned with the worker tables: changing the count moves keys to other "
        "partitions and splits the dedupe and story state, so ensure does not do it. Keep "
        f"MONITOR_TOPICS__PARTITIONS={current}, or migrate to new topics deliberately (README, "
        "Deployment)"
    )


# --- the cluster side: confluent-kafka's AdminClient -------------------------------------------


def admin_client(bootstrap: str) -> Any:
    """An AdminClient for a bootstrap list (``host:port,host:port``)."""
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})


@dataclass(frozen=True)
class ClusterInfo:
    """A cluster's state, and whether it can be administered (the embedded broker cannot)."""

    state: ClusterState
    has_controller: bool


def read_cluster(admin: Any, bootstrap: str, *, app_id: str, names: Iterable[str]) -> ClusterInfo:
    """Brokers, topics and the managed configs of the topics the monitor cares about."""
    from confluent_kafka import KafkaException

    try:
        metadata = admin.list_topics(timeout=ADMIN_TIMEOUT)
    except KafkaException as exc:
        raise ServiceError(
            f"cannot read topics from Kafka at {bootstrap}: {exc}; check MONITOR_KAFKA_BROKER "
            "and that the broker is up"
        ) from exc
    has_controller = metadata.controller_id in metadata.brokers
    interesting = set(names)
    topics: dict[str, TopicState] = {}
    for name, meta in metadata.topics.items():
        if meta.error is not None or not meta.partitions:
            continue
        if not (
            name in interesting
            or name.startswith(ALERT_TOPIC_PREFIX)
            or is_faust_internal(name, app_id)
        ):
            continue
        first = meta.partitions[min(meta.partitions)]
        topics[name] = TopicState(name, len(meta.partitions), len(first.replicas))
    if has_controller and topics:
        topics = _with_configs(admin, bootstrap, topics)
    return ClusterInfo(ClusterState(len(metadata.brokers), topics), has_controller)


def _with_configs(
    admin: Any, bootstrap: str, topics: dict[str, TopicState]
) -> dict[str, TopicState]:
    from confluent_kafka import KafkaException

    # confluent_kafka.admin re-exports these without listing them in __all__
    from confluent_kafka.admin import ConfigResource, ResourceType  # type: ignore[attr-defined]

    resources = [ConfigResource(ResourceType.TOPIC, name) for name in topics]
    futures = admin.describe_configs(resources, request_timeout=ADMIN_TIMEOUT)
    result = dict(topics)
    for resource, future in futures.items():
        try:
            entries = future.result(ADMIN_TIMEOUT)
        except KafkaException as exc:
            raise ServiceError(
                f"cannot read the configs of topic {resource.name} from {bootstrap}: {exc}"
            ) from exc
        config = {k: entries[k].value for k in MANAGED_CONFIGS if k in entries}
        old = topics[resource.name]
        result[resource.name] = TopicState(old.name, old.partitions, old.replication, config)
    return result


def apply_plan(admin: Any, plan: TopicPlan) -> list[str]:
    """Create topics, add partitions, set configs; the lines of what was done.

    Refuses (TopicPlanError) when the plan has conflicts. ServiceError names the topic that failed.
    """
    from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported, see above
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        NewPartitions,
        NewTopic,
        ResourceType,
    )

    if plan.conflicts:
        raise TopicPlanError("topics not changed, resolve first: " + " | ".join(plan.conflicts))
    done: list[str] = []
    if plan.create:
        new = [
            NewTopic(s.name, s.partitions, s.replication, config=dict(s.config))
            for s in plan.create
        ]
        _wait(admin.create_topics(new, request_timeout=ADMIN_TIMEOUT), "create topic")
        done += [f"created {s.name}: {s.describe()}" for s in plan.create]
    if plan.add_partitions:
        parts = [NewPartitions(a.topic, a.wanted) for a in plan.add_partitions]
        _wait(admin.create_partitions(parts, request_timeout=ADMIN_TIMEOUT), "add partitions to")
        done += [
            f"added partitions {a.topic}: {a.current} -> {a.wanted}" for a in plan.add_partitions
        ]
    if plan.set_config:
        by_topic: dict[str, list[Any]] = {}
        for change in plan.set_config:
            entry = ConfigEntry(
                change.key, change.wanted, incremental_operation=AlterConfigOpType.SET
            )
            by_topic.setdefault(change.topic, []).append(entry)
        resources = [
            ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
            for topic, entries in by_topic.items()
        ]
        _wait(
            admin.incremental_alter_configs(resources, request_timeout=ADMIN_TIMEOUT),
            "set configs of",
        )
        done += [f"set {c.topic} {c.key}: {c.current} -> {c.wanted}" for c in plan.set_config]
    for line in done:
        log.info("topics.changed %s", line)
    return done


def _wait(futures: Mapping[Any, Any], what: str) -> None:
    from confluent_kafka import KafkaException

    for key, future in futures.items():
        name = getattr(key, "name", key)
        try:
            future.result(ADMIN_TIMEOUT)
        except KafkaException as exc:
            raise ServiceError(
                f"cannot {what} {name}: {exc.args[0] if exc.args else exc}; earlier changes in "
                "this run were applied, run `monitor topics ensure` again after fixing the cause"
            ) from exc


# --- the command ----------------------------------------------------------------------------------


@dataclass
class EnsureResult:
    """What ``monitor topics ensure`` found and did."""

    plan: TopicPlan
    embedded: bool
    brokers: int
    done: list[str] = field(default_factory=list)
    applied: bool = False

    def report(self) -> list[str]:
        """What was done (or, on a dry run or a refusal, the plan), then what was left alone."""
        if not self.applied:
            return self.plan.lines()
        plan = self.plan
        return [
            *self.done,
            *(f"unchanged {name}" for name in plan.unchanged),
            *(f"note: {text}" for text in plan.notes),
        ]


def kafka_address(settings: Settings) -> str:
    """MONITOR_KAFKA_BROKER as a bootstrap list, else a running embedded monitor's broker."""
    if settings.kafka_broker:
        return kafka_bootstrap(settings.kafka_broker)
    runtime = read_runtime(settings.runtime_file)
    if runtime is None:
        raise ServiceError(
            "no broker configured and no embedded monitor running "
            f"(no live {settings.runtime_file}): set MONITOR_KAFKA_BROKER=kafka://host:9092, "
            "or start `monitor broker` in this directory"
        )
    return runtime.kafka


def ensure_topics(
    settings: Settings, bootstrap: str, alert_topics: Iterable[str], *, dry_run: bool
) -> EnsureResult:
    """Plan (and unless ``dry_run``, apply) the monitor's topics on the cluster at ``bootstrap``."""
    admin = admin_client(bootstrap)
    names = [s.name for s in desired_topics(settings.topics, alert_topics)]
    info = read_cluster(admin, bootstrap, app_id=settings.app_id, names=names)
    # alert topics of categories added while the monitor runs (live rules) are looked after too
    live = [name for name in info.state.topics if name.startswith(ALERT_TOPIC_PREFIX)]
    desired = desired_topics(settings.topics, [*alert_topics, *live])
    if not info.has_controller:
        return _ensure_embedded(admin, bootstrap, desired, info, dry_run=dry_run)
    plan = plan_topics(
        desired, info.state, app_id=settings.app_id, partitions=settings.topics.partitions
    )
    result = EnsureResult(plan, embedded=False, brokers=info.state.brokers)
    if not dry_run and not plan.conflicts:
        result.done = apply_plan(admin, plan)
        result.applied = True
    return result


def _ensure_embedded(
    admin: Any, bootstrap: str, desired: list[TopicSpec], info: ClusterInfo, *, dry_run: bool
) -> EnsureResult:
    """What the embedded broker supports: auto-creating topics (4 partitions) through metadata."""
    from confluent_kafka import KafkaException

    plan = TopicPlan()
    for spec in desired:
        if spec.name in info.state.topics:
            plan.unchanged.append(spec.name)
        else:
            plan.create.append(TopicSpec(spec.name, EMBEDDED_PARTITIONS, 1, {}, spec.copartitioned))
    plan.notes.append(
        f"the broker at {bootstrap} has no controller (the embedded broker): it auto-creates "
        f"topics with {EMBEDDED_PARTITIONS} partitions and cannot set partitions, replication, "
        "cleanup.policy or retention. It keeps records in memory only (roughly the newest 5 MB "
        "per partition), so backtests reach back only that far. MONITOR_TOPICS__* apply to "
        "external Kafka"
    )
    result = EnsureResult(plan, embedded=True, brokers=info.state.brokers)
    if dry_run:
        return result
    result.applied = True
    for spec in plan.create:
        try:
            admin.list_topics(topic=spec.name, timeout=ADMIN_TIMEOUT)
        except KafkaException as exc:
            raise ServiceError(
                f"cannot auto-create topic {spec.name} on {bootstrap}: {exc}"
            ) from exc
        result.done.append(
            f"created {spec.name} by auto-creation: {EMBEDDED_PARTITIONS} partitions"
        )
    return result


def create_embedded_topics(settings: Settings, bootstrap: str) -> list[str]:
    """Auto-create the monitor's topics on a just-started embedded broker; return what was made.

    Otherwise each topic appears when first used, and both the worker's producer and a subscriber
    who started earlier must then find it through metadata retries: bench/pipeline.py read the
    first alerts of a run 0.6-1.1 s after their article that way, and about 0.25 s with the topics
    in place. Alert topics come from the configured rules; when they cannot be read, the rule
    check at start-up says why, and only the pipeline's own topics are made here.
    """
    from monitor.rules import load_events_dir, load_rules_dir

    try:  # the rule files only: compiling them into a matcher is the worker's work
        events = load_events_dir(settings.events_dir)
        rules = load_rules_dir(settings.rules_dir, events)
        alert_topics = [rule.alert_topic for rule in rules if rule.enabled]
    except MonitorError as exc:
        log.warning("topics.rules_unreadable error=%s", exc)
        alert_topics = []
    result = ensure_topics(settings, bootstrap, alert_topics, dry_run=False)
    log.info("topics.created embedded=%s topics=%s", result.embedded, ",".join(result.done))
    return result.done
