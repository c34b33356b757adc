"""A consultation drafted in the staff chat from a document (no Telegram types here).

A staff member sends a consultation file (YAML) or a document (DOCX, ODT, PDF, Markdown,
text); what it holds becomes a draft: the raw mapping of a consultation file, kept in the
conversation state, to which each short answer adds a missing field. Nothing reaches
residents until Publish loads the finished draft through bot.content in one transaction.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from bot.content import (
    GENERAL_CHANNEL_SLUG,
    SLUG_PATTERN,
    ConsultationFile,
    PeriodProblem,
    describe_problem,
    period_problem,
    to_utc,
    yaml_mapping,
)
from bot.local_dates import DateProblem, DateRefused, parse_local
from storage.models import Consultation

# Telegram lets a bot download files up to 20 MB.
MAX_DOWNLOAD = 20 * 1024 * 1024
CONSULTATION_FILE_SUFFIXES = (".yaml", ".yml")
DOCUMENT_SUFFIXES = (".docx", ".odt", ".pdf", ".md", ".markdown", ".txt")
# Longest answers taken for the short fields (the file format's own limits come after).
TEXT_LIMITS = {
    "title": 200,
    "summary": 1500,
    "organizer": 200,
    "contact": 200,
    "short_period_reason": 1500,
}


class Refusal(enum.StrEnum):
    TOO_BIG = "too_big"
    UNSUPPORTED = "unsupported"
    NOT_A_CONSULTATION_FILE = "not_a_consultation_file"  # YAML that cannot be read
    NO_TEXT_LAYER = "no_text_layer"
    ENCRYPTED = "encrypted"
    CORRUPT = "corrupt"
    EMPTY = "empty"
    UNKNOWN_LANGUAGE = "unknown_language"


@dataclass(frozen=True)
class IntakeRefused(Exception):
    reason: Refusal
    detail: str = ""


class Step(enum.StrEnum):
    """What is asked, in this order, when the draft lacks it."""

    WHOLE = "whole"  # no structure: the whole text as one section? (a button)
    SLUG = "slug"
    TITLE = "title"
    SUMMARY = "summary"
    ORGANIZER = "organizer"
    CONTACT = "contact"
    ZONE = "zone"
    CLOSES = "closes"
    REASON = "reason"  # a period under 30 days: the law asks why
    # Running a published consultation (draft.target): a new deadline, a new document.
    EXTEND = "extend"
    REPLACEMENT = "replacement"


class AnswerProblem(enum.StrEnum):
    EMPTY = "empty"
    TOO_LONG = "too_long"
    BAD_SLUG = "bad_slug"
    NOT_A_DATE = DateProblem.NOT_A_DATE.value
    NO_SUCH_DAY = DateProblem.NO_SUCH_DAY.value
    NO_SUCH_TIME = DateProblem.NO_SUCH_TIME.value
    IN_THE_PAST = "in_the_past"
    BEFORE_OPENING = "before_opening"
    TOO_SHORT = PeriodProblem.TOO_SHORT.value
    UNKNOWN_ZONE = "unknown_zone"


@dataclass
class Draft:
    """Kept in the conversation state as plain JSON (`as_data` / `from_data`)."""

    file_name: str
    mapping: dict[str, Any]
    draft_id: int = 0  # the message id of the document, in the draft's buttons
    notes: list[dict[str, str]] = field(default_factory=list)
    # A document without recognisable structure: its whole text is offered as one section.
    unstructured: bool = False
    asked: list[str] = field(default_factory=list)  # optional steps already asked once
    step: str | None = None
    question_id: int | None = None
    # A published consultation this draft extends or replaces (its id), else None.
    target: int | None = None

    def as_data(self) -> dict[str, Any]:
        return {
            "file_name": self.file_name,
            "mapping": self.mapping,
            "draft_id": self.draft_id,
            "notes": self.notes,
            "unstructured": self.unstructured,
            "asked": self.asked,
            "step": self.step,
            "question_id": self.question_id,
            "target": self.target,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Draft:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})

    @property
    def language(self) -> str:
        return str(self.mapping.get("original_language") or "")

    @property
    def zone(self) -> str | None:
        value = self.mapping.get("timezone")
        return value if isinstance(value, str) and _known_zone(value) else None


# --- reading what was sent ---------------------------------------------------------


def is_readable(file_name: str) -> bool:
    return Path(file_name).suffix.lower() in (*CONSULTATION_FILE_SUFFIXES, *DOCUMENT_SUFFIXES)


def read_upload(data: bytes, file_name: str, draft_id: int) -> Draft:
    """The draft a sent file starts; raises IntakeRefused."""
    suffix = Path(file_name).suffix.lower()
    if suffix in CONSULTATION_FILE_SUFFIXES:
        return Draft(file_name, _consultation_file(data), draft_id)
    if suffix in DOCUMENT_SUFFIXES:
        draft = _document(data, file_name, slug_from(file_name))
        draft.draft_id = draft_id
        return draft
    raise IntakeRefused(Refusal.UNSUPPORTED, suffix or file_name)


def _consultation_file(data: bytes) -> dict[str, Any]:
    try:
        return _plain(yaml_mapping(data.decode("utf-8")))
    except UnicodeDecodeError:
        raise IntakeRefused(Refusal.NOT_A_CONSULTATION_FILE, "not UTF-8 text") from None
    except ValueError as error:
        raise IntakeRefused(Refusal.NOT_A_CONSULTATION_FILE, str(error)) from None


def _document(data: bytes, file_name: str, slug: str) -> Draft:
    from bot import importer

    try:
        document = importer.import_document(data, file_name)
    except importer.ImportRefused as refused:
        reason = {
            "no_text_layer": Refusal.NO_TEXT_LAYER,
            "encrypted": Refusal.ENCRYPTED,
            "corrupt": Refusal.CORRUPT,
            "empty": Refusal.EMPTY,
        }.get(refused.reason, Refusal.UNSUPPORTED)
        raise IntakeRefused(reason, refused.detail) from None
    if document.language is None:
        raise IntakeRefused(Refusal.UNKNOWN_LANGUAGE)
    unstructured = not document.structured
    if unstructured:
        document = importer.as_one_section(document)
    mapping, _ = importer.consultation_mapping(
        document, slug=slug, language=document.language, timezone=""
    )
    mapping["timezone"] = None  # asked, with the municipality's as the first answer
    notes = [
        {"kind": note.kind, "where": note.where, "detail": note.detail} for note in document.notes
    ]
    return Draft(file_name, _plain(mapping), notes=notes, unstructured=unstructured)


def _plain(value: Any) -> Any:
    """JSON for the conversation state: dates as the ISO text a consultation file reads."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


