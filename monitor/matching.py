"""Matching articles against tracked events and watch rules. Pure and fast; no I/O.

Text is folded (Unicode NFKD, accents stripped, case-folded, possessives dropped) and cut into word
tokens. Every term of every event and rule is compiled into an index keyed by its first word, so an
article's words look up only the terms they could start; rapidfuzz finds spelling variants among
the indexed words (same first letter, ratio at or above the term's threshold). Cost grows with the
article's distinct words, not with the number of rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from rapidfuzz import fuzz, process

from monitor.models import Article, Evidence
from monitor.rules import MatchSpec, Term, TrackedEvent, WatchRule

DEFAULT_FUZZY = 88
EXACT_BELOW_LENGTH = 5
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_POSSESSIVE = re.compile(r"['’]s$")


def fold(word: str) -> str:
    """One word as the matcher sees it: no accents, no case, no possessive, no apostrophes."""
    word = _POSSESSIVE.sub("", word)
    word = unicodedata.normalize("NFKD", word)
    word = "".join(c for c in word if not unicodedata.combining(c))
    return word.replace("'", "").replace("’", "").casefold()


@dataclass(frozen=True)
class Token:
    word: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Folded word tokens with their character spans in the original text."""
    text = unicodedata.normalize("NFKC", text)
    return [Token(fold(m.group()), m.start(), m.end()) for m in _WORD.finditer(text)]


@dataclass(frozen=True)
class _Pattern:
    """One spelling of one term, as a sequence of folded words."""

    words: tuple[str, ...]
    thresholds: tuple[int, ...]
    spec: str
    kind: str
    group: str
    label: str
    cased: tuple[str, ...] | None = None  # original spelling when the term is case-sensitive

    def word_score(self, index: int, word: str) -> float:
        want = self.words[index]
        if want.endswith("*"):
            return 100.0 if word.startswith(want[:-1]) else 0.0
        if word == want:
            return 100.0
        limit = self.thresholds[index]
        if limit >= 100 or not word or word[0] != want[0]:
            return 0.0
        score = fuzz.ratio(word, want)
        return score if score >= limit else 0.0


def _threshold(word: str, term: Term) -> int:
    if term.fuzzy is not None:
        return term.fuzzy
    return 100 if len(word.rstrip("*")) < EXACT_BELOW_LENGTH else DEFAULT_FUZZY


def _compile(
    spec_id: str, spec: MatchSpec
) -> tuple[list[_Pattern], list[tuple[re.Pattern[str], str, str, str]]]:
    patterns, regexes = [], []
    for kind, group, terms in spec.groups():
        for term in terms:
            if term.regex:
                regexes.append((re.compile(term.regex, re.IGNORECASE), spec_id, kind, group))
            for variant in term.variants:
                words = tuple(t.word for t in tokenize(variant))
                if variant.rstrip().endswith("*") and words:
                    words = (*words[:-1], words[-1] + "*")
                if not words:
                    continue
                thresholds = tuple(_threshold(w, term) for w in words)
                cased = None
                if term.exact_case:
                    thresholds = (100,) * len(words)
                    cased = tuple(m.group() for m in _WORD.finditer(variant))
                patterns.append(_Pattern(words, thresholds, spec_id, kind, group, term.term, cased))
    return patterns, regexes


@dataclass(frozen=True)
class RuleHit:
    """A watch rule that fired, with its score and evidence."""

    rule: str
    category: str
    topic: str
    score: float
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class MatchResult:
    """What the matcher decided for one article."""

    article: str
    events: tuple[str, ...] = ()
    event_score: float = 0.0
    event_evidence: tuple[Evidence, ...] = ()
    hits: tuple[RuleHit, ...] = ()

    @property
    def categories(self) -> list[str]:
        return sorted({h.category for h in self.hits})

    @property
    def matched(self) -> bool:
        return bool(self.hits)

    def to_dict(self) -> dict[str, object]:
        """The dry-run line of ``monitor rules test``."""
        evidence = [*self.event_evidence, *(e for h in self.hits for e in h.evidence)]
        return {
            "id": self.article,
            "event": bool(self.events),
            "categories": self.categories,
            "rules": [h.rule for h in self.hits],
            "score": round(max((h.score for h in self.hits), default=self.event_score), 3),
            "evidence": [e.model_dump() for e in evidence],
        }


@dataclass
class _SpecOutcome:
    ok: bool
    score: float
    evidence: list[Evidence] = field(default_factory=list)


