"""The fast matcher (index, word cache, gate, phases, best-hit-only groups, C-level word cutting)
decides exactly as the plain reference in tests/reference_matcher.py: same events, scores, rules
and evidence, on the demo timeline, on rules using every feature of the format, and on generated
articles full of near-spellings. ``make eval`` runs the same comparison on the real dev set."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.demo import item_articles, load_timeline
from monitor.matching import Matcher
from monitor.models import Article, Source
from monitor.rules import (
    TrackedEvent,
    WatchRule,
    load_events_dir,
    load_rules_dir,
    parse_event,
    parse_rules,
)
from tests.reference_matcher import ReferenceMatcher, comparable

CONFIG = Path(__file__).resolve().parents[2] / "config"
EVENTS = load_events_dir(CONFIG / "events")
SHIPPED = load_rules_dir(CONFIG / "rules", EVENTS)

# A second event and rules that use every part of the format: regexes (also in a required group
# of an event, which the gate cannot check), exact case, a fuzzy threshold on a short word,
# prefixes, phrases, proximity, vetoes with and without `near`/`unless`, context, a least score,
# date windows, one field only, languages, sources, a disabled rule.
FEATURE_EVENT = parse_event(
    {
        "version": 1,
        "event": {
            "id": "summit",
            "title": "Summit",
            "date": "2025-03-01",
            "window_days": 30,
            "match": {
                "all": {
                    "summit": [
                        "summit",
                        {"term": "meeting", "regex": r"\b(?:G7|G20)\b"},
                    ]
                },
                "any": {"place": ["Alaska", "Riyadh", {"term": "Kyiv", "fuzzy": 60}]},
            },
        },
    },
    "test",
)
FEATURE_RULES = parse_rules(
    {
        "version": 1,
        "rules": [
            {
                "id": "energy-pause",
                "title": "Energy pause",
                "event": "trump-putin-call-2025-02-12",
                "category": "ceasefire",
                "match": {
                    "all": {
                        "pause": {
                            "terms": ["pause*", {"term": "halt", "aliases": ["stop"]}],
                            "near": "energy",
                            "within": 3,
                        }
                    },
                    "context": {"energy": ["energy infrastructure", "power plant*", "grid"]},
                    "none": {
                        "other": {"terms": ["Gaza", "Israel*"], "near": "pause", "unless": "party"},
                        "sport": ["Premier League"],
                    },
                    "any": {"party": ["Russia", "Ukraine", {"term": "Putin", "fuzzy": 70}]},
                    "min_score": 0.9,
                },
            },
            {
                "id": "us-swift",
                "title": "US and SWIFT",
                "event": "trump-putin-call-2025-02-12",
                "category": "sanctions",
                "languages": ["en"],
                "sources": ["wire.example"],
                "match": {
                    "fields": ["title"],
                    "any": {
                        "swift": [
                            {"term": "SWIFT", "exact_case": True},
                            {"term": "U.S. Treasury", "exact_case": True},
                            {"term": "package", "regex": r"\b\d+(?:st|nd|rd|th) package"},
                        ]
                    },
                    "after": "2025-03-01",
                    "before": "2025-05-01",
                },
            },
            {
                "id": "summit-talks",
                "title": "Summit talks",
                "event": "summit",
                "category": "summits",
                "match": {
                    "any": {"talks": ["talks", "negotiat*", "phone call"]},
                    "context": {"leaders": [{"term": "Trump", "regex": r"White House"}]},
                },
            },
            {
                "id": "disabled",
                "title": "Disabled",
                "event": "summit",
                "category": "summits",
                "enabled": False,
                "match": {"any": {"any": ["summit"]}},
            },
        ],
    },
    "test",
)
FEATURE_EVENTS = {**EVENTS, FEATURE_EVENT.id: FEATURE_EVENT}
FEATURE_MATCHERS = (
    Matcher(FEATURE_EVENTS, [*SHIPPED, *FEATURE_RULES]),
    Matcher(FEATURE_EVENTS, [*SHIPPED, *FEATURE_RULES], cache_size=40),  # starts afresh often
)
FEATURE_REFERENCE = ReferenceMatcher(FEATURE_EVENTS, [*SHIPPED, *FEATURE_RULES])


TIMELINE = item_articles(load_timeline(CONFIG / "demo" / "timeline.yaml"))


@pytest.mark.parametrize(
    ("events", "rules"),
    [(EVENTS, SHIPPED), (FEATURE_EVENTS, [*SHIPPED, *FEATURE_RULES])],
    ids=["shipped", "features"],
)
def test_timeline_matches_as_the_reference_does(
    events: dict[str, TrackedEvent], rules: list[WatchRule]
) -> None:
    """On every demo article the fast matcher gives the reference's result, evidence and all."""
    fast, reference = Matcher(events, rules), ReferenceMatcher(events, rules)
    for article in TIMELINE:
        assert comparable(fast.match(article)) == comparable(reference.match(article)), article.id


