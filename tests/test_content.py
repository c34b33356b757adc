"""Consultation files: validation, loading into a migrated database, reloads, demo shift, CLI."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import shutil
import subprocess
import warnings
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import func, select, text
from sqlalchemy.exc import SAWarning
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.content import (
    ConsultationFile,
    ContentError,
    LoadReport,
    load_consultations,
    read_consultation_file,
    read_consultation_files,
)
from storage.database import create_engine, create_session_factory
from storage.migrate import upgrade
from storage.models import Consultation, ConsultationKind, Phase, Section

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
CIVICBOT = REPO / ".venv" / "bin" / "civicbot"
SETTING_NAMES = {
    "BOT_TOKEN",
    "BOT_API_URL",
    "DATABASE_URL",
    "DEFAULT_LOCALE",
    "STAFF_CHAT_ID",
    "ADMIN_IDS",
    "SECTION_PAGE_CHARS",
}

KAZANLAK = "kazanlak-ipd-2021-2027"
KRANJ = "kranj-vprasaj-predlagaj"
PID = "stara-zagora-pid-strategy"
VISION = "stara-zagora-vision-2027"

# What the examples hold, written out by hand so the loader is checked against
# something it did not compute itself.
EXPECTED = {
    KAZANLAK: {
        "kind": ConsultationKind.CONSULTATION,
        "title_en": "Integrated Development Plan of the Municipality of Kazanlak 2021–2027",
        "numbers": ["1", "2", "3", "4", "5", *(f"5.{n}" for n in range(1, 8))],
        # 2021-10-11 00:00 and 2021-11-10 23:59:59 in Sofia (EEST +3, then EET +2)
        "opens_at": datetime(2021, 10, 10, 21, 0, tzinfo=UTC),
        "closes_at": datetime(2021, 11, 10, 21, 59, 59, tzinfo=UTC),
    },
    KRANJ: {
        "kind": ConsultationKind.CHANNEL,
        "title_en": "Ask, suggest",
        "numbers": [],
        # 2024-01-01 00:00 in Ljubljana (CET +1)
        "opens_at": datetime(2023, 12, 31, 23, 0, tzinfo=UTC),
        "closes_at": None,
    },
    PID: {
        "kind": ConsultationKind.CONSULTATION,
        "title_en": (
            "Strategy for the development of entrepreneurship, innovation and "
            "digitalisation in the region"
        ),
        "numbers": ["1", "2", "3", "3.1", "3.2", "3.3", "3.4", "4", "4.1", "4.2"],
        "opens_at": datetime(2024, 5, 19, 21, 0, tzinfo=UTC),
        "closes_at": datetime(2024, 6, 19, 20, 59, 59, tzinfo=UTC),
    },
    VISION: {
        "kind": ConsultationKind.CONSULTATION,
        "title_en": "Development vision and goals of the Municipality of Stara Zagora to 2027",
        "numbers": ["1", "2", "3", "3.1", "3.2", "3.3", "4", "4.1", "4.2", "4.3", "4.4", "5"],
        "opens_at": datetime(2024, 9, 1, 21, 0, tzinfo=UTC),
        "closes_at": datetime(2024, 10, 2, 20, 59, 59, tzinfo=UTC),
    },
}


# ---------------------------------------------------------------- helpers


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await upgrade(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


async def load_paths(
    factory: async_sessionmaker[AsyncSession], paths: list[Path], now: datetime | None = None
) -> LoadReport:
    """What `civicbot content load` does: validate the whole batch, then load it in one go."""
    files = read_consultation_files(paths)
    async with factory.begin() as session:
        return await load_consultations(session, [item.consultation for item in files], now=now)


async def fetch(
    factory: async_sessionmaker[AsyncSession], slug: str
) -> tuple[Consultation, list[Section]]:
    async with factory() as session:
        consultation = await session.scalar(select(Consultation).where(Consultation.slug == slug))
        assert consultation is not None, slug
        sections = (
            await session.scalars(
                select(Section)
                .where(
                    Section.consultation_id == consultation.id,
                    Section.removed_in_version.is_(None),
                )
                .order_by(Section.position)
            )
        ).all()
        return consultation, list(sections)


async def count(factory: async_sessionmaker[AsyncSession], model: type) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def raw_example(name: str) -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))


def write_yaml(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def walk_raw(sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sections of a YAML file in reading order (pre-order)."""
    ordered: list[dict[str, Any]] = []
    for section in sections:
        ordered.append(section)
        ordered.extend(walk_raw(section.get("sections", [])))
    return ordered


