"""Grouping matched articles into stories, and deciding when a story deserves an alert. Pure.

A story is one development in one category. An article joins the most similar open story of its
category (rapidfuzz on folded titles, or shared significant words) published within the window;
otherwise it starts a new story. The first article of a story emits a ``new`` alert; a story that
reaches ``CORROBORATED`` independent sources emits one ``update``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from rapidfuzz import fuzz

from monitor.matching import tokenize

WINDOW = timedelta(hours=36)
TITLE_SIMILARITY = 0.72  # rapidfuzz token_set_ratio / 100 at which titles are the same story
WORD_OVERLAP = 0.5  # or this share of the shorter title's significant words in common
CORROBORATED = 3
MAX_OPEN_STORIES = 200
# Words too common in headlines to say two of them report the same thing.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "over",
        "says",
        "said",
        "that",
        "the",
        "their",
        "to",
        "was",
        "were",
        "will",
        "with",
        "after",
        "amid",
        "new",
        "would",
        "could",
        "may",
        "us",
        "u.s",
    ]
)


def significant_words(title: str) -> frozenset[str]:
    return frozenset(t.word for t in tokenize(title) if t.word not in STOPWORDS and len(t.word) > 2)


@dataclass(frozen=True)
class Story:
    """One development as the monitor has seen it so far."""

    id: str
    category: str
    headline: str
    words: frozenset[str]
    first_published: datetime
    last_published: datetime
    sources: tuple[str, ...]
    articles: int
    alerted: tuple[str, ...]  # kinds already emitted: "new", "update"

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "category": self.category,
            "headline": self.headline,
            "words": sorted(self.words),
            "first_published": self.first_published.isoformat(),
            "last_published": self.last_published.isoformat(),
            "sources": list(self.sources),
            "articles": self.articles,
            "alerted": list(self.alerted),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Story:
        return cls(
            id=str(data["id"]),
            category=str(data["category"]),
            headline=str(data["headline"]),
            words=frozenset(data["words"]),  # type: ignore[call-overload]
            first_published=datetime.fromisoformat(str(data["first_published"])),
            last_published=datetime.fromisoformat(str(data["last_published"])),
            sources=tuple(data["sources"]),  # type: ignore[arg-type]
            articles=int(data["articles"]),  # type: ignore[call-overload]
            alerted=tuple(data["alerted"]),  # type: ignore[arg-type]
        )


def _similarity(story: Story, title: str, words: frozenset[str]) -> float:
    """0..1: the better of fuzzy title similarity and the share of significant words in common."""
    ratio = fuzz.token_set_ratio(story.headline, title, processor=str.casefold) / 100
    overlap = len(story.words & words) / max(1, min(len(story.words), len(words)))
    return max(ratio / TITLE_SIMILARITY, overlap / WORD_OVERLAP)


def story_id(category: str, article_id: str) -> str:
    return f"{category}-" + hashlib.sha256(article_id.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Assignment:
    """Where an article went, and which alert kind (if any) it triggers."""

    story: Story
    kind: str | None
    stories: list[Story]


def assign(
    stories: list[Story],
    *,
    category: str,
    article_id: str,
    title: str,
    source: str,
    published: datetime,
) -> Assignment:
    """Put an article into a story; return the updated story list and the alert kind due."""
    words = significant_words(title)
    open_stories = [s for s in stories if abs(published - s.last_published) <= WINDOW]
    best = max(open_stories, key=lambda s: _similarity(s, title, words), default=None)
    if best is not None and _similarity(best, title, words) >= 1.0:
        sources = best.sources if source in best.sources else (*best.sources, source)
        story = replace(
            best,
            sources=sources,
            articles=best.articles + 1,
            last_published=max(best.last_published, published),
            words=best.words | words,
        )
        kind = None
        if len(sources) >= CORROBORATED and "update" not in story.alerted:
            kind = "update"
            story = replace(story, alerted=(*story.alerted, "update"))
        rest = [s for s in stories if s.id != best.id]
        return Assignment(story, kind, [*rest, story][-MAX_OPEN_STORIES:])
    story = Story(
        id=story_id(category, article_id),
        category=category,
        headline=title,
        words=words,
        first_published=published,
        last_published=published,
        sources=(source,),
        articles=1,
        alerted=("new",),
    )
    return Assignment(story, "new", [*stories, story][-MAX_OPEN_STORIES:])
