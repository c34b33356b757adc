"""Reading a plan: languages, the walk, pages, and deep-link payloads."""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import pytest
from annotated_types import MaxLen

from bot.content import (
    SECTION_NUMBER_PATTERN,
    SLUG_PATTERN,
    ConsultationFile,
    read_consultation_files,
)
from bot.plan import Localized, locate, paginate, pick
from bot.reading import DeepLink, parse_start_payload, share_link, start_payload
from storage.models import Section

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TELEGRAM_START_PARAMETER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# ---------------------------------------------------------------- pick


def test_pick_prefers_the_readers_language() -> None:
    texts = {"bg": "План", "en": "Plan"}
    assert pick(texts, "en", "bg") == Localized("Plan", "en")
    assert pick(texts, "bg", "bg") == Localized("План", "bg")


def test_pick_falls_back_to_english_then_to_the_original_and_says_so() -> None:
    assert pick({"bg": "План", "en": "Plan"}, "sl", "bg") == Localized("Plan", "en")
    texts = {"bg": "План"}
    chosen = pick(texts, "sl", "bg")
    assert chosen == Localized("План", "bg")
    assert chosen.language == "bg"
    assert not chosen.is_in("sl")
    assert chosen.is_in("bg")


def test_pick_treats_an_empty_translation_as_missing() -> None:
    assert pick({"bg": "План", "en": ""}, "en", "bg") == Localized("План", "bg")


def test_pick_without_the_original_takes_what_there_is() -> None:
    assert pick({"en": "Plan"}, "sl", "bg") == Localized("Plan", "en")
    assert pick({}, "sl", "bg") == Localized("", "bg")


# ---------------------------------------------------------------- locate


def _plan(numbers: list[str]) -> list[Section]:
    """Sections with ids 101, 102, ... in reading order, parents by number."""
    sections: list[Section] = []
    by_number: dict[str, Section] = {}
    for position, number in enumerate(numbers):
        parent = by_number.get(number.rpartition(".")[0])
        section = Section(
            id=101 + position,
            consultation_id=1,
            parent_id=parent.id if parent else None,
            position=position,
            depth=number.count("."),
            number=number,
            title={"en": f"Section {number}"},
        )
        sections.append(section)
        by_number[number] = section
    return sections


NUMBERS = ["1", "2", "2.1", "2.2", "2.2.1", "2.2.2", "2.3", "3"]


def _numbers(sections: tuple[Section, ...] | list[Section]) -> list[str]:
    return [section.number for section in sections]


@pytest.mark.parametrize("seed", range(3))
def test_locate_walks_the_plan_in_reading_order(seed: int) -> None:
    plan = _plan(NUMBERS)
    by_number = {section.number: section for section in plan}
    shuffled = plan[:]
    random.Random(seed).shuffle(shuffled)  # the order given must not matter

    where = locate(shuffled, by_number["2.2.1"])
    assert (where.index, where.total) == (5, 8)
    assert where.previous is by_number["2.2"]
    assert where.next is by_number["2.2.2"]
    assert _numbers(where.ancestors) == ["2", "2.2"]
    assert where.children == ()

    where = locate(shuffled, by_number["2"])
    assert (where.index, where.total) == (2, 8)
    assert where.previous is by_number["1"]
    assert where.next is by_number["2.1"]
    assert where.ancestors == ()
    assert _numbers(where.children) == ["2.1", "2.2", "2.3"]

    where = locate(shuffled, by_number["2.3"])
    assert where.previous is by_number["2.2.2"]  # the deepest section before it
    assert where.next is by_number["3"]
    assert _numbers(where.ancestors) == ["2"]


def test_locate_at_the_ends_of_the_plan() -> None:
    plan = _plan(NUMBERS)
    first = locate(plan, plan[0])
    assert (first.index, first.previous, first.next) == (1, None, plan[1])
    last = locate(plan, plan[-1])
    assert (last.index, last.total, last.next, last.previous) == (8, 8, None, plan[-2])

    alone = _plan(["1"])
    only = locate(alone, alone[0])
    assert (only.index, only.total, only.previous, only.next) == (1, 1, None, None)


def test_locate_visits_every_section_once_front_to_back() -> None:
    plan = _plan(NUMBERS)
    seen: list[str] = []
    section: Section | None = plan[0]
    while section is not None:
        seen.append(section.number)
        where = locate(plan, section)
        assert where.index == len(seen)
        section = where.next
    assert seen == NUMBERS


