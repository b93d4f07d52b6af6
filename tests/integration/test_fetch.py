"""The shared HTTP client against a local server that misbehaves the way real feed servers do."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from monitor.fetch import Fetcher, Validators, is_public_address
from monitor.settings import PollSettings
from tests.integration.feedserver import FeedServer, rss

BODY = rss(("1", "Truce talks", "a"))


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(PollSettings(timeout=5, read_timeout=1, max_bytes=1_000_000)) as client:
        yield client


async def test_etag_makes_the_second_fetch_a_304(server: FeedServer, fetcher: Fetcher) -> None:
    """The ETag from the first answer is sent back, and a 304 counts as not modified."""
    server.feeds["wire"] = BODY
    first = await fetcher.fetch(server.url("wire"), allow_private=True)
    assert first.ok and first.status == 200 and first.validators.etag
    second = await fetcher.fetch(
        server.url("wire"), validators=first.validators, allow_private=True
    )
    assert (second.status, second.not_modified) == (304, True)
    assert server.requests[-1][1] == first.validators.etag


async def test_last_modified_alone_makes_the_fetch_conditional(
    server: FeedServer, fetcher: Fetcher
) -> None:
    """A server with only Last-Modified gets If-Modified-Since and answers 304."""
    server.feeds["lm"] = BODY
    server.last_modified_only.add("lm")
    first = await fetcher.fetch(server.url("lm"), allow_private=True)
    assert first.validators.last_modified and not first.validators.etag
    second = await fetcher.fetch(server.url("lm"), validators=first.validators, allow_private=True)
    assert second.status == 304 and second.not_modified
    assert server.requests[-1][2] == first.validators.last_modified


async def test_a_server_ignoring_validators_with_the_same_body_counts_as_unchanged(
    server: FeedServer, fetcher: Fetcher
) -> None:
    """No ETag, no Last-Modified, same bytes: the body hash says not modified."""
    server.feeds["plain"] = BODY
    server.ignore_validators.add("plain")
    first = await fetcher.fetch(server.url("plain"), allow_private=True)
    second = await fetcher.fetch(
        server.url("plain"), validators=first.validators, allow_private=True
    )
    assert (second.status, second.not_modified) == (200, True)
    server.feeds["plain"] = rss(("2", "New", "b"))
    third = await fetcher.fetch(
        server.url("plain"), validators=second.validators, allow_private=True
    )
    assert not third.not_modified


@pytest.mark.parametrize("code", [301, 308])
async def test_a_permanent_redirect_reports_the_new_url(
    server: FeedServer, fetcher: Fetcher, code: int
) -> None:
    """301 and 308 are followed and report where the feed now lives."""
    server.feeds["new"] = BODY
    server.redirects["old"] = (code, "new")
    result = await fetcher.fetch(server.url("old"), allow_private=True)
    assert result.ok and result.body == BODY
    assert result.permanent_url == server.url("new") == result.final_url


async def test_a_temporary_redirect_keeps_the_old_url(server: FeedServer, fetcher: Fetcher) -> None:
    """A 302 anywhere in the chain means the stored URL stays."""
    server.feeds["new"] = BODY
    server.redirects["old"] = (302, "new")
    result = await fetcher.fetch(server.url("old"), allow_private=True)
    assert result.ok and result.permanent_url is None and result.final_url == server.url("new")


async def test_a_redirect_loop_is_an_error_naming_the_loop(
    server: FeedServer, fetcher: Fetcher
) -> None:
    """a -> b -> a stops at once with an error that shows the chain."""
    server.redirects["a"] = (301, "b")
    server.redirects["b"] = (308, "a")
    result = await fetcher.fetch(server.url("a"), allow_private=True)
    assert not result.ok and "redirect loop" in (result.error or "")
    assert server.count("a") == 1 and server.count("b") == 1


async def test_410_is_gone(server: FeedServer, fetcher: Fetcher) -> None:
    """410 Gone is an error flagged as gone, saying polling stops."""
    server.status["dead"] = 410
    result = await fetcher.fetch(server.url("dead"), allow_private=True)
    assert result.gone and "gone" in (result.error or "")


@pytest.mark.parametrize("code", [429, 503])
async def test_retry_after_is_read_on_429_and_503(
    server: FeedServer, fetcher: Fetcher, code: int
) -> None:
    """Retry-After in seconds comes back for the scheduler."""
    server.status["busy"] = code
    server.headers["busy"] = {"Retry-After": "120"}
    result = await fetcher.fetch(server.url("busy"), allow_private=True)
    assert not result.ok and result.retry_after == 120


async def test_cache_control_max_age_is_read(server: FeedServer, fetcher: Fetcher) -> None:
    """max-age comes back as a lower bound for the next poll."""
    server.feeds["cached"] = BODY
    server.headers["cached"] = {"Cache-Control": "public, max-age=900"}
    result = await fetcher.fetch(server.url("cached"), allow_private=True)
    assert result.max_age == 900


async def test_a_server_that_stalls_times_out(server: FeedServer, fetcher: Fetcher) -> None:
    """Headers then silence: the read timeout ends the fetch with a clear error."""
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await resp.prepare(request)
        await resp.write(b"<?xml version='1.0'?><rss>")
        await release.wait()
        return resp

    server.handlers["stall"] = stall
    result = await fetcher.fetch(server.url("stall"), allow_private=True)
    release.set()
    assert not result.ok and "timed out" in (result.error or "")


async def test_a_50_mb_body_is_cut_while_streaming(server: FeedServer, fetcher: Fetcher) -> None:
    """A huge chunked body (no Content-Length) is cut at the cap, not read to the end."""
    sent = 0

    async def huge(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        chunk = b"<x>" + b"a" * 65533
        try:
            for _ in range(50 * 16):  # 50 MB
                await resp.write(chunk)
                sent += len(chunk)
        except (ConnectionResetError, OSError):
            pass
        return resp

    server.handlers["huge"] = huge
    result = await fetcher.fetch(server.url("huge"), allow_private=True)
    assert not result.ok and "larger than 1000000 bytes" in (result.error or "")
    assert sent < 50 * 2**20


async def test_a_declared_huge_body_is_refused_before_reading(
    server: FeedServer, fetcher: Fetcher
) -> None:
    """A Content-Length over the cap is refused without reading the body."""
    server.feeds["big"] = b"<rss>" + b"a" * 2_000_000 + b"</rss>"
    result = await fetcher.fetch(server.url("big"), allow_private=True)
    assert not result.ok and "larger than" in (result.error or "")


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compression_bomb_is_cut_by_the_size_cap(
    server: FeedServer, fetcher: Fetcher, encoding: str
) -> None:
    """100 MB of zeros compressed to ~100 kB is cut at the cap while decompressing."""
    zeros = b"\0" * (100 * 2**20)
    bomb = gzip.compress(zeros, 9) if encoding == "gzip" else zlib.compress(zeros, 9)
    server.feeds["bomb"] = bomb
    server.headers["bomb"] = {"Content-Encoding": encoding}
    result = await fetcher.fetch(server.url("bomb"), allow_private=True)
    assert not result.ok and "larger than" in (result.error or "")


async def test_a_gzipped_feed_is_decoded(server: FeedServer, fetcher: Fetcher) -> None:
    """Ordinary compression works: gzip bodies come back decoded."""
    server.feeds["gz"] = gzip.compress(BODY)
    server.headers["gz"] = {"Content-Encoding": "gzip"}
    result = await fetcher.fetch(server.url("gz"), allow_private=True)
    assert result.ok and result.body == BODY


async def test_loopback_is_refused_unless_allowed(server: FeedServer, fetcher: Fetcher) -> None:
    """Without allow_private, 127.0.0.1 is refused before any request is made."""
    server.feeds["wire"] = BODY
    result = await fetcher.fetch(server.url("wire"))
    assert not result.ok and "private" in (result.error or "") and server.requests == []


async def test_localhost_by_name_is_refused_in_the_resolver_too(
    server: FeedServer, fetcher: Fetcher
) -> None:
    """A host name resolving to loopback is refused (the guard is in the connection's resolver)."""
    server.feeds["wire"] = BODY
    result = await fetcher.fetch(f"http://localhost:{server.port}/wire")
    assert not result.ok and "private" in (result.error or "") and server.requests == []


def test_only_global_unicast_addresses_are_public() -> None:
    """Loopback, private, link-local (metadata), shared and mapped addresses are not public."""
    for address in (
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "172.16.5.4",
        "169.254.169.254",
        "100.100.100.200",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ):
        assert not is_public_address(address), address
    assert is_public_address("93.184.216.34") and is_public_address("2606:4700::1111")


async def test_validators_round_trip_unchanged_on_304(server: FeedServer, fetcher: Fetcher) -> None:
    """A 304 hands back the validators it was given, so nothing is forgotten."""
    server.feeds["wire"] = BODY
    first = await fetcher.fetch(server.url("wire"), allow_private=True)
    again = await fetcher.fetch(server.url("wire"), validators=first.validators, allow_private=True)
    assert again.validators == first.validators
    assert Validators() != first.validators
