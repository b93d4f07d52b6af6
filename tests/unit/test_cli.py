"""The command line's offline commands and its error messages (no services involved)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from monitor.cli import main

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<item><guid>https://w.example/1</guid><title>Kremlin rejects truce</title><link>https://w.example/1</link>
<pubDate>Thu, 13 Mar 2025 10:00:00 GMT</pubDate>
<description>Moscow wants guarantees.</description></item>
</channel></rss>"""


def invoke(tmp_path: Path, *args: str, stdin: str | None = None) -> object:
    env = {"MONITOR_DATA_DIR": str(tmp_path / ".monitor")}
    return CliRunner().invoke(main, list(args), input=stdin, env=env, catch_exceptions=False)


def test_help_teaches_the_commands(tmp_path: Path) -> None:
    """--help lists every command and an example of the demo."""
    result = invoke(tmp_path, "--help")
    assert result.exit_code == 0
    for command in ("run", "worker", "poll", "web", "broker", "alerts", "rules", "feeds"):
        assert f"  {command} " in result.output
    assert "monitor run --demo" in result.output


def test_rules_test_dry_runs_json_lines_without_services(tmp_path: Path) -> None:
    """One JSON line out per article in, with event, categories, rules, score and evidence."""
    lines = [
        {
            "id": "a",
            "title": "Kremlin rejects 30-day ceasefire",
            "summary": "",
            "link": "https://x/a",
            "published": "2025-03-13T10:00:00Z",
            "source": "https://x/feed",
        },
        {
            "id": "b",
            "title": "Gaza truce holds",
            "summary": "",
            "link": "https://x/b",
            "published": "2025-03-13T10:00:00Z",
            "source": "https://x/feed",
        },
    ]
    result = invoke(tmp_path, "rules", "test", "-", stdin="\n".join(json.dumps(x) for x in lines))
    assert result.exit_code == 0
    out = [json.loads(line) for line in result.output.splitlines()]
    assert [o["id"] for o in out] == ["a", "b"]
    assert out[0]["categories"] == ["ceasefire"] and out[0]["event"] and out[0]["evidence"]
    assert out[1]["categories"] == [] and out[1]["rules"] == []


def test_rules_validate_names_file_rule_and_field(tmp_path: Path) -> None:
    """An invalid rule file exits 2 with a one-line message, not a traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nrules:\n  - id: x\n    title: X\n    event: trump-putin-call-2025-02-12\n"
        "    category: ceasefire\n    match: {any: {g: [truce]}, fields: [body]}\n"
    )
    result = CliRunner().invoke(main, ["rules", "validate", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: rule 'x': field `rules.0.match.fields.0`" in result.output
    assert "Traceback" not in result.output


def test_feeds_check_prints_normalised_articles(tmp_path: Path) -> None:
    """A feed file becomes JSON Lines of articles."""
    feed = tmp_path / "feed.xml"
    feed.write_text(RSS)
    result = invoke(tmp_path, "feeds", "check", str(feed))
    assert result.exit_code == 0
    [line] = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["title"] == "Kremlin rejects truce" and line["id"] == "https://w.example/1"


def test_feeds_check_on_a_broken_feed_exits_2(tmp_path: Path) -> None:
    """Not a feed: a clear error and exit status 2."""
    page = tmp_path / "page.html"
    page.write_text("<html>hello</html>")
    result = invoke(tmp_path, "feeds", "check", str(page))
    assert result.exit_code == 2 and "not a feed" in result.output


def test_commands_needing_a_broker_say_how_to_get_one(tmp_path: Path) -> None:
    """With nothing configured and nothing running, the message says what to start or set."""
    result = invoke(tmp_path, "alerts", "follow", "ceasefire")
    assert result.exit_code == 2
    assert "monitor run" in result.output and "MONITOR_KAFKA_BROKER" in result.output


def test_a_setting_that_is_not_json_is_refused_with_how_to_write_it(tmp_path: Path) -> None:
    """A mapping setting given as ``key=value`` stops every command with an error that says the
    value must be JSON and shows one."""
    env = {
        "MONITOR_DATA_DIR": str(tmp_path / ".monitor"),
        "MONITOR_STREAM__STORY_PARTITIONS": "ceasefire=1",
    }
    result = CliRunner().invoke(main, ["rules", "list"], env=env)
    assert result.exit_code == 1
    assert "invalid MONITOR_* setting" in result.output
    assert "are JSON, e.g. MONITOR_STREAM__STORY_PARTITIONS='{" in result.output


def test_rules_add_refuses_an_invalid_file_before_contacting_anything(tmp_path: Path) -> None:
    """Nothing is published when a rule is invalid: the error names the file and exit is 2."""
    result = invoke(tmp_path, "rules", "add", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2 and "missing.yaml: cannot read" in result.output


def test_the_core_never_imports_faust() -> None:
    """Every monitor module imports without pulling in Faust (agents/ is the only glue)."""
    code = (
        "import importlib, pkgutil, sys, monitor\n"
        "for m in pkgutil.iter_modules(monitor.__path__):\n"
        "    importlib.import_module('monitor.' + m.name)\n"
        "print('faust' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
