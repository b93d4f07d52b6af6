"""The loaded tracked events and watch rules, compiled into a matcher."""

from __future__ import annotations

from monitor.matching import Matcher
from monitor.rules import load_events_dir, load_rules_dir
from monitor.settings import Settings


def load_matcher(settings: Settings) -> Matcher:
    """Events and rules from the config directory; ConfigError names the bad file and field."""
    events = load_events_dir(settings.events_dir)
    return Matcher(events, load_rules_dir(settings.rules_dir, events))
