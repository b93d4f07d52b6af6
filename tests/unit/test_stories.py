"""Story grouping: copies and rewrites join a story; corroboration triggers one update."""

from datetime import UTC, datetime, timedelta

from monitor.stories import CORROBORATED, assign

T0 = datetime(2025, 3, 25, 12, tzinfo=UTC)


def test_rewrites_join_the_first_story_and_only_the_first_alerts() -> None:
    """A reworded headline within the window joins; it does not alert again."""
    first = assign(
        [],
        category="ceasefire",
        article_id="a",
        title="US announces Black Sea truce deal with Russia",
        source="Wire",
        published=T0,
    )
    assert first.kind == "new"
    second = assign(
        first.stories,
        category="ceasefire",
        article_id="b",
        title="Black Sea truce deal announced by US and Russia",
        source="Ledger",
        published=T0 + timedelta(hours=1),
    )
    assert second.kind is None
    assert second.story.id == first.story.id
    assert second.story.sources == ("Wire", "Ledger")


def test_corroboration_by_independent_sources_emits_one_update() -> None:
    """The third independent source triggers an update; a fourth does not."""
    stories, kinds = [], []
    for n, source in enumerate(["A", "B", "B", "C", "D"]):
        out = assign(
            stories,
            category="sanctions",
            article_id=str(n),
            title="EU adopts 16th sanctions package against Russia",
            source=source,
            published=T0 + timedelta(minutes=n),
        )
        stories = out.stories
        kinds.append(out.kind)
    assert kinds == ["new", None, None, "update", None]
    assert len(stories) == 1 and len(stories[0].sources) == CORROBORATED + 1


def test_different_developments_and_old_stories_start_new_stories() -> None:
    """Unrelated headlines, or the same one outside the window, are new stories."""
    a = assign(
        [],
        category="ceasefire",
        article_id="a",
        title="Putin agrees to halt energy strikes",
        source="A",
        published=T0,
    )
    b = assign(
        a.stories,
        category="ceasefire",
        article_id="b",
        title="Easter truce announced by Kremlin",
        source="B",
        published=T0,
    )
    c = assign(
        b.stories,
        category="ceasefire",
        article_id="c",
        title="Putin agrees to halt energy strikes",
        source="C",
        published=T0 + timedelta(days=10),
    )
    assert (a.kind, b.kind, c.kind) == ("new", "new", "new")
    assert len({a.story.id, b.story.id, c.story.id}) == 3
