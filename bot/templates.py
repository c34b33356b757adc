"""Answer templates: texts staff save per language and use to answer or give a reason.

`{number}` and `{section}` in a template are filled with the submission's when it is
used. A template is offered in the resident's language, the language the answer or
decision reaches them in, so what they read is all in one language.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.i18n import Catalogs, Translator
from bot.plan import pick
from bot.staff import Actor, log_action, text_problem
from storage.models import (
    AnswerTemplate,
    Consultation,
    Resident,
    Section,
    StaffActionKind,
    Submission,
)
from storage.repositories import TemplateRepository

PLACEHOLDERS = ("number", "section")
MAX_NAME = 30
# Enough for every usual answer; the buttons offering them must stay a short list.
MAX_PER_LANGUAGE = 20
# What a filled placeholder may take at most, when a template's length is checked.
FILLED_ROOM = 200


class TemplateRefused(Exception):
    """Why a template cannot be saved; `problem` names it, `detail` gives the specifics."""

    def __init__(self, problem: str, detail: str = "") -> None:
        super().__init__(problem)
        self.problem, self.detail = problem, detail


def placeholders(text: str) -> list[str]:
    """The `{…}` in a text as written; TemplateRefused("braces") when a brace is unpaired."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise TemplateRefused("braces") from error
    found = []
    for _, field, spec, conversion in parsed:
        if field is not None:
            found.append(
                field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            )
    return found


def check(language: str, name: str, text: str, languages: Sequence[str]) -> None:
    """TemplateRefused unless the template can be saved and, filled, sent to a resident."""
    if language not in languages:
        raise TemplateRefused("language", ", ".join(languages))
    if not name or len(name) > MAX_NAME or any(char.isspace() for char in name):
        raise TemplateRefused("name")
    if not text.strip():
        raise TemplateRefused("empty")
    unknown = [found for found in placeholders(text) if found not in PLACEHOLDERS]
    if unknown:
        raise TemplateRefused("placeholder", ", ".join("{" + found + "}" for found in unknown))
    # The longest it can become: every placeholder filled with the most they may take.
    if text_problem(fill(text, "9" * 20, "x" * FILLED_ROOM)) is not None:
        raise TemplateRefused("long")


def fill(text: str, number: str, section: str) -> str:
    return text.format_map({"number": number, "section": section}).strip()


async def save(
    session: AsyncSession,
    language: str,
    name: str,
    text: str,
    actor: Actor,
    now: datetime,
    languages: Sequence[str],
) -> bool:
    """Check and store the template (replacing the one with its language and name);
    True when it is new. TemplateRefused says why it cannot be."""
    check(language, name, text, languages)
    repository = TemplateRepository(session)
    names = {template.name for template in await repository.of_language(language)}
    if name not in names and len(names) >= MAX_PER_LANGUAGE:
        raise TemplateRefused("too_many", str(MAX_PER_LANGUAGE))
    created = await repository.save(language, name, text.strip(), actor.name, now)
    await _log(session, actor, f"saved {language}/{name}: {text.strip()}")
    return created


async def delete(session: AsyncSession, template_id: int, actor: Actor) -> AnswerTemplate | None:
    """The template deleted; None when it was gone already."""
    template = await TemplateRepository(session).delete(template_id)
    if template is not None:
        await _log(session, actor, f"deleted {template.language}/{template.name}")
    return template


@dataclass(frozen=True)
class Offer:
    """The templates offered for one submission: in its resident's language, filled."""

    language: str
    filled: list[tuple[AnswerTemplate, str]]


async def offer(
    session: AsyncSession, submission: Submission, catalogs: Catalogs, settings: Settings
) -> Offer:
    language = await resident_language(session, submission, catalogs, settings)
    templates = await TemplateRepository(session).of_language(language)
    if not templates:
        return Offer(language, [])
    section = await section_label(session, submission, catalogs.translator(language))
    number = submission.public_number or ""
    return Offer(
        language, [(template, fill(template.text, number, section)) for template in templates]
    )


async def resident_language(
    session: AsyncSession, submission: Submission, catalogs: Catalogs, settings: Settings
) -> str:
    """The language the resident reads the answer in (as the reply to them is written);
    without a resident, the one they wrote in, else the municipality's."""
    resident = (
        await session.get(Resident, submission.resident_id) if submission.resident_id else None
    )
    if resident is not None:
        return catalogs.for_person(
            resident.language, resident.telegram_language, settings.default_locale
        ).locale
    if submission.language in catalogs.locales:
        return submission.language
    return settings.default_locale


async def section_label(session: AsyncSession, submission: Submission, tr: Translator) -> str:
    """What `{section}` says: the section's number and title, else the consultation's
    title, else the general channel."""
    consultation = (
        await session.get(Consultation, submission.consultation_id)
        if submission.consultation_id
        else None
    )
    section = await session.get(Section, submission.section_id) if submission.section_id else None
    if consultation is None:
        return tr("the general channel")
    language = consultation.original_language
    if section is not None:
        return f"{section.number} {pick(section.title, tr.locale, language).text}"
    if submission.section_number:
        return submission.section_number
    return pick(consultation.title, tr.locale, language).text


async def _log(session: AsyncSession, actor: Actor, detail: str) -> None:
    await log_action(session, actor, StaffActionKind.TEMPLATE, detail)
