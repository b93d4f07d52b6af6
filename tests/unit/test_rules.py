"""Rule and event files (and already-parsed rules) are validated with messages naming the source,
the rule and the field."""

import json
from pathlib import Path

import pytest
import yaml

from monitor.errors import ConfigError
from monitor.rules import load_events_dir, load_rules, load_rules_dir, parse_rules

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


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        (
            "{any: {a: {terms: [x], near: b}}}",
            "any.a.near names group 'b', which this match does not define",
        ),
        (
            "{any: {a: [x]}, none: {n: {terms: [y], unless: a}}}",
            "`unless` needs `near`",
        ),
        (
            "{any: {a: {terms: [x], near: b, unless: b}}, context: {b: [z]}}",
            "`unless` belongs in `none` groups only",
        ),
        ("{any: {a: [x]}, none: {a: [y]}}", "group names must be unique"),
        ("{any: {a: {terms: [x], within: 0}}}", "field `rules.0.match.any.a.within`"),
        ("{any: {a: [x]}, after: 2025-03-01, before: 2025-02-01}", "`before` must be later"),
    ],
    ids=["near-unknown", "unless-without-near", "unless-outside-none", "twice", "within", "dates"],
)
def test_proximity_and_windows_are_checked(tmp_path: Path, match: str, expected: str) -> None:
    """Proximity groups must name groups that exist, `unless` only in vetoes, sane windows."""
    text = GOOD.replace("      any:\n        truce: [truce]\n", f"      {match}\n").replace(
        "    match:\n", "    match: "
    )
    with pytest.raises(ConfigError) as err:
        load_rules(write(tmp_path, text))
    assert "rule 'truce'" in str(err.value) and expected in str(err.value)


def test_parse_rules_takes_one_rule_or_a_rule_file() -> None:
    """Already-parsed data (a rule as JSON from Kafka, or a whole file) validates like a file."""
    data = yaml.safe_load(GOOD)
    [from_file] = parse_rules(data, "kafka:monitor.rules")
    [single] = parse_rules(data["rules"][0], "kafka:monitor.rules")
    assert from_file == single
    [again] = parse_rules(json.loads(single.model_dump_json()), "kafka:monitor.rules")
    assert again == single


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"id": "x", "title": "X", "event": "e", "category": "c"}, "rule 'x': field `match`"),
        (["not", "a", "mapping"], "expected a mapping at the top level"),
        ({"id": "x", "version": 9}, "field `version`: expects one of versions [1], got 9"),
        ({"rules": []}, "field `version`"),
    ],
    ids=["missing-match", "list", "version", "file-without-version"],
)
def test_parse_rules_refuses_bad_data_precisely(data: object, expected: str) -> None:
    """Errors name the source, the rule and the field, as for files."""
    with pytest.raises(ConfigError) as err:
        parse_rules(data, "kafka:monitor.rules")
    assert str(err.value).startswith("kafka:monitor.rules: ") and expected in str(err.value)


def test_a_group_given_as_a_string_says_what_it_expects(tmp_path: Path) -> None:
    """A group written as a bare string is refused with what was expected instead."""
    with pytest.raises(ConfigError, match="expects a list of terms or a mapping with `terms`"):
        load_rules(write(tmp_path, GOOD.replace("truce: [truce]", "truce: truce")))
