"""The matcher: tracked events and watch rules compiled into a term index, applied to articles.

An article goes through steps that each let most articles stop early:

1. its publication date must fall in an open event's window;
2. the quick gate (:mod:`~monitor.matching.gate`) must find, among the article's byte chunks,
   words for every requirement of an open event (a few C-level set operations);
3. its fields are normalised and cut into words once; the word cache
   (:mod:`~monitor.matching.words`) says which words can start a pattern, and only the events'
   patterns are tried there (phase ``EVENTS``);
4. only when an event matched are the rules' required groups tried at the same words
   (``REQUIRED``), and only for the rules that got a hit there their vetoes and context
   (``OTHERS``) before they are evaluated (:meth:`~monitor.matching.hits.MatchBlock.evaluate`).

Cost grows with the article's words and the hits it gets, not with the number of rules.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from monitor.matching.evidence import FieldWords, LazyEvidence, evidence_of
from monitor.matching.gate import Gate, requirements
from monitor.matching.hits import Hit, Hits, MatchBlock, Outcome
from monitor.matching.index import (
    EVENTS,
    OTHERS,
    PHASES,
    REQUIRED,
    Pattern,
    Slot,
    TermIndex,
    patterns,
    phase_of,
)
from monitor.matching.results import MatchResult, RuleHit
from monitor.matching.text import WORD, NormalText, words
from monitor.matching.words import WORD_CACHE_SIZE, Word, WordCache
from monitor.models import Article
from monitor.rules import MatchSpec, TrackedEvent, WatchRule


@dataclass(frozen=True)
class _Spec:
    """One event's or rule's match block, compiled."""

    block: MatchBlock
    fields: frozenset[str]
    regexes: tuple[tuple[re.Pattern[str], str, str, int], ...]  # (regex, group, label, phase)

    @classmethod
    def of(cls, index: int, spec: MatchSpec, *, event: bool) -> _Spec:
        regexes = tuple(
            (re.compile(term.regex, re.IGNORECASE), group, term.term, phase_of(kind, event=event))
            for kind, group, g in spec.groups()
            for term in g.terms
            if term.regex
        )
        return cls(MatchBlock(index, spec), frozenset(spec.fields), regexes)


class Matcher:
    """Events and rules compiled into a word index. Build once per rule set; ``match`` is pure
    (the only state it touches is a cache of what each word can start). ``cache_size`` bounds
    the distinct words (and byte chunks) remembered before that cache starts afresh."""

    def __init__(
        self,
        events: dict[str, TrackedEvent],
        rules: Sequence[WatchRule],
        *,
        cache_size: int = WORD_CACHE_SIZE,
    ):
        self.events = dict(events)
        self.rules = [r for r in rules if r.enabled]
        matches = [e.match for e in self.events.values()] + [r.match for r in self.rules]
        self._specs = [
            _Spec.of(index, match, event=index < len(self.events))
            for index, match in enumerate(matches)
        ]
        self._rule_of_spec = {len(self.events) + i: r for i, r in enumerate(self.rules)}
        every: list[Pattern] = []
        slots: dict[Slot, int] = {}
        for index, match in enumerate(matches):
            event = index < len(self.events)
            every += patterns(index, match, slots, event=event, first_order=len(every))
        bits, needs = requirements(
            (event.id, index, event.match) for index, event in enumerate(self.events.values())
        )
        self._words = WordCache(TermIndex(every, slots), bits, cache_size)
        self._gate = Gate(needs, self._words, cache_size)
        self._regex_specs = [
            [i for i, spec in enumerate(self._specs) if any(r[3] == phase for r in spec.regexes)]
            for phase in range(PHASES)
        ]
        # Each window is [start, end) in whole UTC days, so an article's publication time is
        # compared by its UTC day (see utc_day): the day numbers of its first and its end.
        self._windows = [
            (event.id, event.date.toordinal(), event.date.toordinal() + event.window_days)
            for event in self.events.values()
        ]

    @property
    def size(self) -> int:
        return len(self.rules)

    def match(self, article: Article) -> MatchResult:
        result = self.match_or_none(article)
        return result if result is not None else MatchResult.nothing(article.id)

    def match_or_none(self, article: Article) -> MatchResult | None:
        """:meth:`match`, but None for an article that follows no event (most articles): the
        worker has no use for their empty result, so it is not made."""
        when = utc_day(article.published or article.fetched)
        open_events = []
        for event, start, end in self._windows:
            if start <= when < end:
                open_events.append(event)
        if not open_events or not self._gate.may_match(article.title, article.summary, open_events):
            return None
        day = date.fromordinal(when)
        fields = self._read(article)
        events = self._events(open_events, day, self._collect(EVENTS, fields))
        if not events:
            return None
        best = max(events.values(), key=lambda o: o.score)
        return MatchResult(
            article.id,
            events=tuple(events),
            event_score=round(best.score, 3),
            event_evidence=LazyEvidence(best.evidence, fields),
            hits=self._rules(article, day, events, fields),
        )

    def _read(self, article: Article) -> dict[str, FieldWords]:
        """The article's title and summary, normalised and cut into words, all of them learnt
        (an empty field has no words, so nothing matches there)."""
        title, summary = NormalText.of(article.title), NormalText.of(article.summary)
        title_words, summary_words = words(title.plain), words(summary.plain)
        entries = self._words.lookup(title_words + summary_words)
        cut = len(title_words)
        return {
            "title": FieldWords(0, title, title_words, entries[:cut]),
            "summary": FieldWords(1, summary, summary_words, entries[cut:]),
        }

    def _collect(
        self, phase: int, fields: dict[str, FieldWords], specs: set[int] | None = None
    ) -> Hits:
        """The hits of one phase's patterns (and regexes), by spec and group; only of ``specs``
        if given. A group that no proximity refers to keeps only its best hit (the first of the
        highest score)."""
        found: Hits = {}
        for name, field in fields.items():
            column = field.number * PHASES + phase
            raws, starts, entries = field.raws, field.starts, field.entries
            length = len(raws)
            for i in field.positions(column):
                for pattern, score in starts[i][column]:
                    if specs is not None and pattern.spec not in specs:
                        continue
                    last = i + len(pattern.follow)
                    if last > i:
                        if last >= length:
                            continue
                        score = _phrase(pattern, score, i, raws, entries)
                        if not score:
                            continue
                    bucket = found.get(pattern.key)
                    if bucket is None:
                        found[pattern.key] = [
                            Hit(pattern.group, pattern.label, name, i, last, score)
                        ]
                    elif pattern.every:
                        bucket.append(Hit(pattern.group, pattern.label, name, i, last, score))
                    elif score > bucket[0].score:
                        bucket[0] = Hit(pattern.group, pattern.label, name, i, last, score)
            if self._regex_specs[phase]:
                self._search(phase, name, field.text, found, specs)
        return found

    def _search(
        self, phase: int, name: str, text: NormalText, found: Hits, specs: set[int] | None
    ) -> None:
        tokens = list(WORD.finditer(text.norm))
        for index in self._regex_specs[phase]:
            spec = self._specs[index]
            if name not in spec.fields or (specs is not None and index not in specs):
                continue
            for regex, group, label, regex_phase in spec.regexes:
                if regex_phase != phase:
                    continue
                m = regex.search(text.norm)
                if not m or m.end() == m.start():
                    continue
                first = sum(1 for t in tokens if t.end() <= m.start())
                last = max(first, sum(1 for t in tokens if t.start() < m.end()) - 1)
                hit = Hit(group, label, name, first, last, 100.0, m.span())
                found.setdefault((index, group), []).append(hit)

    def _events(self, open_events: list[str], day: date, hits: Hits) -> dict[str, Outcome]:
        events: dict[str, Outcome] = {}
        for index, event in enumerate(self.events.values()):
            if event.id in open_events and _dated(event.match, day):
                outcome = self._specs[index].block.evaluate(hits)
                if outcome:
                    events[event.id] = outcome
        return events

    def _rules(
        self, article: Article, day: date, events: dict[str, Outcome], fields: dict[str, FieldWords]
    ) -> tuple[RuleHit, ...]:
        """The rules that fire. Their required groups are looked for first; the other groups only
        for the rules that could still match."""
        hits = self._collect(REQUIRED, fields)
        candidates = [
            index
            for index in sorted({spec for spec, _group in hits})
            if self._specs[index].block.possible(hits)
            and (rule := self._rule_of_spec[index]).event in events
            and _passes_filters(rule, article)
            and _dated(rule.match, day)
        ]
        if not candidates:
            return ()
        hits.update(self._collect(OTHERS, fields, set(candidates)))
        fired = []
        for index in candidates:
            rule = self._rule_of_spec[index]
            outcome = self._specs[index].block.evaluate(hits)
            if outcome:
                score = round(outcome.score, 3)
                evidence = evidence_of(outcome.evidence, fields)
                fired.append(RuleHit(rule.id, rule.category, rule.alert_topic, score, evidence))
        return tuple(fired)


def utc_day(moment: datetime) -> int:
    """The day number (``date.toordinal``) of a moment's date in UTC; a naive moment is local
    time, as ``datetime.timestamp`` takes it. Most moments are in UTC already, and their own
    date is the answer without working out a timestamp."""
    offset = moment.utcoffset()
    if offset is not None and not offset:
        return moment.toordinal()
    return datetime.fromtimestamp(moment.timestamp(), UTC).toordinal()


def _phrase(
    pattern: Pattern, score: float, first: int, raws: list[str], entries: list[Word]
) -> float:
    """The score of a phrase whose first word (of ``score``) stands at ``first``: the least of
    its words' scores, or 0 when a later word does not follow or the case is not as written."""
    for j, slot in enumerate(pattern.follow, start=first + 1):
        later = entries[j].follows.get(slot)
        if later is None:
            return 0.0
        score = min(score, later)
    cased = pattern.cased
    if cased and any(raws[first + j] != cased[j] for j in range(1, len(cased))):
        return 0.0
    return score


def _dated(spec: MatchSpec, day: date) -> bool:
    return (spec.after is None or spec.after <= day) and (spec.before is None or day < spec.before)


def _passes_filters(rule: WatchRule, article: Article) -> bool:
    if rule.languages and (article.language or "") not in rule.languages:
        return False
    return not rule.sources or any(s in article.source.url for s in rule.sources)
