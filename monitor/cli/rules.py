"""`monitor rules ...`: watch rules, live and offline."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from monitor.cli.app import _logging, _run, _settings, main


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
