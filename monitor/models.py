"""The records that travel through Kafka: articles in, alerts out.

Each model encodes to and decodes from JSON bytes; decoding failures raise ``RecordError`` so the
caller can dead-letter the record with the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.errors import MonitorError


class RecordError(MonitorError):
    """A Kafka record could not be decoded into the model it should hold."""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes | str | None) -> Any:
        if raw is None:
            raise RecordError(f"empty {cls.__name__} record")
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "<record>"
            raise RecordError(f"{cls.__name__}: field `{where}`: {first['msg']}") from exc


class Source(_Record):
    """Where an article came from."""

    url: str
    name: str


class Article(_Record):
    """One normalised news item, as the pollers publish it to ``monitor.articles``."""

    id: str
    title: str
    summary: str = ""
    link: str = ""
    source: Source
    language: str | None = None
    published: datetime | None = None
    fetched: datetime = Field(default_factory=lambda: datetime.now(UTC))
    revision: int = Field(
        1, ge=1, description="1 when first published; +1 each time the entry changes materially"
    )


class Evidence(_Record):
    """Why something matched: which term matched which text in which field, and how well."""

    group: str
    term: str
    field: str
    text: str
    score: float
    start: int | None = None  # character offsets of ``text`` in the article's field, when known
    end: int | None = None


class AlertData(_Record):
    """The ``data`` of an alert's CloudEvent."""

    event: str
    category: str
    kind: Literal["new", "update"]
    rules: list[str]
    story: str
    headline: str
    link: str
    source: Source
    published: datetime | None
    detected: datetime
    score: float
    evidence: list[Evidence]
    sources: list[str]
    timestamps: dict[str, datetime]


class Alert(_Record):
    """A CloudEvents 1.0 structured-mode JSON envelope around :class:`AlertData`."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    specversion: str = "1.0"
    id: str
    type: str
    source: str
    subject: str
    time: datetime
    datacontenttype: str = "application/json"
    data: AlertData


class MatchRecord(_Record):
    """An article that a rule matched, on its way to story grouping (``monitor.matches``)."""

    event: str
    rule: str
    category: str
    topic: str
    score: float
    evidence: list[Evidence]
    matched: datetime
    article: Article
    # The article as story grouping sees it (monitor/stories.py), computed by the match stage.
    features: dict[str, float] = Field(default_factory=dict)
    subject: str | None = None


class DeadLetter(_Record):
    """A record that could not be processed, with the reason (``monitor.deadletter``)."""

    topic: str
    partition: int
    offset: int
    key: str | None
    reason: str
    value: str
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class SourceHealthData(_Record):
    """The ``data`` of a source-health alert on ``alerts.sources``."""

    feed: str
    name: str
    state: Literal["unhealthy", "recovered"]
    reason: str
    status: str
    failures: int
    last_error: str | None = None
    last_success: datetime | None = None
    since: datetime


class SourceHealthAlert(_Record):
    """A CloudEvents 1.0 JSON envelope: a feed became unhealthy or recovered (key: feed url)."""

    specversion: str = "1.0"
    id: str
    type: str
    source: str
    subject: str
    time: datetime
    datacontenttype: str = "application/json"
    data: SourceHealthData
