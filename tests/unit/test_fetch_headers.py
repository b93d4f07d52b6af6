"""Reading the scheduling hints servers send: Retry-After and Cache-Control."""

from __future__ import annotations

import time
from email.utils import formatdate

from monitor.fetch import MAX_RETRY_AFTER, _max_age, _retry_after


def test_retry_after_reads_seconds_and_http_dates_and_caps_them() -> None:
    """Seconds, an HTTP date in the future, a date in the past (0) and nonsense (None)."""
    assert _retry_after("120") == 120
    in_ten_minutes = _retry_after(formatdate(time.time() + 600, usegmt=True))
    assert in_ten_minutes is not None and 590 <= in_ten_minutes <= 600
    assert _retry_after(formatdate(time.time() - 600, usegmt=True)) == 0
    assert _retry_after("99999999") == MAX_RETRY_AFTER
    assert _retry_after("soon") is None and _retry_after(None) is None


def test_max_age_is_found_among_other_directives() -> None:
    """max-age is read wherever it sits; s-maxage and no-cache alone give nothing."""
    assert _max_age("public, max-age=900, must-revalidate") == 900
    assert _max_age('max-age="60"') == 60
    assert _max_age("no-cache") is None and _max_age("s-maxage=10") is None
