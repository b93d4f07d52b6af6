"""What each word seen so far can start: a cache in front of the term index.

News vocabulary repeats, so a raw word (as it stands in the normalised text, case and all) is
folded and looked up in the :class:`~monitor.matching.index.TermIndex` once. The cache keeps,
in one entry per word, the later words of patterns it can stand for (``follows``, by slot
number) and, for each field and each phase (see :data:`~monitor.matching.index.PHASES`), the
patterns it can start there, already filtered by the patterns' fields and exact case; an article
costs one dict lookup per word. It also keeps a bit mask of the event groups the word can start
a term of, which the quick gate (:mod:`monitor.matching.gate`) reads.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import NamedTuple

from monitor.matching.index import PHASES, Pattern, TermIndex
from monitor.matching.text import fold

FIELDS = ("title", "summary")
WORD_CACHE_SIZE = 200_000  # distinct raw words remembered before the cache starts afresh

Starts = tuple[tuple[Pattern, float], ...]  # patterns a word starts, with its score


class Word(NamedTuple):
    """What one raw word can do: continue patterns (slot -> score) and start them (per field
    and phase, at ``field * PHASES + phase``)."""

    follows: dict[int, float]
    starts: tuple[Starts, ...]


_NO_STARTS: tuple[Starts, ...] = ((),) * (len(FIELDS) * PHASES)
_NOTHING = Word({}, _NO_STARTS)  # shared by the many words that do neither


class WordCache:
    """Raw word -> :class:`Word`, and the gate mask of the words that have one."""

    def __init__(
        self,
        index: TermIndex,
        bits: Mapping[tuple[int, str], int],
        size: int = WORD_CACHE_SIZE,
    ):
        self._index = index
        self._bits = bits  # (spec, group) -> the gate's bit for it
        self._size = size
        self.clear()

    def clear(self) -> None:
        self.known: dict[str, Word] = {}
        self.masks: dict[str, int] = {}  # words whose gate mask is not 0

    def lookup(self, raws: list[str]) -> list[Word]:
        """The words' entries, learning those not seen before."""
        found = list(map(self.known.get, raws))
        if None in found:
            self.learn(raws)
            found = list(map(self.known.get, raws))
        return found  # type: ignore[return-value]  # learn() leaves no word unknown

    def learn(self, raws: Collection[str]) -> None:
        """Learn the words not seen before. Every one of ``raws`` is known afterwards, even when
        the cache was full and started afresh."""
        known = self.known
        if all(map(known.__contains__, raws)):
            return
        new = set(raws).difference(known)
        if len(known) + len(new) > self._size:
            self.clear()
            new = set(raws)
        for raw in new:
            self._add(raw)

    def _add(self, raw: str) -> None:
        word = fold(raw)
        follows = self._index.follows(word)
        found = self._index.starts(word)
        mask = 0
        for pattern, _score in found:
            mask |= self._bits.get(pattern.key, 0)
        if mask:
            self.masks[raw] = mask
        if not found:
            self.known[raw] = Word(follows, _NO_STARTS) if follows else _NOTHING
            return
        starts = tuple(
            tuple(
                (pattern, score)
                for pattern, score in found
                if name in pattern.fields
                and pattern.phase == phase
                and (pattern.cased is None or pattern.cased[0] == raw)
            )
            for name in FIELDS
            for phase in range(PHASES)
        )
        if not any(starts):  # only in fields or capitalisations its patterns do not accept
            starts = _NO_STARTS
        self.known[raw] = Word(follows, starts) if starts or follows else _NOTHING
