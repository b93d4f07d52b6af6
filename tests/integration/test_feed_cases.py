"""Hostile and broken feeds served over HTTP, fetched and parsed the way ``monitor feeds check``
does it: every case ends as articles or a clear error, never an exception."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import FeedError
from monitor.feedlist import check_feed
from monitor.models import Article
from monitor.settings import Settings, load_settings
from tests.integration.feedserver import FeedServer, rss


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path)


async def check(server: FeedServer, settings: Settings, name: str, body: bytes) -> list[Article]:
    server.feeds[name] = body
    articles, _ = await check_feed(settings, server.url(name))
    return articles


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
]>
<rss version="2.0"><channel><title>t</title>
<item><guid>1</guid><title>Bomb &f; here</title><link>https://b.example/1</link></item>
</channel></rss>"""


async def test_an_entity_expansion_bomb_is_not_expanded(
    server: FeedServer, settings: Settings
) -> None:
    """Billion laughs: the entity declarations are dropped, the title stays small."""
    [article] = await check(server, settings, "bomb", BOMB)
    assert len(article.title) < 100


async def test_an_external_entity_is_never_fetched_or_read(
    server: FeedServer, settings: Settings, tmp_path: Path
) -> None:
    """XXE: a SYSTEM entity pointing at a local file and at a URL leaks neither."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">'
        f'<!ENTITY net SYSTEM "{server.url("probe")}">]>'
        '<rss version="2.0"><channel><title>t</title><item><guid>1</guid>'
        "<title>leak &xxe; &net;</title><description>&xxe;</description></item></channel></rss>"
    ).encode()
    [article] = await check(server, settings, "xxe", body)
    assert "TOP-SECRET" not in article.title + article.summary
    assert server.count("probe") == 0


async def test_a_wrong_charset_header_still_decodes_the_text(
    server: FeedServer, settings: Settings
) -> None:
    """Latin-1 bytes served as UTF-8: feedparser notices and decodes them as Windows-1252."""
    server.headers["latin"] = {"Content-Type": "application/rss+xml; charset=utf-8"}
    body = rss(("1", "Caf\xe9 talks in Z\xfcrich", "d")).decode().encode("latin-1")
    [article] = await check(server, settings, "latin", body)
    assert article.title == "Café talks in Zürich"


async def test_a_missing_charset_falls_back_to_the_xml_declaration(
    server: FeedServer, settings: Settings
) -> None:
    """No charset in the header: the XML declaration's encoding is used."""
    server.headers["nocs"] = {"Content-Type": "text/xml"}
    text = rss(("1", "Kyiv \u2013 Moscow talks", "d")).decode()
    body = text.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="utf-8"?>')
    [article] = await check(server, settings, "nocs", body.encode())
    assert article.title == "Kyiv – Moscow talks"


async def test_malformed_xml_with_entries_is_accepted_with_a_warning(
    server: FeedServer, settings: Settings
) -> None:
    """An unclosed tag makes the feed bozo, but its entries still come through."""
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><guid>1</guid><title>Truce <b>holds</title><link>https://m.example/1</link>"
        b"</item></channel></rss>"
    )
    server.feeds["bad"] = body
    articles, summary = await check_feed(settings, server.url("bad"))
    assert [a.title for a in articles] == ["Truce holds"]
    assert summary["warning"]


async def test_malformed_xml_without_entries_is_an_error(
    server: FeedServer, settings: Settings
) -> None:
    """Garbage with no entries is a FeedError naming the feed, not an exception."""
    server.feeds["junk"] = b"<rss><channel><item><title>unclosed"
    with pytest.raises(FeedError) as err:
        await check_feed(settings, server.url("junk"))
    assert server.url("junk") in str(err.value)


async def test_an_empty_feed_has_no_articles_and_no_error(
    server: FeedServer, settings: Settings
) -> None:
    """A valid channel with no items is fine: zero articles."""
    assert await check(server, settings, "empty", rss()) == []


async def test_missing_and_absurd_dates_fall_back_and_future_dates_are_clamped(
    server: FeedServer, settings: Settings
) -> None:
    """No date or a year-1900 date: fetch time; a year-2999 date: clamped to the fetch time."""
    before = datetime.now(UTC)
    missing = rss(("1", "no date", "d"), date="")
    absurd = rss(("2", "old", "d"), date="Mon, 01 Jan 1900 00:00:00 GMT")
    future = rss(("3", "future", "d"), date="Tue, 01 Jan 2999 00:00:00 GMT")
    updated = (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>a</title>'
        b"<entry><id>u1</id><title>only updated</title><updated>2025-03-11T18:00:00Z</updated>"
        b"</entry></feed>"
    )
    for name, body in (("missing", missing), ("absurd", absurd), ("future", future)):
        [article] = await check(server, settings, name, body)
        assert article.published is not None and before <= article.published <= article.fetched
        assert article.published.tzinfo is not None
    [article] = await check(server, settings, "updated", updated)
    assert article.published == datetime(2025, 3, 11, 18, tzinfo=UTC)


async def test_relative_links_become_absolute(server: FeedServer, settings: Settings) -> None:
    """A link like /news/1 is resolved against the URL the feed was fetched from."""
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>rel</title><link>/news/1?utm_source=rss</link></item>"
        b"<item><title>js</title><link>javascript:alert(1)</link></item></channel></rss>"
    )
    rel, js = await check(server, settings, "rel", body)
    assert rel.link == f"http://127.0.0.1:{server.port}/news/1?utm_source=rss"
    assert rel.id == f"http://127.0.0.1:{server.port}/news/1"
    assert js.link == ""


async def test_script_tags_in_titles_are_removed(server: FeedServer, settings: Settings) -> None:
    """Escaped and CDATA script tags in titles and summaries never reach the article text."""
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><guid>1</guid>'
        b"<title>Truce &lt;script&gt;alert('x')&lt;/script&gt; holds</title>"
        b"<description><![CDATA[<p>Talks <script>steal()</script>resume</p>]]></description>"
        b"</item></channel></rss>"
    )
    [article] = await check(server, settings, "xss", body)
    assert (article.title, article.summary) == ("Truce holds", "Talks resume")


async def test_check_reports_an_http_error_as_a_feed_error(
    server: FeedServer, settings: Settings
) -> None:
    """A 404 is a FeedError with the status, for a one-line message and exit status 2."""
    with pytest.raises(FeedError) as err:
        await check_feed(settings, server.url("missing"))
    assert err.value.status == 404
