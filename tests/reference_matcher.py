"""The matcher's semantics the slow, plain way: a reference for the fast path to agree with.

No index, no word cache, no gate, no phases, no shortcuts: every spelling of every term of every
event and rule is tried at every word of every field, with rapidfuzz; every hit is kept; a match
block is evaluated as written in monitor/rules.py. It shares only the documented tokenizer
(:func:`monitor.matching.tokenize`, the regex path) with the code it checks.

Hits of one group come in the order of fields (title, summary), word positions and spellings as
defined, a field's regex hits after its word hits; a group's best hit is its first of the highest
score. That order only decides which of equal hits becomes evidence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache

from rapidfuzz import fuzz

from monitor.matching import MatchResult, RuleHit, tokenize
from monitor.matching.text import WORD, NormalText
from monitor.models import Article, Evidence
from monitor.rules import Group, MatchSpec, Term, TrackedEvent, WatchRule

FIELDS = ("title", "summary")


def threshold(word: str, term: Term) -> int:
    """The least ratio for a variant: the term's ``fuzzy``, else exact under five letters, 92
    under eight, 88 from eight."""
    if term.exact_case:
        return 100
    if term.fuzzy is not None:
        return term.fuzzy
    length = len(word.rstrip("*"))
    return 100 if length < 5 else 92 if length < 8 else 88


@cache
def word_score(want: str, limit: int, word: str) -> float:
    """How well a folded word of the text stands for a wanted word: prefix, exact, or a variant
    sharing its first letter with a ratio at or above the limit; 0 if not at all."""
    if want.endswith("*"):
        return 100.0 if word.startswith(want[:-1]) else 0.0
    if word == want:
        return 100.0
    if limit >= 100 or not word or word[0] != want[0]:
        return 0.0
    score = fuzz.ratio(word, want)
    return score if score >= limit else 0.0


@dataclass(frozen=True)
class Spelling:
    group: str
    label: str
    words: tuple[str, ...]
    limits: tuple[int, ...]
    cased: tuple[str, ...] | None


def spellings(spec: MatchSpec) -> list[Spelling]:
    found = []
    for _kind, group, g in spec.groups():
        for term in g.terms:
            for variant in term.variants:
                words = tuple(t.word for t in tokenize(variant))
                if not words:
                    continue
                if variant.rstrip().endswith("*"):
                    words = (*words[:-1], words[-1] + "*")
                limits = tuple(threshold(w, term) for w in words)
                cased = None
                if term.exact_case:
                    normal = unicodedata.normalize("NFKC", variant).replace("’", "'")
                    cased = tuple(WORD.findall(normal))
                found.append(Spelling(group, term.term, words, limits, cased))
    return found


@dataclass(frozen=True)
class Hit:
    group: str
    label: str
    field: str
    first: int
    last: int
    score: float
    span: tuple[int, int] | None = None  # normalised offsets, for regex hits


def near(a: Hit, b: Hit, within: int) -> bool:
    """Same field, and at most ``within`` words apart (overlapping counts as near)."""
    if a.field != b.field:
        return False
    if a.last < b.first:
        return b.first - a.last <= within
    if b.last < a.first:
        return a.first - b.last <= within
    return True


def overlaps(a: Hit, b: Hit) -> bool:
    return a.field == b.field and a.first <= b.last and b.first <= a.last


def usable(hits: dict[str, list[Hit]], name: str, group: Group) -> list[Hit]:
    found = hits.get(name, [])
    if group.near is None:
        return found
    anchors = hits.get(group.near, [])
    return [h for h in found if any(near(h, a, group.within) for a in anchors)]


def vetoed(hits: dict[str, list[Hit]], name: str, group: Group) -> bool:
    found = hits.get(name, [])
    if group.near is None:
        return bool(found)
    spared = hits.get(group.unless, []) if group.unless else []
    for veto in found:
        for anchor in hits.get(group.near, []):
            if near(veto, anchor, group.within):
                reach = 1 if near(veto, anchor, 1) else group.within
                if not any(near(s, anchor, reach) and not overlaps(s, veto) for s in spared):
                    return True
    return False


def best(found: list[Hit]) -> Hit:
    return max(found, key=lambda h: h.score)


def evaluate(spec: MatchSpec, hits: dict[str, list[Hit]]) -> tuple[float, list[Hit]] | None:
    """(score, the hits that decided it), or None: no veto, every `all` group, one `any` group,
    the least score; context groups shown too."""
    if any(vetoed(hits, name, group) for name, group in spec.none.items()):
        return None
    required = [usable(hits, name, group) for name, group in spec.all.items()]
    if not all(required):
        return None
    alternatives = [b for name, g in spec.any.items() if (b := usable(hits, name, g))]
    if spec.any and not alternatives:
        return None
    bests = [best(found) for found in required]
    any_bests = [best(found) for found in alternatives]
    top = best(any_bests) if any_bests else None
    scored = [*bests, top] if top else bests
    score = sum(h.score for h in scored) / len(scored) / 100
    if score < spec.min_score:
        return None
    context = [b for name, g in spec.context.items() if (b := usable(hits, name, g))]
    others = [h for h in any_bests if h is not top]
    return score, [*scored, *others, *(best(found) for found in context)]


@dataclass(frozen=True)
class Field:
    name: str
    text: NormalText
    words: list[str]  # folded
    raws: list[str]  # as in the normalised text, curly apostrophes made straight
    spans: list[tuple[int, int]]  # original offsets of each word


def read(name: str, value: str) -> Field:
    tokens = tokenize(value)
    text = NormalText.of(value)
    raws = [raw.replace("’", "'") for raw in WORD.findall(text.norm)]
    assert len(raws) == len(tokens)
    spans = [(t.start, t.end) for t in tokens]
    return Field(name, text, [t.word for t in tokens], raws, spans)


@dataclass(frozen=True)
class Block:
    """A match block with its spellings and regexes spelt out."""

    spec: MatchSpec
    patterns: list[Spelling]
    regexes: list[tuple[re.Pattern[str], str, str]]
    memo: dict[str, list[Spelling]]  # word -> the spellings whose first word it matches

    @classmethod
    def of(cls, spec: MatchSpec) -> Block:
        regexes = [
            (re.compile(t.regex, re.IGNORECASE), group, t.term)
            for _kind, group, g in spec.groups()
            for t in g.terms
            if t.regex
        ]
        return cls(spec, spellings(spec), regexes, {})

    def starting(self, word: str) -> list[Spelling]:
        """The spellings whose first word ``word`` matches, in definition order (memoised: the
        answer depends on the word alone)."""
        if word not in self.memo:
            self.memo[word] = [
                p for p in self.patterns if word_score(p.words[0], p.limits[0], word)
            ]
        return self.memo[word]


def collect(block: Block, fields: list[Field]) -> dict[str, list[Hit]]:
    hits: dict[str, list[Hit]] = {}
    spec, regexes = block.spec, block.regexes
    for field in fields:
        if field.name not in spec.fields:
            continue
        for i, word in enumerate(field.words):
            for p in block.starting(word):
                n = len(p.words)
                if i + n > len(field.words):
                    continue
                pairs = enumerate(zip(p.words, p.limits, strict=True))
                score = min(word_score(w, m, field.words[i + j]) for j, (w, m) in pairs)
                if score <= 0 or (p.cased and list(p.cased) != field.raws[i : i + n]):
                    continue
                hits.setdefault(p.group, []).append(
                    Hit(p.group, p.label, field.name, i, i + n - 1, score)
                )
        norm = field.text.norm
        matches = list(WORD.finditer(norm))
        for regex, group, label in regexes:
            m = regex.search(norm)
            if m and m.end() > m.start():
                first = sum(1 for w in matches if w.end() <= m.start())
                last = max(first, sum(1 for w in matches if w.start() < m.end()) - 1)
                hits.setdefault(group, []).append(
                    Hit(group, label, field.name, first, last, 100.0, m.span())
                )
    return hits


def evidence(hit: Hit, fields: list[Field]) -> Evidence:
    field = next(f for f in fields if f.name == hit.field)
    if hit.span is None:
        start, end = field.spans[hit.first][0], field.spans[hit.last][1]
    else:
        start, end = field.text.span(*hit.span)
    return Evidence(
        group=hit.group,
        term=hit.label,
        field=hit.field,
        text=field.text.original[start:end],
        score=round(hit.score / 100, 3),
        start=start,
        end=end,
    )


class ReferenceMatcher:
    """Same constructor and ``match`` as :class:`monitor.matching.Matcher`, none of its speed."""

    def __init__(self, events: dict[str, TrackedEvent], rules: Sequence[WatchRule]):
        self.events = dict(events)
        self.rules = [r for r in rules if r.enabled]
        self._blocks = {
            id(spec): Block.of(spec)
            for spec in [*(e.match for e in self.events.values()), *(r.match for r in self.rules)]
        }

    def match(self, article: Article) -> MatchResult:
        when = (article.published or article.fetched).astimezone(UTC)
        day = when.date()
        fields = [
            read(n, v) for n, v in zip(FIELDS, (article.title, article.summary), strict=True) if v
        ]
        events = {}
        for event in self.events.values():
            start = datetime.combine(event.date, datetime.min.time(), tzinfo=UTC)
            if not start <= when < start + timedelta(days=event.window_days):
                continue
            if not dated(event.match, day):
                continue
            outcome = evaluate(event.match, collect(self._blocks[id(event.match)], fields))
            if outcome:
                events[event.id] = outcome
        if not events:
            return MatchResult(article.id)
        hits = []
        for rule in self.rules:
            if rule.event not in events or not dated(rule.match, day):
                continue
            if rule.languages and (article.language or "") not in rule.languages:
                continue
            if rule.sources and not any(s in article.source.url for s in rule.sources):
                continue
            outcome = evaluate(rule.match, collect(self._blocks[id(rule.match)], fields))
            if outcome:
                score, decided = outcome
                why = tuple(evidence(h, fields) for h in decided)
                hits.append(RuleHit(rule.id, rule.category, rule.alert_topic, round(score, 3), why))
        top_score, top_hits = max(events.values(), key=lambda o: o[0])
        return MatchResult(
            article.id,
            events=tuple(events),
            event_score=round(top_score, 3),
            event_evidence=tuple(evidence(h, fields) for h in top_hits),
            hits=tuple(hits),
        )


def dated(spec: MatchSpec, day: date) -> bool:
    return (spec.after is None or spec.after <= day) and (spec.before is None or day < spec.before)


def comparable(result: MatchResult) -> tuple[object, ...]:
    """Everything a result says, in a form two results can be compared by."""
    return (
        result.article,
        result.events,
        result.event_score,
        tuple(result.event_evidence),
        result.hits,
    )
