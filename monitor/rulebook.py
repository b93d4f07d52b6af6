"""Watch rules live on the compacted ``monitor.rules`` topic: keyed by rule id, a JSON
:class:`RuleRecord` per version, a tombstone (null value) on removal.

Every worker follows the whole topic with a group-less consumer and swaps in a new matcher when the
rule set changes, so a change applies everywhere within a second or two, without a restart; a worker
that starts later rebuilds the same rule set by reading the topic from the beginning. The rules in
``config/rules/`` seed the topic on first start; an id that has ever been on the topic (even if it
was removed since) is never seeded again.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import logging
import socket
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.errors import ConfigError, MonitorError
from monitor.kafka import RULES_TOPIC, start_consumer, start_producer
from monitor.matching import Matcher
from monitor.models import RecordError
from monitor.rules import TrackedEvent, WatchRule, load_events_dir, load_rules_dir
from monitor.settings import Settings

log = logging.getLogger(__name__)
FOLLOW_POLL_MS = 250
SEED_TIME = datetime(1970, 1, 1, tzinfo=UTC)


class RuleRecord(BaseModel):
    """The value of one rule version on ``monitor.rules``."""

    model_config = ConfigDict(frozen=True)

    rule: WatchRule
    version: int = Field(ge=1)
    added_by: str
    added_at: datetime
    origin: str = ""

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


def whoami() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class RuleSet:
    """The rule set a topic's records add up to. Pure: records in, rules and a matcher out."""

    def __init__(self, events: dict[str, TrackedEvent]):
        self.events = events
        self.records: dict[str, RuleRecord] = {}
        self.ever_seen: set[str] = set()
        self.rejected = 0

    def apply(self, key: bytes | None, value: bytes | None) -> bool:
        """Apply one record; True when the active rule set changed.

        Raises RecordError for a record that is not a valid rule; the set is then untouched.
        """
        if key is None:
            raise RecordError("rule record without a key (the key must be the rule id)")
        rule_id = key.decode(errors="replace")
        self.ever_seen.add(rule_id)
        if value is None:
            return self.records.pop(rule_id, None) is not None
        try:
            record = RuleRecord.model_validate_json(value)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise RecordError(f"rule {rule_id!r}: field `{where}`: {err['msg']}") from exc
        if record.rule.id != rule_id:
            raise RecordError(f"rule record keyed {rule_id!r} holds rule {record.rule.id!r}")
        if record.rule.event not in self.events:
            raise RecordError(f"rule {rule_id!r}: unknown event {record.rule.event!r}")
        if self.records.get(rule_id) == record:
            return False
        self.records[rule_id] = record
        return True

    @property
    def rules(self) -> list[WatchRule]:
        return [r.rule for r in sorted(self.records.values(), key=lambda r: r.rule.id)]

    def matcher(self) -> Matcher:
        return Matcher(self.events, self.rules)

    def digest(self) -> str:
        """Identifies the active rule set: equal digests, equal rules."""
        text = "\n".join(
            f"{r.rule.id}:{r.version}"
            for r in sorted(self.records.values(), key=lambda r: r.rule.id)
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def next_version(self, rule_id: str) -> int:
        current = self.records.get(rule_id)
        return current.version + 1 if current else 1


async def _assigned(consumer: AIOKafkaConsumer, seconds: float = 15.0) -> set[TopicPartition]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not consumer.assignment():
        if loop.time() > deadline:
            raise MonitorError(f"no partition of {RULES_TOPIC} assigned within {seconds:.0f}s")
        await consumer.getmany(timeout_ms=100)
    return set(consumer.assignment())


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False


class RuleBook:
    """Follows ``monitor.rules`` and keeps a current matcher (workers, the web API, the CLI)."""

    def __init__(
        self,
        bootstrap: str,
        events: dict[str, TrackedEvent],
        on_change: Callable[[RuleSet], None] | None = None,
        on_reject: Callable[[bytes | None, bytes | None, str], None] | None = None,
    ):
        self.bootstrap = bootstrap
        self.ruleset = RuleSet(events)
        self._matcher = self.ruleset.matcher()
        self._consumer: AIOKafkaConsumer | None = None
        self._on_change = on_change
        self._on_reject = on_reject
        self._task: asyncio.Task[None] | None = None

    @property
    def matcher(self) -> Matcher:
        return self._matcher

    async def start(self, *, follow: bool = True) -> None:
        """Read the topic to its end (the rule set as of now), then keep following it."""
        self._consumer = await start_consumer(self.bootstrap, [RULES_TOPIC], from_beginning=True)
        partitions = await _assigned(self._consumer)
        ends = await self._consumer.end_offsets(list(partitions))
        while await _behind(self._consumer, ends):
            self._consume(await self._consumer.getmany(timeout_ms=FOLLOW_POLL_MS))
        self._rebuild()
        if follow:
            self._task = asyncio.create_task(self._follow(), name="rules.follow")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer:
            await self._consumer.stop()

    async def _follow(self) -> None:
        assert self._consumer is not None
        while True:
            if self._consume(await self._consumer.getmany(timeout_ms=FOLLOW_POLL_MS)):
                self._rebuild()

    def _consume(self, batches: dict[TopicPartition, list[object]]) -> bool:
        changed = False
        for records in batches.values():
            for record in records:
                key, value = record.key, record.value  # type: ignore[attr-defined]
                try:
                    changed |= self.ruleset.apply(key, value)
                except RecordError as exc:
                    self.ruleset.rejected += 1
                    log.warning("rules.rejected key=%r reason=%s", key, exc)
                    if self._on_reject:
                        self._on_reject(key, value, str(exc))
        return changed

    def refresh(self) -> None:
        """Rebuild the matcher from the current rule set (after applying records by hand)."""
        self._rebuild()

    def _rebuild(self) -> None:
        self._matcher = self.ruleset.matcher()
        log.info(
            "rules.applied rules=%d digest=%s", len(self.ruleset.records), self.ruleset.digest()
        )
        if self._on_change:
            self._on_change(self.ruleset)


async def read_rules(bootstrap: str, events: dict[str, TrackedEvent]) -> RuleSet:
    """The rule set on the topic right now (reads it once, then disconnects)."""
    book = RuleBook(bootstrap, events)
    try:
        await book.start(follow=False)
    finally:
        await book.stop()
    return book.ruleset


def check_events(rules: Iterable[WatchRule], events: dict[str, TrackedEvent], origin: str) -> None:
    for rule in rules:
        if rule.event not in events:
            raise ConfigError(
                f"unknown event {rule.event!r}; known: {sorted(events)}",
                file=origin,
                rule=rule.id,
                field="event",
            )


async def publish_rules(
    bootstrap: str,
    rules: list[WatchRule],
    current: RuleSet,
    *,
    added_by: str,
    origin: str,
    added_at: datetime | None = None,
) -> list[RuleRecord]:
    """Publish new versions of these rules; unchanged rules are skipped."""
    records = []
    now = added_at or datetime.now(UTC)
    for rule in rules:
        existing = current.records.get(rule.id)
        if existing and existing.rule == rule:
            continue
        records.append(
            RuleRecord(
                rule=rule,
                version=current.next_version(rule.id),
                added_by=added_by,
                added_at=now,
                origin=origin,
            )
        )
    if records:
        producer = await start_producer(bootstrap)
        try:
            for record in records:
                await producer.send_and_wait(
                    RULES_TOPIC, key=record.rule.id.encode(), value=record.to_bytes()
                )
        finally:
            await producer.stop()
    return records


async def remove_rule(bootstrap: str, rule_id: str, current: RuleSet) -> None:
    """Publish a tombstone for an active rule."""
    if rule_id not in current.records:
        known = ", ".join(sorted(current.records)) or "none"
        raise MonitorError(f"no active rule {rule_id!r} (active: {known})")
    producer = await start_producer(bootstrap)
    try:
        await producer.send_and_wait(RULES_TOPIC, key=rule_id.encode(), value=None)
    finally:
        await producer.stop()


async def seed_rules(
    bootstrap: str, current: RuleSet, config_rules: list[WatchRule], origin: str
) -> list[str]:
    """Publish the config rules whose ids have never been on the topic; return their ids.

    Seed records are deterministic (version 1, added by "config" at the epoch), so two workers
    seeding at the same moment publish identical records, which apply as one: never twice.
    """
    fresh = [r for r in config_rules if r.id not in current.ever_seen]
    records = await publish_rules(
        bootstrap, fresh, current, added_by="config", origin=origin, added_at=SEED_TIME
    )
    for record in records:
        current.apply(record.rule.id.encode(), record.to_bytes())
    return [r.rule.id for r in records]


async def open_rulebook(settings: Settings, bootstrap: str, *, seed: bool = True) -> RuleBook:
    """The live rule book of a worker: the topic's rules, seeded from config/rules/ once."""
    events = load_events_dir(settings.events_dir)
    config_rules = load_rules_dir(settings.rules_dir, events)  # refuse bad files before starting
    book = RuleBook(bootstrap, events)
    await book.start()
    if seed:
        seeded = await seed_rules(bootstrap, book.ruleset, config_rules, str(settings.rules_dir))
        if seeded:
            log.info("rules.seeded rules=%s", ",".join(seeded))
            book.refresh()
    return book
