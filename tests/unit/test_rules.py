"""Rule and event files are validated on load with messages naming file, rule and field."""

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.rules import load_events_dir, load_rules, load_rules_dir

GOOD = """version: 1
rules:
  - id: truce
    title: Truces
    event: trump-putin-call-2025-02-12
    category: ceasefire
    match:
      any:
        truce: [truce]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rule.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads(config_dir: Path) -> None:
    """The event and rules in config/ are valid and reference each other."""
    events = load_events_dir(config_dir / "events")
    rules = load_rules_dir(config_dir / "rules", events)
    assert {r.category for r in rules} >= {"ceasefire", "sanctions"}


def test_good_rule_defaults_its_topic(tmp_path: Path) -> None:
    """A rule without a topic alerts on alerts.<category>."""
    [rule] = load_rules(write(tmp_path, GOOD))
    assert rule.alert_topic == "alerts.ceasefire" and rule.enabled


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nrules: [\n", "not valid YAML"),
        (
            GOOD.replace("    category: ceasefire\n", "    category: ceasefire\n    colour: red\n"),
            "rule 'truce': field `rules.0.colour`: Extra inputs are not permitted",
        ),
        (GOOD.replace("truce: [truce]", "truce: truce"), "field `rules.0.match.any.truce`"),
        (
            GOOD.replace("truce: [truce]", "truce: [{term: x, regex: '(unclosed'}]"),
            "regex does not compile",
        ),
        (GOOD.replace("truce: [truce]", "truce: []"), "group 'truce' has no terms"),
        (GOOD + GOOD.split("rules:\n")[1], "duplicate rule id 'truce'"),
        (
            GOOD.replace("version: 1", "version: 7"),
            "field `version`: expects one of versions [1], got 7",
        ),
        (
            GOOD.replace("    title: Truces\n", ""),
            "rule 'truce': field `rules.0.title`: Field required",
        ),
    ],
    ids=[
        "bad-yaml",
        "unknown-field",
        "wrong-type",
        "bad-regex",
        "empty-terms",
        "duplicate-id",
        "version",
        "missing",
    ],
)
def test_invalid_rules_are_refused_precisely(tmp_path: Path, text: str, expected: str) -> None:
    """Each kind of mistake is refused with the file and a message that locates it."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_rule_naming_an_unknown_event_is_refused(tmp_path: Path, config_dir: Path) -> None:
    """Rules must follow a tracked event that exists."""
    (tmp_path / "r.yaml").write_text(GOOD.replace("trump-putin-call-2025-02-12", "nope"))
    events = load_events_dir(config_dir / "events")
    with pytest.raises(ConfigError, match="unknown event 'nope'"):
        load_rules_dir(tmp_path, events)
