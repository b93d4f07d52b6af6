"""Scheduling decisions: success resets failures; failures back off, capped, never give up."""

import random

from monitor.schedule import MAX_BACKOFF, FeedState, after_failure, after_success


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
