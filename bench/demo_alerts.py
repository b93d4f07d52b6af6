"""The demo as a subscriber sees it: alerts per category and kind, and how soon they arrive.

    python bench/demo_alerts.py [--speed 1.0]

Starts ``monitor run --demo`` (embedded broker and Redis, real pollers over HTTP) as a child
process with its own data directory, subscribes to every ``alerts.*`` topic from the beginning
with a read_committed consumer (an alert counts when a subscriber reading as `monitor alerts
follow` does can read it), and stops the run once the timeline has played and no alert came for 15
seconds. Prints alerts per category and kind, stories, and the time from an article's fetch to
its alert reaching the subscriber (median and 95th percentile), with the worker's own share
(fetch -> emitted) beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from monitor.embedded import read_runtime
from monitor.kafka import start_consumer
from monitor.models import Alert

ROOT = Path(__file__).resolve().parents[1]
QUIET = 15.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def follow(data_dir: Path, duration: float) -> list[tuple[Alert, datetime]]:
    runtime = None
    for _ in range(600):
        runtime = read_runtime(data_dir / "runtime.json")
        if runtime is not None:
            break
        await asyncio.sleep(0.1)
    if runtime is None:
        raise SystemExit("monitor run did not write its runtime file within 60 s")
    consumer = await start_consumer(runtime.kafka, [], from_beginning=True, pattern=r"^alerts\..*")
    received: list[tuple[Alert, datetime]] = []
    started = last = time.monotonic()
    try:
        while time.monotonic() - started < duration or time.monotonic() - last < QUIET:
            batches = await consumer.getmany(timeout_ms=500)
            now = datetime.now(UTC)
            for records in batches.values():
                for record in records:
                    received.append((Alert.from_bytes(record.value), now))
                    last = time.monotonic()
            if time.monotonic() - started > duration + 120:
                break
    finally:
        await consumer.stop()
    return received


def report(received: list[tuple[Alert, datetime]]) -> str:
    if not received:
        return "no alerts received"
    kinds = Counter((a.data.category, a.data.kind) for a, _ in received)
    stories = Counter(a.data.category for a, _ in received if a.data.kind == "new")
    to_subscriber = [
        (at - a.data.timestamps["fetched"]).total_seconds() * 1000 for a, at in received
    ]
    in_worker = [
        (a.data.timestamps["emitted"] - a.data.timestamps["fetched"]).total_seconds() * 1000
        for a, _ in received
    ]
    lines = ["alerts per category:"]
    for category in sorted({c for c, _ in kinds}):
        lines.append(
            f"  {category:<10} {kinds[(category, 'new')] + kinds[(category, 'update')]:>4} "
            f"({kinds[(category, 'new')]} new = stories, {kinds[(category, 'update')]} update)"
        )
    lines.append(f"  total      {len(received):>4} in {sum(stories.values())} stories")
    for label, values in (
        ("readable by a subscriber", to_subscriber),
        ("emitted by the worker   ", in_worker),
    ):
        lines.append(
            f"fetch -> alert {label}: median {statistics.median(values):.0f} ms,"
            f" p95 {percentile(values, 0.95):.0f} ms"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speed", type=float, default=1.0, help="demo pace (1: ~3 minutes)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="demo-alerts-") as tmp:
        data_dir = Path(tmp)
        env = {**os.environ, "MONITOR_DATA_DIR": str(data_dir), "MONITOR_WEB__PORT": "0"}
        env.pop("MONITOR_KAFKA_BROKER", None)
        env.pop("MONITOR_REDIS_URL", None)
        child = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
            [sys.executable, "-m", "monitor.cli", "run", "--demo", "--speed", str(args.speed)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            print(f"playing the demo at speed {args.speed} (about {180 / args.speed:.0f} s) ...")
            received = asyncio.run(follow(data_dir, 180 / args.speed + 10))
        finally:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()
    print(report(received))
    return 0


if __name__ == "__main__":
    sys.exit(main())
