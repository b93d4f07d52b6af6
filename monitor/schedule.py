"""Per-feed state and the scheduling decisions made from it. Pure: no I/O, time passed in.

The poller loop stays dumb: it reads a :class:`FeedState`, fetches, and asks these functions for the
next state (status, validators, cadence, next check, backoff, health), which it stores in Redis.

- The interval adapts to the feed's publishing cadence (half the typical gap between entries),
  within ``[min_interval, max_interval]``, with jitter; a feed with a fixed ``interval`` in the feed
  list keeps it. ``Retry-After``, ``Cache-Control: max-age`` and RSS ``<ttl>`` are lower bounds.
- Failures back off exponentially up to ``max_backoff`` and never give up; ``410 Gone`` waits the
  longest backoff and is reported as gone.
- A feed is flagged unhealthy after ``failure_threshold`` failures in a row, or when it has been
  silent longer than ``silence_factor`` times its cadence; :func:`health_change` says when to alert.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

FeedStatus = Literal["new", "ok", "not_modified", "failing", "gone"]
Health = Literal["healthy", "unhealthy"]
MAX_BACKOFF = 6 * 3600.0
JITTER = 0.1
CADENCE_SAMPLES = 20


@dataclass(frozen=True)
class Bounds:
    """The scheduling knobs, from :class:`monitor.settings.PollSettings`."""

    min_interval: float = 60.0
    max_interval: float = 3600.0
    max_backoff: float = MAX_BACKOFF
    failure_threshold: int = 5
    silence_factor: float = 3.0
    min_silence: float = 6 * 3600.0


class FeedState(BaseModel):
    """Everything the scheduler knows about one feed (stored in Redis, keyed by ``url``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    url: str
    name: str
    status: FeedStatus = "new"
    fetch_url: str | None = None  # where a permanent redirect moved the feed
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    interval: float = 300.0
    fixed_interval: bool = False
    cadence: float | None = None  # typical seconds between entries
    newest_entry: float | None = None  # epoch seconds of the newest entry's date
    last_new: float | None = None  # when this poller last saw a new entry (its own clock)
    next_check: float = 0.0
    failures: int = 0
    last_error: str | None = None
    last_success: float | None = None
    last_attempt: float | None = None
    new_items: int = 0
    total_items: int = 0
    parses: int = 0
    health: Health = "healthy"
    health_reason: str | None = None
    health_since: float | None = None
    hub: str | None = None
    warning: str | None = None  # the last parse's complaint about a feed that still worked


def _jittered(seconds: float, rng: random.Random | None) -> float:
    rng = rng or random.Random()
    return seconds * (1 + rng.uniform(-JITTER, JITTER))


def cadence_of(published: list[datetime]) -> float | None:
    """The median gap (seconds) between the newest entries' distinct publication times."""
    times = sorted({p.timestamp() for p in published}, reverse=True)[:CADENCE_SAMPLES]
    if len(times) < 2:
        return None
    gaps = [a - b for a, b in itertools.pairwise(times) if a > b]
    return statistics.median(gaps) if gaps else None


def adaptive_interval(state: FeedState, bounds: Bounds) -> float:
    """Half the cadence, within bounds; a fixed interval stays fixed."""
    if state.fixed_interval or state.cadence is None:
        return state.interval
    return min(max(state.cadence / 2, bounds.min_interval), bounds.max_interval)


def after_success(
    state: FeedState,
    *,
    now: float,
    new_items: int,
    not_modified: bool,
    etag: str | None,
    last_modified: str | None,
    body_hash: str | None,
    min_interval: float | None = None,
    cadence: float | None = None,
    newest_entry: float | None = None,
    parsed: bool = False,
    bounds: Bounds = Bounds(),
    rng: random.Random | None = None,
) -> FeedState:
    """The state after a fetch that worked (200 or 304). ``min_interval`` is the largest of
    ``Retry-After``, ``max-age`` and ``<ttl>`` (capped by ``max_interval``)."""
    state = state.model_copy(
        update={
            "cadence": cadence if cadence is not None else state.cadence,
            "newest_entry": max(filter(None, (newest_entry, state.newest_entry)), default=None),
            "last_new": now if new_items or (parsed and state.last_new is None) else state.last_new,
        }
    )
    interval = adaptive_interval(state, bounds)
    floor = min(min_interval or 0.0, bounds.max_interval)
    if not state.fixed_interval or floor > interval:
        interval = max(interval, floor)
    return state.model_copy(
        update={
            "status": "not_modified" if not_modified else "ok",
            "etag": etag or state.etag,
            "last_modified": last_modified or state.last_modified,
            "body_hash": body_hash or state.body_hash,
            "interval": state.interval if state.fixed_interval else interval,
            "failures": 0,
            "last_error": None,
            "last_success": now,
            "last_attempt": now,
            "new_items": new_items,
            "total_items": state.total_items + new_items,
            "parses": state.parses + (1 if parsed else 0),
            "next_check": now + _jittered(interval, rng),
        }
    )


def after_failure(
    state: FeedState,
    *,
    now: float,
    error: str,
    gone: bool = False,
    retry_after: float | None = None,
    bounds: Bounds = Bounds(),
    rng: random.Random | None = None,
) -> FeedState:
    """The state after a failed fetch or parse: exponential backoff, capped, never giving up."""
    failures = state.failures + 1
    base = max(state.interval, 1.0)
    backoff = min(base * (2 ** min(failures, 20)), bounds.max_backoff)
    if gone:
        backoff = bounds.max_backoff
    wait = _jittered(backoff, rng)
    if retry_after is not None:
        wait = max(wait, retry_after)
    return state.model_copy(
        update={
            "status": "gone" if gone else "failing",
            "failures": failures,
            "last_error": error,
            "last_attempt": now,
            "new_items": 0,
            "next_check": now + wait,
        }
    )


@dataclass(frozen=True)
class HealthChange:
    """A feed became unhealthy, or recovered: worth an alert on ``alerts.sources``."""

    state: Literal["unhealthy", "recovered"]
    reason: str


def health_change(
    state: FeedState, *, now: float, bounds: Bounds = Bounds()
) -> tuple[FeedState, HealthChange | None]:
    """Flag a feed after N failures in a row, when gone, or after a long silence; unflag it when
    it works and publishes again. Returns the new state and the change to announce, if any."""
    reason = _sickness(state, now, bounds)
    if reason and state.health == "healthy":
        updated = state.model_copy(
            update={"health": "unhealthy", "health_reason": reason, "health_since": now}
        )
        return updated, HealthChange("unhealthy", reason)
    if reason is None and state.health == "unhealthy":
        was = state.health_reason or "unhealthy"
        updated = state.model_copy(
            update={"health": "healthy", "health_reason": None, "health_since": now}
        )
        return updated, HealthChange("recovered", f"recovered from: {was}")
    if reason and reason != state.health_reason:
        return state.model_copy(update={"health_reason": reason}), None
    return state, None


def _sickness(state: FeedState, now: float, bounds: Bounds) -> str | None:
    if state.status == "gone":
        return f"gone (HTTP 410): {state.last_error or ''}".strip()
    if state.failures >= bounds.failure_threshold:
        return f"{state.failures} failed polls in a row; last error: {state.last_error}"
    if state.failures == 0 and state.cadence and state.last_new is not None:
        silent = now - state.last_new
        limit = max(bounds.silence_factor * state.cadence, bounds.min_silence)
        if silent > limit:
            return (
                f"silent for {silent / 3600:.1f} h, over {bounds.silence_factor:g}x its usual "
                f"cadence of {state.cadence / 60:.0f} min"
            )
    return None


def shard_of(url: str, shards: int) -> int:
    """The shard (0..shards-1) that polls this feed: a stable hash, the same in every process."""
    digest = hashlib.sha256(url.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards
