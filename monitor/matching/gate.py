"""The quick gate: dismiss, in a few C-level set operations, an article no tracked event can match.

An event needs a hit in each of its ``all`` groups and, if it has ``any`` groups, in one of them;
a hit needs a word that can start one of the group's terms. Each such requirement gets a bit; a
word's mask holds the bits of the groups it can start a term of (see
:class:`~monitor.matching.words.WordCache`), and a chunk the bits of its words. The gate looks
at the article's chunks (see :func:`~monitor.matching.text.chunks`): when every chunk is known
and none meets the first requirement of any open event (one set operation per event), or when
the chunks miss some requirement of every open event, no event and so no rule can match. A group
with a regex term can be satisfied by any text, so it adds no requirement.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from monitor.matching.text import chunk_words, chunks
from monitor.matching.words import WORD_CACHE_SIZE, WordCache
from monitor.rules import MatchSpec


def requirements(
    events: Iterable[tuple[str, int, MatchSpec]],
) -> tuple[dict[tuple[int, str], int], dict[str, int]]:
    """For (event id, spec number, match) triples: the bit of each (spec, group) and the bits each
    event needs (0: none the gate can check). Each ``all`` group is one requirement, and the
    ``any`` groups together are one."""
    bits: dict[tuple[int, str], int] = {}
    needs: dict[str, int] = {}
    bit = 1
    for event, index, spec in events:
        with_regex = {name for _kind, name, g in spec.groups() if any(t.regex for t in g.terms)}
        need = 0
        for name in spec.all:
            if name not in with_regex:
                bits[(index, name)] = bit
                need |= bit
                bit <<= 1
        if spec.any and with_regex.isdisjoint(spec.any):
            for name in spec.any:
                bits[(index, name)] = bit
            need |= bit
            bit <<= 1
        needs[event] = need
    return bits, needs


class Gate:
    """Chunks seen so far, filed by the requirements their words can meet, and the check."""

    def __init__(self, needs: dict[str, int], words: WordCache, size: int = WORD_CACHE_SIZE):
        self._needs = needs
        self._words = words
        self._size = size
        self._unchecked = {event for event, need in needs.items() if not need}
        self._need_bits = {event: _bits(need) for event, need in needs.items()}
        self._bits = sorted({bit for bits in self._need_bits.values() for bit in bits})
        self._clear()

    def _clear(self) -> None:
        self._known: set[bytes] = set()
        self._meeting: dict[int, set[bytes]] = {bit: set() for bit in self._bits}
        # Per event, the chunks known not to meet its first requirement: an article made only of
        # those is dismissed with one set operation.
        self._quiet: dict[str, set[bytes]] = {event: set() for event in self._needs}

    def may_match(self, title: str, summary: str, events: Collection[str]) -> bool:
        """False only when none of ``events`` can match an article with this title and summary."""
        if self._unchecked and not self._unchecked.isdisjoint(events):
            return True
        found = chunks(title, summary)
        for event in events:
            if not self._quiet[event].issuperset(found):
                break
        else:
            return False
        if self._meets(found, events):
            return True
        if self._known.issuperset(found):
            return False
        self._learn(found)
        return self._meets(found, events)

    def _meets(self, found: list[bytes], events: Collection[str]) -> bool:
        """Whether the chunks meet every requirement of one of the events."""
        for event in events:
            for bit in self._need_bits[event]:
                if self._meeting[bit].isdisjoint(found):
                    break
            else:
                return True
        return False

    def _learn(self, found: list[bytes]) -> None:
        new = set(found).difference(self._known)
        if len(self._known) + len(new) > self._size:
            self._clear()  # start afresh, but know every chunk of this article
            new = set(found)
        for chunk in new:
            raws = chunk_words(chunk)
            self._words.learn(raws)
            mask = 0
            for raw in raws:
                mask |= self._words.masks.get(raw, 0)
            self._known.add(chunk)
            for bit in _bits(mask):
                self._meeting[bit].add(chunk)
            for event, need in self._needs.items():
                if not mask & need & -need:  # the lowest bit of need: its first requirement
                    self._quiet[event].add(chunk)


def _bits(mask: int) -> list[int]:
    """The single bits of a mask, lowest first."""
    return [1 << n for n in range(mask.bit_length()) if mask >> n & 1]
