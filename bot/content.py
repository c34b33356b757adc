"""Consultation files (YAML) -> storage.

The format is documented in examples/README.md. A batch of files is validated whole
before anything is written: one invalid file and nothing is loaded.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Locale, Settings
from storage.models import Consultation, ConsultationKind, ConsultationStatus, Section
from storage.repositories import ConsultationRepository

if TYPE_CHECKING:
    import yaml

# Exports and statistics call the general "ask, suggest" channel by this name.
GENERAL_CHANNEL_SLUG = "general"
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SECTION_NUMBER_PATTERN = r"^[1-9][0-9]{0,2}(?:\.[1-9][0-9]{0,2}){0,3}$"
DATE_SHAPE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}")
# Bulgarian law (Закон за нормативните актове, чл. 26): a consultation runs at least 30
# days; at least 14 when the reason for the shorter period is stated.
FULL_PERIOD_DAYS = 30
SHORTEST_PERIOD_DAYS = 14


def _no_blank_texts(texts: dict[Locale, str]) -> dict[Locale, str]:
    cleaned = {language: text.strip() for language, text in texts.items()}
    blank = [language for language, text in cleaned.items() if not text]
    if blank:
        raise ValueError(f"the {', '.join(blank)} text is empty")
    if not cleaned:
        raise ValueError("needs at least one language")
    return cleaned


Texts = Annotated[dict[Locale, str], AfterValidator(_no_blank_texts)]


def _at_most(limit: int, hint: str) -> AfterValidator:
    def check(texts: dict[Locale, str]) -> dict[Locale, str]:
        for language, text in texts.items():
            if len(text) > limit:
                raise ValueError(
                    f"the {language} text has {len(text)} characters; at most {limit} ({hint})"
                )
        return texts

    return AfterValidator(check)


SectionTitle = Annotated[Texts, _at_most(120, "put the rest in the body")]
SectionBody = Annotated[Texts, _at_most(20_000, "split it into sections")]
ConsultationTitle = Annotated[Texts, _at_most(200, "put the rest in the summary")]
Summary = Annotated[Texts, _at_most(1500, "put details in a section")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SectionFile(_Strict):
    number: str = Field(pattern=SECTION_NUMBER_PATTERN)
    title: SectionTitle
    body: SectionBody | None = None
    sections: list[SectionFile] = Field(default_factory=list)

    @field_validator("number", mode="before")
    @classmethod
    def _number_as_text(cls, value: object) -> object:
        # An unquoted `number: 2` in YAML is an int; `2.1` a float that may round.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, float):
            raise ValueError('write section numbers in quotes, e.g. "2.1"')
        return value

    @model_validator(mode="after")
    def _children_extend_number(self) -> SectionFile:
        for child in self.sections:
            if child.number.rpartition(".")[0] != self.number:
                raise ValueError(
                    f'section "{child.number}" is inside section "{self.number}"; its number '
                    f'must be "{self.number}.<n>"'
                )
        return self


class DemoHints(_Strict):
    closes_in_days: int = Field(ge=1, le=365)


class ConsultationFile(_Strict):
    format: Literal[1]
    slug: str = Field(pattern=SLUG_PATTERN, max_length=40)
    kind: ConsultationKind = ConsultationKind.CONSULTATION
    original_language: Locale
    timezone: str
    opens_at: datetime | date
    closes_at: datetime | date | None = None
    link: str | None = Field(default=None, pattern=r"^https?://\S+$", max_length=500)
    organizer: Texts
    title: ConsultationTitle
    summary: Summary
    contact: Texts | None = None
    # Why the consultation runs less than 30 days: stored and shown on its card.
    short_period_reason: Summary | None = None
    sections: list[SectionFile] = Field(default_factory=list)
    demo: DemoHints | None = None

    @field_validator("slug")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == GENERAL_CHANNEL_SLUG:
            raise ValueError(f"{value!r} is reserved for the general ask-suggest channel")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a folder
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/Sofia)"
            ) from None
        return value

    @field_validator("opens_at", "closes_at", mode="before")
    @classmethod
    def _parse_local_time(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return (
                    datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
                )
            except ValueError as error:
                if DATE_SHAPE.match(value):  # written like a date, but no such day or time
                    raise ValueError(f"{value} is not a real date or time ({error})") from None
                raise ValueError(
                    'expected a date "2021-11-10" or a time "2021-11-10 17:00"'
                ) from None
        return value

    @model_validator(mode="after")
    def _coherent(self) -> ConsultationFile:
        for name in ("organizer", "title", "summary", "contact", "short_period_reason"):
            texts = getattr(self, name)
            if texts is not None and self.original_language not in texts:
                raise ValueError(
                    f"{name}: the original language ({self.original_language}) is missing"
                )
        for section in _walk(self.sections):
            for part in ("title", "body"):
                texts = getattr(section, part)
                if texts is not None and self.original_language not in texts:
                    raise ValueError(
                        f'section "{section.number}" {part}: the original language '
                        f"({self.original_language}) is missing"
                    )
        numbers = [section.number for section in _walk(self.sections)]
        duplicates = sorted({number for number in numbers if numbers.count(number) > 1})
        if duplicates:
            raise ValueError(f"section numbers used twice: {', '.join(duplicates)}")
        for top in self.sections:
            if "." in top.number:
                raise ValueError(
                    f'top-level section "{top.number}" must have a number without dots'
                )
        if self.kind is ConsultationKind.CHANNEL and self.closes_at is not None:
            raise ValueError("closes_at: a channel is always open; remove closes_at")
        if self.kind is ConsultationKind.CONSULTATION:
            if self.closes_at is None:
                raise ValueError("closes_at: a consultation needs a closing date")
            if self.closes_at_utc <= self.opens_at_utc:
                raise ValueError("closes_at: must be after opens_at")
            # A demo's dates are moved when it is loaded; the law is for real ones.
            if self.demo is None:
                problem = period_problem(
                    self.opens_at_utc.astimezone(self.zone),
                    self.closes_at_utc.astimezone(self.zone),
                    self.short_period_reason,
                )
                if problem is not None:
                    raise ValueError(f"closes_at: {problem.describe()}")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def opens_at_utc(self) -> datetime:
        return to_utc(self.opens_at, self.zone, end_of_day=False)

    @property
    def closes_at_utc(self) -> datetime | None:
        if self.closes_at is None:
            return None
        return to_utc(self.closes_at, self.zone, end_of_day=True)

    def digest(self) -> str:
        """A fingerprint of what the bot shows but the dates, which are compared as the
        moments they are (a load compares them with the stored ones: staff may have moved
        the deadline in the chat, and "2021-11-10" is the same closing as
        "2021-11-10 23:59:59"); demo hints are not part of it."""
        content = self.model_dump(mode="json", exclude={"demo", "opens_at", "closes_at"})
        canonical = json.dumps(content, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


class PeriodProblem(enum.StrEnum):
    """What is wrong with a consultation's period under the law."""

    TOO_SHORT = "too_short"  # under 14 days: not even with a reason
    NEEDS_REASON = "needs_reason"  # 14 to 29 days: only with a stated reason

    def describe(self) -> str:
        """For `content load` (English, like its other messages); the chat says it with tr()."""
        if self is PeriodProblem.TOO_SHORT:
            return (
                f"a consultation runs at least {SHORTEST_PERIOD_DAYS} days "
                f"({FULL_PERIOD_DAYS} days, or {SHORTEST_PERIOD_DAYS} with a stated reason)"
            )
        return (
            f"a consultation shorter than {FULL_PERIOD_DAYS} days needs its reason in "
            "short_period_reason"
        )


