"""Turning raw feed entries into clean article fields: plain text, canonical links, stable ids,
content fingerprints. Every function here is total (never raises on odd text) and idempotent."""

from __future__ import annotations

import hashlib
import html
import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

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
_TAG = re.compile(r"<[a-zA-Z/!?][^>]*>")
_BLOCK = re.compile(r"</?(p|br|div|li|h[1-6])\b[^>]*>", re.IGNORECASE)
_SPACE = re.compile(r"[\s\u200b\u200c\u200d\ufeff]+")
_SCRIPTS = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_WORD = re.compile(r"\w+")


def _plain_once(markup: str) -> str:
    text = _SCRIPTS.sub(" ", markup)
    text = _BLOCK.sub(" ", text)
    text = _TAG.sub("", text)
    text = html.unescape(text)
    text = _CONTROL.sub("", text)
    return _SPACE.sub(" ", text).strip()


def to_plain_text(markup: str) -> str:
    """Strip tags, decode entities and collapse whitespace (zero-width spaces included).

    Feeds often escape their HTML twice (``&amp;lt;p&amp;gt;``), so this repeats until nothing
    changes: the result is a fixed point, and the function is idempotent. Each repeat that changes
    the text shortens it (or only normalises spaces), so the loop ends.
    """
    text = _plain_once(markup)
    while True:
        again = _plain_once(text)
        if again == text:
            return text
        text = again


def content_fingerprint(title: str, summary: str) -> str:
    """A hash of the words of title and summary, ignoring case, spacing and punctuation: an
    entry whose fingerprint changes has changed materially and is published again."""
    words = " ".join(_WORD.findall(f"{title}\n{summary}".casefold()))
    return hashlib.blake2b(words.encode(), digest_size=12).hexdigest()


def canonical_link(link: str) -> str:
    """Lower-case the scheme and host, drop the fragment and tracking parameters (utm_* and co)."""
    try:
        parts = urlsplit(link.strip())
    except ValueError:
        return link.strip()
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


def absolute_link(link: str, base: str) -> str:
    """The link resolved against the feed's URL; empty unless it is http(s) (no ``javascript:``)."""
    link = _SPACE.sub("", link or "")
    if not link:
        return ""
    try:
        # an absolute link is kept as it is: urljoin would drop an empty ";params" and make
        # resolving twice differ from resolving once
        absolute = urlsplit(link).scheme.lower() in ("http", "https")
        resolved = _CONTROL.sub("", link if absolute else _SPACE.sub("", urljoin(base, link)))
        scheme = urlsplit(resolved).scheme.lower()
    except ValueError:
        return ""
    return resolved if scheme in ("http", "https") else ""


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
