"""Container healthcheck for the compose services.

``python healthcheck.py worker|poller|deliver|web``:

- worker, poller, deliver: this container's heartbeat in Redis (role and MONITOR_WORKER_ID, which
  defaults to the host name, one per container) is younger than MAX_AGE seconds.
- web: the status page answers HTTP on MONITOR_WEB__PORT (any status: a 503 from /healthz means the
  page is up and reporting a problem elsewhere, which restarting it would not fix).

Exit status 0 when healthy, 1 with a one-line reason otherwise.
"""

from __future__ import annotations

import asyncio
import sys
import time
import urllib.error
import urllib.request

from monitor.settings import load_settings
from monitor.status import StatusStore

MAX_AGE = 60.0


async def _heartbeat_age(role: str) -> float | None:
    settings = load_settings()
    if not settings.redis_url:
        raise SystemExit("unhealthy: MONITOR_REDIS_URL is not set")
    status = StatusStore.from_url(settings.redis_url)
    try:
        beats = await status.heartbeats()
    finally:
        await status.close()
    ages = [
        time.time() - float(beat.get("at", 0))
        for beat in beats
        if beat.get("role") == role and beat.get("id") == settings.worker_id
    ]
    return min(ages) if ages else None


def _web_answers() -> bool:
    port = load_settings().web.port
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4):
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:
        return False


def main(role: str) -> int:
    if role == "web":
        if _web_answers():
            return 0
        print("unhealthy: the status page does not answer", file=sys.stderr)
        return 1
    age = asyncio.run(_heartbeat_age(role))
    if age is not None and age < MAX_AGE:
        return 0
    when = "never" if age is None else f"{age:.0f}s ago"
    print(f"unhealthy: last {role} heartbeat {when}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
