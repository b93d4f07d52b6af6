"""Tracked events and watch rules: the versioned YAML format, validated on load.

A rule file holds ``version: 1`` and a list of ``rules``; an event file holds ``version: 1`` and one
``event``. Both use the same ``match`` block::

    match:
      fields: [title, summary]     # where to look (default both)
      all:                         # every group must match (a group matches when any term does)
        ceasefire: [ceasefire, cease-fire, truce, "halt * strikes"]
      any:                         # at least one of these groups must match (if given)
        ...
      none:                        # no term of these groups may match
        other-wars: [Gaza, Hamas]
      context:                     # optional: scored and shown as evidence, never required
        people: [Trump, Witkoff]
      min_score: 0.0

A term is a string (a word or phrase; ``*`` at the end of a word matches any ending) or a mapping
``{term, aliases, fuzzy, regex, exact_case}``. ``fuzzy`` is the least rapidfuzz ratio (0-100) a
word may have to count as a variant; words shorter than five letters must match exactly unless
``fuzzy`` says otherwise.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from monitor.errors import ConfigError

SUPPORTED_VERSIONS = frozenset({1})
Field_ = Literal["title", "summary"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Term(_Strict):
    """One thing to look for, with its spelling variants."""

    term: str = Field(min_length=1)
    aliases: tuple[str, ...] = ()
    fuzzy: int | None = Field(None, ge=50, le=100)
    regex: str | None = None
    exact_case: bool = Field(
        False, description="match only with this capitalisation (SWIFT, not swift)"
    )

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"regex does not compile: {exc}") from exc
        return value

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"term": value} if isinstance(value, str) else value

    @property
    def variants(self) -> tuple[str, ...]:
        return (self.term, *self.aliases)


def _non_empty_groups(groups: dict[str, tuple[Term, ...]]) -> dict[str, tuple[Term, ...]]:
    for name, terms in groups.items():
        if not terms:
            raise ValueError(f"group {name!r} has no terms")
    return groups


class MatchSpec(_Strict):
    """What an article must (and must not) contain."""

    fields: tuple[Field_, ...] = ("title", "summary")
    all: dict[str, tuple[Term, ...]] = {}
    any: dict[str, tuple[Term, ...]] = {}
    none: dict[str, tuple[Term, ...]] = {}
    context: dict[str, tuple[Term, ...]] = {}
    min_score: float = Field(0.0, ge=0.0, le=1.0)

    _check_groups = field_validator("all", "any", "none", "context")(_non_empty_groups)

    @model_validator(mode="after")
    def _needs_a_positive_group(self) -> MatchSpec:
        if not self.all and not self.any:
            raise ValueError("a match needs at least one `all` or `any` group")
        return self

    def groups(self) -> Iterable[tuple[str, str, tuple[Term, ...]]]:
        """(kind, group name, terms) for every group."""
        for kind in ("all", "any", "none", "context"):
            for name, terms in getattr(self, kind).items():
                yield kind, name, terms


class TrackedEvent(_Strict):
    """The story being followed."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    title: str
    description: str = ""
    date: dt.date
    window_days: int = Field(365, gt=0, description="follow-ups are looked for this long after")
    match: MatchSpec


class WatchRule(_Strict):
    """A rule that turns matching articles into alerts of one category."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    title: str
    description: str = ""
    event: str
    category: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    topic: str | None = None
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    enabled: bool = True
    languages: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    match: MatchSpec

    @property
    def alert_topic(self) -> str:
        return self.topic or f"alerts.{self.category}"


class _RuleFile(_Strict):
    version: int
    rules: list[WatchRule] = Field(min_length=1)


class _EventFile(_Strict):
    version: int
    event: TrackedEvent


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=path) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=path) from exc
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", file=path)
    version = data.get("version")
    if version not in SUPPORTED_VERSIONS:
        raise ConfigError(
            f"expects one of versions {sorted(SUPPORTED_VERSIONS)}, got {version!r}",
            file=path,
            field="version",
        )
    return data


def _describe(exc: ValidationError, path: Path, data: Any) -> ConfigError:
    err = exc.errors()[0]
    loc = list(err["loc"])
    # Name the rule by id, not by list index, where we can.
    rule_id = None
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        try:
            rule_id = data["rules"][loc[1]].get("id")
        except (AttributeError, IndexError, KeyError, TypeError):
            rule_id = None
    where = ".".join(str(p) for p in loc)
    got = err.get("input")
    detail = err["msg"]
    if err["type"] not in ("missing",) and not isinstance(got, dict):
        detail += f", got {got!r}"
    return ConfigError(detail, file=path, field=where, rule=rule_id)


def load_rules(path: Path) -> list[WatchRule]:
    """Load one rule file; raise ConfigError naming the file, rule and field on any problem."""
    data = _read_yaml(path)
    try:
        rules = _RuleFile.model_validate(data).rules
    except ValidationError as exc:
        raise _describe(exc, path, data) from exc
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        if rule.id in seen:
            raise ConfigError(
                f"duplicate rule id {rule.id!r}", file=path, field=f"rules.{index}.id"
            )
        seen.add(rule.id)
    return rules


def load_event(path: Path) -> TrackedEvent:
    """Load one tracked-event file."""
    data = _read_yaml(path)
    try:
        return _EventFile.model_validate(data).event
    except ValidationError as exc:
        raise _describe(exc, path, data) from exc


def _yaml_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ConfigError("directory not found", file=directory)
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))


def load_events_dir(directory: Path) -> dict[str, TrackedEvent]:
    events: dict[str, TrackedEvent] = {}
    for path in _yaml_files(directory):
        event = load_event(path)
        if event.id in events:
            raise ConfigError(f"duplicate event id {event.id!r}", file=path, field="event.id")
        events[event.id] = event
    return events


def load_rules_dir(directory: Path, events: dict[str, TrackedEvent]) -> list[WatchRule]:
    """Every rule file in a directory, checked against the known events and for unique ids."""
    rules: list[WatchRule] = []
    seen: dict[str, Path] = {}
    for path in _yaml_files(directory):
        for rule in load_rules(path):
            if rule.id in seen:
                raise ConfigError(
                    f"rule id {rule.id!r} is also defined in {seen[rule.id]}",
                    file=path,
                    field="rules.id",
                )
            if rule.event not in events:
                raise ConfigError(
                    f"rule {rule.id!r}: unknown event {rule.event!r}; known: {sorted(events)}",
                    file=path,
                    field="event",
                )
            seen[rule.id] = path
            rules.append(rule)
    return rules
