"""The dedupe table's expiry index (monitor.pipeline.ExpiryIndex)."""

from __future__ import annotations

from monitor.pipeline import ExpiryIndex


def test_keys_expire_per_partition_once_their_bucket_is_older_than_the_window() -> None:
    """Keys come back (once) a window after their bucket, and only for their own partition."""
    index = ExpiryIndex(window=600, bucket=60)
    index.add(0, "a", 1000.0)
    index.add(0, "b", 1010.0)  # the same minute as "a"
    index.add(1, "c", 1000.0)
    index.add(0, "d", 1100.0)
    assert index.expired(0, 1500.0) == []
    assert index.expired(0, 1620.0) == ["a", "b"]
    assert index.expired(0, 1620.0) == []
    assert index.expired(1, 1620.0) == ["c"]
    assert len(index) == 1
    assert index.expired(0, 1800.0) == ["d"]
    assert index.expired(7, 1800.0) == []
