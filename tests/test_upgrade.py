"""Upgrading a database that already holds data: built at an earlier revision, filled
with plain inserts valid there, then `civicbot db upgrade` (the command, as an
administrator runs it) to the newest: every row is still there with the same values,
and new columns have their defaults. Also down and up again."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import JSON, BigInteger, Boolean, Integer, String, Text, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import TableClause, column, table
from sqlalchemy.types import TypeEngine

from storage.database import create_engine, create_session_factory
from storage.migrate import current_revision, downgrade, head_revision, upgrade
from storage.models import Consultation, ConsultationKind, Resident, Submission, SubmissionStatus
from storage.types import UTCDateTime
from tests.conftest import SETTING_NAMES
from tests.processes import civicbot, finish

Columns = dict[str, TypeEngine[Any] | type[TypeEngine[Any]]]

# The schema as each revision made it, written out here (not taken from the models,
# which follow the newest revision).
AT_0001: dict[str, Columns] = {
    "consultation": {
        "id": Integer,
        "slug": String,
        "kind": String,
        "status": String,
        "original_language": String,
        "timezone": String,
        "organizer": JSON,
        "title": JSON,
        "summary": JSON,
        "contact": JSON,
        "link": String,
        "opens_at": UTCDateTime(),
        "closes_at": UTCDateTime(),
        "source_digest": String,
        "created_at": UTCDateTime(),
        "updated_at": UTCDateTime(),
    },
    "section": {
        "id": Integer,
        "consultation_id": Integer,
        "parent_id": Integer,
        "position": Integer,
        "depth": Integer,
        "number": String,
        "title": JSON,
        "body": JSON,
    },
    "resident": {
        "id": Integer,
        "telegram_user_id": BigInteger,
        "chat_id": BigInteger,
        "language": String,
        "telegram_language": String,
        "consent_at": UTCDateTime(),
        "consent_version": String,
        "reachable": Boolean,
        "banned": Boolean,
        "first_seen_at": UTCDateTime(),
        "last_seen_at": UTCDateTime(),
    },
}
AT_0003: dict[str, Columns] = {
    "consultation": {**AT_0001["consultation"], "staff_topic_id": BigInteger},
    "section": AT_0001["section"],
    "resident": AT_0001["resident"],
    "submission": {
        "id": Integer,
        "public_number": String,
        "draft_key": String,
        "consultation_id": Integer,
        "section_id": Integer,
        "section_number": String,
        "resident_id": Integer,
        "kind": String,
        "text": Text,
        "text_digest": String,
        "attachments": JSON,
        "author_name": String,
        "language": String,
        "status": String,
        "decision_reason": Text,
        "answer": Text,
        "answered_by": String,
        "answered_at": UTCDateTime(),
        "created_at": UTCDateTime(),
        "updated_at": UTCDateTime(),
        "staff_chat_id": BigInteger,
        "staff_message_id": BigInteger,
    },
    "staff_action": {
        "id": Integer,
        "submission_id": Integer,
        "actor_telegram_id": BigInteger,
        "actor_name": String,
        "kind": String,
        "detail": Text,
        "created_at": UTCDateTime(),
    },
    "conversation_state": {
        "key": String,
        "state": String,
        "data": JSON,
        "updated_at": UTCDateTime(),
    },
}


def at(moment: str) -> datetime:
    """A UTC time with microseconds, to see that none are lost."""
    return datetime.fromisoformat(moment).replace(tzinfo=UTC)


KAZANLAK = {
    "id": 1,
    "slug": "kazanlak-piro-2021",
    "kind": "consultation",
    "status": "published",
    "original_language": "bg",
    "timezone": "Europe/Sofia",
    "organizer": {"bg": "Община Казанлък", "en": "Municipality of Kazanlak"},
    "title": {"bg": "Интегриран план за развитие 2021-2027", "en": "Integrated Development Plan"},
    "summary": {"bg": "Обществено обсъждане „ИПРО“ — коментари до 10.11.2021 г."},
    "contact": {"bg": "obshtina@kazanlak.bg"},
    "link": "https://kazanlak.bg/ipro",
    "opens_at": at("2021-10-11T06:00:00.000001"),
    "closes_at": at("2021-11-10T21:59:59.999999"),
    "source_digest": "9f" * 32,
    "created_at": at("2024-05-30T08:15:42.123456"),
    "updated_at": at("2024-05-31T10:00:00.654321"),
}
KRANJ = {
    "id": 2,
    "slug": "kranj-vprasaj",
    "kind": "channel",
    "status": "withdrawn",
    "original_language": "sl",
    "timezone": "Europe/Ljubljana",
    "organizer": {"sl": "Mestna občina Kranj"},
    "title": {"sl": "Vprašaj, predlagaj", "en": "Ask, suggest"},
    "summary": {},
    "contact": {},
    "link": None,
    "opens_at": at("2020-01-01T00:00:00"),
    "closes_at": None,
    "source_digest": "0" * 64,
    "created_at": at("2024-05-30T08:15:43"),
    "updated_at": at("2024-05-30T08:15:43"),
}
SECTIONS = [
    {
        "id": 10,
        "consultation_id": 1,
        "parent_id": None,
        "position": 0,
        "depth": 0,
        "number": "1",
        "title": {"bg": "Стратегическа цел 1: Растеж"},
        "body": {"bg": "Текст с „кавички“, <тагове> & амперсанд\nи нов ред."},
    },
    {
        "id": 11,
        "consultation_id": 1,
        "parent_id": 10,
        "position": 1,
        "depth": 1,
        "number": "1.1",
        "title": {"bg": "Приоритет 1.1", "en": "Priority 1.1"},
        "body": {},
    },
    {
        "id": 12,
        "consultation_id": 1,
        "parent_id": 11,
        "position": 2,
        "depth": 2,
        "number": "1.1.1",
        "title": {"bg": "Мярка 1.1.1"},
        "body": {"bg": "x" * 5000},
    },
]
RESIDENTS = [
    {
        "id": 1,
        "telegram_user_id": 7_123_456_789,  # ids beyond 32 bits are real
        "chat_id": 7_123_456_789,
        "language": "bg",
        "telegram_language": "bg",
        "consent_at": at("2024-06-01T09:01:02.345678"),
        "consent_version": "2024-05",
        "reachable": True,
        "banned": False,
        "first_seen_at": at("2024-06-01T09:00:00"),
        "last_seen_at": at("2024-06-02T18:30:00"),
    },
    {
        "id": 2,
        "telegram_user_id": 42,
        "chat_id": None,
        "language": None,
        "telegram_language": "pt-br",
        "consent_at": None,
        "consent_version": None,
        "reachable": False,
        "banned": True,
        "first_seen_at": at("2024-06-01T10:00:00"),
        "last_seen_at": at("2024-06-01T10:00:00"),
    },
]
SUBMISSIONS = [
    {
        "id": 1,
        "public_number": "KZ-0001",
        "draft_key": "d" * 32,
        "consultation_id": 1,
        "section_id": 12,
        "section_number": "1.1.1",
        "resident_id": 1,
        "kind": "proposal",
        "text": "Предлагам велоалея по бул. „Розова долина“ — <b>не</b> е HTML.",
        "text_digest": "ab" * 32,
        "attachments": [
            {"type": "photo", "file_id": "AgACAgIAAxkBAAIB"},
            {"type": "location", "latitude": 42.6191, "longitude": 25.3930},
        ],
        "author_name": "Мария Иванова",
        "language": "bg",
        "status": "partly_accepted",
        "decision_reason": "Частично: трасето ще се обсъди.",
        "answer": None,
        "answered_by": "Служител (@staff)",
        "answered_at": at("2024-06-03T07:00:00.5"),
        "created_at": at("2024-06-02T18:29:59.999999"),
        "updated_at": at("2024-06-03T07:00:00.5"),
        "staff_chat_id": -1001234567890,
        "staff_message_id": 345,
    },
    {
        "id": 2,
        "public_number": "GEN-0001",
        "draft_key": "e" * 32,
        "consultation_id": 2,
        "section_id": None,
        "section_number": None,
        "resident_id": None,  # erased with /forget: the submission stays, unlinked
        "kind": "question",
        "text": "Kdaj bo odprta nova knjižnica?",
        "text_digest": "cd" * 32,
        "attachments": [],
        "author_name": None,
        "language": "sl",
        "status": "received",
        "decision_reason": None,
        "answer": None,
        "answered_by": None,
        "answered_at": None,
        "created_at": at("2024-06-02T19:00:00"),
        "updated_at": at("2024-06-02T19:00:00"),
        "staff_chat_id": None,
        "staff_message_id": None,
    },
]
STAFF_ACTIONS = [
    {
        "id": 1,
        "submission_id": 1,
        "actor_telegram_id": 555_000_111,
        "actor_name": "Служител (@staff)",
        "kind": "decide",
        "detail": "partly_accepted",
        "created_at": at("2024-06-03T07:00:00.5"),
    },
    {
        "id": 2,
        "submission_id": None,
        "actor_telegram_id": 42,
        "actor_name": "Someone",
        "kind": "refused",
        "detail": "/export",
        "created_at": at("2024-06-03T08:00:00"),
    },
]
CONVERSATIONS = [
    {
        "key": "fsm:7123456789:7123456789",
        "state": "Submit:text",
        "data": {"draft": {"key": "f" * 32, "text": "половин предложение", "photos": []}},
        "updated_at": at("2024-06-03T09:00:00"),
    }
]
ROWS_0001 = {
    "consultation": [KAZANLAK, KRANJ],
    "section": SECTIONS,
    "resident": RESIDENTS,
}
ROWS_0003 = {
    "consultation": [{**KAZANLAK, "staff_topic_id": 77}, {**KRANJ, "staff_topic_id": None}],
    "section": SECTIONS,
    "resident": RESIDENTS,
    "submission": SUBMISSIONS,
    "staff_action": STAFF_ACTIONS,
    "conversation_state": CONVERSATIONS,
}
# Tables whose ids the inserts gave explicitly: PostgreSQL's sequences must be moved on.
SERIAL_TABLES = ("consultation", "section", "resident", "submission", "staff_action")


def schema_table(name: str, columns: Columns) -> TableClause:
    return table(name, *(column(key, type_) for key, type_ in columns.items()))


async def fill(engine: AsyncEngine, schema: dict[str, Columns], rows: dict[str, list]) -> None:
    async with engine.begin() as connection:
        for name, table_rows in rows.items():
            await connection.execute(schema_table(name, schema[name]).insert(), table_rows)
        if engine.dialect.name == "postgresql":
            for name in SERIAL_TABLES:
                if name in rows:
                    await connection.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT max(id) FROM {name}))"
                    )


async def read(
    engine: AsyncEngine, schema: dict[str, Columns], names: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    async with engine.connect() as connection:
        for name in names:
            clause = schema_table(name, schema[name])
            key = clause.c.id if "id" in clause.c else clause.c.key
            result = await connection.execute(select(clause).order_by(key))
            found[name] = [dict(row) for row in result.mappings()]
    return found


async def column_values(engine: AsyncEngine, name: str, column_name: str) -> list[Any]:
    type_ = Boolean if column_name == "follows_all" else BigInteger
    clause = schema_table(name, {"id": Integer, column_name: type_})
    async with engine.connect() as connection:
        result = await connection.execute(select(clause.c[column_name]).order_by(clause.c.id))
        return list(result.scalars())


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def civicbot_db_upgrade(database_url: str) -> None:
    env = {key: value for key, value in os.environ.items() if key not in SETTING_NAMES}
    env["DATABASE_URL"] = database_url
    code, errors = await finish(await civicbot(env, "db", "upgrade"))
    assert code == 0, errors
    assert "Traceback" not in errors


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.mark.parametrize(
    ("revision", "schema", "rows"),
    [("0001", AT_0001, ROWS_0001), ("0003", AT_0003, ROWS_0003)],
    ids=["from-0001", "from-0003"],
)
async def test_upgrading_keeps_every_row(
    engine: AsyncEngine,
    database_url: str,
    revision: str,
    schema: dict[str, Columns],
    rows: dict[str, list[dict[str, Any]]],
) -> None:
    await upgrade(engine, revision)
    await fill(engine, schema, rows)
    assert await read(engine, schema, list(rows)) == rows  # what was written reads back
    await engine.dispose()  # the command is another process

    await civicbot_db_upgrade(database_url)

    assert await current_revision(engine) == head_revision()
    assert await read(engine, schema, list(rows)) == rows
    # The columns added since have their defaults.
    assert await column_values(engine, "resident", "follows_all") == [False, False]
    if revision == "0001":
        assert await column_values(engine, "consultation", "staff_topic_id") == [None, None]
        assert await read(engine, AT_0003, ["submission", "staff_action"]) == {
            "submission": [],
            "staff_action": [],
        }
    # The application reads the old rows through its models, and writes next to them.
    factory = create_session_factory(engine)
    async with factory.begin() as session:
        residents = (await session.scalars(select(Resident).order_by(Resident.id))).all()
        assert [(r.telegram_user_id, r.follows_all) for r in residents] == [
            (7_123_456_789, False),
            (42, False),
        ]
        assert residents[0].consent_at == RESIDENTS[0]["consent_at"]
        kranj = await session.get(Consultation, 2)
        assert kranj is not None and kranj.kind is ConsultationKind.CHANNEL
        residents[1].follows_all = True
        session.add(Resident(telegram_user_id=43, chat_id=43))  # ids continue after the old
        if revision == "0003":
            proposal = await session.get(Submission, 1)
            assert proposal is not None
            assert proposal.status is SubmissionStatus.PARTLY_ACCEPTED
            assert proposal.attachments == SUBMISSIONS[0]["attachments"]
    assert await column_values(engine, "resident", "follows_all") == [False, True, False]


async def test_down_to_0003_and_up_again_keeps_the_rows(
    request: pytest.FixtureRequest, engine: AsyncEngine, database_url: str
) -> None:
    await upgrade(engine, "0003")
    await fill(engine, AT_0003, ROWS_0003)
    await upgrade(engine)
    assert "follow" in await tables(engine)

    await downgrade(engine, "0003")
    assert await current_revision(engine) == "0003"
    assert "follow" not in await tables(engine)
    assert await read(engine, AT_0003, list(ROWS_0003)) == ROWS_0003

    await engine.dispose()
    await civicbot_db_upgrade(database_url)
    assert await current_revision(engine) == head_revision()
    assert await read(engine, AT_0003, list(ROWS_0003)) == ROWS_0003
    assert await column_values(engine, "resident", "follows_all") == [False, False]


async def test_every_migration_goes_down_and_up_again(engine: AsyncEngine) -> None:
    await upgrade(engine)
    newest = await tables(engine)
    await downgrade(engine, "base")
    assert await tables(engine) <= {"alembic_version"}
    assert await current_revision(engine) is None
    await upgrade(engine)
    assert await tables(engine) == newest
    assert await current_revision(engine) == head_revision()


async def test_sqlite_never_hands_out_a_submission_id_twice_after_any_migration(
    tmp_path,
) -> None:
    # Migrations that rebuild `submission` (SQLite's batch mode) must keep AUTOINCREMENT:
    # without it an erased submission's id comes back, and its old card's buttons with it.
    engine = create_engine(f"sqlite:///{tmp_path / 'ids.db'}")
    try:
        await upgrade(engine)
        assert "AUTOINCREMENT" in await _table_sql(engine, "submission")
        await downgrade(engine, "0008")
        assert "AUTOINCREMENT" in await _table_sql(engine, "submission")
    finally:
        await engine.dispose()


async def _table_sql(engine: AsyncEngine, name: str) -> str:
    async with engine.connect() as connection:
        statement = text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name")
        return (await connection.execute(statement, {"name": name})).scalar_one()
