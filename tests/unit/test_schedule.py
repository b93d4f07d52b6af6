"""Scheduling decisions: success resets failures; failures back off, capped, never give up."""

import random
from datetime import UTC, datetime, timedelta

from monitor.schedule import (
    MAX_BACKOFF,
    Bounds,
    FeedState,
    adaptive_interval,
    after_failure,
    after_success,
    cadence_of,
    health_change,
    shard_of,
)


def test_failures_back_off_exponentially_up_to_a_cap() -> None:
    """Each failure doubles the wait, up to the cap; the feed keeps being retried."""
    state = FeedState(url="u", name="n", interval=60)
    waits = []
    for _ in range(12):
        state = after_failure(state, now=0, error="boom", rng=random.Random(1))
        waits.append(state.next_check)
    assert waits[1] > waits[0] and waits[2] > waits[1]
    assert max(waits) <= MAX_BACKOFF * 1.1
    assert state.status == "failing" and state.failures == 12 and state.last_error == "boom"


def test_success_resets_failures_and_keeps_validators() -> None:
    """A 304 keeps the old validators and reports not_modified."""
    state = after_failure(FeedState(url="u", name="n", etag='"a"'), now=0, error="x")
    state = after_success(
        state, now=10, new_items=0, not_modified=True, etag=None, last_modified=None, body_hash=None
    )
    assert (state.status, state.failures, state.etag, state.last_error) == (
        "not_modified",
        0,
        '"a"',
        None,
    )


def test_gone_feeds_are_flagged_and_retried_slowly() -> None:
    """410 Gone marks the feed gone and waits the longest backoff."""
    state = after_failure(
        FeedState(url="u", name="n"), now=0, error="HTTP 410", gone=True, rng=random.Random(0)
    )
    assert state.status == "gone" and state.next_check >= MAX_BACKOFF * 0.9


BOUNDS = Bounds(min_interval=60, max_interval=3600, failure_threshold=3, min_silence=0)


def test_interval_follows_the_publishing_cadence_within_bounds() -> None:
    """Half the typical gap between entries, never below the floor nor above the ceiling."""
    base = datetime(2025, 3, 1, tzinfo=UTC)
    every_20_min = [base + timedelta(minutes=20 * i) for i in range(10)]
    assert cadence_of(every_20_min) == 1200
    state = FeedState(url="u", name="n", cadence=1200)
    assert adaptive_interval(state, BOUNDS) == 600
    assert adaptive_interval(state.model_copy(update={"cadence": 30}), BOUNDS) == 60
    assert adaptive_interval(state.model_copy(update={"cadence": 10**6}), BOUNDS) == 3600
    assert adaptive_interval(state.model_copy(update={"fixed_interval": True}), BOUNDS) == 300


def test_success_schedules_the_next_check_with_jitter_and_lower_bounds() -> None:
    """next_check is the interval +-10%; max-age/ttl/Retry-After raise it, capped at the ceiling."""
    state = FeedState(url="u", name="n", interval=600)
    checks = {
        after_success(
            state,
            now=0,
            new_items=0,
            not_modified=True,
            etag=None,
            last_modified=None,
            body_hash=None,
            bounds=BOUNDS,
            rng=random.Random(seed),
        ).next_check
        for seed in range(20)
    }
    assert len(checks) > 1 and all(540 <= c <= 660 for c in checks)
    floored = after_success(
        state,
        now=0,
        new_items=0,
        not_modified=True,
        etag=None,
        last_modified=None,
        body_hash=None,
        min_interval=10**9,
        bounds=BOUNDS,
    )
    assert floored.next_check <= 3600 * 1.1


def test_retry_after_is_a_floor_on_the_backoff() -> None:
    """A 429's Retry-After wins over a shorter backoff."""
    state = after_failure(
        FeedState(url="u", name="n", interval=1), now=0, error="429", retry_after=900, bounds=BOUNDS
    )
    assert state.next_check >= 900


def test_n_failures_in_a_row_flag_a_feed_once_and_success_recovers_it() -> None:
    """Unhealthy is announced once at the threshold; the next success announces recovery."""
    state = FeedState(url="u", name="n")
    changes = []
    for _ in range(5):
        state = after_failure(state, now=0, error="HTTP 500", bounds=BOUNDS)
        state, change = health_change(state, now=0, bounds=BOUNDS)
        changes.append(change.state if change else None)
    assert changes == [None, None, "unhealthy", None, None]
    state = after_success(
        state,
        now=1,
        new_items=1,
        not_modified=False,
        etag=None,
        last_modified=None,
        body_hash="h",
        bounds=BOUNDS,
    )
    state, change = health_change(state, now=1, bounds=BOUNDS)
    assert change is not None and change.state == "recovered" and state.health == "healthy"


def test_silence_beyond_three_cadences_flags_a_feed() -> None:
    """A feed that usually publishes hourly and has said nothing for 4 hours is flagged."""
    state = FeedState(url="u", name="n", cadence=3600, last_new=0, status="not_modified")
    assert health_change(state, now=3 * 3600 - 1, bounds=BOUNDS)[1] is None
    flagged, change = health_change(state, now=4 * 3600, bounds=BOUNDS)
    assert change is not None and change.state == "unhealthy" and "silent" in change.reason
    assert flagged.health == "unhealthy"


def test_shards_are_deterministic_and_cover_every_feed() -> None:
    """The same URL always lands in the same shard, and shards split a list evenly enough."""
    urls = [f"https://f{i}.example/rss" for i in range(300)]
    assert [shard_of(u, 4) for u in urls] == [shard_of(u, 4) for u in urls]
    sizes = [sum(shard_of(u, 4) == s for u in urls) for s in range(4)]
    assert sum(sizes) == 300 and min(sizes) > 40
