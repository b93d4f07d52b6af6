"""Fetching feeds over HTTP: conditional GET, a body-size cap enforced while streaming, timeouts.

``fetch_feed`` never raises for a bad server: every outcome is a :class:`FetchResult`.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from monitor.settings import PollSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Validators:
    """What a server gave us to make the next request conditional."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """One fetch's outcome. ``error`` is set when nothing usable came back."""

    url: str
    status: int | None
    body: bytes = b""
    headers: dict[str, str] | None = None
    validators: Validators = Validators()
    not_modified: bool = False
    error: str | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


async def is_private_host(url: str) -> bool:
    """True when the URL's host resolves to a loopback, private, link-local or reserved address."""
    host = urlsplit(url).hostname or ""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False  # the fetch itself will report the resolution error
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_reserved:
            return True
    return False


def new_session(settings: PollSettings) -> aiohttp.ClientSession:
    """One shared client for all fetches (connection pooling, per-host limit)."""
    timeout = aiohttp.ClientTimeout(total=settings.timeout, sock_connect=min(10, settings.timeout))
    connector = aiohttp.TCPConnector(limit=settings.concurrency, limit_per_host=4)
    return aiohttp.ClientSession(
        timeout=timeout,
        connector=connector,
        headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
    )


async def fetch_feed(
    session: aiohttp.ClientSession,
    url: str,
    *,
    validators: Validators,
    max_bytes: int,
    allow_private: bool = False,
) -> FetchResult:
    """GET a feed, conditionally. A body equal (by hash) to the last one counts as not modified."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    if not allow_private and await is_private_host(url):
        return FetchResult(url, None, error="refused: host resolves to a private or local address")
    headers = {
        "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"
    }
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    try:
        async with session.get(url, headers=headers, max_redirects=5) as resp:
            if resp.status == 304:
                return FetchResult(
                    url,
                    304,
                    validators=validators,
                    not_modified=True,
                    elapsed=loop.time() - started,
                )
            if resp.status >= 400:
                return FetchResult(
                    url,
                    resp.status,
                    error=f"HTTP {resp.status} {resp.reason}",
                    elapsed=loop.time() - started,
                )
            body = await _read_capped(resp, max_bytes)
            resp_headers = {k.lower(): v for k, v in resp.headers.items()}
    except _TooLargeError:
        return FetchResult(url, None, error=f"body larger than {max_bytes} bytes; cut off")
    except aiohttp.TooManyRedirects:
        return FetchResult(url, None, error="too many redirects (a loop?)")
    except TimeoutError:
        return FetchResult(url, None, error="timed out")
    except aiohttp.ClientError as exc:
        return FetchResult(url, None, error=f"{type(exc).__name__}: {exc}")
    digest = body_digest(body)
    new_validators = Validators(
        etag=resp_headers.get("etag"),
        last_modified=resp_headers.get("last-modified"),
        body_hash=digest,
    )
    return FetchResult(
        url,
        resp.status,
        body=body,
        headers=resp_headers,
        validators=new_validators,
        not_modified=digest == validators.body_hash,
        elapsed=loop.time() - started,
    )


class _TooLargeError(Exception):
    pass


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(65536):
        size += len(chunk)
        if size > max_bytes:
            raise _TooLargeError
        chunks.append(chunk)
    return b"".join(chunks)
