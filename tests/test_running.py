"""Running a consultation (bot/running.py) and the period rule: versions that keep
sections and their submissions, a later deadline told to followers and participants
once, closing, withdrawing; every change in the audit log."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import running
from bot.config import Settings
from bot.content import (
    ConsultationFile,
    ContentError,
    PeriodProblem,
    load_consultations,
    period_problem,
    read_consultation_file,
)
from bot.staff import Actor
from storage.database import create_engine, create_session_factory
from storage.migrate import upgrade
from storage.models import (
    Audience,
    Consultation,
    ConsultationKind,
    ConsultationReport,
    ConsultationStatus,
    Delivery,
    Follow,
    Notice,
    NoticeKind,
    NoticeStatus,
    Resident,
    Section,
    StaffAction,
    StaffActionKind,
    Submission,
    SubmissionKind,
)
from storage.repositories import SectionRepository

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
VISION = "stara-zagora-vision-2027"
SOFIA = ZoneInfo("Europe/Sofia")
ALICE = Actor(501, "Alice Staff")
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


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


def settings() -> Settings:
    return Settings(reminder_days=(7, 1), reminder_hour=10)


def open_vision() -> dict[str, Any]:
    """The vision example, open on NOW: 1 June to 10 July 2026."""
    raw = yaml.safe_load((EXAMPLES / f"{VISION}.yaml").read_text(encoding="utf-8"))
    raw.pop("demo", None)
    raw["opens_at"] = "2026-06-01"
    raw["closes_at"] = "2026-07-10 17:30"
    return raw


async def load(factory: async_sessionmaker[AsyncSession], raw: dict[str, Any]) -> Consultation:
    async with factory.begin() as session:
        await load_consultations(session, [ConsultationFile.model_validate(raw)])
    async with factory() as session:
        consultation = await session.scalar(
            select(Consultation).where(Consultation.slug == raw["slug"])
        )
        assert consultation is not None
        return consultation


async def submit_on(
    factory: async_sessionmaker[AsyncSession], consultation_id: int, number: str, user: int
) -> int:
    async with factory.begin() as session:
        resident = Resident(telegram_user_id=user, chat_id=user, language="en")
        session.add(resident)
        await session.flush()
        section = await SectionRepository(session).by_number(consultation_id, number)
        assert section is not None
        submission = Submission(
            public_number=f"P-{user}",
            draft_key=f"d{user}",
            consultation_id=consultation_id,
            section_id=section.id,
            section_number=number,
            resident_id=resident.id,
            kind=SubmissionKind.PROPOSAL,
            text="A proposal.",
            text_digest=str(user),
            language="en",
        )
        session.add(submission)
        await session.flush()
        return submission.id


# --- the period rule ---------------------------------------------------------------------


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=SOFIA)


@pytest.mark.parametrize(
    ("opens", "closes", "reason", "expected"),
    [
        ("2021-10-11 00:00", "2021-11-10 23:59:59", None, None),  # Kazanlak: 30 days
        ("2026-06-01 10:00", "2026-06-30 17:30", None, PeriodProblem.NEEDS_REASON),  # 29
        ("2026-06-01 10:00", "2026-06-30 17:30", {"bg": "Спешно"}, None),
        ("2026-06-01 10:00", "2026-06-30 17:30", {"bg": "  "}, PeriodProblem.NEEDS_REASON),
        ("2026-06-01 10:00", "2026-06-15 09:00", "Urgent", None),  # 14 days with a reason
        ("2026-06-01 10:00", "2026-06-14 23:00", "Urgent", PeriodProblem.TOO_SHORT),  # 13
    ],
)
def test_the_period_rule_counts_calendar_days_in_the_consultations_zone(
    opens: str, closes: str, reason: Any, expected: PeriodProblem | None
) -> None:
    assert period_problem(at(opens), at(closes), reason) is expected


def test_a_file_with_a_short_period_needs_its_reason(tmp_path: Path) -> None:
    raw = open_vision()
    raw["closes_at"] = "2026-06-20"
    path = tmp_path / "short.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContentError) as error:
        read_consultation_file(path)
    assert error.value.problems == [
        f"{path}: closes_at: a consultation shorter than 30 days needs its reason in "
        "short_period_reason"
    ]

    raw["short_period_reason"] = {"bg": "Срокът за кандидатстване по програмата изтича."}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert read_consultation_file(path).short_period_reason == {
        "bg": "Срокът за кандидатстване по програмата изтича."
    }

    raw["closes_at"] = "2026-06-10"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContentError, match="runs at least 14 days"):
        read_consultation_file(path)


async def test_the_short_period_reason_is_stored(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    raw = open_vision()
    raw["closes_at"] = "2026-06-20"
    raw["short_period_reason"] = {"bg": "Спешно", "en": "Urgent"}
    consultation = await load(factory, raw)
    assert consultation.short_period_reason == {"bg": "Спешно", "en": "Urgent"}


# --- versions ----------------------------------------------------------------------------


async def test_replacing_keeps_matched_sections_and_submissions_on_removed_ones(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    raw = open_vision()
    consultation = await load(factory, raw)
    assert consultation.version == 1
    numbers = [s["number"] for s in raw["sections"]]
    assert numbers[:2] == ["1", "2"]
    async with factory() as session:
        before = {s.number: s.id for s in await SectionRepository(session).plan(consultation.id)}
    on_one = await submit_on(factory, consultation.id, "1", 1001)
    on_two = await submit_on(factory, consultation.id, "2", 1002)

    new = copy.deepcopy(raw)
    new["sections"] = [s for s in new["sections"] if s["number"] != "2"]
    new["sections"][0]["title"]["en"] = "Goal one, reworded"
    new["sections"].append({"number": "9", "title": {"bg": "Нова цел", "en": "A new goal"}})
    async with factory.begin() as session:
        current = await session.get(Consultation, consultation.id)
        assert current is not None
        report = await running.replace(
            session, current, ConsultationFile.model_validate(new), ALICE, settings()
        )

    removed = [n for n in before if n == "2" or n.startswith("2.")]
    assert report.version == 2
    assert report.added == ["9"]
    assert report.removed == removed
    assert report.kept == [n for n in before if n not in removed]
    async with factory() as session:
        plan = await SectionRepository(session).plan(consultation.id)
        assert [s.number for s in plan] == [*report.kept, "9"]
        assert {s.number: s.id for s in plan if s.number in before} == {
            n: before[n] for n in report.kept
        }
        two = await session.get(Section, before["2"])
        assert two is not None and two.removed_in_version == 2
        # Residents reach a removed section no more; its submissions keep it.
        assert await SectionRepository(session).by_id(before["2"]) is None
        submissions = {s.id: s for s in await session.scalars(select(Submission))}
        assert submissions[on_one].section_id == before["1"]
        assert submissions[on_two].section_id == before["2"]
        (action,) = await session.scalars(select(StaffAction))
        assert (action.kind, action.consultation_id, action.actor_name) == (
            StaffActionKind.REPLACE,
            consultation.id,
            "Alice Staff",
        )

    # The same document again: nothing changes, no third version.
    async with factory.begin() as session:
        current = await session.get(Consultation, consultation.id)
        assert current is not None
        again = await running.replace(
            session, current, ConsultationFile.model_validate(new), ALICE, settings()
        )
    assert (again.version, again.added, again.removed) == (2, [], [])

    # Section 2 coming back is the same section, with its submission.
    async with factory.begin() as session:
        current = await session.get(Consultation, consultation.id)
        assert current is not None
        back = await running.replace(
            session, current, ConsultationFile.model_validate(raw), ALICE, settings()
        )
    assert back.version == 3 and back.added[0] == "2" and back.removed == ["9"]
    async with factory() as session:
        two = await SectionRepository(session).by_id(before["2"])
        assert two is not None and two.removed_in_version is None


async def test_a_replacement_for_another_slug_is_refused(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    consultation = await load(factory, open_vision())
    other = open_vision() | {"slug": "something-else"}
    async with factory.begin() as session:
        current = await session.get(Consultation, consultation.id)
        assert current is not None
        with pytest.raises(running.SlugMismatch):
            await running.replace(
                session, current, ConsultationFile.model_validate(other), ALICE, settings()
            )


# --- extend, close, withdraw ---------------------------------------------------------------


async def test_extending_tells_followers_and_participants_once_and_moves_the_reminders(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    consultation = await load(factory, open_vision())
    await submit_on(factory, consultation.id, "1", 2001)  # took part
    await submit_on(factory, consultation.id, "2", 2002)  # took part and follows
    async with factory.begin() as session:
        follower = Resident(telegram_user_id=2003, chat_id=2003, language="bg")
        session.add(follower)
        await session.flush()
        both = await session.scalar(select(Resident).where(Resident.telegram_user_id == 2002))
        assert both is not None
        session.add_all(
            [
                Follow(resident_id=follower.id, consultation_id=consultation.id),
                Follow(resident_id=both.id, consultation_id=consultation.id),
            ]
        )
        current = await session.get(Consultation, consultation.id)
        assert current is not None
        from bot.notify import planner

        await planner.sync(session, current, (7, 1), 10)

    later = datetime(2026, 7, 24, 14, 30, tzinfo=UTC)
    async with factory.begin() as session:
        current = await session.get(Consultation, consultation.id)
        assert current is not None
        await running.extend(session, current, later, ALICE, settings(), now=NOW)

    async with factory() as session:
        extended = await session.scalar(select(Notice).where(Notice.kind == NoticeKind.EXTENDED))
        assert extended is not None
        assert extended.audience is Audience.INVOLVED
        assert extended.status is NoticeStatus.SENDING
        deliveries = (
            await session.scalars(select(Delivery).where(Delivery.notice_id == extended.id))
        ).all()
        assert len(deliveries) == 3  # 2001, 2002 (once), 2003
        closing = await session.scalar(select(Notice).where(Notice.kind == NoticeKind.CLOSED))
        assert closing is not None and closing.due_at == later
        reminders = await session.scalars(
            select(Notice.due_at).where(
                Notice.kind == NoticeKind.DEADLINE, Notice.status == NoticeStatus.PLANNED
            )
        )
        # 10:00 Sofia (summer: 07:00 UTC) 7 days and 1 day before 24 July.
        assert sorted(reminders) == [
            datetime(2026, 7, 17, 7, 0, tzinfo=UTC),
            datetime(2026, 7, 23, 7, 0, tzinfo=UTC),
        ]
        (action,) = await session.scalars(select(StaffAction))
        assert action.kind is StaffActionKind.EXTEND and action.consultation_id == consultation.id

    # An earlier (or the same) deadline is not an extension.
    async with factory.begin() as session:
        current = await session.get(Consultation, consultation.id)
        assert current is not None
        with pytest.raises(running.NotLater):
            await running.extend(session, current, later, ALICE, settings(), now=NOW)


async def test_a_consultation_whose_report_is_published_is_not_extended(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    consultation = await load(factory, open_vision())
    async with factory.begin() as session:
        current = await session.get(Consultation, consultation.id)
        assert current is not None
        await running.close_now(session, current, ALICE, settings(), now=NOW)
        session.add(
            ConsultationReport(consultation_id=current.id, published_at=NOW, published_by="A")
        )
        await session.flush()
        with pytest.raises(running.NotRunning):
            await running.extend(
                session, current, NOW + timedelta(days=30), ALICE, settings(), now=NOW
            )


async def test_closing_now_and_withdrawing(factory: async_sessionmaker[AsyncSession]) -> None:
    consultation = await load(factory, open_vision())
    async with factory.begin() as session:
        current = await session.get(Consultation, consultation.id)
        assert current is not None
        await running.close_now(session, current, ALICE, settings(), now=NOW)
        assert current.closes_at == NOW
        with pytest.raises(running.NotRunning):  # closed already
            await running.close_now(session, current, ALICE, settings(), now=NOW + timedelta(1))
        await running.withdraw(session, current, ALICE, settings())
        with pytest.raises(running.NotRunning):
            await running.extend(session, current, NOW + timedelta(days=40), ALICE, settings())
    async with factory() as session:
        actions = (await session.scalars(select(StaffAction).order_by(StaffAction.id))).all()
        assert [(a.kind, a.actor_telegram_id) for a in actions] == [
            (StaffActionKind.CLOSE, 501),
            (StaffActionKind.WITHDRAW, 501),
        ]
        planned = await session.scalars(select(Notice).where(Notice.status == NoticeStatus.PLANNED))
        assert list(planned) == []


async def test_sections_added_to_a_consultation_without_any_make_a_new_version(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    raw = open_vision()
    bare = copy.deepcopy(raw)
    bare.pop("sections")
    first = await load(factory, bare)
    assert first.version == 1
    again = await load(factory, raw)
    assert again.version == 2


@pytest.mark.parametrize(
    ("locale", "reason_line", "version_line"),
    [
        ("bg", "⏱ По-кратък срок от 30 дни, защото: Спешно", "📄 Версия 2 на документа"),
        ("sl", "⏱ Krajši rok od 30 dni, ker: Nujno", "📄 Različica 2 dokumenta"),
        ("en", "⏱ Shorter than 30 days because: Urgent", "📄 Version 2 of the document"),
    ],
)
def test_the_residents_card_shows_the_short_period_reason_and_the_version(
    locale: str, reason_line: str, version_line: str
) -> None:
    from bot.i18n import Catalogs
    from handlers.views import consultation_card

    consultation = Consultation(
        id=1,
        slug="x",
        kind=ConsultationKind.CONSULTATION,
        status=ConsultationStatus.PUBLISHED,
        original_language="bg",
        timezone="Europe/Sofia",
        organizer={"bg": "Община"},
        title={"bg": "План"},
        summary={"bg": "Кратко."},
        contact={},
        link=None,
        opens_at=NOW - timedelta(days=1),
        closes_at=NOW + timedelta(days=20),
        version=2,
        short_period_reason={"bg": "Спешно", "sl": "Nujno", "en": "Urgent"},
    )
    tr = Catalogs.load().translator(locale)
    text = consultation_card(tr, consultation, [], NOW, None).text
    assert reason_line in text and version_line in text
    consultation.version, consultation.short_period_reason = 1, {}
    text = consultation_card(tr, consultation, [], NOW, None).text
    assert "⏱" not in text and "📄" not in text


async def test_the_export_names_a_removed_sections_version(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    import io
    import json

    from bot.export import export_submissions
    from bot.i18n import Catalogs

    raw = open_vision()
    consultation = await load(factory, raw)
    await submit_on(factory, consultation.id, "2", 3001)
    new = copy.deepcopy(raw)
    new["sections"] = [s for s in new["sections"] if s["number"] != "2"]
    async with factory.begin() as session:
        current = await session.get(Consultation, consultation.id)
        assert current is not None
        await running.replace(
            session, current, ConsultationFile.model_validate(new), ALICE, settings()
        )

    catalogs = Catalogs.load()
    for locale, label in (
        ("bg", "(отпаднал във версия 2)"),
        ("sl", "(odstranjeno v različici 2)"),
        ("en", "(removed in version 2)"),
    ):
        output = io.BytesIO()
        await export_submissions(factory, VISION, "json", output, catalogs.translator(locale))
        [item] = json.loads(output.getvalue().decode("utf-8"))
        assert (item["section_number"], item["section_title"]) == ("2", label)
