"""The topic plan as pure logic: what `monitor topics ensure` would create, extend, reconfigure or
refuse, given the settings and a cluster's state. No broker here."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.config import faust_broker_url, faust_options, story_placement
from monitor.embedded import Endpoints
from monitor.errors import ConfigError
from monitor.settings import Settings, TopicSettings
from monitor.topics import (
    AddPartitions,
    ClusterState,
    SetConfig,
    TopicPlan,
    TopicPlanError,
    TopicSpec,
    TopicState,
    apply_plan,
    desired_topics,
    plan_topics,
    retention_ms,
)

APP = "news-monitor"
ALERTS = ["alerts.ceasefire", "alerts.sanctions"]


def specs(**overrides: object) -> list[TopicSpec]:
    return desired_topics(TopicSettings(**overrides), ALERTS)  # type: ignore[arg-type]


def cluster_of(wanted: list[TopicSpec], brokers: int = 3, **extra: TopicState) -> ClusterState:
    """A cluster where every wanted topic already exists exactly as wanted."""
    topics = {
        s.name: TopicState(s.name, s.partitions, s.replication, dict(s.config)) for s in wanted
    }
    return ClusterState(brokers, {**topics, **extra})


def plan(wanted: list[TopicSpec], cluster: ClusterState, partitions: int = 4) -> TopicPlan:
    return plan_topics(wanted, cluster, app_id=APP, partitions=partitions)


def by_name(wanted: list[TopicSpec]) -> dict[str, TopicSpec]:
    return {s.name: s for s in wanted}


def test_desired_topics_cover_the_pipeline_with_their_policies() -> None:
    """Articles keep 90 days by default, rules are compacted on one partition, each alert topic
    and the dead-letter topic exist, and articles and matches are marked co-partitioned."""
    wanted = by_name(specs())
    assert sorted(wanted) == [
        "alerts.ceasefire",
        "alerts.sanctions",
        "monitor.articles",
        "monitor.deadletter",
        "monitor.matches",
        "monitor.rules",
    ]
    assert wanted["monitor.articles"].config["retention.ms"] == str(90 * 86_400_000)
    assert wanted["monitor.rules"].config["cleanup.policy"] == "compact"
    assert "retention.ms" not in wanted["monitor.rules"].config
    assert wanted["monitor.rules"].partitions == 1
    assert wanted["alerts.ceasefire"].config["cleanup.policy"] == "delete"
    assert {n for n, s in wanted.items() if s.copartitioned} == {
        "monitor.articles",
        "monitor.matches",
    }


def test_settings_drive_partitions_replication_and_retention() -> None:
    """Partitions, replication, min.insync.replicas and retention come from TopicSettings."""
    wanted = by_name(
        specs(partitions=12, replication=3, min_insync_replicas=2, articles_retention_days=-1)
    )
    articles = wanted["monitor.articles"]
    assert (articles.partitions, articles.replication) == (12, 3)
    assert articles.config["min.insync.replicas"] == "2"
    assert articles.config["retention.ms"] == "-1"
    assert wanted["monitor.matches"].partitions == 12


def test_retention_days_convert_to_milliseconds() -> None:
    """Fractional days round to whole milliseconds; a negative number keeps records forever."""
    assert retention_ms(0.5) == "43200000"
    assert retention_ms(-1) == "-1"


def test_an_empty_cluster_gets_every_topic_created() -> None:
    """On an empty cluster the plan creates all topics and changes nothing else."""
    wanted = specs()
    result = plan(wanted, ClusterState(1, {}))
    assert [s.name for s in result.create] == [s.name for s in wanted]
    assert (result.add_partitions, result.set_config, result.conflicts) == ([], [], [])


def test_a_cluster_as_wanted_needs_no_change() -> None:
    """Idempotence: when every topic is as wanted, the plan is empty and lists them unchanged."""
    wanted = specs()
    result = plan(wanted, cluster_of(wanted))
    assert result.changes == 0
    assert sorted(result.unchanged) == sorted(s.name for s in wanted)


def test_config_drift_is_set_back() -> None:
    """A topic whose retention or cleanup policy differs gets exactly those keys set."""
    wanted = specs()
    articles = by_name(wanted)["monitor.articles"]
    drifted = TopicState(articles.name, 4, 1, {**articles.config, "retention.ms": "604800000"})
    rules = TopicState("monitor.rules", 1, 1, {"cleanup.policy": "delete"})
    cluster = cluster_of(wanted, **{articles.name: drifted, "monitor.rules": rules})
    result = plan(wanted, cluster)
    assert (
        SetConfig("monitor.articles", "retention.ms", "604800000", articles.config["retention.ms"])
        in result.set_config
    )
    assert SetConfig("monitor.rules", "cleanup.policy", "delete", "compact") in result.set_config
    assert SetConfig("monitor.rules", "min.insync.replicas", None, "1") in result.set_config
    assert result.create == [] and result.conflicts == []


def test_alert_topics_with_too_few_partitions_gain_some() -> None:
    """A non-co-partitioned topic with fewer partitions than wanted gets more; one with more is
    left alone with a note (Kafka cannot remove partitions)."""
    wanted = specs()
    few = TopicState("alerts.ceasefire", 2, 1, dict(by_name(wanted)["alerts.ceasefire"].config))
    many = TopicState("alerts.sanctions", 8, 1, dict(by_name(wanted)["alerts.sanctions"].config))
    result = plan(wanted, cluster_of(wanted, **{few.name: few, many.name: many}))
    assert result.add_partitions == [AddPartitions("alerts.ceasefire", 2, 4)]
    assert any("alerts.sanctions has 8 partitions" in n for n in result.notes)
    assert result.conflicts == []


@pytest.mark.parametrize("current", [2, 8])
def test_changing_the_partitions_of_co_partitioned_topics_is_refused(current: int) -> None:
    """monitor.articles with another partition count than the setting is a conflict, never an
    automatic change: it would split the dedupe and story tables' state."""
    wanted = specs()
    spec = by_name(wanted)["monitor.articles"]
    existing = TopicState(spec.name, current, 1, dict(spec.config))
    result = plan(wanted, cluster_of(wanted, **{spec.name: existing}))
    assert result.add_partitions == []
    assert len(result.conflicts) == 1
    assert f"monitor.articles has {current} partitions" in result.conflicts[0]


