"""Grouping matched articles into stories, and deciding when a story deserves an alert. Pure.

A story is one development in one category: one act by one actor (a proposal, an agreement, a
threat, a violation) and every report of it (wire copies, rewrites, translations). Grouping is
single-pass clustering in the manner of first-story detection (topic detection and tracking):

* each matched article gets a *profile*: weighted features of its headline (and, at half weight,
  its summary): word stems, numbers, the actors it names (mapped to one id per side through the
  tracked event's ``actors``, so "Kremlin", "Moscow" and "Putin" are one actor) and the watch
  rule's concept groups that fired (so "truce", "Waffenruhe" and "trêve" are one concept);
* the headline's *subject* is the actor it quotes ("..., Kyiv says": a reporting verb within two
  words after the name) or else its first actor;
* the article joins the open story of its category whose profile is most similar (cosine, with
  each feature weighted by how few of the category's recent stories carry it), the similarity
  tripled when the subjects agree and decaying with the hours since the story's latest report;
  below ``JOIN`` it starts a new story. An article published before a story's first report
  joins it only with the same subject (otherwise it is likely the act that story answers).

The first article of a story emits a ``new`` alert. The story emits one ``update`` when
``CORROBORATED`` independent outlets have reported it: an outlet whose headline is a copy of one
already in the story (a syndicated wire story) adds to the sources but not to the independent
count. ``StoryIndex`` holds the open stories of each category; the worker keeps each story in its
own table key and rebuilds the index from the table after a rebalance.

``bench/stories.py`` measures the grouping against the demo timeline's labelled developments.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache

from rapidfuzz import fuzz

from monitor.matching import Token, tokenize
from monitor.matching.text import FOLD_CACHE_SIZE, folded_words

WINDOW = timedelta(hours=48)  # a story takes new reports this long after its latest one
DECAY_HOURS = 6.0  # similarity falls by e for every DECAY_HOURS since the story's latest report
JOIN = 0.25  # the similarity at which an article joins a story
SAME_SUBJECT = 3.0  # similarity multiplier when the story and the article have the same subject
CONTEXT = timedelta(days=30)  # stories are remembered (for feature weights) this long, then dropped
SUMMARY_WEIGHT = 0.5
STEM = 6  # words are compared by their first STEM letters: "sanctions" ~ "sanctioned"
PROFILE_TERMS = 120  # the most a story's profile keeps (its strongest features)
CORROBORATED = 3
COPY_RATIO = 90  # rapidfuzz ratio of folded headlines at which a report is a copy of another
KEEP_HEADLINES = 12  # independent headlines kept per story for copy detection
ABBREVIATION = 3  # an actor name this short in capitals ("US", "EU") counts only in capitals

_NUMBER = re.compile(r"^(\d+)")
_NUMBER_WORDS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "ten": "10",
    "twenty": "20",
    "thirty": "30",
    "hundred": "100",
}
# Function words of the feeds' languages (en, de, fr, es): they say nothing about which story.
_FUNCTION_WORDS = (
    "a an and are as at be by for from has have in into is it its of on or over says said that the"
    " their to was were will with after amid new would could may not no than this these those"
    " against since more about what who when while until before also been being but",
    "der die das und mit nach für von den dem des ein eine einen zu im auf ist sich nicht bei aus"
    " gegen",
    "le la les du de et un une pour sur dans au aux est sans qui que pas par ses son contre",
    "el los las del por con se en y una lo al",
)
# Reporting verbs: "..., Kyiv says" is Kyiv's account, whoever else the headline names first.
SPEECH_VERBS = frozenset(
    t.word
    for t in tokenize(
        "says said say claims claimed tells told insists alleges accuses sagt sagte erklärt dit"
        " affirme déclare accuse"
    )
)
SPEECH_REACH = 2  # an actor speaks if a reporting verb follows within this many words
STOPWORDS = frozenset(word for words in _FUNCTION_WORDS for word in words.split())


@dataclass(frozen=True)
class _Names:
    """The folded names of actors, as :func:`profile` looks them up: one-word names, two-word
    names by their first word, and the abbreviations ("US", "EU") that name an actor only where
    the text writes them in capitals ("told us" is no country)."""

    single: dict[str, str]  # word -> actor id
    double: dict[str, dict[str, str]]  # first word -> second word -> actor id
    capitals: frozenset[str]


@lru_cache(maxsize=32)
def _actor_names(actors: tuple[tuple[str, tuple[str, ...]], ...]) -> _Names:
    """The actors' names (see ``actor_key``), folded; the first actor to claim a name keeps it."""
    names: dict[tuple[str, ...], str] = {}
    capitals: set[str] = set()
    for actor, spellings in actors:
        for spelling in spellings:
            words = tuple(t.word for t in tokenize(spelling))
            if words:
                names.setdefault(words, actor)
            if len(words) == 1 and spelling.isupper() and len(spelling) <= ABBREVIATION:
                capitals.add(words[0])
    double: dict[str, dict[str, str]] = {}
    for words, actor in names.items():
        if len(words) == 2:
            double.setdefault(words[0], {})[words[1]] = actor
    single = {words[0]: actor for words, actor in names.items() if len(words) == 1}
    return _Names(single, double, frozenset(capitals))