def test_many_generated_rules_match_as_the_reference_does() -> None:
    """With 150 rules drawn from the articles' own words (phrases, proximity, vetoes), as
    bench/matcher.py generates them, the index still finds exactly what the plain loop finds."""
    import sys

    sys.path.insert(0, str(CONFIG.parent / "bench"))
    from matcher import generated_rules, vocabulary  # type: ignore[import-not-found]

    rules = generated_rules(next(iter(EVENTS)), vocabulary(TIMELINE), 150)
    fast, reference = Matcher(EVENTS, rules), ReferenceMatcher(EVENTS, rules)
    for article in TIMELINE[::3]:
        assert comparable(fast.match(article)) == comparable(reference.match(article)), article.id


SPELLINGS = """
    Putin Putin’s PUTIN Puttin putting Poutine Zelenskyy’s Zelenksyy Kyiv Kyv Kiev Kremlin
    ceasefire ceasfire cease-fire cease fire truce pause paused halt stop energy infrastructure
    power plants grid Gaza Israeli Premier League Russia Ukraine SWIFT swift Swift U.S. US us
    Treasury 17th package sanctions Sanktionen summit Summit G7 G20 Alaska Riyadh talks
    negotiations phone call White House Ｒｕｓｓｉａ tre\u0302ve TRÊVE ﬁre ¼ İstanbul ß Путін
    санкції перемир’я \u0301 \ud800
"""
VOCABULARY = [*(w for a in TIMELINE[:60] for w in a.title.split()), *SPELLINGS.split()]
SEPARATORS = [" ", " ", " ", ", ", " — ", "’s ", " “", "” ", "-", "\n", "'", " ‘", "’ "]
DATES = [
    datetime(2025, 2, 11, 23, 59, 59, 999999, tzinfo=UTC),  # the day before the call
    datetime(2025, 2, 12, tzinfo=UTC),  # its first instant
    datetime(2025, 3, 1, 12, tzinfo=UTC),
    datetime(2025, 3, 30, 23, tzinfo=UTC),
    datetime(2025, 3, 31, tzinfo=UTC),  # the summit's window has closed
    datetime(2025, 4, 20, tzinfo=UTC),
    datetime(2026, 2, 12, tzinfo=UTC),  # the call's window has closed
]


@st.composite
def _texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(VOCABULARY) | st.text(max_size=5), max_size=18))
    return "".join(word + draw(st.sampled_from(SEPARATORS)) for word in words)


@st.composite
def _articles(draw: st.DrawFn) -> Article:
    return Article(
        id="generated",
        title=draw(_texts()),
        summary=draw(_texts()),
        link="https://wire.example/a",
        source=Source(
            url=draw(st.sampled_from(["https://wire.example/feed", "https://x.example"])), name="x"
        ),
        language=draw(st.sampled_from(["en", "de", None])),
        published=draw(st.sampled_from(DATES)),
    )


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(article=_articles())
def test_generated_articles_match_as_the_reference_does(article: Article) -> None:
    """Near-spellings, typographic quotes, other scripts and dates around the windows: the fast
    matcher (also with a cache small enough to start afresh mid-article) agrees with the
    reference."""
    expected = comparable(FEATURE_REFERENCE.match(article))
    for matcher in FEATURE_MATCHERS:
        assert comparable(matcher.match(article)) == expected
