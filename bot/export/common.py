"""What every export shares: finding what a slug names, labels, and making text that
came from people safe for spreadsheets and Word."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import GENERAL_CHANNEL_SLUG
from bot.i18n import Translator
from bot.plan import pick
from bot.zones import zone_of
from storage.models import (
    Consultation,
    Section,
    StakeholderKind,
    Submission,
    SubmissionChannel,
    SubmissionKind,
    SubmissionStatus,
)
from storage.repositories import ConsultationRepository, SectionRepository

# The general "ask, suggest" channel (submissions with no consultation) is exported under
# this slug. Consultation slugs are free lowercase words (bot/content.py), so a file could
# call a consultation "general" too: then the slug is refused as ambiguous, not guessed.
GENERAL_SLUG = GENERAL_CHANNEL_SLUG  # one name, reserved by the content loader


class ExportError(Exception):
    """A problem to report in one line (the CLI prints it, a handler can show it)."""


class UnknownConsultation(ExportError):
    def __init__(self, slug: str) -> None:
        super().__init__(
            f"no consultation has the slug {slug!r} (`{GENERAL_SLUG}` is the general channel)"
        )
        self.slug = slug


class AmbiguousSlug(ExportError):
    def __init__(self) -> None:
        super().__init__(
            f"a consultation is called {GENERAL_SLUG!r}, the name of the general channel: "
            "give that consultation another slug in its file"
        )


class NoReport(ExportError):
    def __init__(self) -> None:
        super().__init__(
            "the general channel is not a consultation and has no report; export it instead"
        )


@dataclass(frozen=True)
class Scope:
    """The submissions a slug names: one consultation's, or the general channel's."""

    slug: str
    consultation: Consultation | None
    sections: Sequence[Section] = ()
    _by_id: dict[int, Section] = field(default_factory=dict, repr=False)
    _by_number: dict[str, Section] = field(default_factory=dict, repr=False)
    # The municipality's zone (TIMEZONE): the general channel's times are in it.
    home_zone: str | None = None
    # Section number -> the version of the document that removed it.
    removed_in: dict[str, int] = field(default_factory=dict)

    @property
    def is_general(self) -> bool:
        return self.consultation is None

    @property
    def zone(self) -> str:
        if self.consultation is None and self.home_zone is None:
            raise ValueError("the general channel's times need the municipality's zone")
        return zone_of(self.consultation, self.home_zone or "")

    @property
    def original_language(self) -> str:
        return self.consultation.original_language if self.consultation else "en"

    def where(self) -> ColumnElement[bool]:
        if self.consultation is None:
            return Submission.consultation_id.is_(None)
        return Submission.consultation_id == self.consultation.id

    def section(self, section_id: int | None, number: str | None) -> Section | None:
        """The section a submission was about; by number when its id was lost (a newer
        file of the consultation dropped and re-added it), None when it is gone."""
        if section_id is not None and section_id in self._by_id:
            return self._by_id[section_id]
        if number is not None:
            return self._by_number.get(number)
        return None

    def title(self, texts: Mapping[str, str], locale: str) -> str:
        return pick(dict(texts), locale, self.original_language).text


async def resolve(session: AsyncSession, slug: str, home_zone: str | None = None) -> Scope:
    """What `slug` names; raises UnknownConsultation or AmbiguousSlug. `home_zone` is
    needed by callers that take the general channel, whose times are in it."""
    consultation = await ConsultationRepository(session).by_slug(slug)
    if slug == GENERAL_SLUG:
        if consultation is not None:
            raise AmbiguousSlug()
        return Scope(slug, None, home_zone=home_zone)
    if consultation is None:
        raise UnknownConsultation(slug)
    repository = SectionRepository(session)
    sections = await repository.plan(consultation.id)
    removed = await repository.removed_of(consultation.id)
    return Scope(
        slug,
        consultation,
        sections,
        {section.id: section for section in sections},
        {section.number: section for section in sections},
        removed_in={
            section.number: section.removed_in_version
            for section in removed
            if section.removed_in_version is not None
        },
    )


# --------------------------------------------------------------------- labels


def kind_label(tr: Translator, kind: SubmissionKind | str) -> str:
    return tr("proposal") if kind == SubmissionKind.PROPOSAL else tr("question")


def status_label(tr: Translator, status: SubmissionStatus | str, kind: SubmissionKind | str) -> str:
    """The decision as staff documents name it (the report's "decision" column)."""
    if status == SubmissionStatus.RECEIVED:
        return tr("not yet decided") if kind == SubmissionKind.PROPOSAL else tr("not yet answered")
    return {
        SubmissionStatus.ANSWERED: tr("answered"),
        SubmissionStatus.ACCEPTED: tr("accepted"),
        SubmissionStatus.PARTLY_ACCEPTED: tr("partly accepted"),
        SubmissionStatus.REJECTED: tr("not accepted"),
        SubmissionStatus.SPAM: tr("spam"),
    }[SubmissionStatus(status)]


def channel_label(tr: Translator, channel: SubmissionChannel | str) -> str:
    """How a submission reached the municipality: "Telegram", "e-mail", "letter"…"""
    return {
        SubmissionChannel.TELEGRAM: tr("Telegram"),
        SubmissionChannel.EMAIL: tr("e-mail"),
        SubmissionChannel.LETTER: tr("letter"),
        SubmissionChannel.PHONE: tr("phone call"),
        SubmissionChannel.MEETING: tr("public meeting"),
    }[SubmissionChannel(channel)]


def stakeholder_label(tr: Translator, kind: StakeholderKind | str) -> str:
    """On whose behalf a submission speaks: "individual", "business", "NGO"…"""
    return {
        StakeholderKind.INDIVIDUAL: tr("individual"),
        StakeholderKind.BUSINESS: tr("business"),
        StakeholderKind.EDUCATION: tr("educational institution"),
        StakeholderKind.PUBLIC_BODY: tr("public body"),
        StakeholderKind.NGO: tr("NGO"),
    }[StakeholderKind(kind)]


def author_label(tr: Translator, author_name: str | None) -> str:
    """The name the resident chose to sign with, else "anonymous": nothing else about them."""
    return author_name if author_name else tr("anonymous")


def attachments_text(tr: Translator, attachments: Iterable[Mapping[str, Any]] | None) -> str:
    """ "2 photos, 1 document (plan.pdf), 1 location (42.42580, 25.63450)"; "" for none."""
    photos = 0
    documents: list[str] = []
    locations: list[str] = []
    others = 0
    for item in attachments or ():
        kind = item.get("type")
        if kind == "photo":
            photos += 1
        elif kind == "document":
            documents.append(str(item.get("file_name") or ""))
        elif kind == "location":
            locations.append(_coordinates(item))
        else:
            others += 1
    parts = []
    if photos:
        parts.append(_counted(tr, "photo", photos))
    if documents:
        part = _counted(tr, "document", len(documents))
        names = [name for name in documents if name]
        parts.append(f"{part} ({', '.join(names)})" if names else part)
    if locations:
        part = _counted(tr, "location", len(locations))
        places = [place for place in locations if place]
        parts.append(f"{part} ({'; '.join(places)})" if places else part)
    if others:
        parts.append(_counted(tr, "other", others))
    return ", ".join(parts)


@lru_cache(maxsize=256)
def _counted(tr: Translator, kind: str, count: int) -> str:
    # Cached: formatting the number is most of an export row's time, and counts repeat.
    if kind == "photo":
        return tr.plural("%(count)s photo", "%(count)s photos", count)
    if kind == "document":
        return tr.plural("%(count)s document", "%(count)s documents", count)
    if kind == "location":
        return tr.plural("%(count)s location", "%(count)s locations", count)
    return tr.plural("%(count)s other attachment", "%(count)s other attachments", count)


def _coordinates(item: Mapping[str, Any]) -> str:
    # Degrees with a decimal point whatever the language: what map sites accept.
    try:
        return f"{float(item['latitude']):.5f}, {float(item['longitude']):.5f}"
    except (KeyError, TypeError, ValueError):
        return ""


# --------------------------------------------------------------------- safe text

# A spreadsheet takes a cell that starts with one of these for a formula (CSV injection,
# OWASP): "=1+1", "+cmd|' /C calc'!A0", "-2", "@SUM(A1)", and a tab or line break before
# them. Fullwidth forms are read as formulas by some East Asian versions of Excel.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def neutralise(text: str | None) -> str:
    """Text that came from a person, made inert for a spreadsheet: the OWASP way, an
    apostrophe before a leading formula character."""
    if not text:
        return ""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


# XML 1.0 (inside .xlsx and .docx) cannot hold most control characters; Telegram text can.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str | None) -> str:
    return _NOT_XML.sub("", text) if text else ""


def cell_text(text: str | None) -> str:
    """Text from a person for an .xlsx cell: storable in XML, inert as a formula."""
    return neutralise(xml_safe(text))