# ---------------------------------------------------------------- paginate

_SENTENCE_END = re.compile(r"(?<=[.!?…;])\s+")
_LETTERS = "abcdefghijklmnopqrstuvwxyzабвгдежзийклмнопрстуфхцчшщъьюяčšž"


def _random_text(rng: random.Random, limit: int) -> str:
    paragraphs = []
    for _ in range(rng.randint(1, 8)):
        sentences = []
        for _ in range(rng.randint(1, 10)):
            words = []
            for _ in range(rng.randint(1, 14)):
                if rng.random() < 0.02:
                    length = rng.randint(limit + 1, 3 * limit)  # a word longer than a page
                else:
                    length = rng.randint(1, 12)
                words.append("".join(rng.choice(_LETTERS) for _ in range(length)))
            words[0] = words[0].capitalize()
            inner = [rng.choice([" ", " ", " ", "\n", "  ", ", "]) for _ in words[1:]]
            sentence = words[0] + "".join(
                sep + word for sep, word in zip(inner, words[1:], strict=True)
            )
            sentences.append(sentence + rng.choice(".!?…;"))
        paragraphs.append("".join(s + rng.choice([" ", "\n", "  "]) for s in sentences).strip())
    return rng.choice(["", "\n", "  "]) + "\n\n".join(paragraphs) + rng.choice(["", "\n", " "])


CASES = [(seed, random.Random(seed).choice([40, 80, 150, 300, 1000, 4096])) for seed in range(400)]


@pytest.fixture(scope="module")
def random_texts() -> list[tuple[str, int, list[str]]]:
    cases = []
    for seed, limit in CASES:
        text = _random_text(random.Random(seed), limit)
        cases.append((text, limit, paginate(text, limit)))
    return cases


def test_paginate_keeps_every_page_within_the_limit(
    random_texts: list[tuple[str, int, list[str]]],
) -> None:
    for text, limit, pages in random_texts:
        assert pages, text
        for page in pages:
            assert 0 < len(page) <= limit, (limit, page)
            assert page == page.strip()


def test_paginate_loses_no_text(random_texts: list[tuple[str, int, list[str]]]) -> None:
    for text, limit, pages in random_texts:
        joined = "\n\n".join(pages)
        if max(len(word) for word in text.split()) <= limit:
            # Words are never cut, so the words come back whole and in order.
            assert joined.split() == text.split(), limit
        else:
            # Only words longer than a page are cut; every character is kept in order.
            assert "".join(joined.split()) == "".join(text.split()), limit


def test_paginate_keeps_paragraphs_and_sentences_whole_when_they_fit(
    random_texts: list[tuple[str, int, list[str]]],
) -> None:
    checked_paragraphs = checked_sentences = 0
    for text, limit, pages in random_texts:
        for paragraph in re.split(r"\n\s*\n", text.strip()):
            paragraph = paragraph.strip()
            if len(paragraph) <= limit:
                assert any(paragraph in page for page in pages), (limit, paragraph)
                checked_paragraphs += 1
                continue
            for sentence in _SENTENCE_END.split(paragraph):
                if len(sentence) <= limit:
                    assert any(sentence in page for page in pages), (limit, sentence)
                    checked_sentences += 1
    # The generator does produce both situations.
    assert checked_paragraphs > 100 and checked_sentences > 100


def test_paginate_ends_a_page_early_only_after_a_sentence(
    random_texts: list[tuple[str, int, list[str]]],
) -> None:
    # Pages are filled: when the next page's first word would still have fitted,
    # the page was ended on purpose, at the end of a sentence or paragraph.
    early = 0
    for _, limit, pages in random_texts:
        for page, following in itertools.pairwise(pages):
            first_word = following.split()[0]
            if len(page) + 1 + len(first_word) <= limit:
                assert page[-1] in ".!?…;", (limit, page[-40:], following[:40])
                early += 1
    assert early > 100


def test_paginate_breaks_between_paragraphs_first() -> None:
    first = "First paragraph. " * 5
    second = "Second paragraph, a bit longer. " * 4
    text = f"{first.strip()}\n\n{second.strip()}"
    limit = max(len(first), len(second)) + 10
    assert len(text) > limit
    assert paginate(text, limit) == [first.strip(), second.strip()]


def test_paginate_puts_small_paragraphs_together_with_a_blank_line() -> None:
    text = "One.\n\nTwo.\n\nThree is long. It has two sentences."
    pages = paginate(text, 20)
    assert pages[0] == "One.\n\nTwo."
    assert pages[1].startswith("Three is long.")


