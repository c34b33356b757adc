"""Storage: migrations, models vs migrations, repositories, the UTC column type."""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, func, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SAWarning, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.content import load_consultations, read_consultation_files
from storage.database import create_engine, create_session_factory
from storage.migrate import current_revision, head_revision, upgrade
from storage.models import (
    Base,
    Consultation,
    ConsultationKind,
    ConsultationStatus,
    Resident,
    Section,
)
from storage.repositories import ConsultationRepository, ResidentRepository, SectionRepository

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


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


# ---------------------------------------------------------------- migrations


async def test_migrating_an_empty_database_to_head_creates_the_tables(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert await current_revision(engine) is None
        await upgrade(engine)
        assert head_revision() is not None
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            columns = await connection.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("section")}
            )
        assert set(tables) == {"alembic_version", *Base.metadata.tables}
        assert {"consultation", "section", "resident"} <= set(tables)
        assert {"consultation_id", "parent_id", "position", "depth", "number"} <= columns

        # Upgrading again is a no-op, not an error.
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


def _differences(connection: Connection, metadata: MetaData) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "target_metadata": metadata}
    )
    return compare_metadata(context, metadata)


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    # What `alembic check` does: autogenerate against a migrated database finds nothing.
    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences, Base.metadata)
    assert differences == []


async def test_the_comparison_does_notice_a_difference(engine: AsyncEngine) -> None:
    # Guards the test above: a model the migrations lack is reported.
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    Table("not_in_any_migration", metadata, Column("id", Integer, primary_key=True))
    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences, metadata)
    assert [diff[0] for diff in differences] == ["add_table"]


async def test_foreign_keys_are_enforced(factory: async_sessionmaker[AsyncSession]) -> None:
    # SQLite ignores them unless told (PRAGMA foreign_keys); PostgreSQL always checks.
    async with factory() as session:
        session.add(
            Section(consultation_id=10_000, number="1", position=0, depth=0, title={"bg": "1"})
        )
        with pytest.raises(IntegrityError):
            await session.flush()
        await session.rollback()


# ---------------------------------------------------------------- consultations


def _consultation(
    slug: str,
    opens_at: datetime,
    closes_at: datetime | None,
    *,
    kind: ConsultationKind = ConsultationKind.CONSULTATION,
    status: ConsultationStatus = ConsultationStatus.PUBLISHED,
) -> Consultation:
    return Consultation(
        slug=slug,
        kind=kind,
        status=status,
        original_language="bg",
        timezone="Europe/Sofia",
        organizer={"bg": "Община"},
        title={"bg": slug},
        summary={"bg": "..."},
        opens_at=opens_at,
        closes_at=closes_at,
        source_digest="0" * 64,
    )


