"""CPU per article in the worker's pure-Python hot path, step by step (issue 9).

    python bench/hotpath.py [--articles 30000] [--repeat 5] [--relevant 0.05] [--profile PATH]

The worker (agents/app.py) does, per article, outside Faust and Kafka:

1. decode: ``Article.from_bytes`` of the raw ``monitor.articles`` value;
2. match: ``monitor.pipeline.match_article`` with the shipped rules; most articles match
   nothing (the quick gate dismisses most of those; the rest go through the word path) and
   come out as ``[]``; a matched one comes out as one ``MatchRecord`` per rule that fired,
   with its story profile;

and per match record (the story stage, on ``monitor.matches``):

3. record decode: ``MatchRecord.from_bytes``;
4. story: ``monitor.pipeline.story_step`` (place it into its category's stories, build the
   alert due);
5. alert encode: ``Alert.to_bytes`` for the alerts due.

The articles are the pipeline benchmark's mix (``bench/pipeline.py``'s ``ArticleStream``, same
seed and shares: demo timeline items under varied ids and dates, the dev set's negatives, a few
re-sends). They are made once, then decoded and matched once untimed so the matcher's word cache
is warm, as in a long-running worker; the decoded articles are then frozen out of the garbage
collector's sight (``gc.freeze``), as a worker holds no such pile. Each pass times every step
over all of them (CPU time of this process, one loop per step, so the timer costs nothing per
article); the story stage starts each pass from an empty story index, so every pass places the
same records the same way. Figures are microseconds per article (per record for the story
stage): the best, the median and the worst of ``--repeat`` passes.

The last line weighs the steps by their share of the stream: microseconds of CPU per article
of the whole stream. Another process using the machine changes every figure: repeat, and
compare runs made under the same load. ``--profile PATH`` also writes cProfile statistics of
one more pass of steps 2-5 (read them with ``python -m pstats PATH``).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import DEFAULT_DEVSET, ROOT, ArticleStream

from monitor.catalog import load_matcher
from monitor.matching import Matcher
from monitor.models import Alert, Article, MatchRecord
from monitor.pipeline import match_article, story_step
from monitor.settings import load_settings
from monitor.stories import StoryIndex

NOW = datetime(2025, 6, 1, tzinfo=UTC)  # "matched" and "emitted" of every record and alert


def cpu_seconds(run: Callable[[], object]) -> float:
    started = time.process_time()
    run()
    return time.process_time() - started


class Workload:
    """The raw articles, and the same split by what the worker does with them."""

    def __init__(self, raws: list[bytes], matcher: Matcher):
        self.raws = raws
        self.matcher = matcher
        articles = [Article.from_bytes(raw) for raw in raws]
        for article in articles:  # warm the word cache, as a long-running worker has it
            match_article(matcher, article, NOW)
        self.unmatched: list[Article] = []
        self.matched: list[Article] = []
        self.records: list[bytes] = []
        for article in articles:
            records = match_article(matcher, article, NOW)
            (self.matched if records else self.unmatched).append(article)
            self.records += [record.to_bytes() for record in records]
        self.alerts = [alert for _p, alert in self.story_pass() if alert is not None]

    def story_pass(
        self, records: list[MatchRecord] | None = None
    ) -> list[tuple[object, Alert | None]]:
        index = StoryIndex()
        if records is None:
            records = [MatchRecord.from_bytes(raw) for raw in self.records]
        return [story_step(index, record, NOW) for record in records]

    def one_pass(self) -> dict[str, float]:
        """Seconds of CPU per step over the whole workload."""
        matcher, decoded = self.matcher, [MatchRecord.from_bytes(r) for r in self.records]
        return {
            "decode": cpu_seconds(lambda: [Article.from_bytes(raw) for raw in self.raws]),
            "unmatched": cpu_seconds(
                lambda: [match_article(matcher, a, NOW) for a in self.unmatched]
            ),
            "matched": cpu_seconds(lambda: [match_article(matcher, a, NOW) for a in self.matched]),
            "record": cpu_seconds(lambda: [MatchRecord.from_bytes(r) for r in self.records]),
            "story": cpu_seconds(lambda: self.story_pass(decoded)),
            "alert": cpu_seconds(lambda: [alert.to_bytes() for alert in self.alerts]),
        }


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--articles", type=int, default=30_000, help="articles in the stream (default: 30000)"
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="timed passes; best and spread (default: 5)"
    )
    parser.add_argument(
        "--relevant",
        type=float,
        default=0.05,
        help="share of demo timeline items, as bench/pipeline.py (default: 0.05)",
    )
    parser.add_argument(
        "--duplicates",
        type=float,
        default=0.02,
        help="share of re-sends of an earlier article, as bench/pipeline.py (default: 0.02)",
    )
    parser.add_argument("--devset", type=Path, default=DEFAULT_DEVSET, help="dev set JSONL")
    parser.add_argument(
        "--timeline", type=Path, default=ROOT / "config/demo/timeline.yaml", help="demo timeline"
    )
    parser.add_argument("--profile", type=Path, help="write cProfile stats of one more pass here")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    stream = ArticleStream(args.devset, args.timeline, args.relevant, args.duplicates)
    raws = [stream.next()[1] for _ in range(args.articles)]
    work = Workload(raws, load_matcher(load_settings()))
    gc.collect()
    gc.freeze()
    total, matched = len(raws), len(work.matched)
    print(
        f"{total} articles ({args.relevant:.0%} timeline items, {args.duplicates:.0%} re-sends):"
        f" {matched} matched ({matched / total:.1%}), {len(work.records)} match records,"
        f" {len(work.alerts)} alerts; {args.repeat} passes, CPU time"
    )
    passes = [work.one_pass() for _ in range(args.repeat)]
    counts = {
        "decode": total,
        "unmatched": len(work.unmatched),
        "matched": matched,
        "record": len(work.records),
        "story": len(work.records),
        "alert": len(work.alerts),
    }
    labels = {
        "decode": "Article.from_bytes, per article",
        "unmatched": "match_article, per article that matches nothing",
        "matched": "match_article, per matched article",
        "record": "MatchRecord.from_bytes, per record",
        "story": "story_step, per record",
        "alert": "Alert.to_bytes, per alert",
    }
    best: dict[str, float] = {}
    print(f"\n{'step':50} {'best µs':>9} {'median':>8} {'worst':>8}")
    for step, label in labels.items():
        each = sorted(1e6 * p[step] / max(counts[step], 1) for p in passes)
        best[step] = each[0]
        print(f"{label:50} {each[0]:9.1f} {statistics.median(each):8.1f} {each[-1]:8.1f}")
    per_article = (
        sum(best[step] * counts[step] for step in labels) / total  # every step, over the stream
    )
    print(f"\nwhole stream, best passes: {per_article:.1f} µs of CPU per article")
    if args.profile:
        import cProfile

        with cProfile.Profile() as profile:
            work.one_pass()
        profile.dump_stats(args.profile)
        print(f"profile of one pass: {args.profile}")


if __name__ == "__main__":
    main()
