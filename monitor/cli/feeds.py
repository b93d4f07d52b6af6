"""`monitor feeds ...`: the feed list and checking one feed."""

from __future__ import annotations

import json

import click

from monitor.cli.app import _logging, _run, _settings, main


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