def test_faust_changelogs_must_match_the_partition_count() -> None:
    """This app's changelog with another partition count is a conflict; another app's is not
    looked at; a matching one is unchanged."""
    wanted = specs()
    cluster = cluster_of(
        wanted,
        **{
            f"{APP}-stories-changelog": TopicState(f"{APP}-stories-changelog", 8, 1),
            f"{APP}-seen_articles-changelog": TopicState(f"{APP}-seen_articles-changelog", 4, 1),
            "other-app-stories-changelog": TopicState("other-app-stories-changelog", 1, 1),
        },
    )
    result = plan(wanted, cluster)
    assert len(result.conflicts) == 1 and f"{APP}-stories-changelog" in result.conflicts[0]
    assert f"{APP}-seen_articles-changelog" in result.unchanged
    assert not any("other-app" in line for line in result.lines())


def test_impossible_replication_settings_are_conflicts() -> None:
    """Replication above the broker count, or min.insync.replicas above replication, is refused
    with the setting to change, reported once however many topics it affects."""
    result = plan(specs(replication=3), ClusterState(1, {}))
    assert len(result.conflicts) == 1 and "MONITOR_TOPICS__REPLICATION" in result.conflicts[0]
    result = plan(specs(replication=2, min_insync_replicas=3), ClusterState(3, {}))
    assert len(result.conflicts) == 1
    assert "MONITOR_TOPICS__MIN_INSYNC_REPLICAS" in result.conflicts[0]


def test_replication_of_existing_topics_is_reported_not_changed() -> None:
    """A topic with another replication factor gets a note about reassignment, not a change."""
    wanted = specs(replication=3)
    spec = by_name(wanted)["monitor.deadletter"]
    existing = TopicState(spec.name, spec.partitions, 1, dict(spec.config))
    result = plan(wanted, cluster_of(wanted, **{spec.name: existing}))
    assert result.changes == 0
    assert any("kafka-reassign-partitions" in n for n in result.notes)


def test_a_plan_with_conflicts_is_never_applied() -> None:
    """apply_plan refuses a plan with conflicts before talking to any cluster."""
    with pytest.raises(TopicPlanError, match="resolve first"):
        apply_plan(None, TopicPlan(conflicts=["something"]))


