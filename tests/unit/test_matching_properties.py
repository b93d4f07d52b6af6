"""Property tests of matching: any Unicode is safe, and evidence always points at its text."""

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.matching import Matcher, tokenize
from monitor.matching.matcher import utc_day
from monitor.matching.text import WORD, NormalText, folded_words, plain, words
from monitor.models import Article
from monitor.rules import load_events_dir, load_rules_dir
from tests.factories import article_factory

CONFIG = Path(__file__).resolve().parents[2] / "config"
EVENTS = load_events_dir(CONFIG / "events")
MATCHER = Matcher(EVENTS, load_rules_dir(CONFIG / "rules", EVENTS))

# Words the rules know, in awkward spellings: accents, compatibility forms, combining marks,
# curly apostrophes, other scripts; mixed with arbitrary text so hits land anywhere.
KNOWN = [
    "Putin",
    "Putin’s",
    "Ｒｕｓｓｉａ",
    "Zelenskyy's",
    "Zelenksyy",
    "ceasefire",
    "ceasfire",
    "cease-fire",
    "TRÊVE",
    "tre\u0302ve",
    "Waffenruhe",
    "sanctions",
    "SWIFT",
    "tariffs",
    "Russian oil",
    "Путін",
    "санкції",
    "Кремль",
    "halt strikes",
    "Gaza",
    "Iran",
    "ﬁre",
    "\u0301",
    "İstanbul",
    "ß",
]
TEXT = st.lists(st.one_of(st.sampled_from(KNOWN), st.text(max_size=6)), max_size=25).map(" ".join)
PROPERTIES = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _evidence(article: Article) -> list[tuple[str, str, int | None, int | None]]:
    result = MATCHER.match(article)
    evidence = [*result.event_evidence, *(e for h in result.hits for e in h.evidence)]
    assert result.to_dict()["id"] == article.id
    return [(e.field, e.text, e.start, e.end) for e in evidence]


ANY_TEXT = st.text(st.characters(exclude_categories=[]))  # lone surrogates too (JSON allows them)


@PROPERTIES
@given(title=ANY_TEXT | TEXT, summary=ANY_TEXT | TEXT)
def test_arbitrary_unicode_never_crashes(title: str, summary: str) -> None:
    """Any Unicode in title and summary, even lone surrogates, gives a result, never an
    exception."""
    _evidence(article_factory(title, summary))


@PROPERTIES
@given(title=TEXT, summary=TEXT)
def test_evidence_offsets_point_at_the_matched_text(title: str, summary: str) -> None:
    """Every piece of evidence names the field and the character offsets of its text there."""
    article = article_factory(title, summary)
    for field, text, start, end in _evidence(article):
        assert start is not None and end is not None
        assert getattr(article, field)[start:end] == text
        assert text.strip()


@PROPERTIES
@given(text=st.one_of(st.text(), TEXT))
def test_token_spans_lie_in_the_original_text_in_order(text: str) -> None:
    """Token spans index the original (not the normalised) text, in order. (One character can hold
    two tokens: NFKC turns '¼' into '1⁄4'.)"""
    start = 0
    for token in tokenize(text):
        assert start <= token.start < token.end <= len(text)
        assert token.word
        start = token.start


@PROPERTIES
@given(text=st.one_of(st.text(), ANY_TEXT, TEXT))
def test_fast_word_cutting_finds_the_regex_words(text: str) -> None:
    """The matcher's C-level word cutting finds exactly the words of the regex (lone surrogates
    included), in the text with its typographic marks made ASCII, which keeps every character
    where it was."""
    norm = NormalText.of(text).norm
    assert len(plain(norm)) == len(norm)
    assert words(plain(norm)) == [w.replace("’", "'") for w in WORD.findall(norm)]


@PROPERTIES
@given(text=st.one_of(st.text(), ANY_TEXT, TEXT))
def test_folded_words_are_the_words_of_the_tokens(text: str) -> None:
    """Story grouping's word list without spans is the tokens' words, in order."""
    assert folded_words(text) == [token.word for token in tokenize(text)]


@PROPERTIES
@given(
    moment=st.datetimes(
        min_value=datetime(1900, 1, 2),
        max_value=datetime(2200, 1, 1),
        timezones=st.one_of(
            st.none(),
            st.just(UTC),
            st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m))),
        ),
    )
)
def test_utc_day_is_the_day_of_the_timestamp(moment: datetime) -> None:
    """The matcher's day of a publication time is the UTC date of its timestamp, for moments in
    UTC, at any offset, and naive ones (local time, as ``datetime.timestamp`` takes them)."""
    assert utc_day(moment) == datetime.fromtimestamp(moment.timestamp(), UTC).toordinal()
