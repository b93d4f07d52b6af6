"""`monitor topics ...`: provisioning topics on external Kafka."""

from __future__ import annotations

import click

from monitor.cli.app import _logging, _settings, main
from monitor.errors import MonitorError


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
