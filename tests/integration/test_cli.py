"""The ``monitor`` command as a user runs it: separate processes, the embedded services, signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.processes import LineReader

MONITOR = [sys.executable, "-m", "monitor.cli"]
ROOT = Path(__file__).resolve().parents[2]


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update({"MONITOR_DATA_DIR": str(tmp_path / ".monitor"), "PYTHONPATH": str(ROOT), **extra})
    return env


def port_open(url: str) -> bool:
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, int(port))) == 0


def test_run_demo_then_follow_from_another_terminal_then_ctrl_c(tmp_path: Path) -> None:
    """`monitor run --demo` prints alerts and the status page; `monitor alerts follow` finds the
    embedded broker by itself and shows the same alerts; Ctrl-C stops everything cleanly."""
    env = env_for(tmp_path, MONITOR_DEMO__POLL_INTERVAL="0.3")
    run = subprocess.Popen(
        [*MONITOR, "run", "--demo", "--speed", "6", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert run.stdout is not None
        run_out = LineReader(run.stdout)
        run_out.until("[ceasefire new]", 120)
        lines = run_out.seen
        assert any(line.startswith("status page: http://127.0.0.1:") for line in lines)
        runtime = json.loads((tmp_path / ".monitor" / "runtime.json").read_text())
        assert runtime["pid"] == run.pid and port_open(runtime["redis"])

        follow = subprocess.Popen(
            [*MONITOR, "alerts", "follow", "ceasefire", "--from-beginning", "--json"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert follow.stdout is not None and follow.stderr is not None
        follow_out = LineReader(follow.stdout)
        follow_out.until('"category":"ceasefire"', 60)
        follow.send_signal(signal.SIGINT)
        alerts = [json.loads(line) for line in follow_out.rest() if line.strip()]
        assert follow.wait(30) == 0
        assert "Traceback" not in follow.stderr.read()
        assert {a["data"]["category"] for a in alerts} == {"ceasefire"}
        assert all(a["specversion"] == "1.0" and a["data"]["evidence"] for a in alerts)
    finally:
        run.send_signal(signal.SIGINT)
        out = "\n".join(run_out.rest(60))
        err = run.stderr.read() if run.stderr else ""
        run.wait(30)
    assert run.returncode == 0, err
    assert "Traceback" not in err and "Traceback" not in out
    assert "stopping" in out
    assert not (tmp_path / ".monitor" / "runtime.json").exists()
    assert not port_open(runtime["redis"]), "redis-server outlived monitor run"
