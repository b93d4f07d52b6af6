"""The worker's steps as plain functions over records, so the Faust agents stay thin glue."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from monitor.alerts import build_alert
from monitor.matching import Matcher, RuleHit
from monitor.models import Alert, Article, DeadLetter, MatchRecord
from monitor.stories import Placement, Profile, StoryIndex, profile, with_concepts


def dead_letter(
    *, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, reason: str
) -> DeadLetter:
    return DeadLetter(
        topic=topic,
        partition=partition,
        offset=offset,
        key=key.decode(errors="replace") if key is not None else None,
        value=(value or b"").decode(errors="replace")[:10000],
        reason=reason,
    )


def match_article(
    matcher: Matcher, article: Article, now: datetime | None = None
) -> list[MatchRecord]:
    """One record per rule that fired, with the article's story profile, for the story stage."""
    result = matcher.match_or_none(article)
    if result is None or not result.hits:
        return []
    now = now or datetime.now(UTC)
    event = result.events[0]
    tracked = matcher.events.get(event)
    read = profile(
        article.title, article.summary, actors=tracked.actors if tracked is not None else None
    )
    records = []
    for h in result.hits:
        # sorted: a set's order follows the process's hash seed, and the features' order is the
        # order similarities are summed in, so every worker (and a replay) must see the same
        seen = with_concepts(read, sorted({e.group for e in h.evidence}))
        records.append(
            MatchRecord(
                event=event,
                rule=h.rule,
                category=h.category,
                topic=h.topic,
                score=h.score,
                evidence=[*h.evidence, *result.event_evidence],
                matched=now,
                article=article,
                features=seen.features,
                subject=seen.subject,
            )
        )
    return records


def place_match(index: StoryIndex, record: MatchRecord) -> Placement:
    """Put a match into its category's stories (the index is updated in place)."""
    article = record.article
    return index.place(
        category=record.category,
        article_id=article.id,
        title=article.title,
        source=article.source.name,
        published=article.published or article.fetched,
        article=Profile(record.features, record.subject),
    )


def story_step(
    index: StoryIndex, record: MatchRecord, now: datetime | None = None
) -> tuple[Placement, Alert | None]:
    """Place a match into its category's stories; return where it went and the alert due."""
    placement = place_match(index, record)
    alert = None
    if placement.kind is not None:
        hit = RuleHit(
            record.rule, record.category, record.topic, record.score, tuple(record.evidence)
        )
        alert = build_alert(
            event=record.event,
            article=record.article,
            hit=hit,
            story=placement.story,
            kind=placement.kind,
            matched=record.matched,
            now=now,
        )
    return placement, alert


@dataclass
class Tally:
    """Counters gathered in memory and flushed to Redis in one round trip."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, name: str, value: int = 1) -> None:
        self.counts[name] += value

    def drain(self) -> dict[str, int]:
        counts, self.counts = dict(self.counts), Counter()
        return counts


@dataclass
class ExpiryIndex:
    """Keys per partition in coarse time buckets, so a table's old keys can be dropped in bulk.

    The dedupe table's keys are article ids; this remembers when (and for which partition, as a
    table's changelog is per partition) each was written, at ``bucket`` seconds' grain, so the
    worker can delete the ones older than ``window`` while processing that partition. A key
    written again later (a new revision) expires with its first bucket: a re-send of that
    revision after that is matched again, which is the window's meaning anyway.
    """

    window: float
    bucket: float = 60.0
    _buckets: dict[int, deque[tuple[float, list[str]]]] = field(default_factory=dict)

    def add(self, partition: int, key: str, now: float) -> None:
        start = now - now % self.bucket
        buckets = self._buckets.get(partition)
        if buckets is None:
            buckets = self._buckets[partition] = deque()
        if not buckets or buckets[-1][0] != start:
            buckets.append((start, []))
        buckets[-1][1].append(key)

    def expired(self, partition: int, now: float) -> list[str]:
        """Pop and return this partition's keys written more than ``window`` seconds ago."""
        buckets = self._buckets.get(partition)
        old: list[str] = []
        while buckets and buckets[0][0] + self.bucket <= now - self.window:
            old.extend(buckets.popleft()[1])
        return old

    def __len__(self) -> int:
        return sum(len(keys) for b in self._buckets.values() for _, keys in b)
