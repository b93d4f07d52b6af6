"""Fetching feeds over HTTP, defensively: one shared client for every feed.

- conditional GET (ETag, Last-Modified); an unchanged body (by hash) counts as not modified;
- gzip/deflate decoded here, in a stream, so the size cap also cuts decompression bombs;
- redirects followed by hand: each hop is checked against the private-address guard, a loop is an
  error, and a chain of permanent redirects (301/308) reports the new URL to store;
- connect, read and total timeouts; a per-host limit on fetches in flight;
- private, loopback, link-local and metadata addresses are refused unless the feed allows them,
  both before connecting and in the resolver the connection uses (so DNS rebinding does not help);
- ``Retry-After`` (429/503) and ``Cache-Control: max-age`` come back as numbers for the scheduler.

``Fetcher.fetch`` never raises for a bad server: every outcome is a :class:`FetchResult`.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
import socket
import time
import zlib
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from monitor.settings import PollSettings

log = logging.getLogger(__name__)
MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 24 * 3600.0
CHUNK = 65536
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


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
    headers: dict[str, str] = field(default_factory=dict)
    validators: Validators = Validators()
    not_modified: bool = False
    error: str | None = None
    elapsed: float = 0.0
    final_url: str | None = None
    permanent_url: str | None = None
    retry_after: float | None = None
    max_age: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def gone(self) -> bool:
        return self.status == 410


class FetchRefusedError(OSError):
    """The resolver refused an address (private, loopback, link-local, metadata)."""


def body_digest(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def is_public_address(address: str) -> bool:
    """Only globally routable unicast addresses count as public (IPv4-mapped IPv6 unwrapped)."""
    try:
        addr = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_global and not addr.is_multicast


async def is_private_host(url: str) -> bool:
    """True when the URL's host is, or resolves to, any address that is not public."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return not is_public_address(host)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False  # the fetch itself reports the resolution error
    return any(not is_public_address(str(info[4][0])) for info in infos)


def is_private_literal(url: str) -> bool:
    """True when the URL's host is an IP address that is not public. Host names are checked by
    :class:`GuardedResolver` when the connection resolves them (one lookup, no rebinding gap)."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return not is_public_address(host)


class GuardedResolver(AbstractResolver):
    """Resolves like the default resolver, then drops every address that is not public."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        infos = await self._inner.resolve(host, port, family)
        allowed = [i for i in infos if is_public_address(i["host"])]
        if not allowed:
            raise FetchRefusedError(f"refused: {host} resolves to a private or local address")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


class BodyTooLargeError(Exception):
    """A body (after decompression) passed the size cap."""


class _FetchError(ValueError):
    """A response that cannot be used (bad redirect, bad encoding)."""


class Fetcher:
    """The shared HTTP client: two pooled sessions (guarded, and trusted for feeds that allow
    private addresses), one per-host semaphore per host. Use as an async context manager."""

    def __init__(self, settings: PollSettings):
        self.settings = settings
        self._sessions: dict[bool, aiohttp.ClientSession] = {}
        self._hosts: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()

    def session(self, allow_private: bool) -> aiohttp.ClientSession:
        if allow_private not in self._sessions:
            self._sessions[allow_private] = _new_session(self.settings, guarded=not allow_private)
        return self._sessions[allow_private]

    def _host_limit(self, url: str) -> asyncio.Semaphore:
        host = urlsplit(url).netloc.lower()
        if host not in self._hosts:
            self._hosts[host] = asyncio.Semaphore(self.settings.per_host)
        return self._hosts[host]

    async def fetch(
        self, url: str, *, validators: Validators = Validators(), allow_private: bool = False
    ) -> FetchResult:
        """GET a feed, conditionally, following redirects by hand. Never raises for bad servers."""
        started = time.monotonic()
        async with self._host_limit(url):
            try:
                result = await self._fetch(url, validators, allow_private)
            except BodyTooLargeError:
                result = FetchResult(
                    url, None, error=f"body larger than {self.settings.max_bytes} bytes; cut off"
                )
            except _FetchError as exc:
                result = FetchResult(url, None, error=str(exc))
            except TimeoutError:
                result = FetchResult(url, None, error="timed out")
            except aiohttp.ClientConnectorError as exc:
                refused = isinstance(exc.os_error, FetchRefusedError)
                message = str(exc.os_error) if refused else f"cannot connect: {exc}"
                result = FetchResult(url, None, error=message)
            except aiohttp.ClientError as exc:
                result = FetchResult(url, None, error=f"{type(exc).__name__}: {exc}")
        return _with_elapsed(result, time.monotonic() - started)

    async def _fetch(self, url: str, validators: Validators, allow_private: bool) -> FetchResult:
        session = self.session(allow_private)
        headers = {"Accept": ACCEPT}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        current, chain, permanent = url, [url], True
        for _hop in range(MAX_REDIRECTS + 1):
            if not allow_private and is_private_literal(current):
                raise _FetchError("refused: host resolves to a private or local address")
            async with session.get(current, headers=headers, allow_redirects=False) as resp:
                location = resp.headers.get("Location")
                if resp.status in (301, 302, 303, 307, 308) and location:
                    target = urljoin(current, location)
                    if urlsplit(target).scheme not in ("http", "https"):
                        raise _FetchError(f"redirect to a non-HTTP URL: {target}")
                    if target in chain:
                        raise _FetchError("redirect loop: " + " -> ".join([*chain, target]))
                    permanent = permanent and resp.status in (301, 308)
                    chain.append(target)
                    current = target
                    continue
                moved = current if permanent and current != url else None
                return await self._response(url, current, moved, resp, validators)
        raise _FetchError(f"too many redirects (more than {MAX_REDIRECTS}): {' -> '.join(chain)}")

    async def _response(
        self,
        url: str,
        final: str,
        moved: str | None,
        resp: aiohttp.ClientResponse,
        validators: Validators,
    ) -> FetchResult:
        headers = {k.lower(): v for k, v in resp.headers.items()}
        common: dict[str, Any] = {
            "final_url": final,
            "permanent_url": moved,
            "headers": headers,
            "max_age": _max_age(headers.get("cache-control")),
        }
        if resp.status == 304:
            return FetchResult(url, 304, validators=validators, not_modified=True, **common)
        if resp.status >= 400 or resp.status < 200:
            retry = _retry_after(headers.get("retry-after")) if resp.status in (429, 503) else None
            reason = f"HTTP {resp.status} {resp.reason or ''}".strip()
            if resp.status == 410:
                reason += ": the feed is gone; polling it stops (retried rarely)"
            return FetchResult(url, resp.status, error=reason, retry_after=retry, **common)
        body = await read_capped(resp, self.settings.max_bytes)
        digest = body_digest(body)
        new_validators = Validators(
            etag=headers.get("etag"), last_modified=headers.get("last-modified"), body_hash=digest
        )
        return FetchResult(
            url,
            resp.status,
            body=body,
            validators=new_validators,
            not_modified=digest == validators.body_hash,
            **common,
        )


