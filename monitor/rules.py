"""Tracked events and watch rules: the versioned YAML format, validated on load.

A rule file holds ``version: 1`` and a list of ``rules``; an event file holds ``version: 1`` and one
``event``. Both use the same ``match`` block::

    match:
      fields: [title, summary]     # where to look (default both)
      all:                         # every group must match (a group matches when any term does)
        ceasefire: [ceasefire, cease-fire, truce]
      any:                         # at least one of these groups must match (if given)
        tariffs:                   # a group in its long form: terms plus proximity
          terms: [tariff*, levies]
          near: target             # counts only within `within` words of a `target` hit
          within: 6
      none:                        # a hit of these groups vetoes the match
        other-targets:
          terms: [Syria, Iran]
          near: sanctions          # ... only when within 6 words of a `sanctions` hit
          unless: target           # ... and no `target` hit is that near the same hit
      context:                     # scored and shown as evidence, never required
        target: [Russia, Moscow]
      min_score: 0.0               # least mean score of the required groups (0-1)
      after: 2025-02-12            # optional date window on the article's publication
      before: 2026-02-12

A group is a list of terms (short form) or a mapping ``{terms, near, within, unless}``. ``near``
names another group of the same match: the group's terms count only where they stand within
``within`` words of one of that group's hits in the same field (``within: 1`` means adjacent).
``unless`` (only with ``near``, only in ``none``) lifts the veto when a term of the named group is
also that near, outside the vetoing text: "threatens Russia and Iran with sanctions" keeps its
Russia sanctions although Iran stands beside them.

A term is a string (a word or phrase; ``*`` at the end of a word matches any ending) or a mapping
``{term, aliases, fuzzy, regex, exact_case}``. ``fuzzy`` is the least rapidfuzz ratio (50-100) a
word may have to count as a variant; words shorter than five letters must match exactly unless
``fuzzy`` says otherwise. ``regex`` is searched (case-insensitively) in addition to the term.

An event may also name its ``actors``: an id per side with the names that stand for it
(``russia: [Russia, Moscow, Kremlin, Putin]``). Matching ignores them; story grouping
(monitor/stories.py) uses them so that "Kremlin" and "Moscow" are the same actor.

Files are read with :func:`load_rules` / :func:`load_event`; data that is already parsed (a rule
sent as JSON over Kafka, say) goes through :func:`parse_rules` / :func:`parse_event`, which
refuse it with the same precise errors.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.errors import ConfigError

SUPPORTED_VERSIONS = frozenset({1})
DEFAULT_WITHIN = 6
Field_ = Literal["title", "summary"]
GroupKind = Literal["all", "any", "none", "context"]


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


class Group(_Strict):
    """Terms of which one must (or, in ``none``, must not) occur; optionally near another group."""

    terms: tuple[Term, ...] = Field(min_length=1)
    near: str | None = Field(None, description="count only within `within` words of this group")
    within: int = Field(DEFAULT_WITHIN, ge=1, le=200)
    unless: str | None = Field(
        None, description="`none` only: no veto when this group is as near to the same hit"
    )

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return {"terms": value}
        if isinstance(value, str):
            raise ValueError(f"expects a list of terms or a mapping with `terms`, got {value!r}")
        return value

    @model_validator(mode="after")
    def _unless_needs_near(self) -> Group:
        if self.unless is not None and self.near is None:
            raise ValueError("`unless` needs `near`: the hit both groups must be near")
        return self


def _non_empty_groups(value: Any) -> Any:
    if isinstance(value, Mapping):
        for name, group in value.items():
            terms = group.get("terms") if isinstance(group, Mapping) else group
            if isinstance(terms, list | tuple) and not terms:
                raise ValueError(f"group {name!r} has no terms")
    return value


class MatchSpec(_Strict):
    """What an article must (and must not) contain."""

    fields: tuple[Field_, ...] = ("title", "summary")
    all: dict[str, Group] = {}
    any: dict[str, Group] = {}
    none: dict[str, Group] = {}
    context: dict[str, Group] = {}
    min_score: float = Field(0.0, ge=0.0, le=1.0)
    after: dt.date | None = Field(None, description="only articles published on or after")
    before: dt.date | None = Field(None, description="only articles published before")

    _check_groups = field_validator("all", "any", "none", "context", mode="before")(
        _non_empty_groups
    )

    @model_validator(mode="after")
    def _check_spec(self) -> MatchSpec:
        if not self.all and not self.any:
            raise ValueError("a match needs at least one `all` or `any` group")
        names = [name for _kind, name, _group in self.groups()]
        if len(names) != len(set(names)):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"group names must be unique across all/any/none/context: {twice}")
        for kind, name, group in self.groups():
            for option in ("near", "unless"):
                other = getattr(group, option)
                if other is not None and (other not in names or other == name):
                    raise ValueError(
                        f"{kind}.{name}.{option} names group {other!r}, which this match does "
                        f"not define (besides {name!r}); known: {sorted(set(names) - {name})}"
                    )
            if group.unless is not None and kind != "none":
                raise ValueError(f"{kind}.{name}.unless: `unless` belongs in `none` groups only")
        if self.after and self.before and self.before <= self.after:
            raise ValueError("`before` must be later than `after`")
        return self

    def groups(self) -> Iterable[tuple[GroupKind, str, Group]]:
        """(kind, group name, group) for every group."""
        kinds: tuple[GroupKind, ...] = ("all", "any", "none", "context")
        for kind in kinds:
            for name, group in getattr(self, kind).items():
                yield kind, name, group


class TrackedEvent(_Strict):
    """The story being followed."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    title: str
    description: str = ""
    date: dt.date
    window_days: int = Field(365, gt=0, description="follow-ups are looked for this long after")
    match: MatchSpec
    actors: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$")],
        Annotated[list[Annotated[str, StringConstraints(min_length=1)]], Field(min_length=1)],
    ] = Field(
        default_factory=dict,
        description="who is who, for story grouping: actor id -> the names that stand for it",
    )


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
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=path) from exc


