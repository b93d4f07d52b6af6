"""Alert delivery on the embedded broker and a real Redis: webhooks that fail and recover, dead
letters, restarts, Apprise notifications, and the Server-Sent Events stream of alerts."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from monitor.alertstream import add_alert_stream, extend_status_server
from monitor.delivery import deliver
from monitor.kafka import DEADLETTER_TOPIC, alert_topic, start_consumer, start_producer
from monitor.models import Alert, DeadLetter
from monitor.settings import DeliverySettings, Settings
from monitor.status import StatusStore
from monitor.web import WebServer
from monitor.webhooks import SIGNATURE_HEADER, AppriseTarget, Target, Webhook, verify
from tests.factories import alert_factory as alert
from tests.factories import settings_factory

SECRET = "test-secret-0123456789"
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
WAIT = 60.0  # generous: the machine is shared; a test fails only if this passes with no result


@dataclass
class Receiver:
    """A local webhook receiver: answers ``fail_first`` errors per alert id, then 200."""

    fail_first: int = 0
    status: int = 500
    requests: list[tuple[str, bytes, bool]] = field(default_factory=list)
    accepted: Counter[str] = field(default_factory=Counter)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        alert_id = json.loads(body)["id"]
        signed = verify(body, SECRET, request.headers.get(SIGNATURE_HEADER))
        self.requests.append((alert_id, body, signed))
        self.arrived.set()
        tries = sum(1 for r in self.requests if r[0] == alert_id)
        if tries <= self.fail_first:
            return web.Response(status=self.status, text="not now")
        self.accepted[alert_id] += 1
        return web.Response(status=204)


@contextlib.asynccontextmanager
async def serving(handler: Callable[[web.Request], object]) -> AsyncIterator[str]:
    """An aiohttp server on a free loopback port with one POST route; yields its URL."""
    app = web.Application()
    app.router.add_post("/hook", handler)  # type: ignore[arg-type]
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


def delivery_settings(tmp_path: Path, *, attempts: int = 4, app_id: str | None = None) -> Settings:
    return settings_factory(
        tmp_path,
        app_id=app_id or f"test-{uuid.uuid4().hex[:8]}",
        delivery=DeliverySettings(attempts=attempts, backoff=0.05, max_backoff=0.2, timeout=5),
    )


def webhook(url: str, category: str, *, since: datetime | None = LONG_AGO) -> Webhook:
    return Webhook(
        kind="webhook",
        id=f"hook-{category}",
        categories=frozenset({category}),
        since=since,
        url=url,
        secret=SecretStr(SECRET),
    )


@contextlib.asynccontextmanager
async def delivering(
    settings: Settings, targets: list[Target], broker: str, redis_url: str
) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(deliver(settings, targets, kafka=broker, redis=redis_url, stop=stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT)


async def publish(producer: AIOKafkaProducer, alerts: list[Alert]) -> None:
    for item in alerts:
        await producer.send_and_wait(
            alert_topic(item.data.category), key=item.subject.encode(), value=item.to_bytes()
        )


async def until(check: Callable[[], bool], what: str) -> None:
    """Wait until ``check()`` holds (polling), failing after WAIT seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not check():
        assert loop.time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_receiver_failing_twice_gets_each_alert_once_with_a_valid_signature(
    tmp_path: Path, broker: str, fresh_redis: str
) -> None:
    """Each alert is retried after two failures and then accepted exactly once; every POST is the
    CloudEvent byte for byte with a valid HMAC-SHA256 signature; the status in Redis counts it."""
    category = f"dlv{uuid.uuid4().hex[:8]}"
    receiver = Receiver(fail_first=2)
    alerts = [alert(category, f"Development {i}") for i in range(3)]
    producer = await start_producer(broker)
    try:
        async with serving(receiver.handle) as url:
            hook = webhook(url, category)
            async with delivering(delivery_settings(tmp_path), [hook], broker, fresh_redis):
                await publish(producer, alerts)
                await until(lambda: len(receiver.accepted) == 3, "three accepted alerts")
    finally:
        await producer.stop()
    assert receiver.accepted == Counter({a.id: 1 for a in alerts})
    assert Counter(r[0] for r in receiver.requests) == Counter({a.id: 3 for a in alerts})
    assert all(signed for _, _, signed in receiver.requests)
    sent = {a.id: a.to_bytes() for a in alerts}
    assert all(body == sent[alert_id] for alert_id, body, _ in receiver.requests)
    store = StatusStore.from_url(fresh_redis)
    status = (await store.deliveries())[hook.key]
    await store.close()
    assert status["delivered"] == 3 and status["failed"] == 6 and status["failures"] == 0
    assert status["where"].startswith("http://127.0.0.1:") and "/hook" not in status["where"]
    assert "last_success" in status and "HTTP 500" in status["last_error"]


