"""Article normalisation: plain text, canonical links, stable ids."""

from monitor.articles import article_id, canonical_link, to_plain_text


def test_plain_text_strips_tags_entities_and_zero_width_spaces() -> None:
    """Markup, entities and invisible spaces never reach the matcher."""
    assert (
        to_plain_text("<p>Kyiv&nbsp;talks</p><br>resume\u200b <b>today</b>")
        == "Kyiv talks resume today"
    )


def test_plain_text_drops_script_bodies() -> None:
    """A script in a feed's summary is removed with its content, not turned into text."""
    assert to_plain_text("truce<script>alert(1)</script> holds") == "truce holds"


def test_canonical_link_drops_tracking_parameters_and_fragment() -> None:
    """utm_* and known trackers are removed; meaningful query parameters stay."""
    link = "HTTPS://News.Example/a/b?id=7&utm_source=rss&utm_medium=feed&fbclid=x#top"
    assert canonical_link(link) == "https://news.example/a/b?id=7"


def test_article_id_prefers_guid_then_link_then_hash() -> None:
    """A guid wins (qualified by the feed unless a URL), then the canonical link, then a hash."""
    feed = "https://f.example/rss"
    assert (
        article_id(guid="abc", link="https://x.example/1", feed_url=feed, title="t")
        == f"{feed}#abc"
    )
    assert article_id(
        guid=None, link="https://x.example/1?utm_source=a", feed_url=feed, title="t"
    ) == ("https://x.example/1")
    hashed = article_id(guid=None, link=None, feed_url=feed, title="t")
    assert hashed.startswith("sha256:")
    assert hashed == article_id(guid="", link="", feed_url=feed, title="t")
