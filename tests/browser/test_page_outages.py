"""The open page tells the truth when parts of the system stop, and recovers by itself."""

from __future__ import annotations

from pathlib import Path

from tests.browser.cdp import Browser
from tests.browser.servers import (
    RestartableRedis,
    alert,
    beat_as_stopped,
    feed_state,
    status_page,
)

HEALTH = "document.getElementById('health').textContent"
BANNER = "document.getElementById('problems')"


async def test_stopped_worker_is_shown_stale(browser: Browser, fresh_redis: str) -> None:
    """A worker whose last beat is a minute old is marked STALE, the page says no worker is
    live, and a fresh poller stays unmarked."""
    async with status_page(fresh_redis) as (store, server):
        await beat_as_stopped(store, "worker", "w1", seconds_ago=60)
        await store.heartbeat("poller", "p1")
        page = await browser.new_page()
        await page.goto(server.url)
        await page.wait_for(f"{HEALTH} === 'no live worker'")
        rows = await page.wait_for(
            "[...document.querySelectorAll('#parts tr')].map(r => [r.className, r.textContent])"
        )
        stale = {text.split(":")[0]: cls for cls, text in rows}
        assert any(cls == "stale" and "worker w1" in text and "STALE" in text for cls, text in rows)
        assert any(cls == "" and "poller p1" in text for cls, text in rows), stale
        assert "no worker has a fresh heartbeat" in await page.evaluate(f"{BANNER}.textContent")
        assert page.errors == []


async def test_redis_outage_is_a_clear_message_and_the_page_recovers(
    browser: Browser, tmp_path: Path
) -> None:
    """With Redis stopped the open page says Redis is unreachable and what to do, keeping the
    last data; when Redis is back the page shows fresh data again without a reload."""
    redis = RestartableRedis(tmp_path / "redis")
    redis.start()
    try:
        async with status_page(redis.url) as (store, server):
            await store.heartbeat("worker", "w1")
            await store.save_feed(feed_state())
            await store.record_alerts([alert()])
            page = await browser.new_page()
            await page.goto(server.url)
            await page.wait_for(f"{HEALTH} === 'healthy'")
            await page.wait_for("document.querySelectorAll('#alerts li.alert').length === 1")

            redis.stop()
            await page.wait_for(f"{HEALTH} === 'Redis unreachable'")
            banner = await page.evaluate(f"{BANNER}.textContent")
            assert "Redis unreachable" in banner and "retries by itself" in banner
            assert await page.evaluate(f"{BANNER}.hidden") is False
            assert await page.evaluate("document.querySelectorAll('#feeds tr').length") == 1

            redis.start()
            await store.heartbeat("worker", "w2")
            await page.wait_for(f"{HEALTH} === 'healthy'")
            await page.wait_for(f"{BANNER}.hidden")
            parts = await page.evaluate("document.getElementById('parts').textContent")
            assert "worker w2" in parts
            assert page.loads == 1
            assert page.errors == []
    finally:
        redis.stop()
