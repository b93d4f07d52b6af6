"""Short text notifications through Apprise URLs (chat, email, push), an optional extra.

``pip install 'news-monitor[apprise]'`` installs Apprise. Without it, a configured Apprise target
is refused at start with a :class:`~monitor.errors.ServiceError` naming the extra to install.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from monitor.alerts import format_alert
from monitor.errors import ConfigError, ServiceError
from monitor.models import Alert, RecordError, SourceHealthAlert
from monitor.webhooks import AppriseTarget, DeliveryError

log = logging.getLogger(__name__)
INSTALL_HINT = "pip install 'news-monitor[apprise]'"


def notification_text(body: bytes) -> tuple[str, str]:
    """A title and a short plain-text body for one alert's CloudEvent JSON."""
    try:
        alert = Alert.from_bytes(body)
    except RecordError:
        pass
    else:
        first, *rest = format_alert(alert).splitlines()
        return first, "\n".join(line.strip() for line in rest)
    try:
        health = SourceHealthAlert.from_bytes(body)
    except RecordError:
        pass
    else:
        d = health.data
        return f"[sources {d.state}] {d.name}", f"{d.reason}\n{d.feed}"
    event: dict[str, Any] = json.loads(body)
    return f"[{event.get('type', 'alert')}] {event.get('subject', '')}", str(event.get("id", ""))


class AppriseSender:
    """Sends each alert as a short text to every URL of one Apprise target."""

    def __init__(self, target: AppriseTarget, *, timeout: float):
        try:
            import apprise
        except ImportError as exc:
            raise ServiceError(
                f"apprise target {target.id!r} is configured but Apprise is not installed; "
                f"install the extra: {INSTALL_HINT}"
            ) from exc
        self.target = target
        self.timeout = timeout
        self._apprise = apprise.Apprise()
        for i, url in enumerate(target.urls):
            text = url.get_secret_value()
            if not self._apprise.add(text):
                scheme = text.split("://", 1)[0] if "://" in text else "(no scheme)"
                raise ConfigError(
                    f"apprise target {target.id!r}: URL {i + 1} ({scheme}://...) is not one "
                    "Apprise understands; see https://github.com/caronc/apprise/wiki",
                    field=f"apprise.{target.id}.urls",
                )

    async def send(self, body: bytes, alert_id: str, attempt: int) -> None:
        title, text = notification_text(body)
        try:
            ok = await asyncio.wait_for(
                self._apprise.async_notify(body=text, title=title), self.timeout
            )
        except TimeoutError as exc:
            raise DeliveryError(
                f"no answer within {self.timeout:g}s", target=self.target.key
            ) from exc
        if not ok:
            raise DeliveryError(
                "Apprise could not notify every URL (its log says which and why)",
                target=self.target.key,
            )
