"""Matching articles against tracked events and watch rules. Pure and fast; no I/O.

Text is NFKC-normalised and cut into words; each distinct word is folded once (accents stripped,
case-folded, possessives and apostrophes dropped) and looked up in an index of the first words of
every term of every event and rule: exact words in a dict, ``word*`` prefixes, and spelling
variants found by rapidfuzz (same first letter, ratio at or above the term's threshold, so
"putting" is not "Putin"). What a word can start is computed once and cached, so an article costs
a few set operations over its distinct words until one of them can start a term of the tracked
event; only then are its words walked, and only the rules that got a hit are evaluated. Cost grows
with the article's words and the hits it gets, not with the number of rules.

Groups may ask for proximity (``near``/``within``) and vetoes may be lifted (``unless``); see
:mod:`monitor.rules`. Every hit keeps its field, token positions and character offsets in the
original text, which become the :class:`~monitor.models.Evidence` of a match.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple, overload

from rapidfuzz import fuzz, process

from monitor.models import Article, Evidence
from monitor.rules import Group, MatchSpec, Term, TrackedEvent, WatchRule

# Least rapidfuzz ratio for a spelling variant, unless a term says otherwise: words under five
# letters must match exactly; five to seven letters allow one inserted or dropped letter but not
# "crime" for "Crimea" or "back" for "Black"; longer words allow a transposition ("Zelenksyy").
EXACT_BELOW_LENGTH = 5
LONG_WORD = 8
SHORT_FUZZY = 92
DEFAULT_FUZZY = 88
PREFIX_HEAD = 3
WORD_CACHE_SIZE = 200_000  # distinct raw words remembered before the cache starts afresh
FIELDS = ("title", "summary")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_POSSESSIVE = re.compile(r"['’]s$")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
# The quick look at an article: UTF-8 bytes, ASCII lowered, ASCII separators (never inside a
# word: everything but letters, digits and the apostrophe) turned into spaces, then split. Each
# chunk holds whole words of the real tokenizer, so a chunk's words tell what it can start.
_CHUNK_TABLE = bytes(
    c + 32 if 65 <= c <= 90 else c if c >= 128 or c == 39 or chr(c).isalnum() else 32
    for c in range(256)
)


def fold(word: str) -> str:
    """One word as the matcher sees it: no accents, no case, no possessive, no apostrophes."""
    word = _POSSESSIVE.sub("", word)
    if not word.isascii():
        word = unicodedata.normalize("NFKD", word)
        word = "".join(c for c in word if not unicodedata.combining(c))
        word = word.replace("’", "")
    return word.replace("'", "").casefold()


@dataclass(frozen=True)
class Token:
    """A folded word and its character span in the original text."""

    word: str
    start: int
    end: int


@dataclass(frozen=True)
class _Text:
    """A field's text in NFKC form, with the way back to the original's character offsets."""

    original: str
    norm: str
    starts: tuple[int, ...] | None = None  # per normalised char: its original segment's start
    ends: tuple[int, ...] | None = None

    @classmethod
    def of(cls, text: str) -> _Text:
        if unicodedata.is_normalized("NFKC", text):
            return cls(text, text)
        # ASCII runs are already normal; normalise each other character with its combining marks
        # (and the base character before them), so every offset maps back exactly.
        pieces: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        done = 0
        for run in _NON_ASCII.finditer(text):
            begin = run.start()
            if begin > done and unicodedata.combining(text[begin]):
                begin -= 1
            pieces.append(text[done:begin])
            starts.extend(range(done, begin))
            ends.extend(range(done + 1, begin + 1))
            segment = begin
            for i in range(begin + 1, run.end() + 1):
                if i == run.end() or not unicodedata.combining(text[i]):
                    piece = unicodedata.normalize("NFKC", text[segment:i])
                    pieces.append(piece)
                    starts.extend([segment] * len(piece))
                    ends.extend([i] * len(piece))
                    segment = i
            done = run.end()
        pieces.append(text[done:])
        starts.extend(range(done, len(text)))
        ends.extend(range(done + 1, len(text) + 1))
        return cls(text, "".join(pieces), tuple(starts), tuple(ends))

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original offsets of the normalised span [start, end)."""
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