def test_paginate_breaks_between_sentences_before_words() -> None:
    sentences = [f"Sentence number {n} is here." for n in range(1, 7)]
    text = " ".join(sentences)
    pages = paginate(text, 60)
    assert pages == [
        " ".join(sentences[0:2]),
        " ".join(sentences[2:4]),
        " ".join(sentences[4:6]),
    ]


def test_paginate_splits_a_single_very_long_word() -> None:
    word = "".join(random.Random(7).choice(_LETTERS) for _ in range(1000))
    pages = paginate(word, 300)
    assert [len(page) for page in pages] == [300, 300, 300, 100]
    assert "".join(pages) == word

    pages = paginate(f"Short start. {word} short end.", 300)
    assert all(len(page) <= 300 for page in pages)
    assert "".join("".join(pages).split()) == "".join(f"Short start. {word} short end.".split())


def test_paginate_short_and_empty_texts() -> None:
    assert paginate("  Just this.\n", 100) == ["Just this."]
    assert paginate("x" * 100, 100) == ["x" * 100]
    assert paginate("", 100) == [""]
    assert paginate(" \n\n ", 100) == [""]


# ---------------------------------------------------------------- start payloads


@pytest.mark.parametrize(
    ("slug", "number", "payload"),
    [
        ("kazanlak-ipd-2021-2027", None, "kazanlak-ipd-2021-2027"),
        ("kazanlak-ipd-2021-2027", "5", "kazanlak-ipd-2021-2027__5"),
        ("stara-zagora-vision-2027", "3.2", "stara-zagora-vision-2027__3-2"),
        ("a", "999.999.999.999", "a__999-999-999-999"),
        ("x1", "10.2.30", "x1__10-2-30"),
    ],
)
def test_start_payload_round_trip(slug: str, number: str | None, payload: str) -> None:
    assert start_payload(slug, number) == payload
    assert parse_start_payload(payload) == DeepLink(slug, number)


@pytest.mark.parametrize(
    "payload",
    [
        "",
        " ",
        "Kazanlak",
        "kazanlak_ipd",
        "kazanlak--ipd",
        "-kazanlak",
        "kazanlak-",
        "kazanlak__",
        "kazanlak__5.1",
        "kazanlak__-5",
        "kazanlak__5-",
        "kazanlak__5--1",
        "kazanlak___5",
        "kazanlak__5__1",
        "kazanlak__x",
        "kazanlak ipd",
        "kazanlak/ipd",
        "kаzanlak",  # a Cyrillic "а"
        "__5",
    ],
)
def test_malformed_start_payloads_are_rejected(payload: str) -> None:
    assert parse_start_payload(payload) is None


def test_share_link() -> None:
    assert share_link("civic_bot", "kazanlak__5") == "https://t.me/civic_bot?start=kazanlak__5"
    assert share_link(None, "kazanlak") is None


def test_every_example_deep_link_fits_telegram() -> None:
    checked = 0
    for item in read_consultation_files([EXAMPLES]):
        consultation = item.consultation
        numbers: list[str | None] = [None]
        stack = list(consultation.sections)
        while stack:
            section = stack.pop()
            numbers.append(section.number)
            stack.extend(section.sections)
        for number in numbers:
            payload = start_payload(consultation.slug, number)
            assert TELEGRAM_START_PARAMETER.match(payload), payload
            assert parse_start_payload(payload) == DeepLink(consultation.slug, number)
            checked += 1
    assert checked == 4 + 12 + 10 + 12


def test_the_longest_possible_payload_fits_telegram() -> None:
    # The file format bounds slugs and section numbers so that any deep link fits.
    slug_limit = next(
        rule.max_length
        for rule in ConsultationFile.model_fields["slug"].metadata
        if isinstance(rule, MaxLen)
    )
    slug = "a" * slug_limit
    number = "999.999.999.999"
    assert re.match(SLUG_PATTERN, slug)
    assert re.match(SECTION_NUMBER_PATTERN, number)
    assert not re.match(SECTION_NUMBER_PATTERN, number + ".1")  # no deeper than that
    assert not re.match(SECTION_NUMBER_PATTERN, "1000")  # no longer parts
    payload = start_payload(slug, number)
    assert TELEGRAM_START_PARAMETER.match(payload), len(payload)
    assert parse_start_payload(payload) == DeepLink(slug, number)
