"""/pending: what staff still owe an answer or a decision, by the report's rules."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Consultation, Section, Submission
from storage.repositories import PendingRepository

DECISION, REASON, ANSWER = (
    PendingRepository.DECISION,
    PendingRepository.REASON,
    PendingRepository.ANSWER,
)


@dataclass(frozen=True)
class Item:
    submission: Submission
    need: str  # DECISION, REASON or ANSWER


@dataclass
class Group:
    """The open items of one consultation's section (or of the consultation as a whole,
    or of the general channel), oldest first."""

    consultation: Consultation | None
    section: Section | None
    section_number: str | None
    items: list[Item] = field(default_factory=list)


async def pending(session: AsyncSession) -> list[Group]:
    """Every open item, grouped by consultation and section; the group whose oldest item
    waits longest comes first."""
    groups: dict[tuple[int | None, int | str | None], Group] = {}
    for submission, consultation, section, need in await PendingRepository(session).items():
        where = section.id if section is not None else submission.section_number
        key = (submission.consultation_id, where)
        if key not in groups:
            groups[key] = Group(consultation, section, submission.section_number)
        groups[key].items.append(Item(submission, need))
    return list(groups.values())