_TRANSLITERATION = dict(
    zip(
        "абвгдежзийклмнопрстуфхцчшщъьюяčšžćđ",
        "a b v g d e zh z i y k l m n o p r s t u f h ts ch sh sht a y yu ya c s z c d".split(),
        strict=True,
    )
)


def slug_from(file_name: str) -> str:
    """A short name for links from a file's name: "План Казанлък.docx" -> plan-kazanlak."""
    stem = Path(file_name).stem.lower()
    latin = "".join(_TRANSLITERATION.get(letter, letter) for letter in stem)
    words = re.findall(r"[a-z0-9]+", latin)
    return "-".join(words)[:40].strip("-") or "consultation"


# --- what is missing, and the answers ----------------------------------------------


def next_step(draft: Draft, *, slug_taken: bool, now: datetime) -> Step | None:
    mapping = draft.mapping
    if draft.unstructured and Step.WHOLE not in draft.asked:
        return Step.WHOLE
    if slug_taken or not _is_slug(mapping.get("slug")):
        return Step.SLUG
    for step in (Step.TITLE, Step.SUMMARY, Step.ORGANIZER):
        if not _text_in(mapping.get(step.value), draft.language):
            return step
    if not mapping.get("contact") and Step.CONTACT not in draft.asked:
        return Step.CONTACT
    if draft.zone is None:
        return Step.ZONE
    if not mapping.get("closes_at"):
        return Step.CLOSES
    if _period_problem(draft, now) is PeriodProblem.NEEDS_REASON:
        return Step.REASON
    return None


def answer(draft: Draft, step: Step, typed: str, *, now: datetime) -> AnswerProblem | None:
    """Puts a typed answer into the draft, or says what is wrong with it."""
    text = " ".join(typed.split()) if step is not Step.SUMMARY else typed.strip()
    if not text:
        return AnswerProblem.EMPTY
    if step is Step.SLUG:
        if not _is_slug(text.lower()):
            return AnswerProblem.BAD_SLUG
        draft.mapping["slug"] = text.lower()
    elif step is Step.CLOSES:
        return set_closing(draft, text, now=now)
    elif step is Step.ZONE:
        if not _known_zone(text):
            return AnswerProblem.UNKNOWN_ZONE
        draft.mapping["timezone"] = text
    else:
        key = "short_period_reason" if step is Step.REASON else step.value
        if len(text) > TEXT_LIMITS[key]:
            return AnswerProblem.TOO_LONG
        texts = draft.mapping.get(key)
        texts = dict(texts) if isinstance(texts, dict) else {}
        texts[draft.language] = text
        draft.mapping[key] = texts
    return None


def set_closing(draft: Draft, typed: str, *, now: datetime) -> AnswerProblem | None:
    try:
        closes = parse_local(typed)
    except DateRefused as refused:
        return AnswerProblem(refused.problem.value)
    problem = closing_problem(closes, draft.mapping.get("opens_at"), draft.zone, now=now)
    if problem is not None:
        return problem
    previous = draft.mapping.get("closes_at")
    draft.mapping["closes_at"] = closes.isoformat()
    if _period_problem(draft, now) is PeriodProblem.TOO_SHORT:
        draft.mapping["closes_at"] = previous
        return AnswerProblem.TOO_SHORT
    return None


