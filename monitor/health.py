"""Source-health alerts: a CloudEvent on ``alerts.sources`` when a feed turns sick or recovers.

The scheduler (``monitor.schedule.health_change``) decides; this module only builds the record.
Records are keyed by the feed's URL, so one partition holds a feed's whole health history.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from monitor.kafka import alert_topic
from monitor.models import SourceHealthAlert, SourceHealthData
from monitor.schedule import FeedState, HealthChange

SOURCES_TOPIC = alert_topic("sources")
EVENT_TYPES = {
    "unhealthy": "org.newsmonitor.source.unhealthy",
    "recovered": "org.newsmonitor.source.recovered",
}


def source_health_alert(
    state: FeedState, change: HealthChange, *, now: float, poller: str
) -> SourceHealthAlert:
    """The CloudEvent announcing ``change`` for this feed; its id is stable for one transition."""
    when = datetime.fromtimestamp(now, tz=UTC)
    ident = hashlib.sha256(f"{state.url}\n{change.state}\n{now:.3f}".encode()).hexdigest()[:32]
    return SourceHealthAlert(
        id=ident,
        type=EVENT_TYPES[change.state],
        source=f"/monitor/poller/{poller}",
        subject=state.url,
        time=when,
        data=SourceHealthData(
            feed=state.url,
            name=state.name,
            state=change.state,
            reason=change.reason,
            status=state.status,
            failures=state.failures,
            last_error=state.last_error,
            last_success=(
                datetime.fromtimestamp(state.last_success, tz=UTC) if state.last_success else None
            ),
            since=when,
        ),
    )
