"""Whatever a feed says is shown as text: hostile titles, names, errors and links do nothing."""

from __future__ import annotations

from tests.browser.cdp import Browser
from tests.browser.servers import alert, feed_state, status_page

SCRIPT = "<script>window.__xss = 'script'</script>"
IMG = "<img src=x onerror=\"window.__xss = 'img'\">"


async def test_script_titles_show_as_text_and_never_run(browser: Browser, fresh_redis: str) -> None:
    """A `<script>` headline, an `<img onerror>` feed name and error, and a `javascript:` link
    render literally; no script runs, no element is injected, and the CSP reports nothing."""
    async with status_page(fresh_redis) as (store, server):
        await store.save_feed(
            feed_state(name=f"{IMG} Evil Feed", status="failing", last_error=f"{SCRIPT} 500")
        )
        await store.record_alerts(
            [
                alert(
                    f"{SCRIPT} Ceasefire headline",
                    link="javascript:window.__xss='link'",
                    sources=[IMG],
                )
            ]
        )
        await store.heartbeat("worker", f"{SCRIPT}")
        page = await browser.new_page()
        await page.goto(server.url)
        await page.wait_for("document.querySelectorAll('#alerts li.alert').length === 1")
        await page.wait_for("document.querySelectorAll('#feeds tr').length === 1")
        text = await page.evaluate("document.querySelector('main').textContent")
        assert f"{SCRIPT} Ceasefire headline" in text
        assert f"{IMG} Evil Feed" in text
        assert f"{SCRIPT} 500" in text
        injected = await page.evaluate(
            "document.querySelectorAll('main script, main img, header script').length"
        )
        assert injected == 0
        assert await page.evaluate("typeof window.__xss") == "undefined"
        links = await page.evaluate(
            "[...document.querySelectorAll('main a')].map(a => a.getAttribute('href'))"
        )
        assert not any(str(h).startswith("javascript:") for h in links)
        await page.evaluate(
            "document.querySelectorAll('#alerts .headline').forEach(e => e.click())"
        )
        assert await page.evaluate("typeof window.__xss") == "undefined"
        assert page.errors == []
