"""``monitor poll --once`` and ``monitor feeds check`` as a user runs them, in a child process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from monitor.status import StatusStore
from tests.integration.feedserver import FeedServer, rss

MONITOR = [sys.executable, "-m", "monitor.cli"]
ROOT = Path(__file__).resolve().parents[2]


async def monitor(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    """Run the CLI in a child process (without blocking the feed server's event loop)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    environ |= {"MONITOR_DATA_DIR": str(tmp_path / ".monitor"), "PYTHONPATH": str(ROOT), **env}
    proc = await asyncio.create_subprocess_exec(
        *MONITOR,
        *args,
        env=environ,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_poll_once_polls_every_feed_and_reports(
    tmp_path: Path, server: FeedServer, broker: str, fresh_redis: str
) -> None:
    """One pass over the feed list: articles delivered, states in Redis, a JSON summary."""
    server.feeds["a"] = rss(("1", "Truce talks", "x"), ("2", "Sanctions", "y"))
    server.status["b"] = 500
    config = tmp_path / "config"
    config.mkdir()
    (config / "feeds.yaml").write_text(
        "version: 1\nfeeds:\n"
        f"  - url: {server.url('a')}\n    allow_private: true\n"
        f"  - url: {server.url('b')}\n    allow_private: true\n"
    )
    code, out, err = await monitor(
        tmp_path,
        "poll",
        "--once",
        MONITOR_CONFIG_DIR=str(config),
        MONITOR_KAFKA_BROKER=f"kafka://{broker}",
        MONITOR_REDIS_URL=fresh_redis,
    )
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary | {"published": 2, "ok": 1, "failing": 1, "backlog": 0} == summary
    status = StatusStore.from_url(fresh_redis)
    states = {s.url: s.status for s in await status.feeds()}
    await status.close()
    assert states == {server.url("a"): "ok", server.url("b"): "failing"}


@pytest.mark.parametrize(
    ("target", "needle"),
    [
        ("missing-file.xml", "cannot read file"),
        (".", "cannot read file"),
        ("http://127.0.0.1:9/feed.xml", "cannot connect"),
        ("http://[::1/broken", "feed http://[::1/broken"),
    ],
)
async def test_feeds_check_never_prints_a_traceback(
    tmp_path: Path, target: str, needle: str
) -> None:
    """Missing files, directories, closed ports and malformed URLs: one line, exit status 2."""
    code, out, err = await monitor(tmp_path, "feeds", "check", target)
    assert code == 2 and out == ""
    assert "Traceback" not in err and needle in err and len(err.strip().splitlines()) == 1


async def test_feeds_check_json_prints_articles_then_the_summary(
    tmp_path: Path, server: FeedServer
) -> None:
    """JSON Lines of normalised articles, then one JSON summary line with --json."""
    server.feeds["a"] = rss(("1", "Truce &lt;b&gt;talks&lt;/b&gt;", "x"))
    code, out, _ = await monitor(tmp_path, "feeds", "check", server.url("a"), "--json")
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert code == 0 and lines[0]["title"] == "Truce talks" and lines[-1]["articles"] == 1
