"""`monitor topics ensure` against the embedded broker, for what that broker supports: it has no
controller (no CreateTopics, no configs), so ensure auto-creates missing topics through metadata
requests and says so; a second run changes nothing. Also the compose healthcheck script."""

from __future__ import annotations

import importlib.util
import time
import uuid
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.settings import Settings
from monitor.status import StatusStore
from monitor.topics import admin_client, ensure_topics, read_cluster

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def unique_alert_topic() -> str:
    return f"alerts.t{uuid.uuid4().hex[:10]}"


def partitions_of(bootstrap: str, topic: str) -> int | None:
    metadata = admin_client(bootstrap).list_topics(timeout=10)
    meta = metadata.topics.get(topic)
    return len(meta.partitions) if meta is not None else None


def test_embedded_broker_is_recognised_as_having_no_controller(broker: str) -> None:
    """read_cluster reports the embedded broker as not administrable (one broker, no controller)."""
    info = read_cluster(admin_client(broker), broker, app_id="news-monitor", names=[])
    assert info.has_controller is False
    assert info.state.brokers == 1


def test_ensure_auto_creates_missing_topics_and_is_idempotent(broker: str) -> None:
    """ensure creates a missing alert topic with the embedded broker's 4 partitions, says it
    cannot set configs there, and a second run creates nothing."""
    topic = unique_alert_topic()
    settings = Settings()
    first = ensure_topics(settings, broker, [topic], dry_run=False)
    assert first.embedded
    assert f"created {topic} by auto-creation: 4 partitions" in first.done
    assert any("no controller" in note for note in first.plan.notes)
    assert partitions_of(broker, topic) == 4
    second = ensure_topics(settings, broker, [topic], dry_run=False)
    assert second.done == []
    assert topic in second.plan.unchanged


def test_embedded_services_start_with_every_alert_topic_in_place(tmp_path: Path) -> None:
    """Starting the embedded broker auto-creates the pipeline's topics and the shipped rules'
    alert topics, so the first alert of a category does not wait for its topic to be made."""
    from monitor.catalog import load_matcher
    from monitor.kafka import ARTICLES_TOPIC, MATCHES_TOPIC
    from monitor.services import start_services
    from tests.factories import settings_factory

    settings = settings_factory(tmp_path)
    services = start_services(settings)
    try:
        bootstrap = services.endpoints.kafka
        expected = {rule.alert_topic for rule in load_matcher(settings).rules}
        assert expected and {"alerts.ceasefire", "alerts.sanctions"} <= expected
        present = set(admin_client(bootstrap).list_topics(timeout=10).topics)  # creates nothing
        assert expected | {ARTICLES_TOPIC, MATCHES_TOPIC} <= present
    finally:
        services.stop()


def test_dry_run_changes_nothing(broker: str) -> None:
    """--dry-run lists the topic it would create and leaves the broker without it."""
    topic = unique_alert_topic()
    result = ensure_topics(Settings(), broker, [topic], dry_run=True)
    assert topic in [spec.name for spec in result.plan.create]
    assert result.done == []
    assert partitions_of(broker, topic) is None


def test_cli_topics_ensure_reports_the_embedded_broker(broker: str, tmp_path: Path) -> None:
    """`monitor topics ensure` exits 0 on the embedded broker and explains what it cannot do."""
    env = {"MONITOR_KAFKA_BROKER": f"kafka://{broker}", "MONITOR_DATA_DIR": str(tmp_path)}
    dry = CliRunner().invoke(main, ["topics", "ensure", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "embedded broker" in dry.output and "nothing changed" in dry.output
    done = CliRunner().invoke(main, ["topics", "ensure"], env=env)
    assert done.exit_code == 0, done.output
    assert "cannot set partitions, replication, cleanup.policy or retention" in done.output
    again = CliRunner().invoke(main, ["topics", "ensure"], env=env)
    assert "0 change(s) made" in again.output


def test_cli_topics_ensure_without_a_broker_says_what_to_set(tmp_path: Path) -> None:
    """With no broker configured and no embedded monitor running, the error names the setting."""
    result = CliRunner().invoke(main, ["topics", "ensure"], env={"MONITOR_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "MONITOR_KAFKA_BROKER" in result.output


def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "deploy/healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_healthcheck_follows_this_containers_heartbeat(
    fresh_redis: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compose healthcheck is healthy with a fresh heartbeat of this worker id, unhealthy
    with none or a stale one."""
    monkeypatch.setenv("MONITOR_REDIS_URL", fresh_redis)
    monkeypatch.setenv("MONITOR_WORKER_ID", "worker-abc")
    check = healthcheck()
    assert await check._heartbeat_age("worker") is None
    status = StatusStore.from_url(fresh_redis)
    try:
        await status.heartbeat("worker", "worker-abc")
        age = await check._heartbeat_age("worker")
        assert age is not None and age < check.MAX_AGE
        assert await check._heartbeat_age("poller") is None
        await status.redis.hset(
            "monitor:heartbeats",
            "worker:worker-abc",
            f'{{"role": "worker", "id": "worker-abc", "at": {time.time() - 600}}}',
        )
        age = await check._heartbeat_age("worker")
        assert age is not None and age > check.MAX_AGE
    finally:
        await status.close()
