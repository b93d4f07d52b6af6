"""The ``monitor`` command line. One entry point, used the same way in every mode.

Kafka and Redis: set MONITOR_KAFKA_BROKER and MONITOR_REDIS_URL for external services; otherwise
``monitor run`` and ``monitor broker`` start embedded ones and the other commands find them through
the runtime file in MONITOR_DATA_DIR (default .monitor/).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from monitor import __version__
from monitor.errors import MonitorError
from monitor.logs import configure
from monitor.settings import Settings, load_settings

T = TypeVar("T")
EPILOG = """\b
Examples:
  monitor run --demo                    the bundled demo: alerts stream in your terminal
  monitor alerts follow ceasefire       in another terminal: the same alerts, from Kafka
  monitor rules test < articles.jsonl   dry-run the rules over articles, no services needed
  monitor feeds check https://example.org/feed.xml

Settings come from MONITOR_* environment variables; see the README.
"""


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    base: Settings = ctx.obj["settings"]
    if not overrides:
        return base
    return base.model_copy(update=overrides)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        raise SystemExit(130) from None


class _Group(click.Group):
    """Print MonitorError as a one-line message with exit status 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MonitorError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="monitor")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail, including Faust and Kafka.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Follow one news story through feeds and alert on its developments within seconds.

    Pollers fetch feeds into Kafka (monitor.articles); Faust workers match articles against the
    tracked event and the watch rules and publish alerts to alerts.<category>; a Redis-backed status
    page shows what is happening.
    """
    ctx.ensure_object(dict)
    try:
        ctx.obj["settings"] = load_settings()
    except Exception as exc:
        raise click.ClickException(f"invalid MONITOR_* setting: {exc}") from exc
    ctx.obj["verbose"] = verbose


def _logging(ctx: click.Context, *, to_file: bool = False, quiet: bool = False) -> None:
    settings: Settings = ctx.obj["settings"]
    configure(
        settings.log_level,
        log_file=settings.data_dir / "monitor.log" if to_file else None,
        quiet_console=quiet,
        verbose=ctx.obj["verbose"],
    )


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


# alerts ------------------------------------------------------------------------------------------
@main.group()
def alerts() -> None:
    """Read the alert topics."""


@alerts.command("follow")
@click.argument("categories", nargs=-1)
@click.option("--from-beginning", is_flag=True, help="Replay every alert still on the topics.")
@click.option("--json", "as_json", is_flag=True, help="One CloudEvents JSON object per line.")
@click.pass_context
def alerts_follow(
    ctx: click.Context, categories: tuple[str, ...], from_beginning: bool, as_json: bool
) -> None:
    """Print alerts as they arrive on alerts.CATEGORY (default: every rule's category).

    Finds the embedded broker by itself; Ctrl-C stops.
    """
    from monitor.standalone import follow

    settings = _settings(ctx)
    _logging(ctx, quiet=True)
    _run(follow(settings, list(categories), from_beginning=from_beginning, as_json=as_json))


# rules -------------------------------------------------------------------------------------------
@main.group()
def rules() -> None:
    """Watch rules: add and remove while the monitor runs, list, validate, test, backtest.

    Rules live on the compacted Kafka topic monitor.rules; every running worker applies a change
    within seconds, without a restart. config/rules/ seeds the topic on first start.
    """


@rules.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def rules_validate(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Check rule files; exit 2 naming the file, rule and field of the first problem."""
    from monitor.ruleadmin import load_drafts

    settings = _settings(ctx)
    for path in files:
        loaded = load_drafts(settings, [path])
        click.echo(f"{path}: {len(loaded)} rule(s) valid: {', '.join(r.id for r in loaded)}")


@rules.command("add")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--backtest",
    "window",
    metavar="WINDOW",
    help="First replay the retained articles of the last WINDOW (14d, 12h, 30m) through "
    "the draft rules, show what they would have caught, and ask before publishing.",
)
@click.option("--yes", "-y", is_flag=True, help="Publish after the backtest without asking.")
@click.option("--by", "added_by", help="Who adds the rules (default: user@host).")
@click.pass_context
def rules_add(
    ctx: click.Context, files: tuple[Path, ...], window: str | None, yes: bool, added_by: str | None
) -> None:
    """Validate rule FILES and publish them to the running monitor.

    Nothing is published if any rule is invalid (the error names the file, rule and field). A rule
    whose id is already active gets a new version; an identical rule is left alone.
    """
    from monitor.backtest import parse_window
    from monitor.ruleadmin import add_rules, load_drafts
    from monitor.rulebook import whoami

    settings = _settings(ctx)
    _logging(ctx, quiet=True)
    drafts = load_drafts(settings, list(files))
    span = parse_window(window) if window else None

    def confirm(report: str) -> bool:
        click.echo(report)
        return yes or click.confirm("\npublish these rules?", default=False)

    outcome = _run(
        add_rules(
            settings,
            drafts,
            added_by=added_by or whoami(),
            origin=", ".join(str(f) for f in files),
            window=span,
            confirm=confirm,
        )
    )
    if outcome is None:
        click.echo("not published")
        ctx.exit(1)
    for record in outcome.published:
        click.echo(
            f"published rule {record.rule.id} version {record.version} -> {record.rule.alert_topic}"
        )
    for rule_id in outcome.unchanged:
        click.echo(f"rule {rule_id} unchanged; nothing published")


@rules.command("remove")
@click.argument("rule_id")
@click.pass_context
def rules_remove(ctx: click.Context, rule_id: str) -> None:
    """Stop an active rule (publishes a tombstone for RULE_ID)."""
    from monitor.ruleadmin import remove

    _logging(ctx, quiet=True)
    _run(remove(_settings(ctx), rule_id))
    click.echo(f"removed rule {rule_id}")


