"""Matching: variants and typos, other languages, near-misses ignored, proximity and vetoes,
evidence, date windows, filters."""

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.matching import Matcher, MatchResult, tokenize
from monitor.rules import TrackedEvent, WatchRule, load_events_dir, load_rules_dir, parse_rules
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
        ("Trump threatens Russia with 'severe' tariffs", "sanctions"),
        ("Trump threatens Russia and Iran with sanctions", "sanctions"),
        ("India defends its purchases of Russian oil", "sanctions"),
        ("Putin agrees to a pause in attacks on Ukraine's power plants", "ceasefire"),
        # Russian, Ukrainian, German, French, Spanish
        ("Кремль отверг перемирие на Украине", "ceasefire"),
        ("Зеленський погодився на припинення вогню", "ceasefire"),
        ("Putin lehnt Waffenstillstand in der Ukraine ab", "ceasefire"),
        ("La Russie rejette le cessez-le-feu proposé par Kiev", "ceasefire"),
        ("Rusia rechaza el alto el fuego en Ucrania", "ceasefire"),
        ("ЕС утвердил новые санкции против России", "sanctions"),
        ("ЄС ухвалив нові санкції проти Росії", "sanctions"),
        ("EU beschließt neues Sanktionspaket gegen Russland", "sanctions"),
        ("L'UE prolonge les sanctions contre la Russie", "sanctions"),
        ("La UE aprueba nuevas sanciones contra Rusia", "sanctions"),
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
        "Pope calls for Ukraine peace and a Gaza ceasefire",
        "Russia, India and Brazil refuse to bend to US tariffs",
        "Trump to Putin after Kyiv strike: 'Vladimir, STOP!'",
        "UK sanctions pro-Russian group over Moldova vote",
        "Police in Ukraine report a rise in crime",
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
    rule_evidence = hit.evidence[0]
    assert (rule_evidence.group, rule_evidence.text, rule_evidence.field) == (
        "ceasefire",
        "truce",
        "title",
    )
    assert (rule_evidence.start, rule_evidence.end) == (15, 20)
    event_evidence = {e.group: e for e in result.event_evidence}
    assert (event_evidence["parties"].text, event_evidence["parties"].field) == ("Kremlin", "title")
    assert event_evidence["united-states"].text == "Witkoff"
    line = result.to_dict()
    assert line["event"] is True and line["rules"] == ["ceasefire"] and line["evidence"]


def test_articles_before_the_call_are_not_follow_ups(matcher: Matcher) -> None:
    """The date window starts on the day of the tracked call."""
    before = article_factory("Russia rejects ceasefire", published=datetime(2025, 2, 1, tzinfo=UTC))
    after = article_factory("Russia rejects ceasefire", published=datetime(2025, 2, 13, tzinfo=UTC))
    assert matcher.match(before).categories == []
    assert matcher.match(after).categories == ["ceasefire"]


@pytest.mark.parametrize(
    ("published", "follows"),
    [
        ("2025-02-11T23:59:59.999999+00:00", False),
        ("2025-02-12T00:00:00+00:00", True),
        ("2025-02-12T01:30:00+02:00", False),  # 23:30 UTC the day before
        ("2025-02-11T23:30:00-02:00", True),  # 01:30 UTC on the day
        ("2026-02-11T23:59:59.999999+00:00", True),  # the last moment of its 365 days
        ("2026-02-12T00:00:00+00:00", False),
        ("2026-02-12T00:30:00+01:00", True),  # 23:30 UTC on the last day
    ],
)
def test_the_date_window_is_whole_utc_days(matcher: Matcher, published: str, follows: bool) -> None:
    """An article follows the event from the first moment (UTC) of the event's day to the last
    moment of its window's last day, whatever time zone its publication time is written in."""
    article = article_factory(
        "Russia rejects ceasefire", published=datetime.fromisoformat(published)
    )
    assert bool(matcher.match(article).events) is follows


def _matcher(match: dict[str, object], **rule: object) -> Matcher:
    event = TrackedEvent.model_validate(
        {
            "id": "e",
            "title": "E",
            "date": "2025-02-12",
            "match": {"any": {"russia": ["Russia", "Putin", "Moscow"]}},
        }
    )
    [parsed] = parse_rules(
        {"id": "r", "title": "R", "event": "e", "category": "c", "match": match, **rule}, "test"
    )
    return Matcher({"e": event}, [parsed])


def test_proximity_counts_a_group_only_near_its_anchor() -> None:
    """A group with `near` counts only within `within` words of the named group, in one field."""
    matcher = _matcher(
        {
            "all": {"tariffs": {"terms": ["tariff*"], "near": "oil", "within": 3}},
            "context": {"oil": ["Russian oil"]},
        }
    )
    assert matcher.match(article_factory("Tariffs over Russian oil")).hits
    far = "Tariffs rise on steel, cars and chips; Russia's oil flows on"
    assert not matcher.match(article_factory(far)).hits
    assert not matcher.match(article_factory("New tariffs announced", "Russian oil")).hits


