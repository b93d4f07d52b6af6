"""Watch rules changed while the monitor runs: two worker processes on the embedded broker apply
adds and removes without a restart, a restarted worker rebuilds the same rule set, and bad rules
never reach the workers or change what they apply."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from monitor.kafka import ARTICLES_TOPIC, RULES_TOPIC, read_to_end
from monitor.models import Article, Source
from monitor.rules import load_events_dir, load_rules_dir

ROOT = Path(__file__).resolve().parents[2]
MONITOR = [sys.executable, "-m", "monitor.cli"]
PRISONERS = """version: 1
rules:
  - id: prisoner-exchange
    title: Prisoner exchanges
    event: trump-putin-call-2025-02-12
    category: prisoners
    match:
      any:
        exchange: [prisoner exchange, prisoner swap, swap of prisoners, POW exchange]
"""


class Stack:
    """`monitor broker` and named `monitor worker` processes sharing one data directory."""

    def __init__(self, cwd: Path):
        self.cwd = cwd
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        self.env.update({"MONITOR_DATA_DIR": str(cwd / ".monitor"), "PYTHONPATH": str(ROOT)})
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, **env: str) -> None:
        log = (self.cwd / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            [*MONITOR, *args],
            cwd=self.cwd,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*MONITOR, *args],
            cwd=self.cwd,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)

    def runtime(self) -> dict[str, object]:
        for _ in range(300):
            path = self.cwd / ".monitor" / "runtime.json"
            if path.exists():
                return json.loads(path.read_text())
            time.sleep(0.1)
        raise AssertionError("monitor broker did not write its runtime file")

    def close(self) -> None:
        for name in [n for n in self.procs if n != "broker"] + ["broker"]:
            if name in self.procs:
                self.stop(name)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    s.start("broker", "broker")
    s.runtime()
    try:
        yield s
    finally:
        s.close()


def digests(r: redis.Redis, workers: list[str]) -> dict[str, str | None]:
    beats = {k.decode(): json.loads(v) for k, v in r.hgetall("monitor:heartbeats").items()}
    return {w: beats.get(f"worker:{w}", {}).get("rules_digest") for w in workers}


def wait_for(predicate: object, seconds: float, what: str) -> float:
    """Poll until predicate() is true; return how long it took (for the report), or fail."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes | None]]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in records:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(15) == 0


def article(article_id: str, title: str) -> tuple[bytes, bytes]:
    a = Article(
        id=article_id,
        title=title,
        summary="",
        link=f"https://t.example/{article_id}",
        source=Source(url="https://t.example/feed", name="T"),
        published=datetime(2025, 4, 19, 12, tzinfo=UTC),
    )
    return article_id.encode(), a.to_bytes()


def read_all(bootstrap: str, topic: str) -> list[bytes | None]:
    """Every value on a topic right now (the same reader the backtest uses)."""

    async def collect() -> list[bytes | None]:
        return [record.value async for record in read_to_end(bootstrap, topic)]

    return asyncio.run(collect())


def alerts_on(bootstrap: str, topic: str) -> list[dict[str, object]]:
    return [json.loads(v) for v in read_all(bootstrap, topic) if v]


def rule_records(bootstrap: str) -> int:
    return len(read_all(bootstrap, RULES_TOPIC))


def distinct_rule_records(bootstrap: str) -> int:
    return len(set(read_all(bootstrap, RULES_TOPIC)))


def test_rules_change_live_on_two_workers_and_survive_a_restart(
    stack: Stack, tmp_path: Path
) -> None:
    """Add applies on both workers and matches; remove stops matching; a restarted worker has
    the same rule set; config rules are seeded once; bad rules change nothing."""
    runtime = stack.runtime()
    bootstrap, r = str(runtime["kafka"]), redis.Redis.from_url(str(runtime["redis"]))
    workers = ["w1", "w2"]
    for name in workers:
        stack.start(name, "worker", MONITOR_WORKER_ID=name)
    wait_for(
        lambda: (
            len(set(digests(r, workers).values()) - {None}) == 1
            and None not in digests(r, workers).values()
        ),
        90,
        "both workers to report rules",
    )
    seeded = digests(r, workers)["w1"]
    seeded_records = rule_records(bootstrap)
    config_rules = load_rules_dir(
        ROOT / "config" / "rules", load_events_dir(ROOT / "config" / "events")
    )
    # each config rule seeded once: two workers seeding together publish identical records
    assert distinct_rule_records(bootstrap) == len(config_rules)

    draft = tmp_path / "prisoners.yaml"
    draft.write_text(PRISONERS)
    added = stack.cli("rules", "add", str(draft), "--by", "tester")
    assert added.returncode == 0, added.stderr
    assert "published rule prisoner-exchange version 1 -> alerts.prisoners" in added.stdout
    took = wait_for(
        lambda: len(set(digests(r, workers).values())) == 1 and digests(r, workers)["w1"] != seeded,
        30,
        "both workers to apply the add",
    )
    print(f"\nrule add applied on both workers within {took:.1f}s")

    listed = stack.cli("rules", "list", "--json")
    rows = {row["id"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert rows["prisoner-exchange"]["added_by"] == "tester" and rows["ceasefire"]["version"] == 1

    produce(
        bootstrap,
        ARTICLES_TOPIC,
        [article("p1", "Russia and Ukraine agree prisoner exchange at Istanbul talks")],
    )
    wait_for(lambda: alerts_on(bootstrap, "alerts.prisoners"), 30, "an alert on alerts.prisoners")

    with_rule = digests(r, workers)["w1"]
    removed = stack.cli("rules", "remove", "prisoner-exchange")
    assert removed.returncode == 0, removed.stderr
    wait_for(lambda: set(digests(r, workers).values()) == {seeded}, 30, "both to apply the remove")
    produce(
        bootstrap,
        ARTICLES_TOPIC,
        [
            article("p2", "Kyiv and Moscow complete prisoner swap agreed in talks"),
            article("c2", "Kremlin rejects 30-day ceasefire proposal"),
        ],
    )
    wait_for(
        lambda: any(
            a["data"]["headline"].startswith("Kremlin rejects")
            for a in alerts_on(bootstrap, "alerts.ceasefire")
        ),
        30,
        "control alert",
    )
    assert [a["data"]["headline"] for a in alerts_on(bootstrap, "alerts.prisoners")] == [
        "Russia and Ukraine agree prisoner exchange at Istanbul talks"
    ]

    bad = tmp_path / "bad.yaml"
    bad.write_text(PRISONERS.replace("category: prisoners", "category: Prisoners!"))
    refused = stack.cli("rules", "add", str(bad))
    assert (
        refused.returncode == 2
        and f"{bad}: rule 'prisoner-exchange': field `rules.0.category`" in refused.stderr
    )
    produce(bootstrap, RULES_TOPIC, [(b"garbage", b"{not a rule")])

    stack.stop("w1")
    stack.start("w1b", "worker", MONITOR_WORKER_ID="w1b")
    wait_for(lambda: digests(r, ["w1b"])["w1b"] is not None, 90, "the restarted worker's rules")
    assert digests(r, ["w1b", "w2"]) == {"w1b": seeded, "w2": seeded}
    assert seeded != with_rule
    assert rule_records(bootstrap) == seeded_records + 3  # add, remove, garbage: no re-seeding
