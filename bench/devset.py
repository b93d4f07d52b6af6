"""Precision and recall of the shipped event and rules on the hand-labelled dev set.

    python bench/devset.py [PATH-TO-devset.jsonl] [--errors]

Prints one line per label (event, ceasefire, sanctions) and, with --errors, the misses and false
alarms so rule authors can see what the rules do (never special-case an item; fix the rule).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

from monitor.matching import Matcher
from monitor.models import Article, Source
from monitor.rules import load_events_dir, load_rules_dir
from monitor.settings import load_settings

DEFAULT_DEVSET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "devset.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_DEVSET)
    parser.add_argument("--errors", action="store_true", help="list misses and false alarms")
    args = parser.parse_args()
    settings = load_settings()
    events = load_events_dir(settings.events_dir)
    matcher = Matcher(events, load_rules_dir(settings.rules_dir, events))
    rows = [json.loads(line) for line in args.path.read_text(encoding="utf-8").splitlines() if line]
    started = time.perf_counter()
    results = []
    for row in rows:
        article = Article(
            id=row["id"],
            title=row["title"],
            summary=row["summary"],
            link=row["link"],
            source=Source(url=row["source"], name=row["source"]),
            published=datetime.fromisoformat(row["published"]),
        )
        results.append((row, matcher.match(article)))
    elapsed = time.perf_counter() - started
    print(
        f"{len(rows)} items matched in {elapsed * 1000:.0f} ms "
        f"({len(rows) / elapsed:,.0f} articles/s, one core)"
    )
    for label in ("event", "ceasefire", "sanctions"):
        tp = fp = fn = 0
        for row, result in results:
            got = bool(result.events) if label == "event" else label in result.categories
            want = bool(row[label])
            tp += got and want
            fp += got and not want
            fn += want and not got
            if args.errors and got != want:
                kind = "MISS " if want else "FALSE"
                print(f"  {kind} {label:9} {row['id']} {row['title'][:90]}")
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        print(
            f"{label:10} precision {precision:.2f}  recall {recall:.2f}  "
            f"(tp {tp}, fp {fp}, fn {fn})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
