"""What the matcher decided for one article: the events it follows, the rules that fired, why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.models import Evidence


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
    event_evidence: Sequence[Evidence] = ()
    hits: tuple[RuleHit, ...] = ()

    @classmethod
    def nothing(cls, article: str) -> MatchResult:
        """The result of an article that follows no event: ``MatchResult(article)``, made without
        the dataclass ``__init__`` (the other fields' defaults are class attributes). Most
        articles get one, so it is worth the shortcut."""
        result = cls.__new__(cls)
        object.__setattr__(result, "article", article)
        return result

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