def stripped(texts: dict[str, str] | None) -> dict[str, str]:
    return {language: text.strip() for language, text in (texts or {}).items()}


def parent_number(number: str) -> str | None:
    return number.rpartition(".")[0] or None


# ---------------------------------------------------------------- the examples


def test_the_examples_folder_holds_the_four_seeded_consultations() -> None:
    assert sorted(path.stem for path in EXAMPLES.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_example_validates(path: Path) -> None:
    consultation = read_consultation_file(path)
    expected = EXPECTED[path.stem]
    assert consultation.slug == path.stem
    assert consultation.kind is expected["kind"]
    assert consultation.opens_at_utc == expected["opens_at"]
    assert consultation.closes_at_utc == expected["closes_at"]


async def test_loading_the_examples_creates_them(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    report = await load_paths(factory, [EXAMPLES])

    assert report.created == sorted(EXPECTED)
    assert report.updated == [] and report.unchanged == []
    assert await count(factory, Consultation) == 4
    assert await count(factory, Section) == sum(len(e["numbers"]) for e in EXPECTED.values())

    for slug, expected in EXPECTED.items():
        raw = raw_example(slug)
        consultation, sections = await fetch(factory, slug)
        assert consultation.kind is expected["kind"]
        assert consultation.title["en"] == expected["title_en"]
        assert consultation.title == stripped(raw["title"])
        assert consultation.organizer == stripped(raw["organizer"])
        assert consultation.summary == stripped(raw["summary"])
        assert consultation.original_language == raw["original_language"]
        assert consultation.timezone == raw["timezone"]
        assert consultation.link == raw["link"]

        # Times are stored in UTC and come back aware.
        assert consultation.opens_at == expected["opens_at"]
        assert consultation.opens_at.utcoffset() == timedelta(0)
        assert consultation.closes_at == expected["closes_at"]

        # Reading order: positions 0..n-1 follow the file top to bottom.
        assert [section.number for section in sections] == expected["numbers"]
        assert [section.position for section in sections] == list(range(len(sections)))
        raw_sections = walk_raw(raw.get("sections", []))
        assert [str(item["number"]) for item in raw_sections] == expected["numbers"]
        for section, item in zip(sections, raw_sections, strict=True):
            assert section.title == stripped(item["title"])
            assert section.body == stripped(item.get("body"))

        # The tree: each section points at the section its number is under.
        by_id = {section.id: section for section in sections}
        for section in sections:
            parent = by_id[section.parent_id].number if section.parent_id else None
            assert parent == parent_number(section.number), section.number
            assert section.depth == section.number.count(".")


async def test_kazanlak_closes_at_the_end_of_10_november_in_sofia(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    await load_paths(factory, [EXAMPLES / f"{KAZANLAK}.yaml"])
    consultation, _ = await fetch(factory, KAZANLAK)

    assert consultation.closes_at == datetime(2021, 11, 10, 21, 59, 59, tzinfo=UTC)
    local = consultation.closes_at.astimezone(ZoneInfo("Europe/Sofia"))
    assert (local.date(), local.time()) == (date(2021, 11, 10), time(23, 59, 59))
    assert consultation.phase(datetime(2021, 11, 10, 21, 59, 58, tzinfo=UTC)) is Phase.OPEN
    assert consultation.phase(datetime(2021, 11, 10, 21, 59, 59, tzinfo=UTC)) is Phase.CLOSED


async def test_loading_twice_reports_unchanged_and_changes_nothing(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    await load_paths(factory, [EXAMPLES])
    before = {slug: await fetch(factory, slug) for slug in EXPECTED}

    report = await load_paths(factory, [EXAMPLES])

    assert report.unchanged == sorted(EXPECTED)
    assert report.created == [] and report.updated == []
    for slug, (consultation, sections) in before.items():
        again, sections_again = await fetch(factory, slug)
        assert again.id == consultation.id
        assert again.updated_at == consultation.updated_at
        assert [(s.id, s.number, s.position, s.parent_id) for s in sections_again] == [
            (s.id, s.number, s.position, s.parent_id) for s in sections
        ]


async def test_a_changed_file_is_updated_in_place(
    factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    raw = raw_example(KAZANLAK)
    path = write_yaml(tmp_path / "kazanlak.yaml", raw)
    await load_paths(factory, [path])
    consultation, sections = await fetch(factory, KAZANLAK)
    ids = {section.number: section.id for section in sections}

    changed = copy.deepcopy(raw)
    changed["title"]["en"] = "Kazanlak IDP 2021–2027 (second draft)"
    changed["closes_at"] = date(2021, 11, 20)
    changed["sections"] = [s for s in changed["sections"] if s["number"] != "3"]  # a leaf
    changed["sections"].insert(
        1, {"number": "9", "title": {"bg": "Нов раздел", "en": "A new section"}}
    )
    five = next(s for s in changed["sections"] if s["number"] == "5")
    five["sections"].append({"number": "5.8", "title": {"bg": "Мярка", "en": "A measure"}})
    write_yaml(path, changed)

    report = await load_paths(factory, [path])

    assert report == LoadReport(updated=[KAZANLAK])
    updated, new_sections = await fetch(factory, KAZANLAK)
    assert updated.id == consultation.id
    assert updated.title["en"] == "Kazanlak IDP 2021–2027 (second draft)"
    assert updated.closes_at == datetime(2021, 11, 20, 21, 59, 59, tzinfo=UTC)
    assert updated.updated_at >= consultation.updated_at

    numbers = ["1", "9", "2", "4", "5", *(f"5.{n}" for n in range(1, 9))]
    assert [s.number for s in new_sections] == numbers
    assert [s.position for s in new_sections] == list(range(len(numbers)))
    for section in new_sections:
        if section.number in ids:
            assert section.id == ids[section.number], f"section {section.number} got a new id"
    assert ids["3"] not in {s.id for s in new_sections}
    by_id = {s.id: s for s in new_sections}
    assert by_id[next(s.id for s in new_sections if s.number == "5.8")].parent_id == ids["5"]
    # The sections changed: a second version, which removed section 3 but keeps it for
    # the submissions on it.
    assert (consultation.version, updated.version) == (1, 2)
    async with factory() as session:
        three = await session.get(Section, ids["3"])
        assert three is not None and three.removed_in_version == 2

    # ...and loading the changed file once more is a no-op.
    assert await load_paths(factory, [path]) == LoadReport(unchanged=[KAZANLAK])


async def test_removing_a_section_removes_its_subsections_too(
    factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    raw = raw_example(KAZANLAK)
    path = write_yaml(tmp_path / "kazanlak.yaml", raw)
    await load_paths(factory, [path])
    _, sections = await fetch(factory, KAZANLAK)
    ids = {section.number: section.id for section in sections}

    raw["sections"] = [s for s in raw["sections"] if s["number"] != "5"]
    write_yaml(path, raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # see the next test
        report = await load_paths(factory, [path])

    assert report.updated == [KAZANLAK]
    _, remaining = await fetch(factory, KAZANLAK)
    assert [(s.number, s.id, s.position) for s in remaining] == [
        (number, ids[number], position) for position, number in enumerate(["1", "2", "3", "4"])
    ]
    async with factory() as session:
        kept = await session.scalars(select(Section).where(Section.removed_in_version == 2))
        assert sorted(s.number for s in kept) == ["5", *(f"5.{n}" for n in range(1, 8))]


async def test_removing_a_section_with_subsections_is_a_clean_flush(
    factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    # Were the loader to delete section "5" and its children through the ORM, the
    # database's ON DELETE CASCADE would have removed the children already: SQLAlchemy
    # then warns that the DELETE matched fewer rows than expected (stale ORM state).
    raw = raw_example(KAZANLAK)
    path = write_yaml(tmp_path / "kazanlak.yaml", raw)
    await load_paths(factory, [path])
    raw["sections"] = [s for s in raw["sections"] if s["number"] != "5"]
    write_yaml(path, raw)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SAWarning)
        await load_paths(factory, [path])

    messages = [str(w.message) for w in caught if issubclass(w.category, SAWarning)]
    assert messages == []


# ---------------------------------------------------------------- invalid files

Mutation = Callable[[dict[str, Any]], None]


def _set(key: str, value: object) -> Mutation:
    return lambda raw: raw.__setitem__(key, value)


def _section(raw: dict[str, Any], *path: int) -> dict[str, Any]:
    node = raw
    for index in path:
        node = node["sections"][index]
    return node


INVALID: list[tuple[str, Mutation, tuple[str, ...]]] = [
    (
        "section-title-without-original-language",
        lambda raw: _section(raw, 1)["title"].pop("bg"),
        ('section "2"', "title", "original language (bg) is missing"),
    ),
    (
        "summary-without-original-language",
        lambda raw: raw["summary"].pop("bg"),
        ("summary", "original language (bg) is missing"),
    ),
    ("bad-slug", _set("slug", "Stara_Zagora"), ("slug", "lowercase letters")),
    ("unknown-field", _set("colour", "red"), ("colour", "unknown field")),
    (
        "unknown-field-in-section",
        lambda raw: _section(raw, 2, 0).__setitem__("colour", "red"),
        ('section "3.1"', "colour", "unknown field"),
    ),
    (
        "bad-section-number",
        lambda raw: _section(raw, 0).__setitem__("number", "1.a"),
        ('section "1.a"', "number", 'use numbers like "1", "2.1"'),
    ),
    (
        "section-number-zero",
        lambda raw: _section(raw, 0).__setitem__("number", "0"),
        ('section "0"', "number", 'use numbers like "1", "2.1"'),
    ),
    (
        "unquoted-section-number",
        lambda raw: _section(raw, 2, 0).__setitem__("number", 3.1),
        ("number", "in quotes"),
    ),
    (
        "child-not-under-parent",
        lambda raw: _section(raw, 2, 0).__setitem__("number", "4.7"),
        ('section "3"', '"4.7"', 'must be "3.<n>"'),
    ),
    (
        "duplicate-numbers",
        lambda raw: _section(raw, 1).__setitem__("number", "1"),
        ("section numbers used twice: 1",),
    ),
    (
        "duplicate-child-numbers",
        lambda raw: _section(raw, 2, 1).__setitem__("number", "3.1"),
        ("section numbers used twice: 3.1",),
    ),
    (
        "top-level-number-with-dot",
        lambda raw: _section(raw, 0).__setitem__("number", "1.1"),
        ('section "1.1"', "without dots"),
    ),
    ("closes-before-opens", _set("closes_at", "2024-08-01"), ("closes_at", "after opens_at")),
    ("consultation-without-closes-at", lambda raw: raw.pop("closes_at"), ("closes_at",)),
    ("channel-with-closes-at", _set("kind", "channel"), ("closes_at", "always open")),
    ("unknown-time-zone", _set("timezone", "Europe/Atlantis"), ("timezone", "unknown time zone")),
    ("time-zone-path", _set("timezone", "../etc/passwd"), ("timezone", "unknown time zone")),
    # "Europe" is a folder of the zone database, not a zone.
    ("time-zone-folder", _set("timezone", "Europe"), ("timezone", "unknown time zone")),
    ("bad-date", _set("opens_at", "next monday"), ("opens_at", "expected a date")),
    ("bad-format", _set("format", 2), ("format", "must be 1")),
    ("bad-link", _set("link", "www.starazagora.bg"), ("link", "http")),
    ("unknown-language", lambda raw: raw["title"].__setitem__("de", "Vision"), ("title", "de")),
    (
        "empty-text",
        lambda raw: _section(raw, 0)["body"].__setitem__("en", "  \n"),
        ('section "1"', "body", "en text is empty"),
    ),
    (
        "title-too-long",
        lambda raw: _section(raw, 0)["title"].__setitem__("bg", "д" * 121),
        ('section "1"', "title", "at most 120"),
    ),
]


@pytest.mark.parametrize(("name", "mutate", "expected"), INVALID, ids=[case[0] for case in INVALID])
def test_an_invalid_file_is_refused_with_file_field_and_reason(
    tmp_path: Path, name: str, mutate: Mutation, expected: tuple[str, ...]
) -> None:
    raw = raw_example(VISION)
    mutate(raw)
    path = write_yaml(tmp_path / f"{name}.yaml", raw)

    with pytest.raises(ContentError) as info:
        read_consultation_files([path])

    message = str(info.value)
    assert message.startswith(f"{path}: ")
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_the_mutated_base_file_is_itself_valid(tmp_path: Path) -> None:
    # Guards the table above: each case fails for its own mutation, not for the base.
    path = write_yaml(tmp_path / "base.yaml", raw_example(VISION))
    assert read_consultation_files([path])[0].consultation.slug == VISION


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("format: 1\nslug: x\ntitle: [unclosed\nsummary: y\n", "line 4:"),
        ("format: 1\nslug: x\n  indented: wrongly\n", "line 3:"),
        ("format: 1\n\tslug: tab\n", "line 2:"),
    ],
    ids=["unclosed-list", "bad-indent", "tab"],
)
def test_broken_yaml_is_refused_with_the_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContentError) as info:
        read_consultation_files([path])
    assert str(info.value).startswith(f"{path}: {expected}")


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a sentence\n", ""], ids=repr)
def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "list.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContentError) as info:
        read_consultation_files([path])
    assert str(info.value) == f"{path}: expected a mapping of fields at the top level"


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ContentError) as info:
        read_consultation_files([path])
    assert str(info.value).startswith(f"{path}: cannot be read")


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("title: Občina\n".encode("cp1250"))
    with pytest.raises(ContentError) as info:
        read_consultation_files([path])
    assert str(info.value) == f"{path}: is not UTF-8 text"


def test_a_path_through_a_file_is_refused(tmp_path: Path) -> None:
    # Permissions cannot be relied on (tests may run as root); a path whose parent is a
    # file fails to open just the same, with an OS error.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    path = blocker / "kazanlak.yaml"
    with pytest.raises(ContentError) as info:
        read_consultation_files([path])
    assert str(info.value) == f"{path}: cannot be read (Not a directory)"


def test_a_dangling_link_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.yaml"
    path.symlink_to(tmp_path / "gone.yaml")
    with pytest.raises(ContentError) as info:
        read_consultation_files([tmp_path])
    assert str(info.value).startswith(f"{path}: cannot be read")


def test_the_same_slug_in_two_files_names_both_files(tmp_path: Path) -> None:
    first = shutil.copy(EXAMPLES / f"{VISION}.yaml", tmp_path / "a.yaml")
    second = shutil.copy(EXAMPLES / f"{VISION}.yaml", tmp_path / "b.yaml")

    with pytest.raises(ContentError) as info:
        read_consultation_files([tmp_path])

    message = str(info.value)
    assert VISION in message and "slug" in message
    # An admin with forty files must be told which two collide.
    assert str(first) in message and str(second) in message


def test_every_problem_of_a_batch_is_reported_at_once(tmp_path: Path) -> None:
    bad_slug = raw_example(VISION)
    bad_slug["slug"] = "Bad Slug"
    write_yaml(tmp_path / "one.yaml", bad_slug)
    bad_zone = raw_example(PID)
    bad_zone["timezone"] = "Mars/Olympus"
    write_yaml(tmp_path / "two.yaml", bad_zone)

    with pytest.raises(ContentError) as info:
        read_consultation_files([tmp_path])

    problems = info.value.problems
    assert len(problems) == 2
    assert problems[0].startswith(f"{tmp_path / 'one.yaml'}: slug:")
    assert problems[1].startswith(f"{tmp_path / 'two.yaml'}: timezone:")


async def test_one_invalid_file_and_nothing_of_the_batch_is_loaded(
    factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    for path in EXAMPLES.glob("*.yaml"):
        shutil.copy(path, tmp_path)
    broken = raw_example(VISION)
    broken["slug"] = "zz-broken"
    broken["sections"][0]["title"].pop("bg")
    write_yaml(tmp_path / "zz-broken.yaml", broken)

    with pytest.raises(ContentError) as info:
        await load_paths(factory, [tmp_path])

    assert str(info.value).startswith(f"{tmp_path / 'zz-broken.yaml'}: ")
    assert await count(factory, Consultation) == 0
    assert await count(factory, Section) == 0


async def test_an_invalid_batch_leaves_loaded_consultations_as_they_were(
    factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await load_paths(factory, [EXAMPLES])
    before, sections_before = await fetch(factory, KAZANLAK)

    edited = raw_example(KAZANLAK)
    edited["title"]["en"] = "Edited"
    write_yaml(tmp_path / "kazanlak.yaml", edited)
    broken = raw_example(PID)
    broken["kind"] = "channel"
    write_yaml(tmp_path / "pid.yaml", broken)

    with pytest.raises(ContentError):
        await load_paths(factory, [tmp_path])

    after, sections_after = await fetch(factory, KAZANLAK)
    assert after.title == before.title
    assert [s.id for s in sections_after] == [s.id for s in sections_before]


# ---------------------------------------------------------------- demo shift


def _local_end_of_day(moment: datetime, zone: str, days: int) -> datetime:
    local_day = moment.astimezone(ZoneInfo(zone)).date() + timedelta(days=days)
    return datetime.combine(local_day, time(23, 59, 59), tzinfo=ZoneInfo(zone)).astimezone(UTC)


@pytest.mark.parametrize(
    "now",
    [
        datetime(2025, 1, 15, 12, 0, tzinfo=UTC),
        # 00:30 on 16 January in Sofia: the local day, not the UTC day, counts.
        datetime(2025, 1, 15, 22, 30, tzinfo=UTC),
        # Across the switch to summer time (30 March 2025).
        datetime(2025, 3, 27, 9, 0, tzinfo=UTC),
    ],
    ids=["noon", "after-local-midnight", "across-dst"],
)
async def test_demo_files_are_shifted_to_be_open_now(
    factory: async_sessionmaker[AsyncSession], now: datetime
) -> None:
    files = [item.consultation for item in read_consultation_files([EXAMPLES])]
    by_slug = {item.slug: item for item in files}

    async with factory.begin() as session:
        report = await load_consultations(session, files, now=now)
    assert report.created == sorted(EXPECTED)

    for slug in (PID, VISION):
        source = by_slug[slug]
        assert source.demo is not None
        consultation, _ = await fetch(factory, slug)
        assert consultation.phase(now) is Phase.OPEN, slug
        assert consultation.opens_at < now
        assert consultation.closes_at == _local_end_of_day(
            now, source.timezone, source.demo.closes_in_days
        )
        local_close = consultation.closes_at.astimezone(ZoneInfo(source.timezone))
        assert local_close.time() == time(23, 59, 59)
        # The consultation keeps its length.
        assert consultation.closes_at - consultation.opens_at == (
            source.closes_at_utc - source.opens_at_utc
        )

    # Files without a demo block keep their own dates.
    kazanlak, _ = await fetch(factory, KAZANLAK)
    assert (kazanlak.opens_at, kazanlak.closes_at) == (
        EXPECTED[KAZANLAK]["opens_at"],
        EXPECTED[KAZANLAK]["closes_at"],
    )
    assert kazanlak.phase(now) is Phase.CLOSED
    kranj, _ = await fetch(factory, KRANJ)
    assert (kranj.opens_at, kranj.closes_at) == (EXPECTED[KRANJ]["opens_at"], None)


async def test_a_demo_shorter_than_a_day_before_now_still_opens_before_now(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    raw = raw_example(VISION)
    raw["opens_at"] = "2024-09-02 10:00"
    raw["closes_at"] = "2024-09-02 18:00"
    raw["demo"] = {"closes_in_days": 1}
    source = ConsultationFile.model_validate(raw)
    now = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)

    async with factory.begin() as session:
        await load_consultations(session, [source], now=now)

    consultation, _ = await fetch(factory, VISION)
    assert consultation.phase(now) is Phase.OPEN
    assert consultation.opens_at <= now - timedelta(days=1)
    assert consultation.closes_at == _local_end_of_day(now, "Europe/Sofia", 1)


def test_demo_hints_are_not_part_of_the_digest() -> None:
    raw = raw_example(VISION)
    plain = copy.deepcopy(raw)
    plain.pop("demo")
    assert (
        ConsultationFile.model_validate(raw).digest()
        == ConsultationFile.model_validate(plain).digest()
    )
    plain["title"]["en"] += "!"
    assert (
        ConsultationFile.model_validate(raw).digest()
        != ConsultationFile.model_validate(plain).digest()
    )


# ---------------------------------------------------------------- the CLI, end to end


def _cli_env(database_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key.upper() not in SETTING_NAMES}
    env["DATABASE_URL"] = database_url
    return env


async def _civicbot(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [str(CIVICBOT), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_cli_content_load_end_to_end(tmp_path: Path, database_url: str) -> None:
    env = _cli_env(database_url)
    if not database_url.startswith("sqlite"):
        # `content load` migrates SQLite itself; a server database is migrated first.
        upgraded = await _civicbot("db", "upgrade", cwd=tmp_path, env=env)
        assert upgraded.returncode == 0, upgraded.stderr

    first = await _civicbot("content", "load", str(EXAMPLES), cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [f"created: {slug}" for slug in sorted(EXPECTED)]
    assert "Traceback" not in first.stderr

    second = await _civicbot("content", "load", str(EXAMPLES), cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [f"unchanged: {slug}" for slug in sorted(EXPECTED)]

    # A batch with an edited file and an invalid one: exit 1, nothing loaded.
    batch = tmp_path / "batch"
    batch.mkdir()
    edited = raw_example(KAZANLAK)
    edited["title"]["en"] = "Edited title"
    write_yaml(batch / "kazanlak.yaml", edited)
    broken = raw_example(PID)
    broken["sections"][0]["colour"] = "red"
    write_yaml(batch / "pid.yaml", broken)

    third = await _civicbot("content", "load", str(batch), cwd=tmp_path, env=env)
    assert third.returncode == 1
    assert third.stdout == ""
    assert "Traceback" not in third.stderr
    assert "nothing was loaded" in third.stderr
    assert f"{batch / 'pid.yaml'}: " in third.stderr
    assert 'section "1": colour: unknown field' in third.stderr

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(text("SELECT slug, title FROM consultation ORDER BY slug"))
            ).all()
    finally:
        await engine.dispose()
    assert [slug for slug, _ in rows] == sorted(EXPECTED)
    # The column as stored: JSON text in SQLite, a json value in PostgreSQL.
    titles = {slug: title if isinstance(title, dict) else json.loads(title) for slug, title in rows}
    assert titles[KAZANLAK]["en"] == EXPECTED[KAZANLAK]["title_en"]