def _new_session(settings: PollSettings, *, guarded: bool) -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(
        total=settings.timeout,
        sock_connect=min(settings.connect_timeout, settings.timeout),
        sock_read=min(settings.read_timeout, settings.timeout),
    )
    connector = aiohttp.TCPConnector(
        limit=max(settings.concurrency, 1),
        limit_per_host=max(settings.per_host, 1),
        resolver=GuardedResolver() if guarded else ThreadedResolver(),
        ttl_dns_cache=300,
    )
    return aiohttp.ClientSession(
        timeout=timeout,
        connector=connector,
        auto_decompress=False,  # decoded in read_capped, under the size cap
        headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
    )


async def read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """Read (and gunzip/inflate) a body, stopping as soon as it passes ``max_bytes``."""
    declared = resp.headers.get("Content-Length", "")
    encoding = resp.headers.get("Content-Encoding", "").strip().lower()
    if declared.isdigit() and int(declared) > max_bytes and encoding in ("", "identity"):
        raise BodyTooLargeError
    decoder = _decoder(encoding)
    out = bytearray()
    async for chunk in resp.content.iter_chunked(CHUNK):
        if decoder is None:
            out += chunk
        else:
            try:
                out += decoder.decompress(chunk, max_bytes + 1 - len(out))
            except zlib.error as exc:
                raise _FetchError(f"body is not valid {encoding}: {exc}") from exc
            if decoder.unconsumed_tail:
                raise BodyTooLargeError
        if len(out) > max_bytes:
            raise BodyTooLargeError
    if decoder is not None:
        out += decoder.flush(max_bytes + 1 - len(out))
        if len(out) > max_bytes:
            raise BodyTooLargeError
    return bytes(out)


def decode_body(body: bytes, encoding: str, max_bytes: int) -> bytes:
    """Decode a whole (already received) body under the same cap, for pushed content."""
    decoder = _decoder(encoding.strip().lower())
    if decoder is None:
        if len(body) > max_bytes:
            raise BodyTooLargeError
        return body
    try:
        out: bytes = decoder.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise _FetchError(f"body is not valid {encoding}: {exc}") from exc
    if decoder.unconsumed_tail or len(out) > max_bytes:
        raise BodyTooLargeError
    return out


def _decoder(encoding: str) -> Any:
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header, detected
    raise _FetchError(f"unsupported Content-Encoding {encoding!r}")


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped at a day."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, min(when.timestamp() - time.time(), MAX_RETRY_AFTER))


def _max_age(value: str | None) -> float | None:
    if not value:
        return None
    match = _MAX_AGE.search(value)
    return float(match.group(1)) if match else None


def _with_elapsed(result: FetchResult, elapsed: float) -> FetchResult:
    return replace(result, elapsed=elapsed)
