"""Take the README's screenshots of the status page on a running demo.

    python -m tests.browser.screenshot [--out docs] [--alerts 25]

Starts `monitor run --demo` in a temporary directory and headless Chromium, waits until the page
shows ``--alerts`` alerts, and saves ``status-page.png`` (1280 px wide, whole page) and
``status-page-phone.png`` (390 px, first screen) under ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from tests.browser.cdp import Browser, ChromiumProcess
from tests.browser.servers import DemoProcess

ALERTS = "document.querySelectorAll('#alerts li.alert').length"


async def capture(ws_url: str, url: str, out: Path, alerts: int) -> list[str]:
    async with Browser(ws_url) as browser:
        page = await browser.new_page(1280, 900)
        await page.goto(url)
        await page.wait_for(f"{ALERTS} >= {alerts}", within=240)
        await asyncio.sleep(2)  # let the newest alert's highlight fade a little
        desktop = await page.screenshot()
        phone = await browser.new_page()
        await phone.viewport(390, 844, mobile=True)
        await phone.goto(url)
        await phone.wait_for(f"{ALERTS} >= {alerts}")
        mobile = await phone.screenshot(full_page=False)
        errors = page.errors + phone.errors
    await asyncio.to_thread((out / "status-page.png").write_bytes, desktop)
    await asyncio.to_thread((out / "status-page-phone.png").write_bytes, mobile)
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--alerts", type=int, default=25, help="wait for this many alerts")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chromium = ChromiumProcess()
    with tempfile.TemporaryDirectory(prefix="monitor-shot-") as workdir:
        demo = DemoProcess(Path(workdir))
        try:
            url = demo.start()
            errors = asyncio.run(capture(chromium.start(), url, args.out, args.alerts))
        finally:
            chromium.stop()
            demo.stop()
    if errors:
        raise SystemExit("the page logged errors:\n" + "\n".join(errors))
    print(f"saved {args.out / 'status-page.png'} and {args.out / 'status-page-phone.png'}")


if __name__ == "__main__":
    main()
