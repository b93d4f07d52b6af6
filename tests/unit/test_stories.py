"""Story grouping: reports of one development form one story; copies are not corroboration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.stories import CONTEXT, CORROBORATED, Placement, Story, StoryIndex, profile

T0 = datetime(2025, 3, 18, 18, tzinfo=UTC)
ACTORS = {
    "russia": ["Russia", "Moscow", "Kremlin", "Putin"],
    "ukraine": ["Ukraine", "Kyiv", "Kiev", "Zelensky"],
    "united-states": ["US", "Washington", "White House", "Trump"],
}


def place(
    index: StoryIndex,
    title: str,
    *,
    source: str,
    at: timedelta = timedelta(0),
    concepts: tuple[str, ...] = ("ceasefire",),
    article_id: str | None = None,
) -> Placement:
    return index.place(
        category="ceasefire",
        article_id=article_id or f"{source}:{title}",
        title=title,
        source=source,
        published=T0 + at,
        article=profile(title, concepts=concepts, actors=ACTORS),
    )


def test_profile_maps_names_to_actors_and_the_first_is_the_subject() -> None:
    """ "Kremlin" and "Putin" are one actor; two-word names count once; the first actor leads."""
    seen = profile("Kremlin: Putin agrees 30-day truce with the White House", actors=ACTORS)
    assert seen.subject == "russia"
    assert seen.features["$russia"] == 2.0 and seen.features["$united-states"] == 1.0
    assert seen.features["#30"] == 1.0 and "the" not in seen.features


def test_the_quoted_actor_is_the_subject() -> None:
    """ "..., Kyiv says" is Kyiv's account even when the headline names Russia first; a
    two-word name can speak too; without a reporting verb the first actor leads."""
    quoted = profile("Russia hits energy sites hours after truce, Kyiv says", actors=ACTORS)
    two_words = profile("Putin is stalling on the truce, White House says", actors=ACTORS)
    plain = profile("Russia hits energy sites hours after truce in Kyiv", actors=ACTORS)
    assert quoted.subject == "ukraine" and two_words.subject == "united-states"
    assert plain.subject == "russia"


def test_an_earlier_act_by_another_actor_does_not_join_the_answer_to_it() -> None:
    """Fetched late, the US's pledge (published first) stays apart from the Kremlin's answer to
    it, though their words overlap; a report published earlier by the same actor still joins."""
    index = StoryIndex()
    answer = place(
        index,
        "Kremlin: Black Sea truce only after Russian farm exports and bank reconnected",
        source="A",
        at=timedelta(hours=2),
    )
    pledge = place(  # without the rule it would join (similarity about 0.3)
        index,
        "White House: Black Sea truce once Russian farm exports and bank are reconnected",
        source="B",
    )
    early_copy = place(
        index,
        "Kremlin says Black Sea truce needs Russian farm exports and bank reconnected",
        source="C",
        at=timedelta(hours=1),
    )
    assert pledge.kind == "new" and pledge.story.id != answer.story.id
    assert early_copy.kind is None and early_copy.story.id == answer.story.id


def test_an_abbreviation_names_an_actor_only_in_capitals() -> None:
    """ "US" is the United States; the pronoun "us" (or "Us" in a title-case headline) is not."""
    pronoun = profile("Zelensky: Russia keeps attacking us despite truce talk", actors=ACTORS)
    title_case = profile("Putin Tells Us Truce Must Wait", actors=ACTORS)
    country = profile("US and Ukraine agree truce terms", actors=ACTORS)
    assert "$united-states" not in pronoun.features and pronoun.subject == "ukraine"
    assert "$united-states" not in title_case.features
    assert country.subject == "united-states" and country.features["$united-states"] == 1.0


def test_rewrites_of_one_development_join_its_story_and_only_the_first_alerts() -> None:
    """A reworded report of the same act, hours later, joins; it raises no second `new`."""
    index = StoryIndex()
    first = place(
        index, "Putin agrees to 30-day halt on strikes on energy infrastructure", source="A"
    )
    second = place(
        index,
        "Kremlin: Putin orders military to stop hitting energy sites for 30 days",
        source="B",
        at=timedelta(minutes=30),
    )
    assert first.kind == "new" and second.kind is None
    assert second.story.id == first.story.id and second.story.sources == ("A", "B")


BACKGROUND = [  # earlier stories of the category: what "common" means to the feature weights
    "Putin backs ceasefire idea in principle but lists conditions",
    "Kyiv demands full ceasefire before talks on territory",
    "Putin says Russia open to truce talks with Ukraine",
    "Zelensky urges Putin to accept a ceasefire",
]


def test_a_report_led_by_another_actor_needs_twice_the_overlap_to_join() -> None:
    """The subject (first actor named) of a headline matters: the same words led by Kyiv instead
    of the Kremlin score half as similar to the Kremlin's story."""
    index = StoryIndex()
    for n, title in enumerate(BACKGROUND):
        place(index, title, source=f"S{n}", at=-timedelta(days=n + 3))
    putin = place(index, "Putin declares Easter truce until Sunday midnight", source="A")
    at = T0 + timedelta(hours=1)
    same = profile("Kremlin declares Easter truce until Sunday midnight", actors=ACTORS)
    other = profile("Kyiv declares Easter truce until Sunday midnight", actors=ACTORS)
    assert (same.subject, other.subject) == ("russia", "ukraine")
    ratio = index.similarity(putin.story, same, at) / index.similarity(putin.story, other, at)
    assert ratio > 1.9