def actor_key(actors: Mapping[str, Sequence[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A hashable form of an event's ``actors`` (for the cached name lookup)."""
    return tuple((actor, tuple(names)) for actor, names in sorted(actors.items()))


@dataclass(frozen=True)
class Profile:
    """What an article says, as story grouping sees it."""

    features: dict[str, float]
    subject: str | None


def profile(
    title: str,
    summary: str = "",
    *,
    concepts: Iterable[str] = (),
    actors: Mapping[str, Sequence[str]] | None = None,
) -> Profile:
    """Features of a headline and summary: word stems, numbers, actors (``$id``), concepts (``@``).

    ``concepts`` are the names of the watch rule's groups that matched (``ceasefire``, ``halt``);
    ``actors`` the tracked event's actor ids with the names that stand for each.
    """
    return with_concepts(_profile(title, summary, actors), concepts)


def with_concepts(seen: Profile, concepts: Iterable[str]) -> Profile:
    """A profile with the watch rule's concept groups that matched added (see :func:`profile`):
    an article that fired several rules is read once."""
    features = dict(seen.features)
    for concept in concepts:
        features["@" + concept] = 1.0
    return Profile(features, seen.subject)


def _profile(title: str, summary: str, actors: Mapping[str, Sequence[str]] | None) -> Profile:
    names = _actor_names(actor_key(actors or {}))
    single, double, capitals = names.single, names.double, names.capitals
    features: dict[str, float] = {}
    subject: str | None = None
    speaker: str | None = None
    for text, weight in ((title, 1.0), (summary, SUMMARY_WEIGHT)):
        words = folded_words(text)
        tokens: list[Token] | None = None  # with their spans, only for an abbreviation's case
        skip = False
        last = len(words) - 1
        for i, word in enumerate(words):
            if skip:
                skip = False
                continue
            seconds = double.get(word)
            actor = seconds.get(words[i + 1]) if seconds is not None and i < last else None
            if actor is not None:
                skip = True
            else:
                actor = single.get(word)
                if actor is not None and word in capitals:
                    tokens = tokens or tokenize(text)
                    token = tokens[i]
                    if not text[token.start : token.end].isupper():
                        actor = None
            if actor is not None:
                key = "$" + actor
                features[key] = features.get(key, 0.0) + weight
                if weight == 1.0:
                    subject = subject or actor
                    if speaker is None and _attributes(words, i + (2 if skip else 1)):
                        speaker = actor
                continue
            feature = _feature(word)
            if feature is not None:
                features[feature] = features.get(feature, 0.0) + weight
    return Profile(features, speaker or subject)


@lru_cache(maxsize=FOLD_CACHE_SIZE)
def _feature(word: str) -> str | None:
    """The feature a folded word that names no actor adds: its number (``#30``), its stem, or
    None for a function word or one of two letters."""
    word = _NUMBER_WORDS.get(word, word)
    number = _NUMBER.match(word)
    if number:
        return "#" + number.group(1)
    if word not in STOPWORDS and len(word) > 2:
        return word[:STEM]
    return None


def _attributes(words: Sequence[str], after: int) -> bool:
    """Whether the words from ``after`` say the actor just before them is speaking ("Kyiv says")."""
    return any(w in SPEECH_VERBS for w in words[after : after + SPEECH_REACH])


@dataclass(frozen=True)
class Story:
    """One development as the monitor has seen it so far."""

    id: str
    category: str
    headline: str
    first_published: datetime
    last_published: datetime
    sources: tuple[str, ...]  # every outlet that reported it
    independent: int  # outlets whose report was not a copy of one already in the story
    articles: int
    alerted: tuple[str, ...]  # kinds already emitted: "new", "update"
    subject: str | None = None
    features: dict[str, float] = field(default_factory=dict)
    headlines: tuple[str, ...] = ()  # folded headlines of its independent reports

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "category": self.category,
            "headline": self.headline,
            "first_published": self.first_published.isoformat(),
            "last_published": self.last_published.isoformat(),
            "sources": list(self.sources),
            "independent": self.independent,
            "articles": self.articles,
            "alerted": list(self.alerted),
            "subject": self.subject,
            "features": self.features,
            "headlines": list(self.headlines),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Story:
        sources = tuple(str(s) for s in data["sources"])  # type: ignore[attr-defined]
        features = data.get("features") or {}
        return cls(
            id=str(data["id"]),
            category=str(data["category"]),
            headline=str(data["headline"]),
            first_published=datetime.fromisoformat(str(data["first_published"])),
            last_published=datetime.fromisoformat(str(data["last_published"])),
            sources=sources,
            independent=int(data.get("independent", len(sources))),  # type: ignore[call-overload]
            articles=int(data["articles"]),  # type: ignore[call-overload]
            alerted=tuple(str(k) for k in data["alerted"]),  # type: ignore[attr-defined]
            subject=str(data["subject"]) if data.get("subject") else None,
            features={str(k): float(v) for k, v in features.items()},  # type: ignore[attr-defined]
            headlines=tuple(str(h) for h in data.get("headlines") or ()),  # type: ignore[attr-defined]
        )


def story_id(category: str, article_id: str) -> str:
    return f"{category}-" + hashlib.sha256(article_id.encode()).hexdigest()[:16]


def _folded(title: str) -> str:
    return " ".join(folded_words(title))


@dataclass(frozen=True)
class Placement:
    """Where an article went, the alert kind it triggers (if any), the best similarity found
    (below ``JOIN`` when it started a new story), and stories now forgotten."""

    story: Story
    kind: str | None
    similarity: float
    expired: tuple[str, ...] = ()


class StoryIndex:
    """The stories of each category, for placing articles. Not thread-safe; one per worker.

    Feature weights are inverse story frequencies: a feature most of the category's remembered
    stories share ("ceasefire", "Russia") tells little about which one an article belongs to.
    """

    def __init__(self) -> None:
        self._stories: dict[str, dict[str, Story]] = {}
        self._frequency: dict[str, Counter[str]] = {}
        self._latest: dict[str, datetime] = {}

    def __len__(self) -> int:
        return sum(len(s) for s in self._stories.values())

    def stories(self, category: str) -> list[Story]:
        return list(self._stories.get(category, {}).values())

    def clear(self) -> None:
        self._stories.clear()
        self._frequency.clear()
        self._latest.clear()

    def load(self, story: Story) -> None:
        """Add or replace a story (recovery from the table, or after placing)."""
        self.forget(story.id, story.category)
        self._stories.setdefault(story.category, {})[story.id] = story
        self._frequency.setdefault(story.category, Counter()).update(story.features.keys())
        latest = self._latest.get(story.category)
        if latest is None or story.last_published > latest:
            self._latest[story.category] = story.last_published

    def forget(self, story_id: str, category: str | None = None) -> None:
        categories = [category] if category else list(self._stories)
        for name in categories:
            old = self._stories.get(name, {}).pop(story_id, None)
            if old is not None:
                self._frequency[name].subtract(old.features.keys())
                return

    def _expire(self, category: str, now: datetime) -> tuple[str, ...]:
        old = [
            s.id
            for s in self._stories.get(category, {}).values()
            if s.last_published < now - CONTEXT
        ]
        for story_id in old:
            self.forget(story_id, category)
        return tuple(old)

    def similarity(self, story: Story, article: Profile, published: datetime) -> float:
        return self._similarity(story.category, article)(story, published)

    def _similarity(self, category: str, article: Profile) -> _Similarity:
        frequency = self._frequency.get(category, Counter())
        return _Similarity(article, _Weights(frequency, len(self._stories.get(category, {})) + 1))

    def place(
        self,
        *,
        category: str,
        article_id: str,
        title: str,
        source: str,
        published: datetime,
        article: Profile,
    ) -> Placement:
        """Put an article into a story; return the story as it is now and the alert kind due."""
        latest = max(self._latest.get(category, published), published)
        self._latest[category] = latest
        expired = self._expire(category, latest)
        best, best_score = None, 0.0
        similarity = self._similarity(category, article)
        for story in self._stories.get(category, {}).values():
            if abs(published - story.last_published) > WINDOW:
                continue
            score = similarity(story, published)
            if score > best_score:
                best, best_score = story, score
        if best is not None and best_score >= JOIN:
            story, kind = _join(best, article, title, source, published)
        else:
            story, kind = _start(category, article_id, article, title, source, published), "new"
        self.load(story)
        return Placement(story, kind, best_score, expired)


class _Weights(dict[str, float]):
    """Feature -> weight in one category, as its stories stand: inverse story frequency, with
    ``total`` the category's stories plus one. Each is worked out once, when first asked for."""

    def __init__(self, frequency: Counter[str], total: int):
        super().__init__()
        self._frequency = frequency
        self._total = total

    def __missing__(self, feature: str) -> float:
        weight = self[feature] = math.log((self._total + 1) / (self._frequency[feature] + 1.5))
        return weight


class _Similarity:
    """One article's similarity to the stories of one category (see ``StoryIndex``), with the
    feature weights and the article's norm shared by every story it is compared with."""

    def __init__(self, article: Profile, weight: _Weights):
        self._article = article
        self._weight = weight
        self._norm: float | None = None

    def __call__(self, story: Story, published: datetime) -> float:
        article, weight = self._article, self._weight
        if published < story.first_published and article.subject != story.subject:
            # Published before the story's first report, by another actor: more likely the act
            # that story answers (the US's Black Sea pledge, the Kremlin's conditions for it)
            # than a report of it. Feeds are fetched in any order, so this case is common.
            return 0.0
        a, s = article.features, story.features
        dot = sum(value * s[k] * weight[k] ** 2 for k, value in a.items() if k in s)
        if dot <= 0:
            return 0.0
        if self._norm is None:
            self._norm = math.sqrt(sum((v * weight[k]) ** 2 for k, v in a.items()))
        norm_s = math.sqrt(sum((v * weight[k]) ** 2 for k, v in s.items()))
        cosine = dot / (self._norm * norm_s)
        if article.subject is not None and article.subject == story.subject:
            cosine *= SAME_SUBJECT
        hours = abs((published - story.last_published).total_seconds()) / 3600
        return cosine * math.exp(-hours / DECAY_HOURS)


def _start(
    category: str, article_id: str, article: Profile, title: str, source: str, published: datetime
) -> Story:
    return Story(
        id=story_id(category, article_id),
        category=category,
        headline=title,
        first_published=published,
        last_published=published,
        sources=(source,),
        independent=1,
        articles=1,
        alerted=("new",),
        subject=article.subject,
        features=_strongest(article.features),
        headlines=(_folded(title),),
    )


def _join(
    story: Story, article: Profile, title: str, source: str, published: datetime
) -> tuple[Story, str | None]:
    folded = _folded(title)
    copy = any(fuzz.ratio(folded, h) >= COPY_RATIO for h in story.headlines)
    new_outlet = source not in story.sources
    independent = story.independent + (1 if new_outlet and not copy else 0)
    features = dict(story.features)
    for key, value in article.features.items():
        features[key] = features.get(key, 0.0) + value
    joined = replace(
        story,
        sources=(*story.sources, source) if new_outlet else story.sources,
        independent=independent,
        articles=story.articles + 1,
        last_published=max(story.last_published, published),
        features=_strongest(features),
        headlines=story.headlines
        if copy or not new_outlet
        else (*story.headlines, folded)[-KEEP_HEADLINES:],
    )
    if independent >= CORROBORATED and "update" not in story.alerted:
        return replace(joined, alerted=(*story.alerted, "update")), "update"
    return joined, None


def _strongest(features: dict[str, float]) -> dict[str, float]:
    if len(features) <= PROFILE_TERMS:
        return features
    kept = sorted(features.items(), key=lambda kv: kv[1], reverse=True)[:PROFILE_TERMS]
    return dict(kept)
