"""Rule changes over HTTP on the status page's server, against the embedded broker and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from monitor.rulesapi import add_rule_api
from monitor.settings import Settings, WebSettings
from monitor.status import StatusStore
from monitor.web import WebServer
from tests.factories import settings_factory

TOKEN = "s3cret-test-token"
RULE = """version: 1
rules:
  - id: api-truce
    title: Truces (added over HTTP)
    event: trump-putin-call-2025-02-12
    category: ceasefire
    match:
      any:
        truce: [truce]
"""


async def serve(settings: Settings) -> AsyncIterator[str]:
    store = StatusStore.from_url(str(settings.redis_url))
    server = WebServer(store, "127.0.0.1", 0, extend=lambda app: add_rule_api(app, settings))
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()
        await store.close()


@pytest.fixture
async def open_api(broker: str, fresh_redis: str, tmp_path: Path) -> AsyncIterator[str]:
    settings = settings_factory(
        tmp_path,
        kafka_broker=f"kafka://{broker}",
        redis_url=fresh_redis,
        web=WebSettings(port=0),
        api_token=SecretStr(TOKEN),
    )
    async for url in serve(settings):
        yield url


@pytest.fixture
async def read_only_api(broker: str, fresh_redis: str, tmp_path: Path) -> AsyncIterator[str]:
    settings = settings_factory(tmp_path, kafka_broker=f"kafka://{broker}", redis_url=fresh_redis)
    async for url in serve(settings):
        yield url


async def call(
    method: str, url: str, body: str | None = None, token: str | None = None
) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, data=body, headers=headers) as resp,
    ):
        return resp.status, await resp.json()


async def active(url: str) -> dict[str, dict[str, object]]:
    status, body = await call("GET", url + "api/rules")
    assert status == 200
    return {row["id"]: row for row in body["rules"]}  # type: ignore[attr-defined, index]


async def test_without_a_token_the_api_is_read_only(read_only_api: str) -> None:
    """GET works for anyone; changes are refused with a message saying how to allow them."""
    assert (await call("GET", read_only_api + "api/rules"))[0] == 200
    status, body = await call("POST", read_only_api + "api/rules", RULE, token=TOKEN)
    assert status == 403 and "MONITOR_API_TOKEN" in str(body["error"])
    assert (await call("DELETE", read_only_api + "api/rules/x", token=TOKEN))[0] == 403


async def test_add_backtest_and_remove_with_the_token(open_api: str) -> None:
    """Wrong or missing tokens are refused; a bad rule is refused with its field; a good one is
    published, shows in the list and can be removed; a backtest publishes nothing."""
    url = open_api + "api/rules"
    assert (await call("POST", url, RULE))[0] == 401
    assert (await call("POST", url, RULE, token="wrong"))[0] == 401

    status, body = await call("POST", url, RULE.replace("[truce]", "truce"), token=TOKEN)
    assert status == 400
    assert "<request body>: rule 'api-truce': field `rules.0.match.any.truce`" in str(body["error"])

    status, body = await call("POST", url + "?backtest=14d", RULE, token=TOKEN)
    assert status == 200 and "api-truce" in str(body["text"])
    assert "api-truce" not in await active(open_api)

    status, body = await call("POST", url, RULE, token=TOKEN)
    assert status == 201 and body["unchanged"] == []
    row = (await active(open_api))["api-truce"]
    assert row["version"] == 1 and str(row["added_by"]).startswith("api@")

    status, body = await call("POST", url, RULE, token=TOKEN)
    assert status == 201 and body["unchanged"] == ["api-truce"]

    assert (await call("DELETE", url + "/api-truce", token=TOKEN))[0] == 200
    assert "api-truce" not in await active(open_api)
    assert (await call("DELETE", url + "/api-truce", token=TOKEN))[0] == 404
