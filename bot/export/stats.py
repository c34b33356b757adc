"""Numbers about a consultation for the staff chat: counts, a short text, a chart."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from html import escape
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.export.common import (
    Scope,
    channel_label,
    kind_label,
    resolve,
    stakeholder_label,
    status_label,
)
from bot.i18n import Translator
from bot.plan import pick
from storage.models import (
    LocalizedText,
    StakeholderKind,
    Submission,
    SubmissionChannel,
    SubmissionKind,
    SubmissionStatus,
)

# stats_text lists at most this many sections (a Telegram message holds 4096 characters).
TEXT_SECTIONS = 15
TEXT_TITLE_CHARS = 60


@dataclass(frozen=True)
class SectionCount:
    """Submissions about one section; number None: about no section (general remarks)."""

    number: str | None
    title: LocalizedText | None  # None: no section, or one no longer in the plan
    count: int


@dataclass(frozen=True)
class ConsultationStats:
    """Counts of a consultation's submissions (or of the general channel's).

    Spam is counted in `spam` and `by_status` only: `total`, `by_kind`, `by_section`
    and `per_day` count the rest. Days are local to `timezone`; `per_day` runs from the
    first day with a submission to the last, days without any included (count 0).
    """

    slug: str
    title: LocalizedText  # empty for the general channel
    original_language: str
    timezone: str
    total: int
    spam: int
    by_kind: dict[SubmissionKind, int]
    by_status: dict[SubmissionStatus, int]
    by_section: list[SectionCount]
    per_day: list[tuple[date, int]] = field(default_factory=list)
    # On whose behalf they speak, and how they were received (spam left out).
    by_stakeholder: dict[StakeholderKind, int] = field(default_factory=dict)
    by_channel: dict[SubmissionChannel, int] = field(default_factory=dict)


async def consultation_stats(
    session: AsyncSession, slug: str, *, home_zone: str
) -> ConsultationStats:
    """Raises UnknownConsultation (an ExportError) for an unknown slug. Days are the
    consultation's, the general channel's in `home_zone` (the municipality's)."""
    scope = await resolve(session, slug, home_zone)
    grouped = await session.execute(
        select(
            Submission.section_id,
            Submission.section_number,
            Submission.kind,
            Submission.status,
            Submission.stakeholder,
            Submission.channel,
            func.count(),
        )
        .where(scope.where())
        .group_by(
            Submission.section_id,
            Submission.section_number,
            Submission.kind,
            Submission.status,
            Submission.stakeholder,
            Submission.channel,
        )
    )
    by_kind: Counter[SubmissionKind] = Counter()
    by_status: Counter[SubmissionStatus] = Counter()
    in_plan: Counter[int] = Counter()
    lost: Counter[str] = Counter()
    by_stakeholder: Counter[StakeholderKind] = Counter()
    by_channel: Counter[SubmissionChannel] = Counter()
    no_section = 0
    for section_id, section_number, kind, status, stakeholder, channel, count in grouped:
        by_status[status] += count
        if status is SubmissionStatus.SPAM:
            continue
        by_kind[kind] += count
        by_stakeholder[stakeholder] += count
        by_channel[channel] += count
        section = scope.section(section_id, section_number)
        if section is not None:
            in_plan[section.id] += count
        elif section_number:
            lost[section_number] += count
        else:
            no_section += count

    by_section = [
        SectionCount(section.number, dict(section.title), in_plan[section.id])
        for section in scope.sections
        if in_plan[section.id]
    ]
    by_section += [SectionCount(number, None, lost[number]) for number in sorted(lost)]
    if no_section:
        by_section.append(SectionCount(None, None, no_section))

    return ConsultationStats(
        slug=scope.slug,
        title=dict(scope.consultation.title) if scope.consultation else {},
        original_language=scope.original_language,
        timezone=scope.zone,
        total=sum(by_kind.values()),
        spam=by_status[SubmissionStatus.SPAM],
        by_kind={kind: by_kind[kind] for kind in SubmissionKind},
        by_status={status: by_status[status] for status in SubmissionStatus},
        by_section=by_section,
        per_day=await _per_day(session, scope),
        by_stakeholder={kind: by_stakeholder[kind] for kind in StakeholderKind},
        by_channel={channel: by_channel[channel] for channel in SubmissionChannel},
    )


async def _per_day(session: AsyncSession, scope: Scope) -> list[tuple[date, int]]:
    # By the day each was received: a letter counts on the day it arrived, not the day
    # staff registered it. Local days differ from UTC days, and SQLite knows no time
    # zones: the times are read in chunks and counted here, which keeps memory flat.
    zone = ZoneInfo(scope.zone)
    days: Counter[date] = Counter()
    times = await session.stream_scalars(
        select(Submission.received_at)
        .where(scope.where(), Submission.status != SubmissionStatus.SPAM)
        .execution_options(yield_per=5000)
    )
    async for moment in times:
        days[moment.astimezone(zone).date()] += 1
    if not days:
        return []
    first, last = min(days), max(days)
    return [
        (first + timedelta(days=offset), days[first + timedelta(days=offset)])
        for offset in range((last - first).days + 1)
    ]


def _title(stats: ConsultationStats, tr: Translator) -> str:
    if not stats.title:
        return tr("The general channel")
    return pick(stats.title, tr.locale, stats.original_language).text


def _section_name(item: SectionCount, tr: Translator, stats: ConsultationStats) -> str:
    if item.number is None:
        return tr("General remarks")
    if item.title is None:
        return tr("%(number)s (no longer in the plan)", number=item.number)
    title = pick(item.title, tr.locale, stats.original_language).text
    if len(title) > TEXT_TITLE_CHARS:
        title = title[: TEXT_TITLE_CHARS - 1].rstrip() + "…"
    return f"{item.number}. {title}"


def stats_text(stats: ConsultationStats, tr: Translator) -> str:
    """A short summary in Telegram HTML for the staff chat; everything from files and
    people is escaped."""
    lines = [f"📊 <b>{escape(_title(stats, tr), quote=False)}</b>", ""]
    lines.append(
        tr(
            "Received: %(total)s (proposals: %(proposals)s, questions: %(questions)s)",
            total=tr.number(stats.total),
            proposals=tr.number(stats.by_kind.get(SubmissionKind.PROPOSAL, 0)),
            questions=tr.number(stats.by_kind.get(SubmissionKind.QUESTION, 0)),
        )
    )
    if stats.spam:
        lines.append(tr("Left out as spam: %(count)s", count=tr.number(stats.spam)))
    if stats.total == 0:
        return "\n".join(lines)

    lines += ["", tr("<b>By status</b>")]
    waiting = stats.by_status.get(SubmissionStatus.RECEIVED, 0)
    if waiting:
        lines.append(tr("waiting for a decision or an answer: %(count)s", count=tr.number(waiting)))
    for status in (
        SubmissionStatus.ACCEPTED,
        SubmissionStatus.PARTLY_ACCEPTED,
        SubmissionStatus.REJECTED,
        SubmissionStatus.ANSWERED,
    ):
        if count := stats.by_status.get(status, 0):
            label = status_label(tr, status, SubmissionKind.PROPOSAL)
            lines.append(f"{label}: {tr.number(count)}")

    lines += ["", tr("<b>By kind</b>")]
    for kind in SubmissionKind:
        lines.append(f"{kind_label(tr, kind)}: {tr.number(stats.by_kind.get(kind, 0))}")

    lines += ["", tr("<b>On whose behalf</b>")]
    for stakeholder, count in stats.by_stakeholder.items():
        if count:
            lines.append(f"{stakeholder_label(tr, stakeholder)}: {tr.number(count)}")
    lines += ["", tr("<b>Received by</b>")]
    for channel, count in stats.by_channel.items():
        if count:
            lines.append(f"{channel_label(tr, channel)}: {tr.number(count)}")

    if stats.by_section:
        lines += ["", tr("<b>By section</b>")]
        for item in stats.by_section[:TEXT_SECTIONS]:
            name = escape(_section_name(item, tr, stats), quote=False)
            lines.append(f"{name}: {tr.number(item.count)}")
        hidden = len(stats.by_section) - TEXT_SECTIONS
        if hidden > 0:
            lines.append(
                tr.plural("… and %(count)s more section", "… and %(count)s more sections", hidden)
            )

    if stats.per_day:
        busiest, most = max(stats.per_day, key=lambda item: item[1])  # the first, if tied
        lines += [
            "",
            tr(
                "Busiest day: %(day)s (%(count)s)",
                day=_day(tr, busiest),
                count=tr.number(most),
            ),
        ]
    return "\n".join(lines)


def _day(tr: Translator, day: date) -> str:
    from babel.dates import format_date

    return format_date(day, "long", locale=tr.format_locale)


def day_axis_label(stats: ConsultationStats, tr: Translator) -> str:
    return tr("Day (%(zone)s)", zone=tr.zone_name(stats.timezone))


def stats_chart(stats: ConsultationStats, tr: Translator) -> bytes:
    """A PNG bar chart of the submissions per day (local days), titles in `tr`'s language."""
    # Imported here: matplotlib takes a while to load, and only this needs it. The
    # object-oriented API (no pyplot) keeps no global state, so threads may share it.
    from babel.dates import format_skeleton
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(9, 4.5), dpi=100, layout="constrained")
    axes = figure.subplots()
    title = _title(stats, tr)
    if len(title) > 90:
        title = title[:89].rstrip() + "…"
    figure.suptitle(tr("Proposals and questions per day"), fontsize=13, fontweight="bold")
    axes.set_title(title, fontsize=10)
    axes.set_ylabel(tr("Submissions"))
    axes.set_xlabel(day_axis_label(stats, tr))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.spines[["top", "right"]].set_visible(False)
    if stats.per_day:
        positions = list(range(len(stats.per_day)))
        counts = [count for _, count in stats.per_day]
        axes.bar(positions, counts, color="#2a7ab0", width=0.8)
        step = max(1, -(-len(positions) // 12))  # at most about 12 labels
        ticks = positions[::step]
        axes.set_xticks(ticks)
        axes.set_xticklabels(
            [
                format_skeleton("MMMd", stats.per_day[index][0], locale=tr.format_locale)
                for index in ticks
            ],
            rotation=45 if len(ticks) > 6 else 0,
            ha="right" if len(ticks) > 6 else "center",
        )
        # A week's room at least, so a young consultation's few bars are not slabs.
        axes.set_xlim(-0.6, max(len(positions), 7) - 0.4)
    else:
        axes.set_xticks([])
        axes.set_yticks([])
        axes.text(
            0.5,
            0.5,
            tr("No proposals or questions were received."),
            ha="center",
            va="center",
            transform=axes.transAxes,
        )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
