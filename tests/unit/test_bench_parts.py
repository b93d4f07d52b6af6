"""bench/pipeline.py's breakdown phases leave out exactly the work they say, and no more."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import agents.app as worker

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import pipeline as bench

RAW = (
    b'{"id": "a-1", "title": "Russia rejects the ceasefire", "source": '
    b'{"url": "https://example.org/feed", "name": "Example"}}'
)


class CountingMatcher:
    """Stands in for the matcher: counts the articles it is asked about, matches none."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def match_or_none(self, article: Any) -> None:
        self.asked.append(article.id)


@pytest.fixture
def restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever ``leave_out`` replaces in agents.app is put back after the test."""
    monkeypatch.setattr(worker, "match_article", worker.match_article)
    monkeypatch.setattr(worker, "Article", worker.Article)


@pytest.mark.usefixtures("restored")
def test_match_part_matches_every_article_and_drops_the_records() -> None:
    bench.leave_out("match")
    matcher = CountingMatcher()
    article = worker.Article.from_bytes(RAW)
    assert worker.match_article(matcher, article) == []
    assert matcher.asked == ["a-1"]


@pytest.mark.usefixtures("restored")
def test_decode_part_decodes_but_does_not_match() -> None:
    bench.leave_out("decode")
    matcher = CountingMatcher()
    article = worker.Article.from_bytes(RAW)
    assert article.title == "Russia rejects the ceasefire"
    assert worker.match_article(matcher, article) == []
    assert matcher.asked == []


@pytest.mark.usefixtures("restored")
def test_frame_part_neither_decodes_nor_matches() -> None:
    bench.leave_out("frame")
    matcher = CountingMatcher()
    article = worker.Article.from_bytes(b"not json at all")  # no decoding, so no error
    assert article.id == "bench-frame"
    assert worker.match_article(matcher, article) == []
    assert matcher.asked == []


def test_the_parts_are_undone_after_each_test() -> None:
    from monitor.models import Article
    from monitor.pipeline import match_article

    assert worker.Article is Article
    assert worker.match_article is match_article
