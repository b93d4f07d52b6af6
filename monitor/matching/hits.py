"""Hits of terms in an article, and how one match block decides on them.

A :class:`Hit` is where one pattern matched: the field, the positions of its first and last word
and its score. :meth:`MatchBlock.evaluate` applies a match block to one article's hits, group by
group: vetoes (``none``, optionally only ``near`` a group and lifted by ``unless``), every ``all``
group, at least one ``any`` group (each counting only ``near`` its anchor if it names one), the
least score, and the ``context`` groups shown as evidence. A group's best hit is its first hit of
the highest score, hits coming in the order of fields, word positions and pattern definitions; a
group no proximity refers to needs only that hit, so only that one is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import NamedTuple

from monitor.rules import Group, MatchSpec


class Hit(NamedTuple):
    """Where one pattern matched: field, token positions and score. Character offsets are worked
    out only for the hits that become evidence (see :mod:`monitor.matching.evidence`)."""

    group: str
    label: str
    field: str
    first: int
    last: int
    score: float
    span: tuple[int, int] | None = None  # offsets in the normalised text, for regex hits

    def near(self, other: Hit, within: int) -> bool:
        if self.field != other.field:
            return False
        if self.last < other.first:
            return other.first - self.last <= within
        if other.last < self.first:
            return self.first - other.last <= within
        return True

    def overlaps(self, other: Hit) -> bool:
        return self.field == other.field and self.first <= other.last and other.first <= self.last


Hits = dict[tuple[int, str], list[Hit]]  # (spec, group name) -> hits, for one article
_SCORE = attrgetter("score")


@dataclass(frozen=True, slots=True)
class Outcome:
    """A match block that matched: its score and the hits that decided it."""

    score: float
    evidence: tuple[Hit, ...]


class _Ref(NamedTuple):
    """One group of a match block, as evaluation needs it: keys into the hits."""

    key: tuple[int, str]
    near: tuple[int, str] | None
    within: int
    unless: tuple[int, str] | None


def _refs(spec: int, groups: dict[str, Group]) -> tuple[_Ref, ...]:
    return tuple(
        _Ref(
            (spec, name),
            None if g.near is None else (spec, g.near),
            g.within,
            None if g.unless is None else (spec, g.unless),
        )
        for name, g in groups.items()
    )


def _bests(hits: Hits, groups: tuple[_Ref, ...]) -> list[Hit]:
    """The best usable hit of each group that has one, in the groups' order. A group with
    ``near`` can use only its hits near one of that group's hits."""
    bests = []
    for group in groups:
        found = hits.get(group.key)
        if found and group.near is not None:
            anchors = hits.get(group.near, [])
            found = [h for h in found if any(h.near(a, group.within) for a in anchors)]
        if found:
            bests.append(found[0] if len(found) == 1 else max(found, key=_SCORE))
    return bests


def _vetoed(hits: Hits, group: _Ref) -> bool:
    found = hits.get(group.key)
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


class MatchBlock:
    """A match block compiled for evaluation: its groups as plain tuples, keyed by the number of
    its event or rule (``spec``) and the group's name, as the hits of an article are."""

    __slots__ = ("alternatives", "context", "min_score", "required", "vetoes")

    def __init__(self, spec: int, match: MatchSpec):
        self.vetoes = _refs(spec, match.none)
        self.required = _refs(spec, match.all)
        self.alternatives = _refs(spec, match.any)
        self.context = _refs(spec, match.context)
        self.min_score = match.min_score

    def possible(self, hits: Hits) -> bool:
        """False when a required group has no hit at all (or no ``any`` group has one)."""
        if not all(group.key in hits for group in self.required):
            return False
        return not self.alternatives or any(group.key in hits for group in self.alternatives)

    def evaluate(self, hits: Hits) -> Outcome | None:
        """The block's outcome on one article's hits, or None when it does not match."""
        for group in self.vetoes:
            if _vetoed(hits, group):
                return None
        required = _bests(hits, self.required)
        if len(required) < len(self.required):
            return None
        any_hits = _bests(hits, self.alternatives)
        if self.alternatives and not any_hits:
            return None
        best_any = max(any_hits, key=_SCORE) if any_hits else None
        scored = [*required, best_any] if best_any else required
        score = sum(map(_SCORE, scored)) / len(scored) / 100
        if score < self.min_score:
            return None
        context = _bests(hits, self.context)
        others = [h for h in any_hits if h is not best_any]
        return Outcome(score, (*scored, *others, *context))
