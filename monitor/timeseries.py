"""Counters over time in Redis, in fixed memory: one ring buffer of 10-second buckets per series.

Each series is one hash, ``monitor:ts:<name>``, with at most :data:`SLOTS` fields: the field is the
bucket's slot (its start time divided by :data:`BUCKET_SECONDS`, modulo :data:`SLOTS`) and the value
is ``"<bucket start>:<count>"``. A write to a slot that still holds an older bucket starts it again
from zero, so the hash never grows past :data:`SLOTS` fields (about 30 kB) whatever the uptime and
however sparse the writes. The read-and-reset runs in one small Lua script, queued on the caller's
pipeline, so recording a second's counters stays one round trip.

Reading returns the buckets of the last :data:`WINDOW_SECONDS` and :func:`aggregate` turns them into
a handful of bars for a chart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BUCKET_SECONDS = 10
WINDOW_SECONDS = 3 * 3600
SLOTS = WINDOW_SECONDS // BUCKET_SECONDS
KEY_PREFIX = "monitor:ts:"
MAX_BARS = 60

# KEYS: one hash per series. ARGV[1]: slot, ARGV[2]: bucket start, ARGV[2 + i]: count for KEYS[i].
_ADD = """
for i, key in ipairs(KEYS) do
  local n = tonumber(ARGV[i + 2])
  local cur = redis.call('HGET', key, ARGV[1])
  if cur then
    local sep = string.find(cur, ':', 1, true)
    if sep and string.sub(cur, 1, sep - 1) == ARGV[2] then
      n = n + tonumber(string.sub(cur, sep + 1))
    end
  end
  redis.call('HSET', key, ARGV[1], ARGV[2] .. ':' .. n)
end
return #KEYS
"""

# One string per series, its values joined by commas: parsing thousands of RESP fields in Python
# costs ~10 ms per series, splitting one string well under one.
_READ = """
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = table.concat(redis.call('HVALS', key), ',')
end
return out
"""


def bucket_of(ts: float) -> int:
    """The start (epoch seconds) of the bucket holding ``ts``."""
    return int(ts // BUCKET_SECONDS) * BUCKET_SECONDS


def queue_add(pipe: Any, counts: Mapping[str, int], now: float) -> None:
    """Queue adding ``counts`` to their series' current bucket on a Redis pipeline."""
    names = [n for n, v in counts.items() if v]
    if not names:
        return
    bucket = bucket_of(now)
    slot = (bucket // BUCKET_SECONDS) % SLOTS
    pipe.eval(
        _ADD,
        len(names),
        *[KEY_PREFIX + n for n in names],
        slot,
        bucket,
        *[counts[n] for n in names],
    )


def queue_read(pipe: Any, names: list[str]) -> None:
    """Queue reading the named series in one call; its reply is one string per series, in
    order, for :func:`decode`."""
    if names:
        pipe.eval(_READ, len(names), *[KEY_PREFIX + n for n in names])


def decode(raw: str | Mapping[str, str], now: float) -> dict[int, int]:
    """Bucket start to count, for the buckets inside the window ending at ``now``; ``raw`` is a
    series as :func:`queue_read` returns it, or the hash itself."""
    oldest = bucket_of(now) - WINDOW_SECONDS + BUCKET_SECONDS
    buckets: dict[int, int] = {}
    values = raw.values() if isinstance(raw, Mapping) else (raw.split(",") if raw else [])
    for value in values:
        start, _, count = str(value).partition(":")
        try:
            bucket, n = int(start), int(count)
        except ValueError:
            continue
        if oldest <= bucket <= now:
            buckets[bucket] = n
    return buckets


@dataclass(frozen=True)
class Chart:
    """Series cut into equal bars ending now: ``start`` of the first bar, ``step`` seconds each."""

    start: int
    step: int
    series: dict[str, list[int]]

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "step": self.step, "series": self.series}


def aggregate(
    series: Mapping[str, Mapping[int, int]],
    now: float,
    *,
    min_span: int = 300,
    max_bars: int = MAX_BARS,
) -> Chart:
    """Bars over the span since the oldest data (at least ``min_span`` seconds, at most the window).

    The bar width is a whole number of buckets, chosen so there are at most ``max_bars`` bars.
    """
    end = bucket_of(now) + BUCKET_SECONDS
    oldest = min((b for s in series.values() for b in s), default=end - min_span)
    span = min(max(end - oldest, min_span), WINDOW_SECONDS)
    buckets_per_bar = max(1, math.ceil(span / BUCKET_SECONDS / max_bars))
    step = buckets_per_bar * BUCKET_SECONDS
    bars = math.ceil(span / step)
    start = end - bars * step
    out: dict[str, list[int]] = {}
    for name, buckets in series.items():
        values = [0] * bars
        for bucket, count in buckets.items():
            index = (bucket - start) // step
            if 0 <= index < bars:
                values[index] += count
        out[name] = values
    return Chart(start=start, step=step, series=out)


def per_minute(buckets: Mapping[int, int], now: float, span: int = 300) -> float:
    """The average rate per minute over the last ``span`` seconds."""
    since = bucket_of(now) - span + BUCKET_SECONDS
    total = sum(n for b, n in buckets.items() if b >= since)
    return round(total * 60 / span, 1)