def test_the_same_act_reported_after_the_window_is_a_new_story() -> None:
    """A report ten days after a story's latest one starts a new story with its own alert."""
    index = StoryIndex()
    first = place(index, "Putin declares Easter truce in Ukraine until Sunday", source="A")
    again = place(
        index,
        "Putin declares Easter truce in Ukraine until Sunday",
        source="C",
        at=timedelta(days=10),
    )
    assert (first.kind, again.kind) == ("new", "new") and first.story.id != again.story.id


def test_corroboration_counts_independent_outlets_not_copies() -> None:
    """Wire copies add sources but not corroboration; the third independent outlet raises one
    update and a fourth raises none."""
    index = StoryIndex()
    title = "Putin agrees to 30-day halt on strikes on energy infrastructure"
    kinds = [place(index, title, source="Wire").kind]
    kinds += [place(index, title, source=s, at=timedelta(minutes=5)).kind for s in ("C1", "C2")]
    rewrites = [
        ("Kremlin: Putin orders halt to strikes on energy sites for 30 days", "B"),
        ("Putin backs 30-day pause in energy strikes after call", "C"),
        ("Putin agrees 30-day moratorium on energy infrastructure strikes", "D"),
    ]
    kinds += [place(index, t, source=s, at=timedelta(minutes=20)).kind for t, s in rewrites]
    story = index.stories("ceasefire")
    assert kinds == ["new", None, None, None, "update", None]
    assert len(story) == 1 and story[0].independent == CORROBORATED + 1
    assert len(story[0].sources) == 6


def test_stories_older_than_the_context_are_forgotten_and_reported() -> None:
    """A story whose latest report is older than CONTEXT leaves the index; its id is returned so
    the worker can delete it from its table."""
    index = StoryIndex()
    old = place(index, "Putin declares Easter truce", source="A")
    later = place(index, "Zelensky proposes air and sea truce", source="B", at=CONTEXT * 2)
    assert later.expired == (old.story.id,)
    assert [s.id for s in index.stories("ceasefire")] == [later.story.id]


def test_an_index_rebuilt_from_stored_stories_places_articles_the_same_way() -> None:
    """Recovery: loading the stored dicts into a fresh index gives the same placements as the
    index that never stopped."""
    live = StoryIndex()
    place(live, "Putin agrees to 30-day halt on strikes on energy infrastructure", source="A")
    place(live, "Zelensky proposes air and sea truce", source="B", at=timedelta(hours=1))
    rebuilt = StoryIndex()
    for story in live.stories("ceasefire"):
        rebuilt.load(Story.from_dict(story.to_dict()))
    title = "Kremlin: Putin orders military to stop hitting energy sites for 30 days"
    a = place(live, title, source="C", at=timedelta(hours=2))
    b = place(rebuilt, title, source="C", at=timedelta(hours=2))
    assert (a.story, a.kind, a.similarity) == (b.story, b.kind, b.similarity)