def test_plan_lines_say_what_changes() -> None:
    """Each kind of change reads as one line naming the topic and the values."""
    wanted = specs()
    lines = plan(wanted, ClusterState(1, {})).lines()
    assert any(
        line.startswith("create monitor.rules: 1 partitions, replication 1, cleanup.policy=compact")
        for line in lines
    )


@st.composite
def clusters(draw: st.DrawFn) -> ClusterState:
    """Clusters holding some of the wanted topics, with drifted partitions and configs."""
    states: dict[str, TopicState] = {}
    for spec in specs():
        if not draw(st.booleans()):
            continue
        partitions = spec.partitions if spec.copartitioned else draw(st.integers(1, 8))
        config = {
            key: draw(st.sampled_from([value, "other"])) for key, value in spec.config.items()
        }
        states[spec.name] = TopicState(spec.name, partitions, 1, config)
    return ClusterState(1, states)


def simulate(plan_: TopicPlan, cluster: ClusterState) -> ClusterState:
    """What the cluster looks like after applying the plan."""
    topics = dict(cluster.topics)
    for spec in plan_.create:
        topics[spec.name] = TopicState(spec.name, spec.partitions, spec.replication, spec.config)
    for add in plan_.add_partitions:
        topics[add.topic] = replace(topics[add.topic], partitions=add.wanted)
    for change in plan_.set_config:
        old = topics[change.topic]
        topics[change.topic] = replace(old, config={**old.config, change.key: change.wanted})
    return ClusterState(cluster.brokers, topics)


@given(clusters())
def test_applying_a_plan_then_planning_again_changes_nothing(cluster: ClusterState) -> None:
    """Property: for any starting state without conflicts, the plan's result needs no change."""
    wanted = specs()
    first = plan(wanted, cluster)
    assert first.conflicts == []
    second = plan(wanted, simulate(first, cluster))
    assert second.changes == 0


def test_faust_options_on_the_embedded_broker_declare_nothing() -> None:
    """On the embedded broker Faust declares no topics and assumes its 4 partitions, whatever
    MONITOR_TOPICS__PARTITIONS says."""
    settings = Settings(topics=TopicSettings(partitions=8, replication=3))
    options = faust_options(settings, Endpoints("127.0.0.1:9092", "redis://x", embedded=True))
    assert options["topic_allow_declare"] is False
    assert (options["topic_partitions"], options["topic_replication_factor"]) == (4, 1)
    assert options["table_standby_replicas"] == 0  # no standby copies unless asked for


def test_faust_options_on_external_kafka_follow_the_topic_settings() -> None:
    """On external Kafka, Faust declares changelogs with the provisioned partitions and
    replication, and uses the configured guarantee and store."""
    settings = Settings(
        topics=TopicSettings(partitions=8, replication=3),
        stream={"guarantee": "exactly_once", "store": "rocksdb://", "standby_replicas": 1},  # type: ignore[arg-type]
    )
    options = faust_options(settings, Endpoints("a:9092,b:9092", "redis://x", embedded=False))
    assert options["topic_allow_declare"] is True
    assert (options["topic_partitions"], options["topic_replication_factor"]) == (8, 3)
    assert options["processing_guarantee"] == "exactly_once"
    assert options["store"] == "rocksdb://"
    assert options["table_standby_replicas"] == 1
    assert options["broker"] == "kafka://a:9092;kafka://b:9092"
    assert faust_broker_url("a:1") == "kafka://a:1"


def test_story_placement_is_checked_against_the_partition_count() -> None:
    """The default placement fits the embedded broker's four partitions; a partition the topic
    does not have is refused with the setting named and a placement that fits."""
    embedded = Endpoints("127.0.0.1:9092", "redis://x", embedded=True)
    assert story_placement(Settings(), embedded) == {"ceasefire": 1, "sanctions": 2}
    external = Endpoints("a:9092", "redis://x", embedded=False)
    settings = Settings(topics=TopicSettings(partitions=2))
    with pytest.raises(ConfigError) as refused:
        story_placement(settings, external)
    message = str(refused.value)
    assert "MONITOR_STREAM__STORY_PARTITIONS" in message
    assert "sanctions on partition 2" in message and "MONITOR_TOPICS__PARTITIONS" in message
    assert '{"ceasefire": 0, "sanctions": 1}' in message
    settings = Settings(topics=TopicSettings(partitions=2), stream={"story_partitions": {"a": 1}})  # type: ignore[arg-type]
    assert story_placement(settings, external) == {"a": 1}