async def test_published_lists_open_then_channels_then_upcoming_then_closed(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    day = timedelta(days=1)
    async with factory.begin() as session:
        session.add_all(
            [
                _consultation("closed-long-ago", NOW - 90 * day, NOW - 60 * day),
                _consultation("open-later-deadline", NOW - 10 * day, NOW + 20 * day),
                _consultation("upcoming-later", NOW + 30 * day, NOW + 60 * day),
                _consultation("channel", NOW - 100 * day, None, kind=ConsultationKind.CHANNEL),
                _consultation("closed-recently", NOW - 40 * day, NOW - 1 * day),
                _consultation("open-soon-deadline", NOW - 5 * day, NOW + 2 * day),
                _consultation("upcoming-soon", NOW + 3 * day, NOW + 40 * day),
                _consultation(
                    "withdrawn-open",
                    NOW - 1 * day,
                    NOW + 1 * day,
                    status=ConsultationStatus.WITHDRAWN,
                ),
                # Boundaries: opening now is open, closing now is closed.
                _consultation("opens-exactly-now", NOW, NOW + 10 * day),
                _consultation("closes-exactly-now", NOW - 10 * day, NOW),
            ]
        )

    async with factory() as session:
        listing = await ConsultationRepository(session).published(NOW)

    assert [c.slug for c in listing] == [
        "open-soon-deadline",
        "opens-exactly-now",
        "open-later-deadline",
        "channel",
        "upcoming-soon",
        "upcoming-later",
        "closes-exactly-now",
        "closed-recently",
        "closed-long-ago",
    ]


async def test_by_id_hides_withdrawn_consultations_and_their_sections(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    async with factory.begin() as session:
        live = _consultation("live", NOW - timedelta(days=1), NOW + timedelta(days=1))
        gone = _consultation(
            "gone",
            NOW - timedelta(days=1),
            NOW + timedelta(days=1),
            status=ConsultationStatus.WITHDRAWN,
        )
        session.add_all([live, gone])
        await session.flush()
        for owner in (live, gone):
            session.add(
                Section(
                    consultation_id=owner.id, number="1", position=0, depth=0, title={"bg": "1"}
                )
            )

    async with factory() as session:
        consultations = ConsultationRepository(session)
        sections = SectionRepository(session)
        assert (await consultations.by_id(live.id)).slug == "live"
        assert await consultations.by_id(gone.id) is None
        assert await consultations.by_id(10_000) is None
        # by_slug is the loader's lookup: it still sees the withdrawn one.
        assert (await consultations.by_slug("gone")).id == gone.id
        live_section = await sections.by_number(live.id, "1")
        gone_section = await sections.by_number(gone.id, "1")
        assert (await sections.by_id(live_section.id)).id == live_section.id
        assert await sections.by_id(gone_section.id) is None
        assert await sections.by_id(10_000) is None


# ---------------------------------------------------------------- sections


@pytest.fixture
async def examples_loaded(factory: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    files = read_consultation_files([EXAMPLES])
    async with factory.begin() as session:
        await load_consultations(session, [item.consultation for item in files])
    async with factory() as session:
        rows = await session.execute(select(Consultation.slug, Consultation.id))
        return {slug: consultation_id for slug, consultation_id in rows}


async def test_section_plan_children_and_by_number(
    factory: async_sessionmaker[AsyncSession], examples_loaded: dict[str, int]
) -> None:
    kazanlak = examples_loaded["kazanlak-ipd-2021-2027"]
    vision = examples_loaded["stara-zagora-vision-2027"]
    async with factory() as session:
        sections = SectionRepository(session)

        plan = await sections.plan(kazanlak)
        assert [s.number for s in plan] == [
            "1", "2", "3", "4", "5", "5.1", "5.2", "5.3", "5.4", "5.5", "5.6", "5.7"
        ]  # fmt: skip
        assert all(s.consultation_id == kazanlak for s in plan)

        top = await sections.children(kazanlak, None)
        assert [s.number for s in top] == ["1", "2", "3", "4", "5"]
        five = await sections.by_number(kazanlak, "5")
        assert five is not None and five.title["en"] == "What the plan includes"
        assert [s.number for s in await sections.children(kazanlak, five.id)] == [
            f"5.{n}" for n in range(1, 8)
        ]
        one = await sections.by_number(kazanlak, "1")
        assert await sections.children(kazanlak, one.id) == []

        # The same number in two consultations: each finds its own.
        vision_four = await sections.by_number(vision, "4")
        kazanlak_four = await sections.by_number(kazanlak, "4")
        assert vision_four.consultation_id == vision
        assert kazanlak_four.consultation_id == kazanlak
        assert vision_four.id != kazanlak_four.id
        assert [s.number for s in await sections.children(vision, vision_four.id)] == [
            "4.1", "4.2", "4.3", "4.4"
        ]  # fmt: skip
        # A parent id of another consultation gives nothing.
        assert await sections.children(kazanlak, vision_four.id) == []

        assert await sections.by_number(kazanlak, "5.8") is None
        assert await sections.by_number(kazanlak, "9") is None
        assert await sections.plan(examples_loaded["kranj-vprasaj-predlagaj"]) == []


async def test_deleting_a_consultation_deletes_its_sections(
    factory: async_sessionmaker[AsyncSession], examples_loaded: dict[str, int]
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SAWarning)
        async with factory.begin() as session:
            consultation = await session.get(
                Consultation, examples_loaded["kazanlak-ipd-2021-2027"]
            )
            await session.delete(consultation)
    async with factory() as session:
        remaining = await session.scalar(
            select(func.count())
            .select_from(Section)
            .where(Section.consultation_id == examples_loaded["kazanlak-ipd-2021-2027"])
        )
        total = await session.scalar(select(func.count()).select_from(Section))
    assert remaining == 0
    assert total == 10 + 12  # the two Stara Zagora plans remain
    # The ORM and the database's ON DELETE CASCADE must agree on what is deleted:
    # SQLAlchemy warns when a DELETE matches fewer rows than it expected.
    assert [str(w.message) for w in caught if issubclass(w.category, SAWarning)] == []


# ---------------------------------------------------------------- residents


async def _residents(factory: async_sessionmaker[AsyncSession]) -> list[Resident]:
    async with factory() as session:
        return list((await session.scalars(select(Resident).order_by(Resident.id))).all())


async def test_seen_creates_a_resident_once_and_keeps_chat_and_language_fresh(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    async with factory.begin() as session:
        first = await ResidentRepository(session).seen(1001, 5001, "bg")
    assert (first.telegram_user_id, first.chat_id, first.telegram_language) == (1001, 5001, "bg")
    assert first.language is None  # chosen only with /language
    assert first.reachable is True and first.banned is False

    async with factory.begin() as session:
        again = await ResidentRepository(session).seen(1001, 5002, "sl")
    async with factory.begin() as session:
        # An update without chat or language (e.g. an inline query) keeps what is known.
        last = await ResidentRepository(session).seen(1001, None, None)
    async with factory.begin() as session:
        await ResidentRepository(session).seen(2002, 6002, None)

    residents = await _residents(factory)
    assert [r.telegram_user_id for r in residents] == [1001, 2002]
    resident = residents[0]
    assert again.id == last.id == first.id == resident.id
    assert (resident.chat_id, resident.telegram_language) == (5002, "sl")
    assert resident.first_seen_at == first.first_seen_at
    assert resident.last_seen_at >= again.last_seen_at >= first.last_seen_at
    assert resident.last_seen_at.tzinfo is not None
    assert residents[1].telegram_language is None


async def test_two_first_updates_of_one_person_make_one_resident(
    factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two updates of a new person are handled at once in two sessions. Each looks the
    # person up; where the database lets both look before either writes, both find
    # nobody and both try to create the resident: one wins, the other must read the
    # winner's row instead of failing.
    original = ResidentRepository.by_telegram_id
    looked = {"first": asyncio.Event(), "second": asyncio.Event()}
    first_lookups: dict[str, bool] = {}

    async def lookup_side_by_side(
        self: ResidentRepository, telegram_user_id: int
    ) -> Resident | None:
        found = await original(self, telegram_user_id)
        name = asyncio.current_task().get_name()
        if name not in first_lookups:
            first_lookups[name] = found is not None
            looked[name].set()
            other = "second" if name == "first" else "first"
            # Wait briefly for the other lookup; a database that serialises the two
            # transactions never lets it happen, and that is fine too.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(looked[other].wait(), timeout=0.5)
        return found

    monkeypatch.setattr(ResidentRepository, "by_telegram_id", lookup_side_by_side)

    async def update(chat_id: int) -> int:
        async with factory.begin() as session:
            return (await ResidentRepository(session).seen(7007, chat_id, "sl")).id

    ids = await asyncio.wait_for(
        asyncio.gather(
            asyncio.create_task(update(8001), name="first"),
            asyncio.create_task(update(8002), name="second"),
        ),
        timeout=20,
    )

    assert set(first_lookups) == {"first", "second"}
    residents = await _residents(factory)
    assert len(residents) == 1
    assert ids[0] == ids[1] == residents[0].id
    assert residents[0].chat_id in {8001, 8002}


async def test_a_resident_seen_in_a_rolled_back_transaction_is_not_kept(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    # The caller's transaction decides: if handling the update fails and its session
    # rolls back, the first contact leaves no row behind. (On SQLite the SAVEPOINT in
    # ResidentRepository._create must not commit on its own.)
    async with factory() as session:
        await ResidentRepository(session).seen(3003, 4004, "bg")
        await session.rollback()

    assert await _residents(factory) == []


# ---------------------------------------------------------------- UTC datetimes


async def test_utc_datetime_round_trips_aware_datetimes(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    sofia_summer = timezone(timedelta(hours=3))
    opens = datetime(2024, 5, 20, 0, 0, tzinfo=sofia_summer)
    closes = datetime(2024, 6, 19, 23, 59, 59, 123456, tzinfo=sofia_summer)
    async with factory.begin() as session:
        consultation = _consultation("times", opens, closes)
        session.add(consultation)

    async with factory() as session:
        stored = await session.get(Consultation, consultation.id)
        raw = (
            await session.execute(
                text("SELECT opens_at, closes_at FROM consultation WHERE id = :id"),
                {"id": consultation.id},
            )
        ).one()

    assert stored.opens_at == opens
    assert stored.closes_at == closes
    assert stored.opens_at.tzinfo is UTC
    assert stored.opens_at == datetime(2024, 5, 19, 21, 0, tzinfo=UTC)
    assert stored.closes_at.microsecond == 123456
    # What is written is the UTC wall time, not the local one.
    assert str(raw.opens_at).startswith("2024-05-19 21:00:00")
    assert str(raw.closes_at).startswith("2024-06-19 20:59:59")


async def test_utc_datetime_rejects_naive_datetimes(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    async with factory() as session:
        session.add(_consultation("naive", datetime(2024, 5, 20, 0, 0), None))
        with pytest.raises(StatementError) as info:
            await session.flush()
        await session.rollback()
    assert isinstance(info.value.orig, ValueError)
    assert "naive datetime" in str(info.value.orig)

    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(Consultation)) == 0
