"""The ``monitor`` command line's main group and what every command shares."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
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
        detail = str(exc)
        if isinstance(exc.__cause__, ValueError):  # a mapping or list whose value is not JSON
            detail += (
                f" ({exc.__cause__}): settings that take a mapping or a list are JSON, e.g. "
                'MONITOR_STREAM__STORY_PARTITIONS=\'{"ceasefire": 1, "sanctions": 2}\''
            )
        raise click.ClickException(f"invalid MONITOR_* setting: {detail}") from exc
    ctx.obj["verbose"] = verbose


def _logging(ctx: click.Context, *, to_file: bool = False, quiet: bool = False) -> None:
    settings: Settings = ctx.obj["settings"]
    configure(
        settings.log_level,
        log_file=settings.data_dir / "monitor.log" if to_file else None,
        quiet_console=quiet,
        verbose=ctx.obj["verbose"],
    )
