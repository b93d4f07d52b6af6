"""Where alerts are delivered (the targets file, ``config/webhooks.yaml``) and how webhooks are
signed.

The file is data, validated on load like the feed list and the rules::

    version: 1
    webhooks:
      - id: newsroom                          # letters, digits, - and _; unique in the file
        url: https://hooks.example.org/monitor
        categories: [ceasefire, sanctions]    # omitted or empty: every alerts.* topic
        secret_env: NEWSROOM_WEBHOOK_SECRET   # or `secret: ...` written in the file
        since: 2025-03-01T00:00:00Z           # optional; default: when first delivered to
    apprise:
      - id: desk-chat
        urls_env: DESK_APPRISE_URLS           # or `urls: [tgram://..., mailto://...]`
        categories: [ceasefire]

Each alert is POSTed as its CloudEvents JSON (structured mode, byte for byte as on Kafka) with
``X-Monitor-Signature-256: sha256=<hex HMAC-SHA256 of the body under the webhook's secret>``, the
format GitHub uses, so existing verifiers work; :func:`verify` is the reference check.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from monitor.errors import ConfigError, MonitorError

SIGNATURE_HEADER = "X-Monitor-Signature-256"
ALERT_ID_HEADER = "X-Monitor-Alert-Id"
ATTEMPT_HEADER = "X-Monitor-Attempt"
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_CATEGORY = r"^[a-z0-9][a-z0-9_-]*$"
MIN_SECRET = 16
_SHORT_SECRET = f"the secret is shorter than {MIN_SECRET} characters; use a long random string"


class DeliveryError(MonitorError):
    """One try to deliver an alert to a target failed; it is retried, then dead-lettered."""

    def __init__(self, message: str, *, target: str, retry_after: float | None = None):
        self.target = target
        self.retry_after = retry_after  # seconds the receiver asked us to wait, if it did
        super().__init__(f"{target}: {message}")


def sign(body: bytes, secret: str) -> str:
    """The signature header's value for ``body``: ``sha256=<hex digest>``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(body: bytes, secret: str, header: str | None) -> bool:
    """Whether ``header`` (the received signature header) signs ``body`` under ``secret``.

    Compare in constant time, over the raw bytes received (before any JSON parsing).
    """
    if not header:
        return False
    return hmac.compare_digest(sign(body, secret).encode(), header.strip().encode())


class _TargetEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID)
    categories: list[str] = Field(default_factory=list)
    since: datetime | None = None

    @model_validator(mode="after")
    def _check_categories(self) -> _TargetEntry:
        for i, category in enumerate(self.categories):
            if not re.match(_CATEGORY, category):
                raise ValueError(
                    f"categories[{i}] {category!r} is not a category (lower-case letters, digits, "
                    "- and _, as in a rule's `category`)"
                )
        if self.since is not None and self.since.tzinfo is None:
            raise ValueError("`since` needs a time zone, e.g. 2025-03-01T00:00:00Z")
        return self


class _WebhookEntry(_TargetEntry):
    url: str = Field(pattern=r"^https?://[^/\s]+")
    secret: SecretStr | None = None
    secret_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @model_validator(mode="after")
    def _one_secret(self) -> _WebhookEntry:
        if (self.secret is None) == (self.secret_env is None):
            raise ValueError(
                "give exactly one of `secret` (the HMAC key) or `secret_env` (the name of an "
                "environment variable holding it)"
            )
        if self.secret is not None and len(self.secret.get_secret_value()) < MIN_SECRET:
            raise ValueError(_SHORT_SECRET)
        return self


class _AppriseEntry(_TargetEntry):
    urls: list[SecretStr] = Field(default_factory=list)
    urls_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @model_validator(mode="after")
    def _one_source(self) -> _AppriseEntry:
        if bool(self.urls) == (self.urls_env is not None):
            raise ValueError(
                "give exactly one of `urls` (a list of Apprise URLs) or `urls_env` (the name of "
                "an environment variable holding them, separated by spaces or commas)"
            )
        return self


