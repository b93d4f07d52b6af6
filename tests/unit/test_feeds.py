"""Parsing feed bytes: never raises; problems are data on the result."""

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.feeds import FeedConfig, load_feed_list, parse_feed

FEED = FeedConfig(url="https://wire.example/rss.xml", name="Wire")
RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title><ttl>15</ttl>
<item><title>Truce &amp; talks</title><link>https://wire.example/a?utm_source=rss</link>
<guid>https://wire.example/a</guid><pubDate>Tue, 11 Mar 2025 18:00:00 GMT</pubDate>
<description>&lt;p&gt;Ukraine accepts a 30-day ceasefire.&lt;/p&gt;</description></item>
</channel></rss>"""
ATOM = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>Atom Wire</title><id>urn:x</id><updated>2025-03-25T10:00:00Z</updated>
<entry><id>urn:x:1</id><title>Black Sea deal</title><link href="https://a.example/1"/>
<updated>2025-03-25T10:00:00Z</updated><summary>Safe navigation agreed.</summary></entry></feed>"""


def test_rss_items_become_normalised_articles() -> None:
    """Title and summary are plain text, the id is the guid, the time is UTC, ttl is read."""
    parsed = parse_feed(RSS, feed=FEED)
    assert parsed.error is None
    [article] = parsed.articles
    assert article.title == "Truce & talks"
    assert article.summary == "Ukraine accepts a 30-day ceasefire."
    assert article.id == "https://wire.example/a"
    assert (
        article.published is not None
        and article.published.isoformat() == "2025-03-11T18:00:00+00:00"
    )
    assert article.source.name == "Wire"
    assert parsed.ttl_seconds == 900


def test_atom_entries_parse_too() -> None:
    """Atom's id, link and updated map onto the same article fields."""
    [article] = parse_feed(ATOM, feed=FEED).articles
    assert (article.title, article.link, article.id) == (
        "Black Sea deal",
        "https://a.example/1",
        f"{FEED.url}#urn:x:1",
    )


@pytest.mark.parametrize(
    "body",
    [b"", b"<html><body>Not a feed</body></html>", b"\x00\xff garbage", b"<rss><channel><item>"],
)
def test_broken_bodies_become_parse_errors_not_exceptions(body: bytes) -> None:
    """Whatever the server sends, the result is data: no entries means a recorded error."""
    parsed = parse_feed(body, feed=FEED)
    assert parsed.articles == []
    assert parsed.error


def test_feed_list_errors_name_the_file_and_field(tmp_path: Path) -> None:
    """A bad feed list is refused with the file and the offending field."""
    path = tmp_path / "feeds.yaml"
    path.write_text("version: 1\nfeeds:\n  - url: ftp://nope\n")
    with pytest.raises(ConfigError) as err:
        load_feed_list(path)
    assert str(path) in str(err.value) and "feeds.0.url" in str(err.value)
