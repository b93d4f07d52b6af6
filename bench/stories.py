"""How well story grouping turns the demo's labelled developments into alerts (``make stories``).

    python bench/stories.py [--timeline PATH] [--list]

Plays the demo timeline (config/demo/timeline.yaml) in publication order through the real match
and story steps (monitor/pipeline.py: match_article, place_match), as the worker does, and
compares the stories with the timeline's ``development`` labels. Per category it prints:

* developments: labelled developments of the category;
* exactly one: developments whose reports raised exactly one ``new`` alert (the goal: all);
* split: developments that raised more than one ``new`` (extra alerts a subscriber sees);
* lost: developments none of whose reports raised a ``new`` (they joined another story);
* mixed: stories holding reports of more than one development;
* updates, and articles per story.

``--list`` names the split, lost and mixed ones with their headlines. ``--shuffle N`` replays N
more times with the order shuffled within half-day windows (live, articles arrive in the pollers'
fetch order) and prints the range of exactly-one counts and how often each development was lost.
Improve grouping by its method (monitor/stories.py), never by naming an item.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from monitor.catalog import load_matcher
from monitor.demo import item_articles, load_timeline
from monitor.models import Article
from monitor.pipeline import match_article, place_match
from monitor.settings import load_settings
from monitor.stories import StoryIndex

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TIMELINE = ROOT / "config" / "demo" / "timeline.yaml"
CATEGORIES = ("ceasefire", "sanctions")


@dataclass
class Grouping:
    """What happened to each development and story of one category."""

    developments: set[str] = field(default_factory=set)
    news: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    members: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    updates: int = 0
    false_news: int = 0

    @property
    def exactly_one(self) -> list[str]:
        return sorted(d for d in self.developments if len(self.news[d]) == 1)

    @property
    def split(self) -> dict[str, list[str]]:
        return {d: self.news[d] for d in sorted(self.developments) if len(self.news[d]) > 1}

    @property
    def lost(self) -> list[str]:
        return sorted(d for d in self.developments if not self.news[d])

    @property
    def mixed(self) -> dict[str, list[tuple[str, str]]]:
        return {s: m for s, m in self.members.items() if len({d for d, _ in m}) > 1}


SHUFFLE_WINDOW = 12 * 3600  # seconds of publication time within which --shuffle reorders


def play(timeline_path: Path, seed: int | None = None) -> dict[str, Grouping]:
    """Place the timeline's matches in publication order, or (with ``seed``) shuffled within
    windows of SHUFFLE_WINDOW."""
    timeline = load_timeline(timeline_path)
    matcher = load_matcher(load_settings())
    groupings = {c: Grouping() for c in CATEGORIES}
    labelled: list[tuple[Article, str, frozenset[str]]] = []
    for article, item in zip(item_articles(timeline), timeline.items, strict=True):
        development = item.development or f"(unlabelled) {item.title}"
        labelled.append((article, development, frozenset(item.labels)))
        for category in CATEGORIES:
            if category in item.labels:
                groupings[category].developments.add(development)
    index = StoryIndex()
    shuffle = random.Random(seed)

    def order(entry: tuple[Article, str, frozenset[str]]) -> tuple[float, float]:
        when = entry[0].published.timestamp() if entry[0].published else 0.0
        if seed is None:
            return (when, 0.0)
        return (when // SHUFFLE_WINDOW, shuffle.random())

    for article, development, labels in sorted(labelled, key=order):
        for record in match_article(matcher, article):
            grouping = groupings.setdefault(record.category, Grouping())
            placed = place_match(index, record)
            grouping.members[placed.story.id].append((development, article.title))
            if placed.kind == "new":
                if record.category in labels:
                    grouping.news[development].append(article.title)
                else:
                    grouping.false_news += 1
            elif placed.kind == "update":
                grouping.updates += 1
    return groupings


def report(groupings: dict[str, Grouping], *, listing: bool) -> str:
    lines = [
        f"{'category':<11}{'developments':>13}{'exactly one':>12}{'split':>7}{'(extra)':>8}"
        f"{'lost':>6}{'stories':>9}{'mixed':>7}{'updates':>9}{'articles/story':>16}"
    ]
    for category, g in groupings.items():
        sizes = [len(m) for m in g.members.values()]
        extra = sum(len(v) - 1 for v in g.split.values())
        per_story = f"{statistics.mean(sizes):.2f} (max {max(sizes)})" if sizes else "-"
        lines.append(
            f"{category:<11}{len(g.developments):>13}{len(g.exactly_one):>12}{len(g.split):>7}"
            f"{extra:>8}{len(g.lost):>6}{len(g.members):>9}{len(g.mixed):>7}{g.updates:>9}"
            f"{per_story:>16}"
        )
        if g.false_news:
            lines.append(
                f"  {g.false_news} new alerts from items not labelled {category} (see make eval)"
            )
    if listing:
        for category, g in groupings.items():
            lines.append(f"\n== {category}")
            for development, titles in g.split.items():
                lines.append(f"  split {development}:")
                lines += [f"      new: {t}" for t in titles]
            for development in g.lost:
                lines.append(f"  lost  {development}")
            for story, members in g.mixed.items():
                counts = Counter(d for d, _ in members)
                lines.append(
                    f"  mixed {story}: " + ", ".join(f"{d} x{n}" for d, n in counts.items())
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeline", type=Path, default=DEFAULT_TIMELINE)
    parser.add_argument("--list", action="store_true", help="name split, lost and mixed ones")
    parser.add_argument(
        "--shuffle",
        type=int,
        default=0,
        metavar="N",
        help="also replay N times in orders shuffled within half-day windows (default: 0)",
    )
    args = parser.parse_args(argv)
    print(report(play(args.timeline), listing=args.list))
    if args.shuffle:
        print(shuffled(args.timeline, args.shuffle))
    return 0


def shuffled(timeline_path: Path, runs: int) -> str:
    """Exactly-one counts over ``runs`` shuffled orders, and developments lost in any of them."""
    counts, lost = [], Counter[str]()
    for seed in range(runs):
        groupings = play(timeline_path, seed)
        counts.append(sum(len(g.exactly_one) for g in groupings.values()))
        lost.update(f"{c} {d}" for c, g in groupings.items() for d in g.lost)
    lines = [
        f"\nshuffled within half-day windows, {runs} orders: exactly one `new` for "
        f"{min(counts)}-{max(counts)} developments (mean {statistics.mean(counts):.1f})"
    ]
    lines += [f"  lost in {n} of {runs}: {d}" for d, n in lost.most_common()] or ["  none lost"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
