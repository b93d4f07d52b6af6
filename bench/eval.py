"""Precision, recall and F1 of the shipped event and rules on labelled sets (``make eval``).

    python bench/eval.py [--devset PATH] [--timeline PATH] [--no-errors]

Two sets: the real, hand-labelled headlines in ``../shared/data/devset.jsonl`` and our own demo
corpus (``config/demo/timeline.yaml``, labels per item). For each set it prints a table with one
row per label (``event``, ``ceasefire``, ``sanctions``) and then every false positive and false
negative with the evidence that fired (or the text that did not), so rule authors can see why.
Fix rules by improving their vocabulary or the rule language, never by naming an item.

Each set is also matched by the plain reference matcher of the tests
(``tests/reference_matcher.py``: no index, no cache, no gate); the fast matcher must give the
same result (events, scores, rules, evidence) on every article, or the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitor.catalog import load_matcher
from monitor.demo import item_articles, load_timeline
from monitor.matching import Matcher, MatchResult
from monitor.models import Article, Source
from monitor.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.reference_matcher import ReferenceMatcher, comparable  # noqa: E402  (needs ROOT)

DEFAULT_DEVSET = ROOT.parent / "shared" / "data" / "devset.jsonl"
DEFAULT_TIMELINE = ROOT / "config" / "demo" / "timeline.yaml"
LABELS = ("event", "ceasefire", "sanctions")


@dataclass(frozen=True)
class Labelled:
    article: Article
    labels: frozenset[str]


def devset(path: Path) -> list[Labelled]:
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        article = Article(
            id=row["id"],
            title=row["title"],
            summary=row["summary"],
            link=row["link"],
            source=Source(url=row["source"], name=row["source"]),
            published=datetime.fromisoformat(row["published"]),
        )
        items.append(Labelled(article, frozenset(label for label in LABELS if row[label])))
    return items


def timeline(path: Path) -> list[Labelled]:
    loaded = load_timeline(path)
    return [
        Labelled(article, frozenset(item.labels))
        for article, item in zip(item_articles(loaded), loaded.items, strict=True)
    ]


def predicted(result: MatchResult) -> frozenset[str]:
    return frozenset({*(["event"] if result.events else []), *result.categories})


def why(result: MatchResult, label: str) -> str:
    if label == "event":
        evidence = list(result.event_evidence)
    else:
        evidence = [e for h in result.hits if h.category == label for e in h.evidence]
    return "; ".join(f'{e.group} "{e.text}" ({e.field})' for e in evidence[:4])


def report(name: str, items: list[Labelled], matcher: Matcher, errors: bool) -> list[str]:
    results = [(item, matcher.match(item.article)) for item in items]
    lines = [
        f"## {name}: {len(items)} items",
        "",
        "| label | positives | tp | fp | fn | precision | recall | F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    mistakes: list[str] = []
    for label in LABELS:
        tp = fp = fn = 0
        for item, result in results:
            got, want = label in predicted(result), label in item.labels
            tp += got and want
            fp += got and not want
            fn += want and not got
            if errors and got != want:
                title = item.article.title[:88]
                if got:
                    mistakes.append(f"  FP {label:9} {item.article.id}  {title}")
                    mistakes.append(f"      why: {why(result, label)}")
                else:
                    mistakes.append(f"  FN {label:9} {item.article.id}  {title}")
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        counts = f"| {label} | {tp + fn} | {tp} | {fp} | {fn} |"
        lines.append(f"{counts} {precision:.2f} | {recall:.2f} | {f1:.2f} |")
    if mistakes:
        lines += ["", "false positives (FP) and false negatives (FN):", *mistakes]
    return [*lines, ""]


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--devset", type=Path, default=DEFAULT_DEVSET)
    parser.add_argument("--timeline", type=Path, default=DEFAULT_TIMELINE)
    parser.add_argument("--no-errors", action="store_true", help="the tables only")
    args = parser.parse_args(list(argv) if argv is not None else None)
    matcher = load_matcher(load_settings())
    reference = ReferenceMatcher(matcher.events, matcher.rules)
    sets = [("demo timeline (our own writing)", timeline(args.timeline))]
    if args.devset.exists():
        sets.insert(0, ("dev set (real headlines, hand-labelled)", devset(args.devset)))
    else:
        print(f"(dev set not found at {args.devset}; evaluating the demo timeline only)\n")
    disagreements = 0
    for name, items in sets:
        print("\n".join(report(name, items, matcher, not args.no_errors)))
        differ = [
            item.article.id
            for item in items
            if comparable(matcher.match(item.article)) != comparable(reference.match(item.article))
        ]
        agree = len(items) - len(differ)
        print(f"fast matcher = reference matcher on {agree}/{len(items)} articles")
        print(f"  they differ on: {', '.join(differ)}\n" if differ else "")
        disagreements += len(differ)
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
