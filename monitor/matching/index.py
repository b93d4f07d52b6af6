"""The term index: every spelling of every term of every event and rule, found from one word.

Each spelling of a term becomes a :class:`Pattern`: a sequence of folded words, each with the
least score a word of the text needs there (exact, ``word*`` prefix, or a rapidfuzz ``ratio`` for
spelling variants). A :class:`WordIndex` finds, for one folded word of a text, every wanted word
it matches and how well: exact words in a dict, prefixes by their first ``PREFIX_HEAD`` letters,
and the words that allow variants by their first letter, so a word meets only the vocabulary it
could be a variant of (and "putting" is not "Putin"). :class:`TermIndex` holds two: the patterns'
first words, and the words that follow them (as numbered slots), so that a phrase is checked
with dict lookups once each word of the text has been looked up.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from rapidfuzz import fuzz, process

from monitor.matching.text import plain, tokenize, words
from monitor.rules import MatchSpec, Term

# Least rapidfuzz ratio for a spelling variant, unless a term says otherwise: words under five
# letters must match exactly; five to seven letters allow one inserted or dropped letter but not
# "crime" for "Crimea" or "back" for "Black"; longer words allow a transposition ("Zelenksyy").
EXACT_BELOW_LENGTH = 5
LONG_WORD = 8
SHORT_FUZZY = 92
DEFAULT_FUZZY = 88
PREFIX_HEAD = 3

# A match runs in phases, each trying only its patterns at the article's words: the tracked
# events' patterns; once an event matched, the rules' required (`all`/`any`) groups; and only for
# rules with a hit there, their `none` and `context` groups.
EVENTS, REQUIRED, OTHERS = 0, 1, 2
PHASES = 3

Slot = tuple[str, int]  # a wanted word (``word*`` for a prefix) and its least score
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Pattern:
    """One spelling of one term, as a sequence of folded words."""

    words: tuple[str, ...]
    thresholds: tuple[int, ...]
    follow: tuple[int, ...]  # the slot numbers of words[1:] (see TermIndex.follows)
    spec: int
    group: str
    label: str
    fields: frozenset[str]
    order: int  # where it was defined among all patterns: hits at one word come in this order
    every: bool  # keep every hit of its group (proximity needs them), not only the best
    phase: int  # EVENTS, REQUIRED or OTHERS
    cased: tuple[str, ...] | None = None  # original spelling when the term is case-sensitive
    key: tuple[int, str] = field(init=False)  # (spec, group): where its hits are collected

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.spec, self.group))


def phase_of(kind: str, *, event: bool) -> int:
    """The phase in which the patterns of a group of this kind are tried."""
    return EVENTS if event else REQUIRED if kind in ("all", "any") else OTHERS


def _threshold(word: str, term: Term) -> int:
    if term.fuzzy is not None:
        return term.fuzzy
    length = len(word.rstrip("*"))
    if length < EXACT_BELOW_LENGTH:
        return 100
    return SHORT_FUZZY if length < LONG_WORD else DEFAULT_FUZZY


def _anchors(spec: MatchSpec) -> set[str]:
    """Groups whose every hit counts: those with ``near``, and those another group is near."""
    found = set()
    for _kind, name, group in spec.groups():
        if group.near is not None:
            found |= {name, group.near, *([group.unless] if group.unless else [])}
    return found


def patterns(
    spec_index: int,
    spec: MatchSpec,
    slots: dict[Slot, int],
    *,
    event: bool,
    first_order: int = 0,
) -> list[Pattern]:
    """Every spelling of every term of one match block (an event's if ``event``), numbered from
    ``first_order``. The words after the first are numbered in ``slots``, which grows with words
    not seen before."""
    found: list[Pattern] = []
    anchors = _anchors(spec)
    for kind, group, g in spec.groups():
        for term in g.terms:
            for variant in term.variants:
                spelling = _spelling(variant, term)
                if spelling is None:
                    continue
                folded, thresholds, cased = spelling
                follow = tuple(
                    slots.setdefault(slot, len(slots))
                    for slot in zip(folded[1:], thresholds[1:], strict=True)
                )
                found.append(
                    Pattern(
                        folded,
                        thresholds,
                        follow,
                        spec_index,
                        group,
                        term.term,
                        frozenset(spec.fields),
                        first_order + len(found),
                        group in anchors,
                        phase_of(kind, event=event),
                        cased,
                    )
                )
    return found


def _spelling(
    variant: str, term: Term
) -> tuple[tuple[str, ...], tuple[int, ...], tuple[str, ...] | None] | None:
    """One spelling's folded words, their thresholds and, for an exact-case term, its words as
    written; None if it holds no word."""
    folded = tuple(t.word for t in tokenize(variant))
    if not folded:
        return None
    if variant.rstrip().endswith("*"):
        folded = (*folded[:-1], folded[-1] + "*")
    if term.exact_case:
        cased = tuple(words(plain(unicodedata.normalize("NFKC", variant))))
        return folded, (100,) * len(folded), cased
    return folded, tuple(_threshold(w, term) for w in folded), None


class WordIndex(Generic[T]):
    """Wanted words (exact, prefix or with variants), each with an item; finds the items a word
    of the text matches, with its score."""

    def __init__(self, wanted: Iterable[tuple[Slot, T]]):
        self._exact: dict[str, list[T]] = defaultdict(list)
        self._fuzzy: dict[str, list[tuple[int, T]]] = defaultdict(list)
        # Prefixes by their first PREFIX_HEAD letters; the few shorter ones apart.
        self._heads: dict[str, list[tuple[str, T]]] = defaultdict(list)
        self._short: list[tuple[str, T]] = []
        for (word, threshold), item in wanted:
            if word.endswith("*"):
                stem = word[:-1]
                if len(stem) < PREFIX_HEAD:
                    self._short.append((stem, item))
                else:
                    self._heads[stem[:PREFIX_HEAD]].append((stem, item))
            elif threshold >= 100:
                self._exact[word].append(item)
            else:
                self._fuzzy[word].append((threshold, item))
        # Variants must share the first letter, so each word meets only its letter's vocabulary.
        self._vocab: dict[str, list[str]] = defaultdict(list)
        for vocab_word in self._fuzzy:
            self._vocab[vocab_word[0]].append(vocab_word)
        self._min_fuzzy = min(
            (threshold for items in self._fuzzy.values() for threshold, _ in items), default=100
        )

    def lookup(self, word: str) -> list[tuple[T, float]]:
        found = [(item, 100.0) for item in self._exact.get(word, ())]
        for stem, item in self._heads.get(word[:PREFIX_HEAD], ()):
            if word.startswith(stem):
                found.append((item, 100.0))
        for stem, item in self._short:
            if word.startswith(stem):
                found.append((item, 100.0))
        vocab = self._vocab.get(word[:1])
        if vocab:
            for vocab_word, score, _ in process.extract(
                word, vocab, scorer=fuzz.ratio, score_cutoff=self._min_fuzzy, limit=None
            ):
                for threshold, item in self._fuzzy[vocab_word]:
                    if score >= threshold:
                        found.append((item, score))
        return found


class TermIndex:
    """What a word can start (patterns, in definition order) and what it can continue (slots)."""

    def __init__(self, every: list[Pattern], slots: dict[Slot, int]):
        self._first = WordIndex(((p.words[0], p.thresholds[0]), p) for p in every)
        self._next = WordIndex(slots.items())

    def starts(self, word: str) -> list[tuple[Pattern, float]]:
        """The patterns whose first word ``word`` matches, with its score, in definition order."""
        found = self._first.lookup(word)
        found.sort(key=lambda start: start[0].order)
        return found

    def follows(self, word: str) -> dict[int, float]:
        """The slots (later words of patterns) that ``word`` matches, with its score."""
        return dict(self._next.lookup(word))