async def test_a_receiver_that_always_fails_gets_a_dead_letter_after_n_tries(
    tmp_path: Path, broker: str, fresh_redis: str
) -> None:
    """After `attempts` failed tries the alert goes to monitor.deadletter with the reason and the
    original record; Redis shows the failures and the dead letter, and it is not tried again."""
    category = f"dlv{uuid.uuid4().hex[:8]}"
    receiver = Receiver(fail_first=10**6, status=503)
    doomed = alert(category, "Nobody hears this one")
    producer = await start_producer(broker)
    deadletters = await start_consumer(broker, [DEADLETTER_TOPIC], from_beginning=True)
    found: list[DeadLetter] = []
    try:
        async with serving(receiver.handle) as url:
            hook = webhook(url, category)
            async with delivering(
                delivery_settings(tmp_path, attempts=3), [hook], broker, fresh_redis
            ):
                await publish(producer, [doomed])
                loop = asyncio.get_running_loop()
                deadline = loop.time() + WAIT
                while not found:
                    assert loop.time() < deadline, "no dead letter arrived"
                    batches = await deadletters.getmany(timeout_ms=200)
                    for records in batches.values():
                        found += [
                            DeadLetter.from_bytes(r.value)
                            for r in records
                            if r.key == doomed.id.encode()
                        ]
    finally:
        await deadletters.stop()
        await producer.stop()
    assert len(receiver.requests) == 3
    (letter,) = found
    assert letter.topic == alert_topic(category)
    assert letter.value == doomed.to_bytes().decode()
    assert hook.key in letter.reason and "after 3 tries" in letter.reason
    assert "HTTP 503" in letter.reason
    store = StatusStore.from_url(fresh_redis)
    status = (await store.deliveries())[hook.key]
    assert await store.delivery_done(hook.key, doomed.id)
    await store.close()
    assert status["dead_lettered"] == 1 and status["failures"] == 3 and status["failed"] == 3
    assert "delivered" not in status and "HTTP 503" in status["last_error"]


async def test_a_restarted_delivery_loop_sends_nothing_twice_and_skips_nothing(
    tmp_path: Path, broker: str, fresh_redis: str
) -> None:
    """Alerts published while delivery is down are delivered after the restart, and nothing
    delivered before is sent again; with its Kafka offsets lost too, Redis still remembers."""
    category = f"dlv{uuid.uuid4().hex[:8]}"
    receiver = Receiver()
    settings = delivery_settings(tmp_path)
    first = [alert(category, f"Before {i}") for i in range(3)]
    while_down = [alert(category, f"While down {i}") for i in range(2)]
    last = alert(category, "After the offsets were lost")
    producer = await start_producer(broker)
    try:
        async with serving(receiver.handle) as url:
            hook = webhook(url, category)
            async with delivering(settings, [hook], broker, fresh_redis):
                await publish(producer, first)
                await until(lambda: len(receiver.accepted) == 3, "the first three alerts")
            await publish(producer, while_down)
            async with delivering(settings, [hook], broker, fresh_redis):
                await until(lambda: len(receiver.accepted) == 5, "the alerts sent while down")
            # a new consumer group reads every alert topic from its start: Redis skips the old
            fresh_group = settings.model_copy(update={"app_id": settings.app_id + "-new"})
            async with delivering(fresh_group, [hook], broker, fresh_redis):
                await publish(producer, [last])  # same story key: same partition, after them
                await until(lambda: len(receiver.accepted) == 6, "the last alert")
    finally:
        await producer.stop()
    assert receiver.accepted == Counter({a.id: 1 for a in [*first, *while_down, last]})
    assert len(receiver.requests) == 6


async def test_a_new_webhook_starts_with_alerts_from_when_it_was_added(
    tmp_path: Path, broker: str, fresh_redis: str
) -> None:
    """Without `since`, a webhook gets the alerts emitted after delivery to it first started,
    not the topic's whole history."""
    category = f"dlv{uuid.uuid4().hex[:8]}"
    receiver = Receiver()
    old = alert(category, "Old news")
    producer = await start_producer(broker)
    try:
        await publish(producer, [old])
        async with serving(receiver.handle) as url:
            hook = webhook(url, category, since=None)
            async with delivering(delivery_settings(tmp_path), [hook], broker, fresh_redis):
                store = StatusStore.from_url(fresh_redis)
                key = f"monitor:delivery:{hook.key}:since"
                await until_async(lambda: store.redis.exists(key), "the webhook's start time")
                await store.close()
                new = alert(category, "New news")
                await publish(producer, [new])
                await until(lambda: len(receiver.accepted) == 1, "the new alert")
    finally:
        await producer.stop()
    assert list(receiver.accepted) == [new.id]


