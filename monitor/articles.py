"""Turning raw feed entries into clean article fields: plain text, canonical links, stable ids."""

from __future__ import annotations

import hashlib
import html
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "mc_cid",
        "mc_eid",
        "ocid",
        "cmpid",
        "icid",
        "traffic_source",
        "ref",
        "ref_src",
        "smid",
        "smtyp",
        "taid",
        "partner",
        "rss",
        "at_medium",
        "at_campaign",
    }
)
_TAG = re.compile(r"<[^>]+>")
_BLOCK = re.compile(r"</?(p|br|div|li|h[1-6])\b[^>]*>", re.IGNORECASE)
_SPACE = re.compile(r"[\s\u200b\u200c\u200d\ufeff]+")
_SCRIPTS = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


def to_plain_text(markup: str) -> str:
    """Strip tags, decode entities and collapse whitespace (zero-width spaces included)."""
    text = _SCRIPTS.sub(" ", markup)
    text = _BLOCK.sub(" ", text)
    text = _TAG.sub("", text)
    text = html.unescape(text)
    return _SPACE.sub(" ", text).strip()


def canonical_link(link: str) -> str:
    """Lower-case the scheme and host, drop the fragment and tracking parameters (utm_* and co)."""
    parts = urlsplit(link.strip())
    if not parts.scheme or not parts.netloc:
        return link.strip()
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in TRACKING_PARAMS
    ]
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", urlencode(query), "")
    )


def article_id(*, guid: str | None, link: str | None, feed_url: str, title: str) -> str:
    """A stable id: the guid, else the canonical link, else a hash of feed and title.

    Guids are only unique within a feed, so a guid that is not a URL is qualified by the feed.
    """
    if guid and guid.strip():
        guid = guid.strip()
        if guid.startswith(("http://", "https://")):
            return canonical_link(guid)
        return f"{feed_url}#{guid}"
    if link and link.strip():
        return canonical_link(link)
    digest = hashlib.sha256(f"{feed_url}\n{title}".encode()).hexdigest()[:32]
    return f"sha256:{digest}"