def _period_problem(draft: Draft, now: datetime) -> PeriodProblem | None:
    """The law's rule (bot.content.period_problem) on the draft's dates; a draft
    without an opening opens now."""
    closes = draft.mapping.get("closes_at")
    if not closes or draft.zone is None:
        return None
    zone = ZoneInfo(draft.zone)
    opens = draft.mapping.get("opens_at")
    opens_utc = to_utc(_read_moment(opens), zone, end_of_day=False) if opens else now
    closes_utc = to_utc(_read_moment(closes), zone, end_of_day=True)
    return period_problem(
        opens_utc.astimezone(zone),
        closes_utc.astimezone(zone),
        draft.mapping.get("short_period_reason"),
    )


def closing_problem(
    closes: datetime | date, opens: Any, zone_name: str | None, *, now: datetime
) -> AnswerProblem | None:
    """A closing time must be ahead, and after the opening (when the file names one)."""
    zone = ZoneInfo(zone_name) if zone_name else ZoneInfo("UTC")
    closes_utc = to_utc(closes, zone, end_of_day=True)
    if closes_utc <= now:
        return AnswerProblem.IN_THE_PAST
    if opens:
        opens_utc = to_utc(_read_moment(opens), zone, end_of_day=False)
        if closes_utc <= opens_utc:
            return AnswerProblem.BEFORE_OPENING
    return None


def skip(draft: Draft, step: Step) -> None:
    """An optional field left empty (the contact), or the whole text taken as one
    section: not asked again."""
    draft.asked.append(step.value)


def use_zone(draft: Draft, zone: str) -> None:
    draft.mapping["timezone"] = zone


def _read_moment(value: Any) -> datetime | date:
    if isinstance(value, datetime | date):
        return value
    text = str(value)
    return datetime.fromisoformat(text) if len(text) > 10 else date.fromisoformat(text)


def _is_slug(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= 40
        and re.match(SLUG_PATTERN, value) is not None
        and value != GENERAL_CHANNEL_SLUG
    )


def _text_in(value: Any, language: str) -> bool:
    return isinstance(value, dict) and bool(str(value.get(language) or "").strip())


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


# --- the finished draft ------------------------------------------------------------


@dataclass(frozen=True)
class Finished:
    """The draft as a consultation file, or every problem the file format finds."""

    consultation: ConsultationFile | None
    problems: list[str]
    scheduled: bool  # opens later than now: Publish schedules it


def finish(draft: Draft, *, now: datetime) -> Finished:
    """Validated as `content load` would; a draft without an opening opens now."""
    raw = dict(draft.mapping)
    raw.setdefault("format", 1)
    scheduled = False
    zone = ZoneInfo(draft.zone) if draft.zone else ZoneInfo("UTC")
    if raw.get("opens_at"):
        opens_utc = to_utc(_read_moment(raw["opens_at"]), zone, end_of_day=False)
        scheduled = opens_utc > now
    else:
        raw["opens_at"] = now.astimezone(zone).replace(tzinfo=None, microsecond=0).isoformat()
    try:
        consultation = ConsultationFile.model_validate(raw)
    except ValidationError as error:
        path = Path(draft.file_name)
        return Finished(None, [describe_problem(path, raw, item) for item in error.errors()], False)
    return Finished(consultation, [], scheduled)


def tree_lines(sections: Any, depth: int = 0) -> Iterator[tuple[int, str, str]]:
    """(depth, number, title in the original language) of every section, in order."""
    for section in sections or ():
        if not isinstance(section, dict):
            continue
        title = section.get("title")
        text = next(iter(title.values()), "") if isinstance(title, dict) and title else ""
        yield depth, str(section.get("number", "")), str(text)
        yield from tree_lines(section.get("sections"), depth + 1)


# --- a published consultation: a new deadline, a new document ------------------------


def new_deadline(typed: str, zone: str, *, now: datetime) -> datetime | AnswerProblem:
    """A typed closing moment in the consultation's zone, in UTC (a date: its end)."""
    try:
        closes = parse_local(typed)
    except DateRefused as refused:
        return AnswerProblem(refused.problem.value)
    closes_utc = to_utc(closes, ZoneInfo(zone), end_of_day=True)
    return AnswerProblem.IN_THE_PAST if closes_utc <= now else closes_utc


def replacement(draft: Draft, consultation: Consultation) -> None:
    """A new document for a published consultation: its sections; the rest (name, title,
    dates...) stays the consultation's (as `content dump` writes it) unless a
    consultation file says otherwise."""
    from bot.dump import consultation_mapping

    draft.target = consultation.id
    current = _plain(consultation_mapping(consultation, []))
    if draft.file_name.lower().endswith(CONSULTATION_FILE_SUFFIXES):
        draft.mapping = {**current, **draft.mapping}
    else:
        draft.mapping = {**current, "sections": draft.mapping.get("sections") or []}


@dataclass(frozen=True)
class SectionDiff:
    kept: list[str]
    added: list[str]
    removed: list[str]


def section_diff(current_numbers: list[str], source: ConsultationFile) -> SectionDiff:
    """What a replacement does to the sections, by number (as bot.content matches them)."""
    wanted = [number for _, number, _ in tree_lines(source.model_dump(mode="json")["sections"])]
    return SectionDiff(
        kept=[number for number in wanted if number in current_numbers],
        added=[number for number in wanted if number not in current_numbers],
        removed=[number for number in current_numbers if number not in wanted],
    )
