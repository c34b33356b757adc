"""The lexical similarity that groups near-duplicate proposals (bot/similarity.py):
inflections of Bulgarian, Slovenian and English, and the pairwise precision and recall
on the test set of tests/similarity_cases.py, which must not fall below the floors the
README states."""

from __future__ import annotations

import time

import pytest

from bot import similarity
from bot.similarity import SimilarityIndex, cosine, group_all, pairwise_quality, words
from tests.similarity_cases import BG, EN, SL, numbered

# The floors README's "Grouped near-duplicates" states, per language and all mixed.
FLOORS = {"bg": (0.95, 0.95), "en": (0.85, 0.95), "sl": (0.9, 0.9), "all": (0.85, 0.95)}
SETS = {"bg": BG, "en": EN, "sl": SL, "all": BG + EN + SL}
BACKGROUND = [text for group in BG + EN + SL for text in group]


@pytest.mark.parametrize("name", list(SETS))
def test_grouping_meets_its_floor(name: str) -> None:
    texts, known = numbered(SETS[name])
    precision, recall = pairwise_quality(group_all(texts), known)
    floor_precision, floor_recall = FLOORS[name]
    assert precision >= floor_precision, (name, precision)
    assert recall >= floor_recall, (name, recall)


def test_the_sets_are_as_large_as_promised() -> None:
    for groups in (BG, EN):
        assert sum(len(group) for group in groups) >= 30
        assert sum(len(group) == 1 for group in groups) >= 6  # near-misses


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # Bulgarian: article, plural, adjective endings.
        ("Нови пейки в парка Розариум", "Новата пейка в парк Розариум"),
        ("Ремонт на водопровода в квартала", "Ремонтът на водопроводите в кварталите"),
        # Slovenian: cases of the same nouns.
        ("Kolesarska steza do Zlatega polja", "kolesarske steze do Zlato polje"),
        ("Več parkirnih mest v starem mestnem jedru", "parkirna mesta za staro mestno jedro"),
        # English: plural and verb forms.
        ("Repair the water mains", "Repairing the water main"),
    ],
)
def test_inflections_stay_alike(first: str, second: str) -> None:
    assert cosine(first, second, BACKGROUND) >= similarity.THRESHOLD


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Велоалея по булевард Розова долина", "Велосипедни стоянки пред училищата"),
        ("Kolesarska steza do Zlatega polja", "Stojala za kolesa pred šolami"),
        ("A new car park next to the station", "Fewer cars in the centre: a pedestrian zone"),
    ],
)
def test_other_requests_on_the_same_topic_are_not(first: str, second: str) -> None:
    assert cosine(first, second, BACKGROUND) < similarity.THRESHOLD


def test_normalising_drops_case_punctuation_and_stop_words() -> None:
    assert words("  Да се ИЗГРАДИ велоалея, моля!!! ") == ["изгради", "велоалея"]
    assert words("Naj se uredi kolesarska steza.") == ["uredi", "kolesarska", "steza"]
    assert words("Please BUILD a cycle-lane.") == ["build", "cycle", "lane"]


def test_a_removed_proposal_is_compared_no_more() -> None:
    index = SimilarityIndex()
    index.add(1, "Нови пейки в парка Розариум")
    index.add(2, "Нови пейки в парка Розариум, моля")
    assert [other for other, _ in index.similar(2)] == [1]
    index.remove(1)
    assert index.similar(2) == []
    assert 1 not in index and len(index) == 1


def test_a_thousand_proposals_cost_a_new_one_little() -> None:
    """A resident's submission compares their text with every proposal of the
    consultation: with 1,000 it must stay well under the time a person notices."""
    index = SimilarityIndex()
    for key in range(1000):
        index.add(
            key, f"{BACKGROUND[key % len(BACKGROUND)]} {BACKGROUND[(key * 7) % len(BACKGROUND)]}"
        )
    index.similar(0)  # the vectors, made once
    started = time.perf_counter()
    for key in range(1000, 1010):
        index.add(key, BACKGROUND[key % len(BACKGROUND)])
        index.similar(key)
    assert (time.perf_counter() - started) / 10 < 0.1
