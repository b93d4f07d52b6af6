"""Articles per second of the matcher on headline plus summary (``make bench``).

    python bench/matcher.py [--devset PATH] [--rules N] [--naive-sample N] [--repeat N]

Three figures, all on one core (CPU time of this process, best of ``--repeat`` passes):

1. the shipped event and rules over the dev set's real headlines and summaries;
2. ``--rules`` generated rules (default 1,000) over the same articles;
3. a naive loop over the same generated rules: for every article, every term of every rule is
   compared with rapidfuzz to every word of the article (``process.extractOne`` with the term's
   threshold), as a matcher without an index would. It is slow, so it runs on a sample.

The first pass of a matcher also learns what each new word can start (a cache); it is reported
apart as "first pass". Later passes meet mostly known words, as a long-running worker does. For
the shipped rules it also prints the cost of one article that follows the tracked event and of
one that does not (most are dismissed by the quick gate).

The machine's load changes every figure: run it two or three times and keep the best.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import timeit
from collections.abc import Callable, Sequence
from pathlib import Path

from rapidfuzz import fuzz, process

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval import DEFAULT_DEVSET, DEFAULT_TIMELINE, devset, timeline

from monitor.matching import DEFAULT_FUZZY, Matcher, tokenize
from monitor.models import Article
from monitor.rules import TrackedEvent, WatchRule, load_events_dir, load_rules_dir
from monitor.settings import load_settings

CATEGORIES = 25


def cpu_rate(run: Callable[[], None], count: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return count / best if best else float("inf")


def vocabulary(articles: Sequence[Article]) -> list[str]:
    words = {t.word for a in articles for t in tokenize(f"{a.title} {a.summary}")}
    return sorted(w for w in words if len(w) >= 5 and w.isalpha())


def generated_rules(event: str, words: list[str], count: int, seed: int = 7) -> list[WatchRule]:
    """``count`` rules of the shipped rules' shape: two positive groups (one of them a proximity
    group) and a veto, drawn from the articles' own words so that many of them fire."""
    rng = random.Random(seed)
    rules = []
    for number in range(count):
        pick = rng.sample(words, 12)
        rules.append(
            WatchRule.model_validate(
                {
                    "id": f"generated-{number:04d}",
                    "title": f"Generated rule {number}",
                    "event": event,
                    "category": f"topic-{number % CATEGORIES}",
                    "match": {
                        "any": {
                            "subject": [*pick[0:4], f"{pick[4]} {pick[5]}"],
                            "action": {"terms": pick[6:9], "near": "object", "within": 4},
                        },
                        "context": {"object": pick[9:11]},
                        "none": {"other": [pick[11]]},
                    },
                }
            )
        )
    return rules


def naive_terms(
    events: dict[str, TrackedEvent], rules: Sequence[WatchRule]
) -> list[tuple[str, int]]:
    terms = []
    specs = [e.match for e in events.values()] + [r.match for r in rules]
    for spec in specs:
        for _kind, _name, group in spec.groups():
            for term in group.terms:
                for variant in term.variants:
                    for token in tokenize(variant):
                        terms.append((token.word, term.fuzzy or DEFAULT_FUZZY))
    return terms


def naive_loop(terms: list[tuple[str, int]], articles: Sequence[Article]) -> int:
    """Every term compared with every word of every article; returns the hits, so the work is
    not optimised away."""
    found = 0
    for article in articles:
        words = [t.word for t in tokenize(article.title)]
        words += [t.word for t in tokenize(article.summary)]
        for word, threshold in terms:
            if process.extractOne(word, words, scorer=fuzz.ratio, score_cutoff=threshold):
                found += 1
    return found


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--devset", type=Path, default=DEFAULT_DEVSET)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--naive-sample", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    source = args.devset if args.devset.exists() else DEFAULT_TIMELINE
    items = devset(source) if source == args.devset else timeline(source)
    articles = [item.article for item in items]
    chars = sum(len(a.title) + len(a.summary) for a in articles) / len(articles)
    print(
        f"{len(articles)} articles from {source.name}, "
        f"{chars:.0f} characters of headline + summary each"
    )

    settings = load_settings()
    events = load_events_dir(settings.events_dir)
    shipped = load_rules_dir(settings.rules_dir, events)
    event_id = next(iter(events))
    generated = generated_rules(event_id, vocabulary(articles), args.rules)

    def measure(name: str, matcher: Matcher) -> float:
        first = cpu_rate(lambda: [matcher.match(a) for a in articles], len(articles), 1)
        rate = cpu_rate(lambda: [matcher.match(a) for a in articles], len(articles), args.repeat)
        fired = sum(bool(matcher.match(a).hits) for a in articles)
        print(
            f"{name:34} {rate:>9,.0f} articles/s per core "
            f"(first pass {first:,.0f}/s; {fired} articles matched a rule)"
        )
        return rate

    matcher = Matcher(events, shipped)
    measure(f"shipped rules ({len(shipped)})", matcher)
    following = [a for a in articles if matcher.match(a).events]
    others = [a for a in articles if not matcher.match(a).events]
    for name, group in (("follows the event", following), ("does not", others)):
        rate = cpu_rate(lambda group=group: [matcher.match(a) for a in group], len(group), 5)
        print(f"  one article that {name:18} {1e6 / rate:6.1f} µs ({len(group)} articles)")
    indexed = measure(f"generated rules ({len(generated)})", Matcher(events, generated))

    sample = articles[: args.naive_sample]
    terms = naive_terms(events, generated)
    naive = cpu_rate(lambda: naive_loop(terms, sample), len(sample), 1)
    print(
        f"{'naive loop, same rules':34} {naive:>9,.0f} articles/s per core "
        f"({len(terms):,} term words x every article word, {len(sample)} articles)"
    )
    print(f"indexed / naive with {len(generated)} rules: {indexed / naive:,.0f}x")
    reference = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000
    print(f"for scale, this core runs sum(range(1000)) in {reference * 1e6:.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