class _TargetsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    webhooks: list[_WebhookEntry] = Field(default_factory=list)
    apprise: list[_AppriseEntry] = Field(default_factory=list)


@dataclass(frozen=True)
class Target:
    """Something alerts are delivered to: a webhook or a set of Apprise URLs."""

    kind: Literal["webhook", "apprise"]
    id: str
    categories: frozenset[str]
    since: datetime | None

    @property
    def key(self) -> str:
        """Unique among targets; names its consumer group and its keys in Redis."""
        return f"{self.kind}:{self.id}"

    def wants(self, category: str) -> bool:
        return not self.categories or category in self.categories

    @property
    def where(self) -> str:
        """Where it delivers, safe to show (no secrets, no URL paths that may hold tokens)."""
        return self.kind


@dataclass(frozen=True)
class Webhook(Target):
    url: str
    secret: SecretStr

    @property
    def where(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


@dataclass(frozen=True)
class AppriseTarget(Target):
    urls: tuple[SecretStr, ...]

    @property
    def where(self) -> str:
        schemes = sorted({u.get_secret_value().split("://", 1)[0] for u in self.urls})
        return "apprise " + ",".join(f"{s}://" for s in schemes)


def load_targets(path: Path, *, environ: Mapping[str, str] | None = None) -> list[Target]:
    """The delivery targets in ``path`` (none when the file does not exist).

    Secrets named by ``secret_env`` / ``urls_env`` are read from ``environ`` (the process
    environment when None) now. Raises ConfigError naming the file and field on any problem.
    """
    if not path.exists():
        return []
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read delivery targets: {exc.strerror}", file=path) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=path) from exc
    return parse_targets(raw, path, environ=os.environ if environ is None else environ)


def parse_targets(raw: Any, source: Path | str, *, environ: Mapping[str, str]) -> list[Target]:
    """Validate already-parsed targets data (see :func:`load_targets`)."""
    if not isinstance(raw, dict):
        raise ConfigError(
            f"expected a mapping with `webhooks` and `apprise`, got {raw!r}", file=source
        )
    try:
        data = _TargetsFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "<file>"
        message = err["msg"].removeprefix("Value error, ")
        given = err.get("input")
        hidden = any(word in loc for word in ("secret", "urls"))
        shown = "" if hidden or isinstance(given, dict | list) else f" (got {given!r})"
        raise ConfigError(f"{message}{shown}", file=source, field=loc) from exc
    targets: list[Target] = []
    for i, hook in enumerate(data.webhooks):
        secret = hook.secret
        if secret is None:
            field = f"webhooks.{i}.secret_env"
            secret = SecretStr(_from_env(hook.secret_env, environ, source, field))
            if len(secret.get_secret_value()) < MIN_SECRET:
                raise ConfigError(_SHORT_SECRET, file=source, field=field)
        targets.append(
            Webhook(
                kind="webhook",
                id=hook.id,
                categories=frozenset(hook.categories),
                since=hook.since,
                url=hook.url,
                secret=secret,
            )
        )
    for i, entry in enumerate(data.apprise):
        urls = tuple(entry.urls)
        if entry.urls_env is not None:
            text = _from_env(entry.urls_env, environ, source, f"apprise.{i}.urls_env")
            urls = tuple(SecretStr(u) for u in text.replace(",", " ").split())
        targets.append(
            AppriseTarget(
                kind="apprise",
                id=entry.id,
                categories=frozenset(entry.categories),
                since=entry.since,
                urls=urls,
            )
        )
    seen: set[str] = set()
    for target in targets:
        if target.id in seen:
            raise ConfigError(
                f"duplicate id {target.id!r}: each webhook and apprise entry needs its own id "
                "(it names its delivery record in Kafka and Redis)",
                file=source,
                field="id",
            )
        seen.add(target.id)
    return targets


def _from_env(name: str | None, environ: Mapping[str, str], source: Path | str, field: str) -> str:
    value = environ.get(name or "", "").strip()
    if not value:
        raise ConfigError(
            f"environment variable {name} is not set or empty; export it before starting delivery",
            file=source,
            field=field,
        )
    return value
