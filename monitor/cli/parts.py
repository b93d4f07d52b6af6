"""`run`, `worker`, `poll`, `web`, `broker`, `deliver`: the monitor's parts, together or alone."""

from __future__ import annotations

import json
import sys

import click

from monitor.cli.app import _logging, _run, _settings, main
from monitor.errors import MonitorError


# run / worker / poll / web / broker -------------------------------------------------------------
@main.command()
@click.option(
    "--demo", is_flag=True, help="Serve and poll the bundled demo timeline (12 Feb – 30 Apr 2025)."
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0.01),
    default=None,
    help="Demo pace: 1 plays the timeline in about 3 minutes, 2 twice as fast.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Status page port (default 8080, or MONITOR_WEB__PORT; 0 picks a free one).",
)
@click.pass_context
def run(ctx: click.Context, demo: bool, speed: float | None, port: int | None) -> None:
    """Everything in one process: broker, Redis, pollers, worker, status page.

    With no MONITOR_KAFKA_BROKER / MONITOR_REDIS_URL set, starts an in-process Kafka-protocol broker
    and a local redis-server (both in memory, gone when this stops). Alerts print as they are
    emitted; Ctrl-C stops everything.
    """
    settings = _settings(ctx)
    if speed is not None:
        settings = settings.model_copy(
            update={"demo": settings.demo.model_copy(update={"speed": speed})}
        )
    if port is not None:
        settings = settings.model_copy(
            update={"web": settings.web.model_copy(update={"port": port})}
        )
    _logging(ctx, to_file=True, quiet=True)
    from agents.runner import run_all  # Faust stays out of every other command

    sys.exit(_run(run_all(settings, demo=demo)))


@main.command()
@click.pass_context
def worker(ctx: click.Context) -> None:
    """The Faust worker alone: dedupe, match, stories, alerts. Scale by starting more."""
    from agents.runner import run_worker
    from monitor.embedded import resolve_endpoints
    from monitor.services import Services

    settings = _settings(ctx)
    _logging(ctx)
    services = Services(resolve_endpoints(settings))
    _run(run_worker(settings, services))


@main.command()
@click.option("--once", is_flag=True, help="Poll every feed once, wait for Kafka, print a summary.")
@click.pass_context
def poll(ctx: click.Context, once: bool) -> None:
    """The feed pollers alone, over the feed list (config/feeds.yaml).

    Shard with MONITOR_POLL__SHARD / MONITOR_POLL__SHARDS (instance i of n); WebSub pushes are
    received when MONITOR_POLL__WEBSUB_URL is set.
    """
    from monitor.feeds import load_feed_list
    from monitor.standalone import run_poller

    settings = _settings(ctx)
    _logging(ctx, quiet=once)
    summary = _run(run_poller(settings, load_feed_list(settings.feeds_file), once=once))
    if summary is not None:
        click.echo(json.dumps(summary))
        if summary["backlog"]:
            raise MonitorError(
                f"{summary['backlog']} article(s) could not be delivered to Kafka; "
                "check MONITOR_KAFKA_BROKER and run again"
            )


@main.command()
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default 8080).")
@click.pass_context
def web(ctx: click.Context, port: int | None) -> None:
    """The status page alone. It reads only Redis."""
    from monitor.standalone import run_web

    settings = _settings(ctx)
    if port is not None:
        settings = settings.model_copy(
            update={"web": settings.web.model_copy(update={"port": port})}
        )
    _logging(ctx)
    _run(run_web(settings))


@main.command()
@click.pass_context
def broker(ctx: click.Context) -> None:
    """The embedded broker (and redis-server) alone; prints the addresses.

    Other commands in this directory find them through the runtime file. Useful for running
    worker, poll and web as separate processes without installing Kafka.
    """
    from monitor.standalone import run_broker

    settings = _settings(ctx)
    _logging(ctx)
    _run(run_broker(settings))


@main.command()
@click.pass_context
def deliver(ctx: click.Context) -> None:
    """Deliver alerts to the webhooks and Apprise URLs in config/webhooks.yaml.

    Each alert id reaches each target once: signed POSTs (X-Monitor-Signature-256), retries with
    backoff, then a dead letter on monitor.deadletter. Resumes where it stopped; status is in
    Redis. `monitor run` does this too when targets are configured.
    """
    from monitor.delivery import run_deliver

    settings = _settings(ctx)
    _logging(ctx)
    _run(run_deliver(settings))
