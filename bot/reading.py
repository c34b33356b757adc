"""What a resident reads: consultations, their plans, and deep links into them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.plan import WalkPosition, locate
from storage.models import Consultation, Section
from storage.repositories import ConsultationRepository, SectionRepository, listing_order

# t.me/<bot>?start=<payload>: at most 64 characters of A-Z a-z 0-9 _ -.
# A consultation is its slug; a section adds "__" and its number with "-" for ".".
_PAYLOAD = re.compile(r"^(?P<slug>[a-z0-9]+(?:-[a-z0-9]+)*)(?:__(?P<number>[0-9]+(?:-[0-9]+)*))?$")


@dataclass(frozen=True)
class ConsultationPage:
    consultation: Consultation
    plan: Sequence[Section]

    @property
    def top_sections(self) -> list[Section]:
        return [section for section in self.plan if section.parent_id is None]


@dataclass(frozen=True)
class SectionPage:
    consultation: Consultation
    section: Section
    where: WalkPosition


@dataclass(frozen=True)
class DeepLink:
    slug: str
    section_number: str | None = None


def start_payload(slug: str, section_number: str | None = None) -> str:
    if section_number is None:
        return slug
    return f"{slug}__{section_number.replace('.', '-')}"


def parse_start_payload(payload: str) -> DeepLink | None:
    match = _PAYLOAD.match(payload.strip())
    if match is None:
        return None
    number = match["number"]
    return DeepLink(match["slug"], number.replace("-", ".") if number else None)


def share_link(bot_username: str | None, payload: str) -> str | None:
    return f"https://t.me/{bot_username}?start={payload}" if bot_username else None


class ReadingCache:
    """Consultations and their plans as residents read them, kept in memory while the
    database's content version (moved by triggers on every change, in any process) is
    the one they were read at. One per process; shared by all updates."""

    def __init__(self) -> None:
        self.version: int | None = None
        self.published: list[Consultation] | None = None
        self.pages: dict[int, ConsultationPage | None] = {}
        self.owners: dict[int, int] = {}  # section id -> consultation id

    def start_over(self, version: int) -> None:
        self.version = version
        self.published = None
        self.pages.clear()
        self.owners.clear()


class Reading:
    """What one update reads. The objects it returns are shared with other updates:
    they are for reading and rendering, never to be changed or added to a session."""

    def __init__(self, session: AsyncSession, cache: ReadingCache) -> None:
        self.session = session
        self.cache = cache
        self._version: int | None = None  # the content version this update read

    async def listing(self, now: datetime) -> list[Consultation]:
        cache = await self._current()
        published = cache.published
        if published is None:
            async with await self._own_session() as session:
                published = await ConsultationRepository(session).published(now)
            if self._may_keep():
                cache.published = published
        return sorted(published, key=lambda c: listing_order(c, now))

    async def consultation_page(self, consultation_id: int) -> ConsultationPage | None:
        cache = await self._current()
        if consultation_id in cache.pages:
            return cache.pages[consultation_id]
        async with await self._own_session() as session:
            consultation = await ConsultationRepository(session).by_id(consultation_id)
            page = None
            if consultation is not None:
                page = ConsultationPage(
                    consultation, await SectionRepository(session).plan(consultation.id)
                )
        if self._may_keep():
            cache.pages[consultation_id] = page
            for section in page.plan if page else ():
                cache.owners[section.id] = consultation_id
        return page

    async def section_page(self, section_id: int) -> SectionPage | None:
        cache = await self._current()
        owner = cache.owners.get(section_id)
        if owner is None:
            owner = await SectionRepository(self.session).consultation_of(section_id)
            if owner is None:
                return None
        page = await self.consultation_page(owner)
        section = next((s for s in page.plan if s.id == section_id), None) if page else None
        if page is None or section is None:
            return None
        return SectionPage(page.consultation, section, locate(page.plan, section))

    async def follow_link(self, link: DeepLink) -> ConsultationPage | SectionPage | None:
        consultation = await ConsultationRepository(self.session).by_slug(link.slug)
        if consultation is None:
            return None
        page = await self.consultation_page(consultation.id)
        if page is None or link.section_number is None:
            return page
        section = next((s for s in page.plan if s.number == link.section_number), None)
        return await self.section_page(section.id) if section is not None else None

    async def _current(self) -> ReadingCache:
        """The cache, emptied first when the content moved on since it was filled (the
        version is looked up once per update)."""
        if self._version is None:
            self._version = await ConsultationRepository(self.session).content_version()
            if self.cache.version is None or self._version > self.cache.version:
                self.cache.start_over(self._version)
        return self.cache

    def _may_keep(self) -> bool:
        """What this update loaded may be kept: the content did not move on while it
        loaded (another update may have seen a newer version meanwhile)."""
        return self.cache.version == self._version

    async def _own_session(self) -> AsyncSession:
        """A session of its own, since what is kept must not belong to one update, on the
        update's connection: a second one from the pool, taken while the first is held,
        would let a crowd of updates take every connection and wait for each other."""
        return AsyncSession(bind=await self.session.connection(), expire_on_commit=False)