def test_veto_beside_the_term_wins_unless_the_target_is_as_near() -> None:
    """A `none` group with `near` vetoes only next to the anchor, and `unless` lifts the veto when
    the sparing group is as near; a veto directly attached to the term keeps its force."""
    matcher = _matcher(
        {
            "any": {"sanctions": ["sanction*"]},
            "none": {
                "other": {"terms": ["Iran", "Syria"], "near": "sanctions", "unless": "target"}
            },
            "context": {"target": ["Russia"]},
        }
    )
    assert matcher.match(article_factory("US threatens Russia and Iran with sanctions")).hits
    assert not matcher.match(article_factory("Russia welcomes end of Syria sanctions")).hits
    assert not matcher.match(article_factory("EU lifts sanctions on Syria", "Putin")).hits
    assert matcher.match(article_factory("EU adds Russia sanctions", "Iran talks go on")).hits


def test_rule_date_window_and_filters() -> None:
    """`after`/`before` bound a rule's dates; languages and sources filter its articles."""
    matcher = _matcher(
        {"any": {"truce": ["truce"]}, "after": "2025-03-01", "before": "2025-04-01"},
        languages=["en"],
        sources=["wire.example"],
    )
    march = datetime(2025, 3, 5, tzinfo=UTC)
    assert matcher.match(article_factory("Russia truce", published=march, source="Wire")).hits
    april = datetime(2025, 4, 5, tzinfo=UTC)
    assert not matcher.match(article_factory("Russia truce", published=april, source="Wire")).hits
    assert not matcher.match(
        article_factory("Russia truce", published=march, source="Wire", language="de")
    ).hits
    assert not matcher.match(article_factory("Russia truce", published=march, source="Other")).hits


def test_regex_terms_give_evidence_with_offsets() -> None:
    """A regex term matches case-insensitively and its evidence points at the matched text."""
    matcher = _matcher(
        {"any": {"pkg": [{"term": "numbered package", "regex": r"\b\d+(st|nd|rd|th) package"}]}}
    )
    article = article_factory("Russia: EU agrees 17th Package", "x")
    [hit] = matcher.match(article).hits
    evidence = hit.evidence[0]
    assert evidence.text == "17th Package"
    assert article.title[evidence.start : evidence.end] == evidence.text


def test_cost_does_not_grow_with_rules_that_cannot_match() -> None:
    """Only rules that got a hit are evaluated: with 500 unrelated rules added, the hits and the
    evidence are those of the shipped rules alone."""
    config = Path(__file__).resolve().parents[2] / "config"
    events = load_events_dir(config / "events")
    shipped = load_rules_dir(config / "rules", events)
    extra = [
        WatchRule.model_validate(
            {
                "id": f"x{n}",
                "title": "x",
                "event": next(iter(events)),
                "category": "other",
                "match": {"any": {"g": [f"zzword{n}"]}},
            }
        )
        for n in range(500)
    ]
    article = article_factory("Kremlin rejects ceasefire", "Putin spoke to Trump.")
    assert (
        Matcher(events, [*shipped, *extra]).match(article).to_dict()
        == Matcher(events, shipped).match(article).to_dict()
    )


def test_word_cache_starting_afresh_changes_nothing(matcher: Matcher) -> None:
    """When the cache of known words (and byte chunks) fills up and starts afresh, even in the
    middle of an article, results stay the same."""
    articles = [
        article_factory("Kremlin rejects ceasefire", "Putin spoke to Trump about the Black Sea."),
        article_factory("EU adopts sanctions on Russia", "Zelensky welcomes the package."),
        article_factory("Gaza truce holds", "Israel and Hamas agree a pause."),
    ]
    before = [matcher.match(a).to_dict() for a in articles]
    small = Matcher(matcher.events, matcher.rules, cache_size=3)
    assert [small.match(a).to_dict() for a in articles * 2] == before * 2


def test_the_shortcut_for_articles_that_match_nothing_is_a_plain_result() -> None:
    """MatchResult.nothing(id), which most articles get, equals, hashes and prints like
    MatchResult(id): every field but the article keeps its class-level default."""
    plain, quick = MatchResult("a1"), MatchResult.nothing("a1")
    assert (quick, hash(quick), repr(quick)) == (plain, hash(plain), repr(plain))
    assert dataclasses.asdict(quick) == dataclasses.asdict(plain)
    assert quick.to_dict() == plain.to_dict()
