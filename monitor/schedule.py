"""Per-feed state and the scheduling decisions made from it. Pure: no I/O, time passed in.

The poller loop stays dumb: it reads a :class:`FeedState`, fetches, and asks these functions for the
next state (status, validators, next check, backoff), which it stores in Redis.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, ConfigDict

FeedStatus = Literal["new", "ok", "not_modified", "failing", "gone"]
MAX_BACKOFF = 6 * 3600.0
JITTER = 0.1


class FeedState(BaseModel):
    """Everything the scheduler knows about one feed."""

    model_config = ConfigDict(frozen=True)

    url: str
    name: str
    status: FeedStatus = "new"
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    interval: float = 300.0
    next_check: float = 0.0
    failures: int = 0
    last_error: str | None = None
    last_success: float | None = None
    last_attempt: float | None = None
    new_items: int = 0
    total_items: int = 0


def _jittered(seconds: float, rng: random.Random | None) -> float:
    rng = rng or random.Random()
    return seconds * (1 + rng.uniform(-JITTER, JITTER))


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
    rng: random.Random | None = None,
) -> FeedState:
    """The state after a fetch that worked (200 or 304)."""
    interval = max(state.interval, min_interval or 0.0)
    return state.model_copy(
        update={
            "status": "not_modified" if not_modified else "ok",
            "etag": etag or state.etag,
            "last_modified": last_modified or state.last_modified,
            "body_hash": body_hash or state.body_hash,
            "failures": 0,
            "last_error": None,
            "last_success": now,
            "last_attempt": now,
            "new_items": new_items,
            "total_items": state.total_items + new_items,
            "next_check": now + _jittered(interval, rng),
        }
    )


def after_failure(
    state: FeedState,
    *,
    now: float,
    error: str,
    gone: bool = False,
    rng: random.Random | None = None,
) -> FeedState:
    """The state after a failed fetch or parse: exponential backoff, capped, never giving up."""
    failures = state.failures + 1
    backoff = min(state.interval * (2 ** min(failures, 16)), MAX_BACKOFF)
    if gone:
        backoff = MAX_BACKOFF
    return state.model_copy(
        update={
            "status": "gone" if gone else "failing",
            "failures": failures,
            "last_error": error,
            "last_attempt": now,
            "new_items": 0,
            "next_check": now + _jittered(backoff, rng),
        }
    )
