"""The status page of a running demo (`monitor run --demo`), in headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.cdp import Browser
from tests.browser.servers import DemoProcess

FEEDS_IN_DEMO = 8
ALERTS = "document.querySelectorAll('#alerts li.alert').length"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of the status page of a demo playing at the default pace (three minutes)."""
    process = DemoProcess(tmp_path_factory.mktemp("demo"))
    try:
        yield process.start()
    finally:
        process.stop()


async def test_page_renders_the_demos_feeds_alerts_charts_and_rules(
    browser: Browser, demo: str, tmp_path: Path
) -> None:
    """Every demo feed gets a row, alerts arrive with their evidence, the flow charts draw bars,
    the rules table lists the worker's rules, and nothing is logged as an error."""
    page = await browser.new_page()
    await page.goto(demo)
    await page.wait_for(f"document.querySelectorAll('#feeds tr').length === {FEEDS_IN_DEMO}")
    await page.wait_for(f"{ALERTS} >= 1", within=90)
    await page.wait_for("document.querySelectorAll('#charts svg rect.bar[height]').length > 0")
    await page.wait_for(
        "[...document.querySelectorAll('#charts svg rect.bar')]"
        ".some(r => Number(r.getAttribute('height')) > 0)"
    )
    assert await page.evaluate("document.getElementById('health').textContent") == "healthy"
    first = await page.evaluate(
        "(() => { const li = document.querySelector('#alerts li.alert');"
        " return {headline: li.querySelector('.headline').textContent,"
        " href: li.querySelector('a.headline').href,"
        " evidence: li.querySelectorAll('.evidence li').length,"
        " tag: li.querySelector('.tag').textContent}; })()"
    )
    assert first["headline"] and first["href"].startswith("http")
    assert first["evidence"] >= 1 and first["tag"] in ("ceasefire", "sanctions")
    rules = await page.wait_for(
        "[...document.querySelectorAll('#rules tr')].map(r => r.cells[1].textContent)"
        ".filter(c => c !== '–')"
    )
    assert {"ceasefire", "sanctions"} <= set(rules)
    latency = await page.evaluate("document.getElementById('latency').textContent")
    assert "fetch → alert: median" in latency
    (tmp_path / "demo.png").write_bytes(await page.screenshot())
    assert page.errors == []


async def test_a_new_alert_appears_without_reload(browser: Browser, demo: str) -> None:
    """Alerts arrive over Server-Sent Events: the list grows while the page stays the same
    document (no reload, no navigation)."""
    page = await browser.new_page()
    await page.goto(demo)
    await page.wait_for(f"{ALERTS} >= 1", within=90)
    await page.evaluate("window.__sameDocument = true")
    before = await page.evaluate(ALERTS)
    newest = await page.evaluate("document.querySelector('#alerts li.alert').dataset.id")
    await page.wait_for(
        f"{ALERTS} > {before} || "
        f"document.querySelector('#alerts li.alert').dataset.id !== {newest!r}",
        within=120,
    )
    assert await page.evaluate("window.__sameDocument") is True
    assert page.loads == 1
    assert await page.evaluate("document.querySelectorAll('#alerts li.fresh').length") >= 1
    assert page.errors == []


async def test_feed_table_sorts_by_a_clicked_column(browser: Browser, demo: str) -> None:
    """Clicking a column header sorts the feeds by it; clicking again reverses the order."""
    page = await browser.new_page()
    await page.goto(demo)
    await page.wait_for(f"document.querySelectorAll('#feeds tr').length === {FEEDS_IN_DEMO}")
    names = "[...document.querySelectorAll('#feeds tr td:first-child')].map(td => td.textContent)"
    header = "document.querySelector('#feeds-table th[data-key=name]')"
    await page.evaluate(f"{header}.click()")
    ascending = await page.evaluate(names)
    assert ascending == sorted(ascending, key=str.casefold)
    assert await page.evaluate(f"{header}.getAttribute('aria-sort')") == "ascending"
    await page.evaluate(f"{header}.click()")
    assert await page.evaluate(names) == ascending[::-1]
    assert page.errors == []


async def test_page_fits_a_phone_screen(browser: Browser, demo: str) -> None:
    """At a phone's width the page does not scroll sideways and the optional columns hide."""
    page = await browser.new_page()
    await page.viewport(390, 844, mobile=True)
    await page.goto(demo)
    await page.wait_for(f"document.querySelectorAll('#feeds tr').length === {FEEDS_IN_DEMO}")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= await page.evaluate("window.innerWidth")
    hidden = await page.evaluate(
        "getComputedStyle(document.querySelector('#feeds-table th.opt')).display"
    )
    assert hidden == "none"
    assert page.errors == []
