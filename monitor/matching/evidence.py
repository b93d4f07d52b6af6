"""Evidence: which term matched which text, in which field, where and how well.

Hits hold token positions only; the character offsets in the original field are worked out for
the hits that decided a match, when their evidence is built. The event's evidence is built on
first use (:class:`LazyEvidence`): most articles that follow the event fire no rule and are never
shown.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import compress, count
from operator import attrgetter, itemgetter
from typing import overload

from monitor.matching.hits import Hit
from monitor.matching.index import PHASES
from monitor.matching.text import NormalText
from monitor.matching.words import FIELDS, Word
from monitor.models import Evidence

_STARTS = attrgetter("starts")
_COLUMNS = [itemgetter(column) for column in range(len(FIELDS) * PHASES)]


class FieldWords:
    """One field of the article being matched: its number in ``FIELDS``, its text, its raw words,
    and per word what the word cache knows (its entry, and the patterns it starts)."""

    __slots__ = ("_offsets", "entries", "number", "raws", "starts", "text")

    def __init__(self, number: int, text: NormalText, raws: list[str], entries: list[Word]):
        self.number = number
        self.text = text
        self.raws = raws
        self.entries = entries
        self.starts = list(map(_STARTS, entries))
        self._offsets: list[int] = []  # where the first words start, worked out when needed

    def positions(self, column: int) -> list[int]:
        """The positions of the words that start a pattern in one column (field and phase)."""
        return list(compress(count(), map(_COLUMNS[column], self.starts)))

    def offset(self, index: int) -> int:
        """Where word ``index`` starts in the normalised text. The words are the (plain) text's
        runs of ``WORD`` in order, with no word character between them, so each is the first
        occurrence of its raw text after the end of the one before."""
        offsets = self._offsets
        if index >= len(offsets):
            text, raws = self.text.plain, self.raws
            done = len(offsets)
            at = offsets[-1] + len(raws[done - 1]) if offsets else 0
            for raw in raws[done : index + 1]:
                at = text.find(raw, at)
                offsets.append(at)
                at += len(raw)
        return offsets[index]

    def evidence(self, hit: Hit) -> Evidence:
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


def evidence_of(hits: Sequence[Hit], fields: dict[str, FieldWords]) -> tuple[Evidence, ...]:
    return tuple(fields[h.field].evidence(h) for h in hits)


class LazyEvidence(Sequence[Evidence]):
    """The event's evidence, built on first use."""

    def __init__(self, hits: tuple[Hit, ...], fields: dict[str, FieldWords]):
        self._hits: tuple[Hit, ...] | None = hits
        self._fields = fields
        self._built: tuple[Evidence, ...] = ()

    def _items(self) -> tuple[Evidence, ...]:
        if self._hits is not None:
            self._built = evidence_of(self._hits, self._fields)
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

    def __iter__(self) -> Iterator[Evidence]:  # not Sequence's, which indexes until IndexError
        return iter(self._items())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash(self._items())

    def __repr__(self) -> str:
        return repr(self._items())