async def until_async(check: Callable[[], object], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not await check():  # type: ignore[misc]
        assert loop.time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.05)


async def test_apprise_urls_get_a_short_text_per_alert(
    tmp_path: Path, broker: str, fresh_redis: str
) -> None:
    """An Apprise target (its json:// service, against a local server) gets one notification per
    alert whose title carries the category, kind and headline."""
    category = f"dlv{uuid.uuid4().hex[:8]}"
    received: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=200)

    news = alert(category, "Black Sea truce agreed")
    producer = await start_producer(broker)
    try:
        async with serving(handle) as url:
            target = AppriseTarget(
                kind="apprise",
                id="desk",
                categories=frozenset({category}),
                since=LONG_AGO,
                urls=(SecretStr(url.replace("http://", "json://")),),
            )
            async with delivering(delivery_settings(tmp_path), [target], broker, fresh_redis):
                await publish(producer, [news])
                await until(lambda: bool(received), "the notification")
    finally:
        await producer.stop()
    (note,) = received
    assert note["title"] == f"[{category} new] Black Sea truce agreed"
    assert "Example News" in note["message"] and "https://news.example/a" in note["message"]


async def read_event(stream: aiohttp.StreamReader) -> dict[str, str]:
    """The next SSE event (or comment) as its fields; comments come back as {"comment": ...}."""
    fields: dict[str, str] = {}
    while True:
        line = (await asyncio.wait_for(stream.readline(), WAIT)).decode().rstrip("\n")
        if not line:
            if fields:
                return fields
            continue
        if line.startswith(":"):
            return {"comment": line[1:].strip()}
        name, _, value = line.partition(": ")
        fields[name] = value


async def test_the_alert_stream_pushes_new_alerts_and_resumes_from_last_event_id(
    tmp_path: Path, fresh_redis: str
) -> None:
    """A connected client gets a new alert as an `alert` event whose id is the CloudEvent id; a
    client reconnecting with Last-Event-ID gets exactly the alerts after that one, in order."""
    store = StatusStore.from_url(fresh_redis)
    await store.record_alerts([alert("ceasefire", "Already there before anyone listened")])
    settings = settings_factory(tmp_path)
    server = WebServer(
        store,
        "127.0.0.1",
        0,
        extend=functools.partial(extend_status_server, settings=settings, store=store),
    )
    await server.start()
    first, second, third = (alert("ceasefire", f"Development {i}") for i in range(3))
    url = server.url + "api/alerts/stream"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as resp:
                assert resp.headers["Content-Type"].startswith("text/event-stream")
                assert (await read_event(resp.content)) == {"retry": "2000"}
                await asyncio.sleep(0.6)  # the reader has seen the list once, without us
                await store.record_alerts([first])
                event = await read_event(resp.content)
            assert event["id"] == first.id and event["event"] == "alert"
            assert Alert.model_validate_json(event["data"]) == first
            await store.record_alerts([second])
            await store.record_alerts([third])
            async with session.get(url, headers={"Last-Event-ID": first.id}) as resp:
                await read_event(resp.content)  # retry
                ids = [(await read_event(resp.content))["id"] for _ in range(2)]
            assert ids == [second.id, third.id]
            async with session.get(server.url + "api/rules") as resp:
                assert resp.status in (200, 503)  # the rules API is mounted beside it
    finally:
        await server.stop()
        await store.close()


async def test_the_alert_stream_keeps_idle_connections_alive_and_filters_categories(
    fresh_redis: str,
) -> None:
    """Without alerts the stream sends keep-alive comments; ?category= drops other categories."""
    store = StatusStore.from_url(fresh_redis)
    server = WebServer(
        store, "127.0.0.1", 0, extend=lambda app: add_alert_stream(app, store, keepalive=0.2)
    )
    await server.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(server.url + "api/alerts/stream?category=sanctions") as resp,
        ):
            await read_event(resp.content)  # retry
            assert await read_event(resp.content) == {"comment": "keepalive"}
            wanted = alert("sanctions", "New sanctions on Russian oil")
            await store.record_alerts([alert("ceasefire", "Not for this client"), wanted])
            event = await read_event(resp.content)
            while "comment" in event:
                event = await read_event(resp.content)
            assert event["id"] == wanted.id
    finally:
        await server.stop()
        await store.close()