def tokenize(text: str) -> list[Token]:
    """Folded word tokens with their character spans in the original text."""
    prepared = _Text.of(text)
    tokens = []
    for m in _WORD.finditer(prepared.norm):
        start, end = prepared.span(m.start(), m.end())
        tokens.append(Token(fold(m.group()), start, end))
    return tokens


@dataclass(frozen=True, slots=True)
class _Pattern:
    """One spelling of one term, as a sequence of folded words."""

    words: tuple[str, ...]
    thresholds: tuple[int, ...]
    spec: int
    group: str
    label: str
    fields: frozenset[str]
    cased: tuple[str, ...] | None = None  # original spelling when the term is case-sensitive
    next_word: str = ""  # the second word, when it must match exactly (a quick first check)

    @classmethod
    def of(
        cls,
        words: tuple[str, ...],
        thresholds: tuple[int, ...],
        spec: int,
        group: str,
        label: str,
        fields: frozenset[str],
        cased: tuple[str, ...] | None,
    ) -> _Pattern:
        exact_next = len(words) > 1 and thresholds[1] >= 100 and not words[1].endswith("*")
        next_word = words[1] if exact_next else ""
        return cls(words, thresholds, spec, group, label, fields, cased, next_word)

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


class _Hit(NamedTuple):
    """Where one pattern matched: field, token positions and score. Character offsets are worked
    out only for the hits that become evidence (see :class:`_Field`)."""

    group: str
    label: str
    field: str
    first: int
    last: int
    score: float
    span: tuple[int, int] | None = None  # offsets in the normalised text, for regex hits

    def near(self, other: _Hit, within: int) -> bool:
        if self.field != other.field:
            return False
        if self.last < other.first:
            return other.first - self.last <= within
        if other.last < self.first:
            return self.first - other.last <= within
        return True

    def overlaps(self, other: _Hit) -> bool:
        return self.field == other.field and self.first <= other.last and other.first <= self.last


@dataclass(frozen=True)
class _Field:
    """One field of the article being matched: its text and its raw tokens."""

    text: _Text
    raws: list[str]

    def offset(self, index: int) -> int:
        """Where token ``index`` starts in the normalised text."""
        raw = self.raws[index]
        nth = self.raws[:index].count(raw)
        for number, found in enumerate(_locator(raw).finditer(self.text.norm)):
            if number == nth:
                return found.start()
        raise ValueError(f"token {index} ({raw!r}) is not in its own text")  # cannot happen

    def evidence(self, hit: _Hit) -> Evidence:
        if hit.span is None:
            last = self.raws[hit.last]
            span = (self.offset(hit.first), self.offset(hit.last) + len(last))
        else:
            span = hit.span
        start, end = self.text.span(*span)
        return Evidence(
            group=hit.group,
            term=hit.label,
            field=hit.field,
            text=self.text.original[start:end],
            score=round(hit.score / 100, 3),
            start=start,
            end=end,
        )


@dataclass(frozen=True)
class _Spec:
    """One event's or rule's match block, compiled."""

    key: str
    match: MatchSpec
    fields: frozenset[str]
    regexes: tuple[tuple[re.Pattern[str], str, str], ...]  # (regex, group, label)
    is_event: bool

    @property
    def required(self) -> frozenset[str]:
        """Its `all` and `any` groups: without a hit in one of them it cannot match."""
        return frozenset([*self.match.all, *self.match.any])


def _threshold(word: str, term: Term) -> int:
    if term.fuzzy is not None:
        return term.fuzzy
    length = len(word.rstrip("*"))
    if length < EXACT_BELOW_LENGTH:
        return 100
    return SHORT_FUZZY if length < LONG_WORD else DEFAULT_FUZZY


