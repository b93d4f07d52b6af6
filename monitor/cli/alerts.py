"""`monitor alerts ...`: reading the alert topics."""

from __future__ import annotations

import click

from monitor.cli.app import _logging, _run, _settings, main


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
