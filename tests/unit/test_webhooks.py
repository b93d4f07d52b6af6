"""Delivery targets file, webhook signatures, retry timing, alert records and notification text:
pure logic, no servers."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from pydantic import SecretStr

from monitor.delivery import backoff_delay, delivery_tasks, parse_retry_after, read_alert_record
from monitor.errors import ConfigError, ServiceError
from monitor.models import RecordError, SourceHealthAlert, SourceHealthData
from monitor.notify import INSTALL_HINT, AppriseSender, notification_text
from monitor.webhooks import AppriseTarget, Webhook, load_targets, parse_targets, sign, verify
from tests.factories import alert_factory as alert
from tests.factories import settings_factory

SECRET = "s3cret-s3cret-s3cret"
ROOT = Path(__file__).resolve().parents[2]


def targets(data: dict[str, Any], **environ: str) -> list[Any]:
    return parse_targets(data, "webhooks.yaml", environ=environ)


def test_signature_is_github_style_hmac_sha256_of_the_raw_body() -> None:
    """The header is `sha256=` + hex HMAC-SHA256 of the exact body bytes under the secret."""
    body = b'{"id":"a1","data":{"headline":"Truce"}}'
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert sign(body, SECRET) == f"sha256={expected}"
    assert verify(body, SECRET, f"sha256={expected}")


@pytest.mark.parametrize(
    ("body", "secret", "header"),
    [
        (b'{"id":"a1 "}', SECRET, None),  # body changed
        (b'{"id":"a1"}', "another-secret-entirely", None),  # wrong secret
        (b'{"id":"a1"}', SECRET, ""),  # header missing
        (b'{"id":"a1"}', SECRET, "sha1=abc"),  # not our algorithm
    ],
)
def test_verify_refuses_a_changed_body_a_wrong_secret_or_a_missing_header(
    body: bytes, secret: str, header: str | None
) -> None:
    """Only the exact body under the exact secret verifies."""
    signed = sign(b'{"id":"a1"}', SECRET)
    assert not verify(body, secret, signed if header is None else header)


def test_targets_file_with_secrets_from_the_environment(tmp_path: Path) -> None:
    """Webhooks and Apprise entries load with categories, since and secrets read from the
    environment variables they name; an omitted category list means every category."""
    path = tmp_path / "webhooks.yaml"
    path.write_text(
        "version: 1\n"
        "webhooks:\n"
        "  - id: newsroom\n"
        "    url: https://hooks.example.org/monitor?token=x\n"
        "    categories: [ceasefire]\n"
        "    secret_env: HOOK_SECRET\n"
        "    since: 2025-03-01T00:00:00Z\n"
        "  - id: all\n"
        "    url: http://127.0.0.1:9000/in\n"
        f"    secret: {SECRET}\n"
        "apprise:\n"
        "  - id: desk\n"
        "    urls_env: DESK_URLS\n",
        encoding="utf-8",
    )
    hook, everything, desk = load_targets(
        path, environ={"HOOK_SECRET": SECRET, "DESK_URLS": "json://a.example/x, tgram://t/c"}
    )
    assert isinstance(hook, Webhook) and isinstance(desk, AppriseTarget)
    assert hook.secret.get_secret_value() == SECRET and hook.key == "webhook:newsroom"
    assert hook.since == datetime(2025, 3, 1, tzinfo=UTC)
    assert hook.wants("ceasefire") and not hook.wants("sanctions")
    assert hook.where == "https://hooks.example.org"  # no path, no token
    assert everything.wants("sources") and everything.where == "http://127.0.0.1:9000"
    assert [u.get_secret_value() for u in desk.urls] == ["json://a.example/x", "tgram://t/c"]
    assert desk.where == "apprise json://,tgram://"
    assert SECRET not in repr(hook)


@pytest.mark.parametrize(
    ("data", "environ", "field", "says"),
    [
        ({"webhooks": [{"id": "a", "url": "https://x.example/"}]}, {}, "webhooks.0", "exactly one"),
        (
            {
                "webhooks": [
                    {"id": "a", "url": "https://x.example/", "secret": SECRET, "secret_env": "S"}
                ]
            },
            {},
            "webhooks.0",
            "exactly one",
        ),
        (
            {"webhooks": [{"id": "a", "url": "https://x.example/", "secret_env": "S"}]},
            {},
            "webhooks.0.secret_env",
            "S is not set",
        ),
        (
            {"webhooks": [{"id": "a", "url": "https://x.example/", "secret": "short"}]},
            {},
            "webhooks.0",
            "shorter than 16",
        ),
        (
            {"webhooks": [{"id": "a", "url": "https://x.example/", "secret_env": "S"}]},
            {"S": "short"},
            "webhooks.0.secret_env",
            "shorter than 16",
        ),
        (
            {"webhooks": [{"id": "a", "url": "ftp://x.example/", "secret": SECRET}]},
            {},
            "webhooks.0.url",
            "should match",
        ),
        (
            {
                "webhooks": [
                    {
                        "id": "a",
                        "url": "https://x.example/",
                        "secret": SECRET,
                        "categories": ["Cease Fire"],
                    }
                ]
            },
            {},
            "webhooks.0",
            "is not a category",
        ),
        (
            {
                "webhooks": [
                    {
                        "id": "a",
                        "url": "https://x.example/",
                        "secret": SECRET,
                        "since": "2025-03-01T00:00:00",
                    }
                ]
            },
            {},
            "webhooks.0",
            "time zone",
        ),
        (
            {
                "webhooks": [
                    {"id": "a", "url": "https://x.example/", "secret": SECRET, "retries": 3}
                ]
            },
            {},
            "webhooks.0.retries",
            "Extra inputs",
        ),
        ({"apprise": [{"id": "a"}]}, {}, "apprise.0", "exactly one"),
        ({"apprise": [{"id": "a b", "urls": ["json://x"]}]}, {}, "apprise.0.id", "should match"),
        (
            {
                "webhooks": [{"id": "a", "url": "https://x.example/", "secret": SECRET}],
                "apprise": [{"id": "a", "urls": ["json://x"]}],
            },
            {},
            "id",
            "duplicate id 'a'",
        ),
        ({"version": 2}, {}, "version", "Input should be 1"),
    ],
)
def test_invalid_targets_are_refused_naming_the_file_and_field(
    data: dict[str, Any], environ: dict[str, str], field: str, says: str
) -> None:
    """Every mistake in the targets file is one ConfigError with the file, field and problem."""
    with pytest.raises(ConfigError) as caught:
        targets(data, **environ)
    assert caught.value.file == "webhooks.yaml"
    assert caught.value.field == field
    assert says in str(caught.value)


def test_secrets_never_appear_in_validation_errors() -> None:
    """A refused secret is not echoed back in the error message."""
    with pytest.raises(ConfigError) as caught:
        targets({"webhooks": [{"id": "a", "url": "https://x.example/", "secret": "tiny-pw"}]})
    assert "tiny-pw" not in str(caught.value)


def test_the_shipped_targets_file_delivers_nowhere_and_a_missing_file_is_no_targets(
    tmp_path: Path,
) -> None:
    """config/webhooks.yaml is valid and empty (the demo posts nowhere), so `monitor run` starts
    no delivery task; a missing file means no targets, not an error."""
    assert load_targets(ROOT / "config" / "webhooks.yaml") == []
    assert load_targets(tmp_path / "absent.yaml") == []
    settings = settings_factory(tmp_path, config_dir=ROOT / "config")
    assert delivery_tasks(settings, kafka="unused:1", redis="redis://unused", stop=None) == []  # type: ignore[arg-type]


def test_a_broken_targets_file_is_a_config_error(tmp_path: Path) -> None:
    """Bad YAML names the file; a list at the top names what was expected."""
    path = tmp_path / "webhooks.yaml"
    path.write_text("webhooks: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_targets(path)
    path.write_text("- id: a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_targets(path)


def test_backoff_doubles_up_to_the_cap_and_honours_retry_after() -> None:
    """Waits are base, 2 base, 4 base... capped; Retry-After lengthens a wait, not past the cap."""
    waits = [backoff_delay(n, base=1.0, cap=60.0) for n in range(1, 9)]
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_delay(1, base=1.0, cap=60.0, retry_after=30) == 30
    assert backoff_delay(1, base=1.0, cap=60.0, retry_after=3600) == 60
    assert backoff_delay(5, base=1.0, cap=60.0, retry_after=2) == 16


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    """Both forms of Retry-After give seconds; nonsense gives None."""
    now = datetime(2025, 3, 11, 12, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Tue, 11 Mar 2025 12:00:30 GMT", now) == 30
    assert parse_retry_after("Tue, 11 Mar 2025 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def record(topic: str, value: bytes | None, key: bytes | None = b"story-1") -> ConsumerRecord:  # type: ignore[type-arg]
    return ConsumerRecord(topic, 2, 41, 0, 0, key, value, None, 0, 0, ())


def test_alert_records_give_id_category_and_time() -> None:
    """An alert's id, category (from data) and time are read; a health alert on alerts.sources
    has its category from the topic; the body is kept byte for byte."""
    news = alert("ceasefire", "Truce agreed")
    read = read_alert_record(record("alerts.ceasefire", news.to_bytes()))
    assert (read.id, read.category, read.time) == (news.id, "ceasefire", news.time)
    assert read.body == news.to_bytes() and (read.partition, read.offset) == (2, 41)
    health = health_alert()
    read = read_alert_record(record("alerts.sources", health.to_bytes(), b"https://f.example"))
    assert (read.id, read.category) == ("h1", "sources")


@pytest.mark.parametrize("value", [None, b"", b"not json", b"[1, 2]", b'{"id": ""}', b"{}"])
def test_records_that_are_not_cloudevents_are_record_errors(value: bytes | None) -> None:
    """Anything without a string `id` is refused with the topic, partition and offset."""
    with pytest.raises(RecordError, match=r"alerts.ceasefire\[2\]@41"):
        read_alert_record(record("alerts.ceasefire", value))


def health_alert() -> SourceHealthAlert:
    now = datetime(2025, 3, 11, tzinfo=UTC)
    return SourceHealthAlert(
        id="h1",
        type="org.newsmonitor.source.unhealthy",
        source="urn:news-monitor/poller",
        subject="https://f.example/feed",
        time=now,
        data=SourceHealthData(
            feed="https://f.example/feed",
            name="Feed Example",
            state="unhealthy",
            reason="5 failures in a row",
            status="failing",
            failures=5,
            since=now,
        ),
    )


def test_notification_text_for_alerts_health_alerts_and_other_events() -> None:
    """A title with category, kind and headline and a few plain lines; health alerts and unknown
    CloudEvents get a title too."""
    title, body = notification_text(alert("sanctions", "EU adds 20 tankers").to_bytes())
    assert title == "[sanctions new] EU adds 20 tankers"
    assert body.splitlines()[0].startswith("Example News · ")
    assert "\033" not in title + body
    title, body = notification_text(health_alert().to_bytes())
    assert title == "[sources unhealthy] Feed Example" and "5 failures" in body
    other = json.dumps({"id": "x9", "type": "org.example.other", "subject": "s"}).encode()
    assert notification_text(other) == ("[org.example.other] s", "x9")


def desk() -> AppriseTarget:
    return AppriseTarget(
        kind="apprise",
        id="desk",
        categories=frozenset(),
        since=None,
        urls=(SecretStr("json://127.0.0.1:9/x"),),
    )


def test_apprise_configured_without_the_extra_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With Apprise not importable, an Apprise target is refused with the pip command to run."""
    monkeypatch.setitem(sys.modules, "apprise", None)  # what an absent package looks like
    with pytest.raises(ServiceError) as caught:
        AppriseSender(desk(), timeout=5)
    assert INSTALL_HINT in str(caught.value) and "'desk'" in str(caught.value)


def test_an_url_apprise_does_not_understand_is_a_config_error() -> None:
    """A URL with an unknown scheme is refused at start, without echoing the URL's secrets."""
    target = AppriseTarget(
        kind="apprise",
        id="desk",
        categories=frozenset(),
        since=None,
        urls=(SecretStr("nosuchservice://token-abc@host"),),
    )
    with pytest.raises(ConfigError) as caught:
        AppriseSender(target, timeout=5)
    assert "nosuchservice://" in str(caught.value) and "token-abc" not in str(caught.value)