def _patterns(spec_index: int, spec: MatchSpec) -> list[_Pattern]:
    patterns = []
    for _kind, group, g in spec.groups():
        for term in g.terms:
            for variant in term.variants:
                words = tuple(t.word for t in tokenize(variant))
                if not words:
                    continue
                if variant.rstrip().endswith("*"):
                    words = (*words[:-1], words[-1] + "*")
                thresholds = tuple(_threshold(w, term) for w in words)
                cased = None
                if term.exact_case:
                    thresholds = (100,) * len(words)
                    cased = tuple(_WORD.findall(unicodedata.normalize("NFKC", variant)))
                fields = frozenset(spec.fields)
                patterns.append(
                    _Pattern.of(words, thresholds, spec_index, group, term.term, fields, cased)
                )
    return patterns


def _regexes(spec: MatchSpec) -> tuple[tuple[re.Pattern[str], str, str], ...]:
    return tuple(
        (re.compile(term.regex, re.IGNORECASE), group, term.term)
        for _kind, group, g in spec.groups()
        for term in g.terms
        if term.regex
    )


@dataclass(frozen=True)
class RuleHit:
    """A watch rule that fired, with its score and evidence."""

    rule: str
    category: str
    topic: str
    score: float
    evidence: tuple[Evidence, ...]


class _LazyEvidence(Sequence[Evidence]):
    """The event's evidence, built on first use: most event matches fire no rule and are never
    shown, so their evidence need not be built."""

    def __init__(self, hits: tuple[_Hit, ...], fields: dict[str, _Field]):
        self._hits: tuple[_Hit, ...] | None = hits
        self._fields = fields
        self._built: tuple[Evidence, ...] = ()

    def _items(self) -> tuple[Evidence, ...]:
        if self._hits is not None:
            self._built = tuple(self._fields[h.field].evidence(h) for h in self._hits)
            self._hits = None
        return self._built

    @overload
    def __getitem__(self, index: int) -> Evidence: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Evidence, ...]: ...
    def __getitem__(self, index: int | slice) -> Evidence | tuple[Evidence, ...]:
        return self._items()[index]

    def __len__(self) -> int:
        return len(self._hits) if self._hits is not None else len(self._built)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash(self._items())

    def __repr__(self) -> str:
        return repr(self._items())


@dataclass(frozen=True)
class MatchResult:
    """What the matcher decided for one article."""

    article: str
    events: tuple[str, ...] = ()
    event_score: float = 0.0
    event_evidence: Sequence[Evidence] = ()
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


@dataclass(frozen=True)
class _Outcome:
    score: float
    evidence: tuple[_Hit, ...]


Hits = dict[str, list[_Hit]]  # group name -> hits, for one spec


def _usable(hits: Hits, name: str, group: Group) -> list[_Hit]:
    """A group's hits, keeping only those near its ``near`` group's hits when it has one."""
    found = hits.get(name, [])
    if group.near is None or not found:
        return found
    anchors = hits.get(group.near, [])
    return [h for h in found if any(h.near(a, group.within) for a in anchors)]


def _vetoed(hits: Hits, name: str, group: Group) -> bool:
    found = hits.get(name)
    if not found:
        return False
    if group.near is None:
        return True
    spared = hits.get(group.unless, []) if group.unless else []
    for veto in found:
        for anchor in hits.get(group.near, []):
            if not veto.near(anchor, group.within):
                continue
            # A veto right beside the hit names what it is about ("Gaza ceasefire") unless the
            # sparing term is as close; further off, any sparing term as near lifts it ("threatens
            # Russia and Iran with sanctions").
            reach = group.within if not veto.near(anchor, 1) else 1
            if not any(s.near(anchor, reach) and not s.overlaps(veto) for s in spared):
                return True
    return False


