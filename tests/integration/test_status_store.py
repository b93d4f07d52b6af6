"""The Redis status store against a real redis-server."""

from monitor.schedule import FeedState
from monitor.status import StatusStore


async def test_feed_state_survives_a_new_client(fresh_redis: str) -> None:
    """Feed state written by one poller is read back by the next (restart without loss)."""
    store = StatusStore.from_url(fresh_redis)
    await store.save_feed(FeedState(url="https://a.example/rss", name="A", etag='"v1"', failures=2))
    await store.close()
    again = StatusStore.from_url(fresh_redis)
    state = await again.load_feed("https://a.example/rss", "A renamed", 60)
    assert (state.etag, state.failures, state.name, state.interval) == ('"v1"', 2, "A renamed", 60)
    await again.close()


async def test_seen_ids_are_remembered_per_feed(fresh_redis: str) -> None:
    """Only ids a feed has not published before are reported unseen."""
    store = StatusStore.from_url(fresh_redis)
    assert await store.unseen("f1", ["a", "b"]) == ["a", "b"]
    await store.mark_seen("f1", ["a"], now=1.0)
    assert await store.unseen("f1", ["a", "b"]) == ["b"]
    assert await store.unseen("f2", ["a"]) == ["a"]
    await store.close()


async def test_counters_add_up_in_one_round_trip(fresh_redis: str) -> None:
    """Counters aggregate; zero counts are not written."""
    store = StatusStore.from_url(fresh_redis)
    await store.count({"articles": 3, "matched": 0})
    await store.count({"articles": 2})
    assert await store.counters() == {"articles": 5}
    await store.close()