@rules.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per rule.")
@click.pass_context
def rules_list(ctx: click.Context, as_json: bool) -> None:
    """The active rules: version, category, topic, who added them and when, alerts so far."""
    from monitor.ruleadmin import active_rules, rule_rows

    _logging(ctx, quiet=True)
    rows = rule_rows(*_run(active_rules(_settings(ctx))))
    for row in rows:
        if as_json:
            click.echo(json.dumps(row))
        else:
            click.echo(
                f"{row['id']:24} v{row['version']:<3} {row['category']:12} "
                f"{row['alerts']:>5} alerts  by {row['added_by']} at {row['added_at']}"
            )
    if not rows and not as_json:
        click.echo("no active rules")


@rules.command("test")
@click.argument("source", default="-", type=click.File("r", encoding="utf-8"))
@click.option(
    "--rules",
    "rule_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Test these rule files instead of config/rules.",
)
@click.option(
    "--backtest",
    "window",
    metavar="WINDOW",
    help="Instead of reading SOURCE, replay the running monitor's retained articles of "
    "the last WINDOW (14d, 12h) and report matches per day, samples and alerts.",
)
@click.pass_context
def rules_test(
    ctx: click.Context, source: Any, rule_files: tuple[Path, ...], window: str | None
) -> None:
    """Dry-run the rules over JSON Lines articles from SOURCE (a file, or - for stdin).

    Each input line has id, title, summary, link, published, source (and optional language); each
    output line is {"id", "event", "categories", "rules", "score", "evidence"}. Needs no broker
    and no Redis (except with --backtest, which reads monitor.articles).
    """
    _logging(ctx, quiet=True)
    if window:
        from monitor.backtest import parse_window
        from monitor.ruleadmin import backtest_drafts

        click.echo(_run(backtest_drafts(_settings(ctx), list(rule_files), parse_window(window))))
        return
    from monitor.dryrun import dry_run

    dry_run(_settings(ctx), source, sys.stdout, rule_files=list(rule_files))


# feeds -------------------------------------------------------------------------------------------
@main.group()
def feeds() -> None:
    """The feed list (config/feeds.yaml): add, remove, list, check."""


@feeds.command("check")
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Also print the feed's status as JSON last.")
@click.pass_context
def feeds_check(ctx: click.Context, target: str, as_json: bool) -> None:
    """Fetch and parse one feed (a URL or a file path); print its articles as JSON Lines.

    Exit status 2 with a clear error when it cannot be fetched or parsed.
    """
    from monitor.feedlist import check_feed

    _logging(ctx, quiet=True)
    articles, summary = _run(check_feed(_settings(ctx), target))
    for article in articles:
        click.echo(article.model_dump_json())
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(
            f"{target}: {summary['articles']} article(s)"
            + (f"; warning: {summary['warning']}" if summary.get("warning") else ""),
            err=True,
        )


@feeds.command("list")
@click.pass_context
def feeds_list(ctx: click.Context) -> None:
    """The feeds in the feed list."""
    from monitor.feeds import load_feed_list

    settings = _settings(ctx)
    for feed in load_feed_list(settings.feeds_file):
        click.echo(f"{feed.url}  {feed.name or ''}")


@feeds.command("add")
@click.argument("url")
@click.option("--name", help="Display name.")
@click.pass_context
def feeds_add(ctx: click.Context, url: str, name: str | None) -> None:
    """Add URL to the feed list (validated; pollers pick it up when restarted)."""
    from monitor.feedlist import add_feed

    settings = _settings(ctx)
    add_feed(settings.feeds_file, url, name)
    click.echo(f"added {url} to {settings.feeds_file}")


@feeds.command("remove")
@click.argument("url")
@click.pass_context
def feeds_remove(ctx: click.Context, url: str) -> None:
    """Remove URL from the feed list."""
    from monitor.feedlist import remove_feed

    settings = _settings(ctx)
    remove_feed(settings.feeds_file, url)
    click.echo(f"removed {url} from {settings.feeds_file}")


# topics ------------------------------------------------------------------------------------------
@main.group()
def topics() -> None:
    """The monitor's Kafka topics: provision them on external Kafka."""


@topics.command("ensure")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.pass_context
def topics_ensure(ctx: click.Context, dry_run: bool) -> None:
    """Create or fix the monitor's topics: partitions, replication, compaction, retention.

    Uses MONITOR_TOPICS__* (see the README). Idempotent: a second run changes nothing. Refuses,
    with exit status 2, changes only a person should make (the partition count of topics the
    worker tables are co-partitioned with). On the embedded broker, which cannot create topics
    or set configs, it auto-creates the missing topics (4 partitions) and says so.
    """
    from monitor.catalog import load_matcher
    from monitor.topics import ensure_topics, kafka_address

    settings = _settings(ctx)
    _logging(ctx, quiet=True)
    alert_topics = [rule.alert_topic for rule in load_matcher(settings).rules]
    bootstrap = kafka_address(settings)
    result = ensure_topics(settings, bootstrap, alert_topics, dry_run=dry_run)
    kind = "embedded broker" if result.embedded else f"{result.brokers} broker(s)"
    click.echo(f"kafka at {bootstrap} ({kind}); {'plan' if dry_run else 'changes'}:")
    for line in result.report():
        click.echo(f"  {line}")
    if result.plan.conflicts:
        raise MonitorError(
            f"{len(result.plan.conflicts)} conflict(s) above: no topic was changed; "
            "resolve them and run again"
        )
    if dry_run:
        click.echo(f"dry run: {result.plan.changes} change(s) planned, nothing changed")
    else:
        click.echo(f"{len(result.done)} change(s) made, {len(result.plan.unchanged)} unchanged")


if __name__ == "__main__":  # pragma: no cover
    main()