def _evaluate(spec: MatchSpec, hits: Hits) -> _Outcome | None:
    """The spec's outcome on one article's hits, or None when it does not match."""
    for name, group in spec.none.items():
        if _vetoed(hits, name, group):
            return None
    required: list[_Hit] = []
    for name, group in spec.all.items():
        found = _usable(hits, name, group)
        if not found:
            return None
        required.append(max(found, key=_by_score))
    any_hits = [
        max(found, key=_by_score)
        for name, group in spec.any.items()
        if (found := _usable(hits, name, group))
    ]
    if spec.any and not any_hits:
        return None
    best_any = max(any_hits, key=_by_score) if any_hits else None
    scored = [*required, best_any] if best_any else required
    score = sum(h.score for h in scored) / len(scored) / 100
    if score < spec.min_score:
        return None
    context = [
        max(found, key=_by_score)
        for name, group in spec.context.items()
        if (found := _usable(hits, name, group))
    ]
    others = [h for h in any_hits if h is not best_any]
    return _Outcome(score, (*scored, *others, *context))


def _by_score(hit: _Hit) -> float:
    return hit.score


class Matcher:
    """Events and rules compiled into a word index. Build once per rule set; ``match`` is pure
    (the only state it touches is a cache of what each word can start)."""

    def __init__(self, events: dict[str, TrackedEvent], rules: Sequence[WatchRule]):
        self.events = dict(events)
        self.rules = [r for r in rules if r.enabled]
        specs = [(f"event:{e.id}", e.match, True) for e in self.events.values()]
        specs += [(f"rule:{r.id}", r.match, False) for r in self.rules]
        self._specs = [
            _Spec(key, spec, frozenset(spec.fields), _regexes(spec), is_event)
            for key, spec, is_event in specs
        ]
        self._required = [spec.required for spec in self._specs]
        self._event_specs = list(range(len(self.events)))
        self._rule_of_spec = {len(self.events) + i: r for i, r in enumerate(self.rules)}
        self._exact: dict[str, list[_Pattern]] = defaultdict(list)
        self._prefix: list[_Pattern] = []
        self._fuzzy_words: dict[str, list[_Pattern]] = defaultdict(list)
        for index, spec in enumerate(self._specs):
            for pattern in _patterns(index, spec.match):
                first = pattern.words[0]
                if first.endswith("*"):
                    self._prefix.append(pattern)
                elif pattern.thresholds[0] >= 100:
                    self._exact[first].append(pattern)
                else:
                    self._fuzzy_words[first].append(pattern)
        # Variants must share the first letter, so each word meets only its letter's vocabulary;
        # prefixes are looked up by their first PREFIX_HEAD letters.
        self._fuzzy_vocab: dict[str, list[str]] = defaultdict(list)
        for vocab_word in self._fuzzy_words:
            self._fuzzy_vocab[vocab_word[0]].append(vocab_word)
        self._prefix_heads: dict[str, list[tuple[str, _Pattern]]] = defaultdict(list)
        for pattern in self._prefix:
            stem = pattern.words[0][:-1]
            self._prefix_heads[stem[:PREFIX_HEAD]].append((stem, pattern))
        self._min_fuzzy = min(
            (p.thresholds[0] for ps in self._fuzzy_words.values() for p in ps), default=100
        )
        # (spec, group) pairs without which an event cannot match: its first `all` group (each
        # is required), else every `any` group.
        self._triggers = {
            (i, name)
            for i in self._event_specs
            for name in (list(self._specs[i].match.all)[:1] or list(self._specs[i].match.any))
        }
        # Without a word that can start an event term, no event and so no rule can match; a
        # regex in an event's required groups can match anything, so it turns that shortcut off.
        self._always_scan = (
            any(self._specs[i].regexes for i in self._event_specs) or not self._event_specs
        )
        self._regex_specs = [i for i, s in enumerate(self._specs) if s.regexes]
        self._windows = [
            (event, start, start + timedelta(days=event.window_days))
            for event in self.events.values()
            if (start := datetime.combine(event.date, datetime.min.time(), tzinfo=UTC))
        ]
        self._reset_cache()

    @property
    def size(self) -> int:
        return len(self.rules)

    def _reset_cache(self) -> None:
        # raw word -> (folded word, ((pattern, score of its first word), ...))
        self._words: dict[str, tuple[str, tuple[tuple[_Pattern, float], ...]]] = {}
        self._live: set[str] = set()  # raw words that can start some term
        self._gate: set[str] = set()  # raw words that can start a term the event requires
        self._chunks: set[bytes] = set()  # chunks seen (see _CHUNK_TABLE)
        self._gate_chunks: set[bytes] = set()  # chunks holding a word in _gate

    def _learn_chunks(self, chunks: set[bytes]) -> None:
        """Learn the chunks of one article not seen before (all of them if the cache is full)."""
        new = chunks.difference(self._chunks)
        if not new:
            return
        if max(len(self._chunks), len(self._words)) + len(new) > WORD_CACHE_SIZE:
            self._reset_cache()
            new = chunks
        for chunk in new:
            raws = set(_WORD.findall(_Text.of(chunk.decode("utf-8", "replace")).norm))
            self._learn(raws, may_reset=False)
            self._chunks.add(chunk)
            if not self._gate.isdisjoint(raws):
                self._gate_chunks.add(chunk)

    def _learn(self, raws: set[str], *, may_reset: bool = True) -> None:
        """Learn what the words of one article not seen before can start (all of them, if the
        cache is full: every word of the article being matched must stay known)."""
        new = raws.difference(self._words)
        if not new:
            return
        if may_reset and len(self._words) + len(new) > WORD_CACHE_SIZE:
            self._reset_cache()
            new = raws
        for raw in new:
            word = fold(raw)
            found = [(p, 100.0) for p in self._exact.get(word, ())]
            for length in range(min(PREFIX_HEAD, len(word)) + 1):
                for stem, pattern in self._prefix_heads.get(word[:length], ()):
                    if word.startswith(stem):
                        found.append((pattern, 100.0))
            vocab = self._fuzzy_vocab.get(word[:1])
            if len(word) >= EXACT_BELOW_LENGTH - 1 and vocab:
                for vocab_word, _score, _ in process.extract(
                    word,
                    vocab,
                    scorer=fuzz.ratio,
                    score_cutoff=self._min_fuzzy,
                    limit=None,
                ):
                    for pattern in self._fuzzy_words[vocab_word]:
                        score = pattern.word_score(0, word)
                        if score > 0:
                            found.append((pattern, score))
            self._words[raw] = (word, tuple(found))
            if found:
                self._live.add(raw)
            if any((p.spec, p.group) in self._triggers for p, _s in found):
                self._gate.add(raw)

    def _scan(self, field_name: str, text: _Text, hits: dict[int, Hits]) -> _Field:
        raws = _WORD.findall(text.norm)
        self._learn(set(raws))
        info, live = self._words, self._live
        count = len(raws)
        for i in [i for i, raw in enumerate(raws) if raw in live]:
            for pattern, score in info[raws[i]][1]:
                n = len(pattern.words)
                if n > 1:
                    if i + n > count or (
                        pattern.next_word and info[raws[i + 1]][0] != pattern.next_word
                    ):
                        continue
                    for j in range(1, n):
                        score = min(score, pattern.word_score(j, info[raws[i + j]][0]))
                        if score <= 0:
                            break
                    if score <= 0:
                        continue
                if field_name not in pattern.fields:
                    continue
                if pattern.cased and any(
                    raws[i + j] != pattern.cased[j] for j in range(min(n, len(pattern.cased)))
                ):
                    continue
                hit = _Hit(pattern.group, pattern.label, field_name, i, i + n - 1, score)
                hits.setdefault(pattern.spec, {}).setdefault(pattern.group, []).append(hit)
        if self._regex_specs:
            self._search(field_name, text, hits)
        return _Field(text, raws)

    def _search(self, field_name: str, text: _Text, hits: dict[int, Hits]) -> None:
        matches = list(_WORD.finditer(text.norm))
        for index in self._regex_specs:
            spec = self._specs[index]
            if field_name not in spec.fields:
                continue
            for regex, group, label in spec.regexes:
                found = regex.search(text.norm)
                if not found or found.end() == found.start():
                    continue
                first = sum(1 for m in matches if m.end() <= found.start())
                last = max(first, sum(1 for m in matches if m.start() < found.end()) - 1)
                hit = _Hit(group, label, field_name, first, last, 100.0, found.span())
                hits.setdefault(index, {}).setdefault(group, []).append(hit)

    def match(self, article: Article) -> MatchResult:
        when = (article.published or article.fetched).astimezone(UTC)
        open_events = {e.id for e, start, end in self._windows if start <= when < end}
        if not open_events:
            return MatchResult(article.id)
        if not self._always_scan:
            quick = f"{article.title}\n{article.summary}".encode().translate(_CHUNK_TABLE)
            chunks = set(quick.split())
            self._learn_chunks(chunks)
            if self._gate_chunks.isdisjoint(chunks):
                return MatchResult(article.id)
        hits: dict[int, Hits] = {}
        fields = {
            name: self._scan(name, _Text.of(value), hits)
            for name, value in ((FIELDS[0], article.title), (FIELDS[1], article.summary))
            if value
        }
        return self._decide(article, when, open_events, hits, fields)

    def _decide(
        self,
        article: Article,
        when: datetime,
        open_events: set[str],
        hits: dict[int, Hits],
        fields: dict[str, _Field],
    ) -> MatchResult:
        events: dict[str, _Outcome] = {}
        for index, event in zip(self._event_specs, self.events.values(), strict=True):
            spec = self._specs[index].match
            if event.id in open_events and _dated(spec, when.date()):
                outcome = _evaluate(spec, hits.get(index, {}))
                if outcome:
                    events[event.id] = outcome
        if not events:
            return MatchResult(article.id)
        rule_hits = []
        for index in sorted(hits):
            rule = self._rule_of_spec.get(index)
            if rule is None or self._required[index].isdisjoint(hits[index]):
                continue
            if rule.event not in events or not _passes_filters(rule, article):
                continue
            if not _dated(rule.match, when.date()):
                continue
            outcome = _evaluate(rule.match, hits[index])
            if outcome:
                rule_hits.append(
                    RuleHit(
                        rule.id,
                        rule.category,
                        rule.alert_topic,
                        round(outcome.score, 3),
                        tuple(fields[h.field].evidence(h) for h in outcome.evidence),
                    )
                )
        best = max(events.values(), key=lambda o: o.score)
        return MatchResult(
            article.id,
            events=tuple(events),
            event_score=round(best.score, 3),
            event_evidence=_LazyEvidence(best.evidence, fields),
            hits=tuple(rule_hits),
        )


@lru_cache(maxsize=4096)
def _locator(word: str) -> re.Pattern[str]:
    """A regex finding ``word`` only where it stands as a whole token of ``_WORD``: no letter or
    digit (or apostrophe joined to one) right before or after it."""
    return re.compile(rf"(?<![^\W_])(?<![^\W_]['’]){re.escape(word)}(?![^\W_])(?!['’][^\W_])")


def _dated(spec: MatchSpec, day: date) -> bool:
    return (spec.after is None or spec.after <= day) and (spec.before is None or day < spec.before)


def _passes_filters(rule: WatchRule, article: Article) -> bool:
    if rule.languages and (article.language or "") not in rule.languages:
        return False
    return not rule.sources or any(s in article.source.url for s in rule.sources)