def period_days(opens_at: datetime, closes_at: datetime) -> int:
    """Calendar days from the opening day to the closing day, in the time zone of
    `closes_at` (give both in the consultation's zone): 11 October to 10 November is 30."""
    return (closes_at.date() - opens_at.astimezone(closes_at.tzinfo).date()).days


def period_problem(
    opens_at: datetime, closes_at: datetime, reason: Mapping[str, str] | str | None
) -> PeriodProblem | None:
    """The one rule for a consultation's length, for `content load` and the staff chat
    alike. The moments are aware datetimes in the consultation's time zone; `reason` is
    the stated reason (texts per language, or one text), empty or None when none was
    given."""
    days = period_days(opens_at, closes_at)
    if days < SHORTEST_PERIOD_DAYS:
        return PeriodProblem.TOO_SHORT
    stated = (
        any(text.strip() for text in reason.values())
        if isinstance(reason, Mapping)
        else bool(reason and reason.strip())
    )
    if days < FULL_PERIOD_DAYS and not stated:
        return PeriodProblem.NEEDS_REASON
    return None


def to_utc(value: datetime | date, zone: ZoneInfo, *, end_of_day: bool) -> datetime:
    if not isinstance(value, datetime):
        # A bare date: opening at the start of that day, closing at its very end.
        moment = time.max.replace(microsecond=0) if end_of_day else time.min
        value = datetime.combine(value, moment)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _walk(sections: Iterable[SectionFile]) -> Iterator[SectionFile]:
    for section in sections:
        yield section
        yield from _walk(section.sections)


