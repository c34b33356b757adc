"""A consultation written back to its file (`civicbot content dump`, the staff chat's
Download): what the bot shows now, so that loading the file again changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.content_yaml import to_yaml
from storage.models import Consultation, ConsultationKind, Section
from storage.repositories import ConsultationRepository, SectionRepository

# How a bare date reads back (bot/content.to_utc): the start of the day for an opening,
# its last second for a closing.
DAY_START = time.min
DAY_END = time(23, 59, 59)


async def dump_consultation(session: AsyncSession, slug: str) -> str | None:
    """The consultation file of `slug` (withdrawn ones too), or None: no such slug."""
    consultation = await ConsultationRepository(session).by_slug(slug)
    if consultation is None:
        return None
    sections = await SectionRepository(session).plan(consultation.id)
    return consultation_file_text(consultation, sections)


def consultation_file_text(consultation: Consultation, sections: Sequence[Section]) -> str:
    note = (
        f"{consultation.slug}, version {consultation.version}, as the bot shows it "
        "(civicbot content dump); times are local to the time zone below"
    )
    return to_yaml(consultation_mapping(consultation, sections), {"format": note})


def consultation_mapping(consultation: Consultation, sections: Sequence[Section]) -> dict[str, Any]:
    """The documented format (examples/README.md), keys in its order, empty ones left out."""
    zone = ZoneInfo(consultation.timezone)
    mapping: dict[str, Any] = {
        "format": 1,
        "slug": consultation.slug,
        "kind": consultation.kind.value,
        "original_language": consultation.original_language,
        "timezone": consultation.timezone,
        "opens_at": _local(consultation.opens_at, zone, DAY_START),
    }
    if consultation.kind is ConsultationKind.CONSULTATION and consultation.closes_at:
        mapping["closes_at"] = _local(consultation.closes_at, zone, DAY_END)
    if consultation.link:
        mapping["link"] = consultation.link
    mapping["organizer"] = dict(consultation.organizer)
    mapping["title"] = dict(consultation.title)
    mapping["summary"] = dict(consultation.summary)
    if consultation.contact:
        mapping["contact"] = dict(consultation.contact)
    if consultation.short_period_reason:
        mapping["short_period_reason"] = dict(consultation.short_period_reason)
    if sections:
        mapping["sections"] = _tree(sections, None)
    return mapping


def _local(moment: datetime, zone: ZoneInfo, bare_date_time: time) -> date | str:
    """A date when the moment is what the bare date means, else the local time, as
    precise as it was stored."""
    local = moment.astimezone(zone)
    if local.timetz().replace(tzinfo=None) == bare_date_time:
        return local.date()
    naive = local.replace(tzinfo=None)
    precision = "minutes" if naive.second == 0 and naive.microsecond == 0 else "auto"
    return naive.isoformat(sep=" ", timespec=precision)


def _tree(sections: Sequence[Section], parent_id: int | None) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    for section in sections:
        if section.parent_id != parent_id:
            continue
        node: dict[str, Any] = {"number": section.number, "title": dict(section.title)}
        if section.body:
            node["body"] = dict(section.body)
        children = _tree(sections, section.id)
        if children:
            node["sections"] = children
        nodes.append(node)
    return nodes
