"""Rule changes over HTTP, on the status page's server: ``GET /api/rules`` (anyone),
``POST /api/rules`` (a rule file as YAML or JSON; ``?backtest=14d`` reports without publishing) and
``DELETE /api/rules/{id}``, both guarded by ``Authorization: Bearer <MONITOR_API_TOKEN>``. With no
token configured the API is read-only.
"""

from __future__ import annotations

import hmac
import json
import logging

import yaml
from aiohttp import web

from monitor.backtest import backtest, format_report, parse_window
from monitor.embedded import resolve_endpoints
from monitor.errors import ConfigError, MonitorError
from monitor.matching import Matcher
from monitor.ruleadmin import active_rules, add_rules, remove, rule_rows
from monitor.rulebook import check_events
from monitor.rules import WatchRule, load_events_dir, parse_rules
from monitor.settings import Settings

log = logging.getLogger(__name__)
MAX_BODY = 256 * 1024
_SETTINGS_KEY = web.AppKey("rules_api_settings", Settings)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _authorised(request: web.Request) -> web.Response | None:
    """None when the request may change rules; else the response that refuses it."""
    token = request.app[_SETTINGS_KEY].api_token
    if token is None:
        return _error(
            403, "the rules API is read-only: set MONITOR_API_TOKEN on the server to allow changes"
        )
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token.get_secret_value()}".encode()):
        return _error(401, "missing or wrong bearer token (Authorization: Bearer <token>)")
    return None


async def _list(request: web.Request) -> web.Response:
    try:
        rows = rule_rows(*await active_rules(request.app[_SETTINGS_KEY]))
    except MonitorError as exc:
        return _error(503, str(exc))
    return web.json_response({"rules": rows})


async def _add(request: web.Request) -> web.Response:
    refused = _authorised(request)
    if refused:
        return refused
    settings = request.app[_SETTINGS_KEY]
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return _error(413, f"rule file larger than {MAX_BODY} bytes")
    source = "<request body>"
    try:
        data = yaml.safe_load(body.decode("utf-8"))  # YAML is a superset of JSON
        rules = parse_rules(data, source)
        check_events(rules, load_events_dir(settings.events_dir), source)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return _error(400, f"{source}: not valid YAML or JSON: {exc}")
    except ConfigError as exc:
        return _error(400, str(exc))
    window = request.query.get("backtest")
    try:
        if window:  # a backtest over HTTP reports and never publishes
            return await _report(settings, rules, window)
        done = await add_rules(settings, rules, added_by=_who(request), origin="http")
    except MonitorError as exc:
        return _error(400 if isinstance(exc, ConfigError) else 503, str(exc))
    assert done is not None
    log.info("rules.added_over_http rules=%s", ",".join(r.rule.id for r in done.published))
    return web.json_response(
        {
            "published": [json.loads(r.model_dump_json()) for r in done.published],
            "unchanged": done.unchanged,
        },
        status=201,
    )


async def _report(settings: Settings, rules: list[WatchRule], window: str) -> web.Response:
    endpoints = resolve_endpoints(settings)
    matcher = Matcher(load_events_dir(settings.events_dir), rules)
    report = await backtest(
        endpoints.kafka, matcher, parse_window(window), embedded=endpoints.embedded
    )
    return web.json_response(
        {
            "window": window,
            "in_window": report.in_window,
            "rules": {
                rid: {"matches": r.matches, "per_day": dict(r.per_day), "alerts": dict(r.alerts)}
                for rid, r in report.rules.items()
            },
            "note": report.note,
            "text": format_report(report, [r.id for r in rules]),
        }
    )


def _who(request: web.Request) -> str:
    return f"api@{request.remote or 'unknown'}"


async def _delete(request: web.Request) -> web.Response:
    refused = _authorised(request)
    if refused:
        return refused
    rule_id = request.match_info["rule_id"]
    try:
        await remove(request.app[_SETTINGS_KEY], rule_id)
    except MonitorError as exc:
        status = 404 if str(exc).startswith("no active rule") else 503
        return _error(status, str(exc))
    return web.json_response({"removed": rule_id})


def add_rule_api(app: web.Application, settings: Settings) -> None:
    """Mount the rules API on an aiohttp app (before it starts)."""
    app[_SETTINGS_KEY] = settings
    app.router.add_get("/api/rules", _list)
    app.router.add_post("/api/rules", _add)
    app.router.add_delete("/api/rules/{rule_id}", _delete)
