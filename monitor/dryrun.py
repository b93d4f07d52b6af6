"""``monitor rules test``: the offline dry run of the rules over JSON Lines articles."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from monitor.catalog import load_matcher
from monitor.errors import ConfigError, MonitorError
from monitor.matching import Matcher
from monitor.models import Article, Source
from monitor.rules import load_events_dir, load_rules
from monitor.settings import Settings


def article_from_line(data: dict[str, object]) -> Article:
    """An Article from the dry run's input keys: id, title, summary, link, published, source."""
    source = data.get("source") or "unknown"
    if isinstance(source, str):
        source = {"url": source, "name": source}
    return Article.model_validate(
        {
            "id": data.get("id") or data.get("link") or "",
            "title": data.get("title", ""),
            "summary": data.get("summary", "") or "",
            "link": data.get("link", "") or "",
            "source": Source.model_validate(source),
            "language": data.get("language"),
            "published": data.get("published"),
            "fetched": data.get("fetched") or datetime.now(UTC),
        }
    )


def dry_run(settings: Settings, source: TextIO, out: TextIO, *, rule_files: list[Path]) -> int:
    if rule_files:
        events = load_events_dir(settings.events_dir)
        rules = [r for path in rule_files for r in load_rules(path)]
        matcher = Matcher(events, rules)
    else:
        matcher = load_matcher(settings)
    count = 0
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        try:
            article = article_from_line(json.loads(line))
        except (json.JSONDecodeError, ValidationError, AttributeError) as exc:
            raise ConfigError(
                f"line {number}: not an article: {exc}", file=getattr(source, "name", "<stdin>")
            ) from exc
        out.write(json.dumps(matcher.match(article).to_dict(), ensure_ascii=False) + "\n")
        count += 1
    if count == 0:
        raise MonitorError("no articles on input; expected JSON Lines with id, title, summary, ...")
    return count
