"""Matching: variants and typos, near-misses ignored, evidence, date window, filters."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.matching import Matcher, tokenize
from monitor.rules import load_events_dir, load_rules_dir
from tests.factories import article_factory


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    config = Path(__file__).resolve().parents[2] / "config"
    events = load_events_dir(config / "events")
    return Matcher(events, load_rules_dir(config / "rules", events))


def test_tokens_fold_case_accents_and_possessives() -> None:
    """Folding makes 'Zelenskyy's', 'ZELENSKYY' and accented forms the same word."""
    assert [t.word for t in tokenize("Zelenskyy’s TRÊVE Кремля")] == [
        "zelenskyy",
        "treve",
        "кремля",
    ]


@pytest.mark.parametrize(
    ("title", "category"),
    [
        ("Ukraine accepts US proposal for 30-day ceasefire", "ceasefire"),
        ("Kremlin rejects cease-fire plan from Kyiv", "ceasefire"),
        ("Zelenskyy says Russia broke the Easter truce", "ceasefire"),
        ("Zelensky says Russia broke the Easter ceasfire", "ceasefire"),  # typo
        ("Putin agrees to halt strikes on energy infrastructure", "ceasefire"),
        ("Selenskyj fordert Waffenruhe von Russland", "ceasefire"),
        ("EU adopts 16th sanctions package against Russia", "sanctions"),
        ("Moscow demands sanctions relief for Black Sea deal", "sanctions"),
        ("Trump threatens secondary tariffs on buyers of Russian oil", "sanctions"),
    ],
)
def test_developments_match_their_category(matcher: Matcher, title: str, category: str) -> None:
    """Ceasefire and sanctions developments are caught however they are worded."""
    assert category in matcher.match(article_factory(title)).categories


@pytest.mark.parametrize(
    "title",
    [
        "Israel and Hamas agree ceasefire in Gaza",
        "EU eases sanctions on Syria",
        "Trump holds call with Xi on trade",
        "Putting the season on hold: Premier League truce talks",
        "US and China agree trade truce",
        "UN warns M23 ceasefire in Congo is fragile",
    ],
)
def test_near_misses_do_not_match(matcher: Matcher, title: str) -> None:
    """Other wars' ceasefires, other countries' sanctions and other calls stay quiet."""
    assert matcher.match(article_factory(title)).categories == []


def test_putin_does_not_match_putting(matcher: Matcher) -> None:
    """Fuzzy matching has thresholds that keep 'putting' from being 'Putin'."""
    result = matcher.match(article_factory("Putting a truce on the table in the trade war"))
    assert not result.events


def test_swift_the_adjective_is_not_swift_the_network(matcher: Matcher) -> None:
    """Case-sensitive terms match only the capitalised acronym."""
    assert (
        "sanctions"
        not in matcher.match(article_factory("Russia promises swift response in Kyiv")).categories
    )
    assert (
        "sanctions"
        in matcher.match(
            article_factory("Russia wants bank back on SWIFT, Kyiv objects")
        ).categories
    )


def test_evidence_says_which_term_matched_which_text_where(matcher: Matcher) -> None:
    """Every hit carries evidence: group, term, field, the original text and a score."""
    result = matcher.match(article_factory("Kremlin weighs truce", "Putin's envoy met Witkoff."))
    [hit] = result.hits
    [rule_evidence] = hit.evidence
    assert (rule_evidence.group, rule_evidence.text, rule_evidence.field) == (
        "ceasefire",
        "truce",
        "title",
    )
    event_evidence = {e.group: e for e in result.event_evidence}
    assert (event_evidence["russia"].text, event_evidence["russia"].field) == ("Kremlin", "title")
    assert event_evidence["united-states"].text == "Witkoff"
    line = result.to_dict()
    assert line["event"] is True and line["rules"] == ["ceasefire"] and line["evidence"]


def test_articles_before_the_call_are_not_follow_ups(matcher: Matcher) -> None:
    """The date window starts on the day of the tracked call."""
    before = article_factory("Russia rejects ceasefire", published=datetime(2025, 2, 1, tzinfo=UTC))
    after = article_factory("Russia rejects ceasefire", published=datetime(2025, 2, 13, tzinfo=UTC))
    assert matcher.match(before).categories == []
    assert matcher.match(after).categories == ["ceasefire"]