def _check_version(data: Any, source: Path | str, *, required: bool = True) -> None:
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a mapping at the top level, got {type(data).__name__}", file=source
        )
    if not required and "version" not in data:
        return
    version = data.get("version")
    if version not in SUPPORTED_VERSIONS:
        raise ConfigError(
            f"expects one of versions {sorted(SUPPORTED_VERSIONS)}, got {version!r}",
            file=source,
            field="version",
        )


def _describe(exc: ValidationError, source: Path | str, data: Any, prefix: str = "") -> ConfigError:
    err = exc.errors()[0]
    loc = list(err["loc"])
    # Name the rule by id, not by list index, where we can.
    rule_id = None
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        try:
            rule_id = data["rules"][loc[1]].get("id")
        except (AttributeError, IndexError, KeyError, TypeError):
            rule_id = None
    elif prefix == "" and "rules" not in data and isinstance(data.get("id"), str):
        rule_id = data["id"]
    where = ".".join(str(p) for p in loc)
    got = err.get("input")
    detail = err["msg"]
    if err["type"] not in ("missing",) and not isinstance(got, dict):
        detail += f", got {got!r}"
    return ConfigError(detail, file=source, field=where or None, rule=rule_id)


def _unique(rules: list[WatchRule], source: Path | str) -> list[WatchRule]:
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        if rule.id in seen:
            raise ConfigError(
                f"duplicate rule id {rule.id!r}", file=source, field=f"rules.{index}.id"
            )
        seen.add(rule.id)
    return rules


def parse_rules(data: object, source: str) -> list[WatchRule]:
    """Rules from already-parsed YAML or JSON: a rule file (``{version, rules: [...]}``) or one
    rule mapping (``{id, title, ..., match}``, ``version`` optional). ``source`` names where the
    data came from in errors; ConfigError names the source, the rule and the field on any problem.
    """
    if isinstance(data, dict) and "rules" not in data and "id" in data:
        _check_version(data, source, required=False)
        rule = {k: v for k, v in data.items() if k != "version"}
        try:
            return [WatchRule.model_validate(rule)]
        except ValidationError as exc:
            raise _describe(exc, source, rule) from exc
    _check_version(data, source)
    try:
        return _unique(_RuleFile.model_validate(data).rules, source)
    except ValidationError as exc:
        raise _describe(exc, source, data) from exc


def parse_event(data: object, source: str) -> TrackedEvent:
    """A tracked event from an already-parsed event file (``{version, event: {...}}``)."""
    _check_version(data, source)
    try:
        return _EventFile.model_validate(data).event
    except ValidationError as exc:
        raise _describe(exc, source, data, prefix="event") from exc


def load_rules(path: Path) -> list[WatchRule]:
    """Load one rule file; raise ConfigError naming the file, rule and field on any problem."""
    data = _read_yaml(path)
    _check_version(data, path)  # a file must say its version, even if it holds one rule
    return parse_rules(data, str(path))


def load_event(path: Path) -> TrackedEvent:
    """Load one tracked-event file."""
    return parse_event(_read_yaml(path), str(path))


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