class Matcher:
    """Events and rules compiled into a word index. Build once per rule set; ``match`` is pure."""

    def __init__(self, events: dict[str, TrackedEvent], rules: Sequence[WatchRule]):
        self.events = dict(events)
        self.rules = [r for r in rules if r.enabled]
        self._specs: dict[str, MatchSpec] = {f"event:{e.id}": e.match for e in self.events.values()}
        self._specs.update({f"rule:{r.id}": r.match for r in self.rules})
        self._exact: dict[str, list[_Pattern]] = defaultdict(list)
        self._prefix: list[_Pattern] = []
        self._fuzzy_words: dict[str, list[_Pattern]] = defaultdict(list)
        self._regexes: list[tuple[re.Pattern[str], str, str, str]] = []
        for spec_id, spec in self._specs.items():
            patterns, regexes = _compile(spec_id, spec)
            self._regexes.extend(regexes)
            for pattern in patterns:
                first = pattern.words[0]
                if first.endswith("*"):
                    self._prefix.append(pattern)
                elif pattern.thresholds[0] >= 100:
                    self._exact[first].append(pattern)
                else:
                    self._fuzzy_words[first].append(pattern)
        self._fuzzy_vocab = list(self._fuzzy_words)
        self._min_fuzzy = min(
            (p.thresholds[0] for ps in self._fuzzy_words.values() for p in ps), default=100
        )
        self._candidates = lru_cache(maxsize=65536)(self._candidates_uncached)

    @property
    def size(self) -> int:
        return len(self.rules)

    def _candidates_uncached(self, word: str) -> tuple[_Pattern, ...]:
        found = list(self._exact.get(word, ()))
        found += [p for p in self._prefix if word.startswith(p.words[0][:-1])]
        if len(word) >= EXACT_BELOW_LENGTH - 1 and self._fuzzy_vocab:
            for vocab_word, _score, _ in process.extract(
                word,
                self._fuzzy_vocab,
                scorer=fuzz.ratio,
                score_cutoff=self._min_fuzzy,
                limit=None,
            ):
                found += self._fuzzy_words[vocab_word]
        return tuple(found)

    def _scan(self, field_name: str, text: str) -> Iterable[tuple[_Pattern, Evidence]]:
        text = unicodedata.normalize("NFKC", text)  # spans below index this form
        tokens = tokenize(text)
        for i, token in enumerate(tokens):
            for pattern in self._candidates(token.word):
                n = len(pattern.words)
                if i + n > len(tokens):
                    continue
                scores = [pattern.word_score(j, tokens[i + j].word) for j in range(n)]
                if min(scores) <= 0:
                    continue
                if pattern.cased and any(
                    text[tokens[i + j].start : tokens[i + j].end] != pattern.cased[j]
                    for j in range(n)
                ):
                    continue
                span = text[token.start : tokens[i + n - 1].end]
                yield (
                    pattern,
                    Evidence(
                        group=pattern.group,
                        term=pattern.label,
                        field=field_name,
                        text=span,
                        score=round(min(scores) / 100, 3),
                    ),
                )

    def _hits(self, article: Article) -> dict[tuple[str, str], Evidence]:
        """Best evidence per (spec, group) over both fields."""
        best: dict[tuple[str, str], Evidence] = {}
        fields = {"title": article.title, "summary": article.summary}
        for field_name, text in fields.items():
            for pattern, evidence in self._scan(field_name, text):
                if field_name not in self._specs[pattern.spec].fields:
                    continue
                key = (pattern.spec, pattern.group)
                if key not in best or evidence.score > best[key].score:
                    best[key] = evidence
            if self._regexes:
                folded = unicodedata.normalize("NFKC", text)
                for regex, spec_id, _kind, group in self._regexes:
                    found = regex.search(folded)
                    if found and field_name in self._specs[spec_id].fields:
                        best.setdefault(
                            (spec_id, group),
                            Evidence(
                                group=group,
                                term=regex.pattern,
                                field=field_name,
                                text=found.group(),
                                score=1.0,
                            ),
                        )
        return best

    def _evaluate(self, spec_id: str, hits: dict[tuple[str, str], Evidence]) -> _SpecOutcome:
        spec = self._specs[spec_id]
        got = {group: ev for (sid, group), ev in hits.items() if sid == spec_id}
        if any(group in got for group in spec.none):
            return _SpecOutcome(False, 0.0)
        if not all(group in got for group in spec.all):
            return _SpecOutcome(False, 0.0)
        any_hits = [got[g] for g in spec.any if g in got]
        if spec.any and not any_hits:
            return _SpecOutcome(False, 0.0)
        required = [got[g] for g in spec.all]
        if any_hits:
            required.append(max(any_hits, key=lambda e: e.score))
        score = sum(e.score for e in required) / len(required)
        if score < spec.min_score:
            return _SpecOutcome(False, score)
        context = [got[g] for g in spec.context if g in got]
        return _SpecOutcome(
            True, score, [*required, *(e for e in any_hits if e not in required), *context]
        )

    def _in_window(self, event: TrackedEvent, article: Article) -> bool:
        when = article.published or article.fetched
        start = datetime.combine(event.date, datetime.min.time(), tzinfo=UTC)
        return start <= when.astimezone(UTC) < start + timedelta(days=event.window_days)

    def match(self, article: Article) -> MatchResult:
        hits = self._hits(article)
        if not hits:
            return MatchResult(article.id)
        events: dict[str, _SpecOutcome] = {}
        for event in self.events.values():
            outcome = self._evaluate(f"event:{event.id}", hits)
            if outcome.ok and self._in_window(event, article):
                events[event.id] = outcome
        rule_hits = []
        for rule in self.rules:
            if rule.event not in events or not _passes_filters(rule, article):
                continue
            outcome = self._evaluate(f"rule:{rule.id}", hits)
            if outcome.ok:
                rule_hits.append(
                    RuleHit(
                        rule.id,
                        rule.category,
                        rule.alert_topic,
                        round(outcome.score, 3),
                        tuple(outcome.evidence),
                    )
                )
        best_event = max(events.values(), key=lambda o: o.score, default=None)
        return MatchResult(
            article.id,
            events=tuple(events),
            event_score=round(best_event.score, 3) if best_event else 0.0,
            event_evidence=tuple(best_event.evidence) if best_event else (),
            hits=tuple(rule_hits),
        )


def _passes_filters(rule: WatchRule, article: Article) -> bool:
    if rule.languages and (article.language or "") not in rule.languages:
        return False
    return not rule.sources or any(s in article.source.url for s in rule.sources)
