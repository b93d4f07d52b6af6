"""Property tests: normalisation never crashes on arbitrary text and is idempotent."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.sax.saxutils import escape

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.articles import absolute_link, article_id, canonical_link, to_plain_text
from monitor.feeds import FeedConfig, parse_feed

FEED = FeedConfig(url="https://wire.example/rss.xml", name="Wire")
PIECES = [
    *"ab <>/&;#x0123pscript=\"' \t\n\u200b\u00e9",
    "&amp;",
    "&lt;",
    "&gt;",
    "<p>",
    "</p>",
    "<script>",
    "</script>",
    "<br/>",
    "&#x3c;",
    "&nbsp;",
    "\U0001f600",
]
MARKUP = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)
ANY_TEXT = st.one_of(st.text(max_size=200), MARKUP)


@given(ANY_TEXT)
def test_plain_text_is_idempotent_and_clean(text: str) -> None:
    """Plain text of plain text is itself; it never has leading/trailing or doubled spaces."""
    once = to_plain_text(text)
    assert to_plain_text(once) == once
    assert once == once.strip() and "  " not in once


@given(st.text(max_size=120))
def test_canonical_link_is_idempotent(link: str) -> None:
    """Canonicalising twice changes nothing (and never raises)."""
    once = canonical_link(link)
    assert canonical_link(once) == once


@given(st.text(max_size=80), st.text(max_size=80))
def test_absolute_links_are_http_or_empty(link: str, base: str) -> None:
    """Any link resolves to an http(s) URL or to nothing; resolving again changes nothing."""
    resolved = absolute_link(link, "https://wire.example/" + base)
    assert resolved == "" or resolved.startswith(("http://", "https://"))
    assert absolute_link(resolved, "https://other.example/") == resolved


@given(st.one_of(st.none(), st.text(max_size=40)), st.text(max_size=60), st.text(max_size=40))
def test_article_ids_are_stable(guid: str | None, link: str, title: str) -> None:
    """The same entry always gets the same id."""
    first = article_id(guid=guid, link=link, feed_url=FEED.url, title=title)
    assert first == article_id(guid=guid, link=link, feed_url=FEED.url, title=title)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400) | ANY_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_parse_never_raises(body: bytes) -> None:
    """Arbitrary bytes give articles or an error, never an exception."""
    parsed = parse_feed(body, feed=FEED, fetched=datetime(2025, 3, 1, tzinfo=UTC))
    assert parsed.articles or parsed.error or parsed.articles == []


@settings(max_examples=60, deadline=None)
@given(title=ANY_TEXT, summary=ANY_TEXT, date=st.text(max_size=40))
def test_entries_normalise_to_clean_fields(title: str, summary: str, date: str) -> None:
    """Any title, summary and date inside a feed: plain-text fields that normalising again leaves
    as they are, a UTC date not in the future, and the same articles from the same bytes."""
    fetched = datetime(2025, 3, 1, tzinfo=UTC)

    def doc(t: str, s: str) -> bytes:
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>c</title>'
            f"<item><guid>g</guid><title>{escape(t)}</title><description>{escape(s)}"
            f"</description><pubDate>{escape(date)}</pubDate></item></channel></rss>"
        ).encode("utf-8", "surrogatepass")

    parsed = parse_feed(doc(title, summary), feed=FEED, fetched=fetched)
    for article in parsed.articles:
        assert to_plain_text(article.title) == article.title
        assert to_plain_text(article.summary) == article.summary
        assert article.published is not None and article.published <= fetched
    again = parse_feed(doc(title, summary), feed=FEED, fetched=fetched)
    assert again.articles == parsed.articles
