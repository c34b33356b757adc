"""`civicbot content dump`: a consultation written back to its file, so the file and the
chat never disagree: dump, load again, nothing changes (every example, after a deadline
extended and a document replaced in the chat)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import running
from bot.content import ConsultationFile, LoadReport, load_consultations, read_consultation_file
from bot.dump import dump_consultation
from storage.models import Consultation, Section
from tests import test_running
from tests.test_content import EXAMPLES, EXPECTED, KAZANLAK, _civicbot, _cli_env, load_paths
from tests.test_running import ALICE, NOW, open_vision, settings

# The migrated database of each kind (SQLite, PostgreSQL), as the running tests have it.
engine = test_running.engine
factory = test_running.factory


async def dump_and_load(
    factory: async_sessionmaker[AsyncSession], slug: str, folder: Path
) -> tuple[str, LoadReport]:
    async with factory() as session:
        text = await dump_consultation(session, slug)
    assert text is not None
    path = folder / f"{slug}.yaml"
    path.write_text(text, encoding="utf-8")
    source = read_consultation_file(path)
    async with factory.begin() as session:
        return text, await load_consultations(session, [source])


async def snapshot(factory: async_sessionmaker[AsyncSession], slug: str) -> tuple[object, ...]:
    async with factory() as session:
        consultation = await session.scalar(select(Consultation).where(Consultation.slug == slug))
        assert consultation is not None
        sections = await session.scalars(
            select(Section).where(Section.consultation_id == consultation.id).order_by(Section.id)
        )
        return (
            consultation.version,
            consultation.opens_at,
            consultation.closes_at,
            consultation.title,
            consultation.updated_at,
            [(s.id, s.number, s.position, s.title, s.body, s.removed_in_version) for s in sections],
        )


async def test_every_example_dumps_to_a_file_that_loads_unchanged(
    factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await load_paths(factory, [EXAMPLES])
    for slug in EXPECTED:
        before = await snapshot(factory, slug)
        _, report = await dump_and_load(factory, slug, tmp_path)
        assert report == LoadReport(unchanged=[slug]), slug
        assert await snapshot(factory, slug) == before


def stripped(value: object) -> object:
    """Texts as the bot keeps them: without the newline a YAML block ends with."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return [stripped(item) for item in value]
    if isinstance(value, dict):
        return {key: stripped(item) for key, item in value.items()}
    return value


async def test_the_dump_reads_like_the_examples(
    factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await load_paths(factory, [EXAMPLES])
    async with factory() as session:
        text = await dump_consultation(session, KAZANLAK)
    assert text is not None
    assert text.startswith(f"# {KAZANLAK}, version 1, as the bot shows it")
    dumped = yaml.safe_load(text)
    original = yaml.safe_load((EXAMPLES / f"{KAZANLAK}.yaml").read_text(encoding="utf-8"))
    # Bare dates stay bare dates: the start of the opening day, the end of the closing day.
    assert (dumped["opens_at"], dumped["closes_at"]) == (date(2021, 10, 11), date(2021, 11, 10))
    assert list(dumped) == [key for key in original if key != "demo"]
    assert dumped["sections"] == stripped(original["sections"])
    async with factory() as session:
        assert await dump_consultation(session, "no-such-slug") is None


async def test_after_an_extension_and_a_replacement_the_dump_loads_unchanged(
    factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    raw = open_vision()
    async with factory.begin() as session:
        await load_consultations(session, [ConsultationFile.model_validate(raw)])
    slug = raw["slug"]
    later = datetime(2026, 7, 24, 14, 30, tzinfo=UTC)
    replacement = copy.deepcopy(raw)
    replacement["sections"] = replacement["sections"][1:]
    async with factory.begin() as session:
        consultation = await session.scalar(select(Consultation).where(Consultation.slug == slug))
        assert consultation is not None
        await running.extend(session, consultation, later, ALICE, settings(), now=NOW)
        await running.replace(
            session, consultation, ConsultationFile.model_validate(replacement), ALICE, settings()
        )
        # replace() takes the document's deadline; the chat extends after it.
        await running.extend(
            session,
            consultation,
            datetime(2026, 7, 31, 14, 30, tzinfo=UTC),
            ALICE,
            settings(),
            now=NOW,
        )
    before = await snapshot(factory, slug)
    assert before[0] == 2  # the version

    text, report = await dump_and_load(factory, slug, tmp_path)

    assert "version 2" in text.splitlines()[0]
    assert yaml.safe_load(text)["closes_at"] == "2026-07-31 17:30"  # Sofia, summer time
    assert report == LoadReport(unchanged=[slug])
    assert await snapshot(factory, slug) == before


@pytest.mark.parametrize("output", [True, False], ids=["to-a-file", "printed"])
async def test_cli_content_dump(tmp_path: Path, database_url: str, output: bool) -> None:
    env = _cli_env(database_url)
    upgraded = await _civicbot("db", "upgrade", cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    loaded = await _civicbot("content", "load", str(EXAMPLES), cwd=tmp_path, env=env)
    assert loaded.returncode == 0, loaded.stderr

    target = tmp_path / "kazanlak.yaml"
    dumped = await _civicbot(
        "content",
        "dump",
        KAZANLAK,
        *(["--output", str(target)] if output else []),
        cwd=tmp_path,
        env=env,
    )
    assert dumped.returncode == 0, dumped.stderr
    if output:
        assert dumped.stdout == f"written: {target}\n"
    else:
        target.write_text(dumped.stdout, encoding="utf-8")
    again = await _civicbot("content", "load", str(target), cwd=tmp_path, env=env)
    assert again.stdout == f"unchanged: {KAZANLAK}\n"

    missing = await _civicbot("content", "dump", "no-such-slug", cwd=tmp_path, env=env)
    assert missing.returncode == 1
    assert missing.stderr == "civicbot: no consultation 'no-such-slug'\n"
