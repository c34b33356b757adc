"""What a resident reads: consultations, their plans, and deep links into them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.plan import WalkPosition, locate
from storage.models import Consultation, Section
from storage.repositories import ConsultationRepository, SectionRepository

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


async def listing(session: AsyncSession, now: datetime) -> list[Consultation]:
    return await ConsultationRepository(session).published(now)


async def consultation_page(session: AsyncSession, consultation_id: int) -> ConsultationPage | None:
    consultation = await ConsultationRepository(session).by_id(consultation_id)
    if consultation is None:
        return None
    return ConsultationPage(consultation, await SectionRepository(session).plan(consultation.id))


async def section_page(session: AsyncSession, section_id: int) -> SectionPage | None:
    sections = SectionRepository(session)
    section = await sections.by_id(section_id)
    if section is None:
        return None
    consultation = await ConsultationRepository(session).by_id(section.consultation_id)
    if consultation is None:
        return None
    plan = await sections.plan(consultation.id)
    return SectionPage(consultation, section, locate(plan, section))


async def follow_link(
    session: AsyncSession, link: DeepLink
) -> ConsultationPage | SectionPage | None:
    consultation = await ConsultationRepository(session).by_slug(link.slug)
    if consultation is None:
        return None
    if link.section_number is None:
        return await consultation_page(session, consultation.id)
    section = await SectionRepository(session).by_number(consultation.id, link.section_number)
    return await section_page(session, section.id) if section is not None else None