@dataclass
class ContentError(Exception):
    """One or more consultation files are invalid; nothing was loaded."""

    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(self.problems)


@dataclass(frozen=True)
class LoadedFile:
    path: Path
    consultation: ConsultationFile


@functools.cache
def yaml_loader() -> type[yaml.SafeLoader]:
    """YAML's safe loader, but an impossible date (2026-02-30) stays text: PyYAML would
    raise without saying where, the validation names the field. Made on the first file
    read, so that a running bot, which reads none, does not load PyYAML."""
    import yaml

    def timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> object:
        try:
            return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
        except ValueError:
            return loader.construct_scalar(node)

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("tag:yaml.org,2002:timestamp", timestamp)
    return Loader


def yaml_mapping(text: str) -> dict[str, Any]:
    """The fields of a consultation file's text; raises ValueError saying where and why
    it is no such thing."""
    import yaml

    try:
        raw = yaml.load(text, Loader=yaml_loader())
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f"line {where.line + 1}: " if where is not None else ""
        reason = getattr(error, "problem", None) or "not valid YAML"
        raise ValueError(f"{line}{reason}") from None
    if not isinstance(raw, dict):
        raise ValueError("expected a mapping of fields at the top level")
    return raw


def read_consultation_file(path: Path) -> ConsultationFile:
    """Parse and validate one file; raises ContentError naming file, field and reason."""
    try:
        raw = yaml_mapping(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ContentError([f"{path}: cannot be read ({error.strerror})"]) from None
    except UnicodeDecodeError:
        raise ContentError([f"{path}: is not UTF-8 text"]) from None
    except ValueError as error:
        raise ContentError([f"{path}: {error}"]) from None
    # An imported document leaves what it could not know empty (bot/importer): say so in
    # one line each, rather than what the validation finds wrong with nothing.
    unfilled = [key for key in _TO_FILL_IN if key in raw and raw[key] is None]
    if raw.get("kind") == ConsultationKind.CHANNEL.value and "closes_at" in unfilled:
        unfilled.remove("closes_at")
    problems = [f"{path}: {key}: still to be filled in" for key in unfilled]
    try:
        consultation = ConsultationFile.model_validate(raw)
    except ValidationError as error:
        described = [describe_problem(path, raw, problem) for problem in error.errors()]
        problems += [
            problem
            for problem in described
            if not any(problem.startswith(f"{path}: {key}") for key in unfilled)
        ]
    if problems:
        raise ContentError(problems)
    return consultation


_TO_FILL_IN = (
    "original_language",
    "timezone",
    "opens_at",
    "closes_at",
    "organizer",
    "title",
    "summary",
)


def describe_problem(path: Path, raw: dict[str, Any], problem: Any) -> str:
    location = _field_path(raw, problem["loc"])
    reason = problem["msg"].removeprefix("Value error, ")
    if problem["type"] == "literal_error" and problem["loc"] == ("format",):
        reason = "must be 1 (the only format version so far)"
    elif problem["type"] == "string_pattern_mismatch":
        reason = _pattern_reason(problem["loc"][-1])
    elif problem["type"] == "extra_forbidden":
        reason = "unknown field"
    return f"{path}: {location}: {reason}" if location else f"{path}: {reason}"


def _pattern_reason(field_name: object) -> str:
    return {
        "slug": "use lowercase letters, digits and single hyphens, e.g. kazanlak-ipd-2027",
        "number": 'use numbers like "1", "2.1" or "2.1.3"',
        "link": "must be an http:// or https:// address",
    }.get(str(field_name), "has the wrong shape")


def _field_path(raw: Any, loc: Sequence[Any]) -> str:
    """Names a field as `section "2.1": title.bg`: a section's number says where it is."""
    section_label = ""
    fields: list[str] = []
    node = raw
    keys = list(loc)
    while keys:
        key = keys.pop(0)
        if key == "sections" and keys and isinstance(keys[0], int):
            index = keys.pop(0)
            node = _child(_child(node, "sections"), index)
            number = node.get("number") if isinstance(node, dict) else None
            section_label = f'section "{number}"' if number is not None else f"section #{index + 1}"
            fields = []
            continue
        fields.append(str(key))
        node = _child(node, key)
    field_text = ".".join(fields)
    if section_label:
        return f"{section_label}: {field_text}" if field_text else section_label
    return field_text


def _child(node: Any, key: Any) -> Any:
    if isinstance(node, dict):
        return node.get(key)
    if isinstance(node, list) and isinstance(key, int) and key < len(node):
        return node[key]
    return None


def read_consultation_files(paths: Iterable[Path]) -> list[LoadedFile]:
    """Every file of a batch, validated; raises one ContentError listing every problem."""
    loaded: list[LoadedFile] = []
    problems: list[str] = []
    for path in _expand(paths):
        try:
            loaded.append(LoadedFile(path, read_consultation_file(path)))
        except ContentError as error:
            problems.extend(error.problems)
    slugs = [item.consultation.slug for item in loaded]
    for slug in sorted({slug for slug in slugs if slugs.count(slug) > 1}):
        paths = ", ".join(str(item.path) for item in loaded if item.consultation.slug == slug)
        problems.append(f"{paths}: slug: {slug!r} is used by more than one file")
    if problems:
        raise ContentError(problems)
    return loaded


def _expand(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        else:
            yield path


@dataclass(frozen=True)
class LoadReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


async def load_consultations(
    session: AsyncSession, files: Sequence[ConsultationFile], *, now: datetime | None = None
) -> LoadReport:
    """Upsert by slug in the caller's transaction; `now` shifts demo dates when given."""
    report = LoadReport()
    consultations = ConsultationRepository(session)
    for source in files:
        opens_at, closes_at = _dates(source, demo_now=now)
        existing = await consultations.by_slug(source.slug)
        if existing is not None and (
            existing.source_digest,
            existing.opens_at,
            existing.closes_at,
        ) == (source.digest(), opens_at, closes_at):
            report.unchanged.append(source.slug)
            continue
        await put_consultation(session, source, existing, opens_at=opens_at, closes_at=closes_at)
        (report.created if existing is None else report.updated).append(source.slug)
    return report


@dataclass(frozen=True)
class SectionChanges:
    """What a file did to a consultation's sections, by number, in reading order."""

    kept: list[str]
    added: list[str]
    removed: list[str]
    # Anything residents read in the sections differs: a new version.
    changed: bool


async def put_consultation(
    session: AsyncSession,
    source: ConsultationFile,
    existing: Consultation | None,
    *,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
) -> tuple[Consultation, SectionChanges]:
    """Write one file over its consultation (or as a new one): a change to the sections
    makes a new version; the moments are the file's unless given (a demo's)."""
    consultation = existing or Consultation(slug=source.slug, sections=[], version=1)
    _apply(
        consultation,
        source,
        source.opens_at_utc if opens_at is None else opens_at,
        source.closes_at_utc if closes_at is None else closes_at,
        source.digest(),
    )
    if existing is None:
        session.add(consultation)
    await session.flush()
    changes = await _sync_sections(
        session, consultation, source.sections, first_version=existing is None
    )
    return consultation, changes


def _dates(
    source: ConsultationFile, *, demo_now: datetime | None
) -> tuple[datetime, datetime | None]:
    opens_at, closes_at = source.opens_at_utc, source.closes_at_utc
    if demo_now is None or source.demo is None or closes_at is None:
        return opens_at, closes_at
    # The demo keeps the consultation's length but makes it end in `closes_in_days`.
    local_end = (
        demo_now.astimezone(source.zone) + timedelta(days=source.demo.closes_in_days)
    ).date()
    shifted_close = to_utc(local_end, source.zone, end_of_day=True)
    shifted_open = min(shifted_close - (closes_at - opens_at), demo_now - timedelta(days=1))
    return shifted_open, shifted_close


def _apply(
    consultation: Consultation,
    source: ConsultationFile,
    opens_at: datetime,
    closes_at: datetime | None,
    digest: str,
) -> None:
    consultation.kind = source.kind
    consultation.status = ConsultationStatus.PUBLISHED
    consultation.original_language = source.original_language
    consultation.timezone = source.timezone
    consultation.organizer = dict(source.organizer)
    consultation.title = dict(source.title)
    consultation.summary = dict(source.summary)
    consultation.contact = dict(source.contact or {})
    consultation.short_period_reason = dict(source.short_period_reason or {})
    consultation.link = source.link
    consultation.opens_at = opens_at
    consultation.closes_at = closes_at
    consultation.source_digest = digest


async def _sync_sections(
    session: AsyncSession,
    consultation: Consultation,
    tree: Sequence[SectionFile],
    *,
    first_version: bool,
) -> SectionChanges:
    """Match sections by number so their ids (in buttons, links and submissions) survive
    a new version. A section the file no longer has is kept, marked removed in the new
    version, for the submissions on it; one that comes back is the same section again."""
    await session.refresh(consultation, ["sections"])
    by_number = {section.number: section for section in consultation.sections}
    current = [s for s in consultation.sections if s.removed_in_version is None]
    wanted = list(_flatten(tree))
    wanted_numbers = [item.number for item, _, _ in wanted]
    removed = [section.number for section in current if section.number not in wanted_numbers]
    current_numbers = {section.number for section in current}
    added = [number for number in wanted_numbers if number not in current_numbers]
    kept = [number for number in wanted_numbers if number in current_numbers]
    changed = bool(removed or added) or any(
        _reads_differently(by_number.get(item.number), item, parent_number, position, by_number)
        for position, (item, parent_number, _) in enumerate(wanted)
    )
    if changed and not first_version:
        consultation.version += 1
    for number in removed:
        by_number[number].removed_in_version = consultation.version
    # Parents come before children in reading order, so each parent id is known in time.
    for position, (item, parent_number, depth) in enumerate(wanted):
        section = by_number.get(item.number)
        if section is None:
            section = Section(consultation_id=consultation.id, number=item.number)
            session.add(section)
            by_number[item.number] = section
        section.removed_in_version = None
        section.parent_id = by_number[parent_number].id if parent_number else None
        section.position = position
        section.depth = depth
        section.title = dict(item.title)
        section.body = dict(item.body or {})
        await session.flush()
    return SectionChanges(kept=kept, added=added, removed=removed, changed=changed)


def _reads_differently(
    section: Section | None,
    item: SectionFile,
    parent_number: str | None,
    position: int,
    by_number: dict[str, Section],
) -> bool:
    if section is None or section.removed_in_version is not None:
        return True
    parent = by_number.get(parent_number) if parent_number else None
    return (
        section.parent_id != (parent.id if parent is not None else None)
        or section.position != position
        or section.title != dict(item.title)
        or section.body != dict(item.body or {})
    )


def _flatten(
    sections: Sequence[SectionFile], parent_number: str | None = None, depth: int = 0
) -> Iterator[tuple[SectionFile, str | None, int]]:
    for section in sections:
        yield section, parent_number, depth
        yield from _flatten(section.sections, section.number, depth + 1)


async def withdraw(session: AsyncSession, slug: str, settings: Settings) -> bool:
    """Hide a consultation from residents and cancel its planned notices."""
    from bot.running import take_down

    consultation = await ConsultationRepository(session).by_slug(slug)
    if consultation is None:
        return False
    await take_down(session, consultation, settings)
    return True
