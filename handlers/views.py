"""Screens: the text (Telegram HTML) and keyboard of every answer the bot gives.

Everything that came from a person, content files included, is escaped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.commands import COMMANDS
from bot.i18n import LANGUAGE_NAMES, Translator
from bot.plan import WalkPosition, paginate, pick, translation_note
from handlers.keyboards import (
    ConsultationCb,
    ContentsCb,
    Keyboard,
    ListCb,
    SectionCb,
    button,
    follow_button,
    home_row,
    just_home,
    languages,
    main_menu,
    submit_row,
)
from storage.models import Consultation, ConsultationKind, Phase, Section

LIST_PAGE_SIZE = 8
# A page number past any section's end: the section opens at its last page.
LAST_PAGE = 10_000


@dataclass(frozen=True)
class Screen:
    text: str
    markup: InlineKeyboardMarkup | None = None

    def after(self, notice: str) -> Screen:
        """The same screen with a short notice above it, in one message."""
        return Screen(f"{notice}\n\n{self.text}", self.markup)


def html(text: str) -> str:
    return escape(text, quote=False)


def welcome(tr: Translator, first_name: str, *, has_draft: bool = False) -> Screen:
    text = tr(
        "<b>Welcome, %(name)s!</b>\n\n"
        "Your municipality asks for your opinion on its plans. Here you can see which "
        "consultations are open and until when, and read each plan section by section.",
        name=html(first_name),
    )
    return Screen(text, main_menu(tr, has_draft=has_draft))


def menu(tr: Translator, *, has_draft: bool = False) -> Screen:
    return Screen(tr("What would you like to do?"), main_menu(tr, has_draft=has_draft))


def help_screen(tr: Translator) -> Screen:
    # The commands as Telegram's menu lists them (bot/commands.py): none left out here.
    commands = "\n".join(f"/{name} – {tr(description)}" for name, description in COMMANDS)
    guide = tr(
        "Open a consultation and choose “Contents” to read the plan: strategic goals, "
        "priorities and measures. ⬅️ and ➡️ take you through it section by section. "
        "“💡 Suggest” and “❓ Ask” send the municipality a proposal or a question about "
        "what you are reading; “✍️ Ask or suggest” in the menu is for anything else."
    )
    heading = tr("<b>How to use this bot</b>")
    return Screen(f"{heading}\n\n{commands}\n\n{guide}", main_menu(tr))


def language_picker(tr: Translator) -> Screen:
    return Screen(tr("Choose your language:"), languages(tr))


def language_changed(tr: Translator) -> Screen:
    text = tr("Done: I will speak %(language)s.", language=LANGUAGE_NAMES[tr.locale])
    return Screen(text, main_menu(tr))


# --- consultations ---------------------------------------------------------------


def _phase_line(tr: Translator, consultation: Consultation, now: datetime) -> str:
    zone = consultation.timezone
    phase = consultation.phase(now)
    if consultation.kind is ConsultationKind.CHANNEL:
        return tr("always open")
    if phase is Phase.UPCOMING:
        return tr("opens %(when)s", when=tr.datetime(consultation.opens_at, zone))
    assert consultation.closes_at is not None
    if phase is Phase.CLOSED:
        return tr("closed %(when)s", when=tr.date(consultation.closes_at, zone))
    return tr("until %(when)s", when=tr.datetime(consultation.closes_at, zone))


def time_left(tr: Translator, consultation: Consultation, now: datetime) -> str | None:
    if consultation.closes_at is None or consultation.phase(now) is not Phase.OPEN:
        return None
    remaining = consultation.closes_at - now
    if remaining.days < 1:
        hours = int(remaining.total_seconds() // 3600)
        if hours < 1:
            return tr("less than an hour left")
        return tr.plural("%(count)s hour left", "%(count)s hours left", hours)
    return tr.plural("%(count)s day left", "%(count)s days left", remaining.days)


def consultation_list(
    tr: Translator, consultations: Sequence[Consultation], now: datetime, page: int
) -> Screen:
    if not consultations:
        return Screen(tr("There are no consultations at the moment."), just_home(tr))
    pages = max(1, -(-len(consultations) // LIST_PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = consultations[page * LIST_PAGE_SIZE : (page + 1) * LIST_PAGE_SIZE]
    headings = {
        Phase.OPEN: tr("🟢 <b>Open now</b>"),
        Phase.UPCOMING: tr("🕓 <b>Upcoming</b>"),
        Phase.CLOSED: tr("⚪ <b>Closed</b>"),
    }
    lines = [tr("<b>Public consultations</b>")]
    builder = Keyboard()
    current_phase: Phase | None = None
    for number, consultation in enumerate(shown, start=page * LIST_PAGE_SIZE + 1):
        phase = consultation.phase(now)
        if phase is not current_phase:
            lines.append(f"\n{headings[phase]}")
            current_phase = phase
        title = pick(consultation.title, tr.locale, consultation.original_language).text
        organizer = pick(consultation.organizer, tr.locale, consultation.original_language).text
        details = [_phase_line(tr, consultation, now), time_left(tr, consultation, now)]
        lines.append(f"{number}. <b>{html(title)}</b>\n{html(organizer)}")
        lines.append("    " + " · ".join(part for part in details if part))
        builder.row(button(f"{number}. {title}", ConsultationCb(id=consultation.id)))
    if pages > 1:
        lines.append("\n" + tr("Page %(page)s of %(pages)s", page=page + 1, pages=pages))
        builder.row(*_pager(tr, page, pages))
    builder.row(*home_row(tr))
    return Screen("\n".join(lines), builder.as_markup())


def _pager(tr: Translator, page: int, pages: int) -> list[InlineKeyboardButton]:
    row = []
    if page > 0:
        row.append(button(tr("◀️ Previous page"), ListCb(page=page - 1)))
    if page + 1 < pages:
        row.append(button(tr("Next page ▶️"), ListCb(page=page + 1)))
    return row


def consultation_card(
    tr: Translator,
    consultation: Consultation,
    top_sections: Sequence[Section],
    now: datetime,
    share_link: str | None,
    following: bool = False,
) -> Screen:
    language = consultation.original_language
    title = pick(consultation.title, tr.locale, language)
    organizer = pick(consultation.organizer, tr.locale, language)
    summary = pick(consultation.summary, tr.locale, language)
    status = _card_status(tr, consultation, now)
    lines = [
        f"<b>{html(title.text)}</b>",
        f"<i>{html(organizer.text)}</i>",
        "",
        html(summary.text),
    ]
    lines += ["", status]
    left = time_left(tr, consultation, now)
    if left:
        lines.append(f"⏳ {left}")
    reason = (
        pick(consultation.short_period_reason, tr.locale, language)
        if consultation.short_period_reason
        else None
    )
    if reason:
        lines.append(tr("⏱ Shorter than 30 days because: %(reason)s", reason=html(reason.text)))
    if consultation.version > 1:
        lines.append(tr("📄 Version %(version)s of the document", version=consultation.version))
    contact = pick(consultation.contact, tr.locale, language) if consultation.contact else None
    if contact:
        lines.append(tr("✉️ Contact: %(contact)s", contact=html(contact.text)))
    if consultation.link:
        lines.append(tr("🔗 More: %(link)s", link=html(consultation.link)))
    if share_link:
        lines.append(tr("📣 Link to share: %(link)s", link=html(share_link)))
    note = translation_note(
        tr, *(text for text in (title, organizer, summary, contact, reason) if text)
    )
    if note:
        lines += ["", note]

    builder = Keyboard()
    if consultation.phase(now) is Phase.OPEN:
        builder.row(*submit_row(tr, consultation.id))
    if top_sections:
        builder.row(button(tr("📖 Contents"), ContentsCb(consultation_id=consultation.id)))
        builder.row(button(tr("▶️ Read from the beginning"), SectionCb(id=top_sections[0].id)))
    if (
        consultation.kind is ConsultationKind.CONSULTATION
        and consultation.phase(now) is not Phase.CLOSED
    ):
        builder.row(follow_button(tr, consultation.id, following))
    builder.row(button(tr("⬅️ All consultations"), ListCb()), *home_row(tr))
    return Screen("\n".join(lines), builder.as_markup())


def _card_status(tr: Translator, consultation: Consultation, now: datetime) -> str:
    zone = consultation.timezone
    phase = consultation.phase(now)
    if consultation.kind is ConsultationKind.CHANNEL:
        return tr("🟢 Always open.")
    if phase is Phase.UPCOMING:
        return tr(
            "🕓 Opens on <b>%(opens)s</b> (%(zone)s).",
            opens=tr.datetime(consultation.opens_at, zone),
            zone=tr.zone_name(zone),
        )
    assert consultation.closes_at is not None
    if phase is Phase.CLOSED:
        return tr(
            "⚪ Closed on <b>%(closed)s</b>. Thank you to everyone who took part.",
            closed=tr.datetime(consultation.closes_at, zone),
        )
    return tr(
        "🟢 Open until <b>%(closes)s</b> (%(zone)s).",
        closes=tr.datetime(consultation.closes_at, zone),
        zone=tr.zone_name(zone),
    )


# --- the plan --------------------------------------------------------------------


def _section_title(tr: Translator, section: Section, original_language: str) -> str:
    return f"{section.number}. {pick(section.title, tr.locale, original_language).text}"


def contents(tr: Translator, consultation: Consultation, plan: Sequence[Section]) -> Screen:
    language = consultation.original_language
    title = pick(consultation.title, tr.locale, language)
    lines = [f"<b>{html(title.text)}</b>", tr("📖 <b>Contents</b>"), ""]
    for section in plan:
        indent = "    " * section.depth
        lines.append(f"{indent}{html(_section_title(tr, section, language))}")
    note = translation_note(
        tr, title, *(pick(section.title, tr.locale, language) for section in plan)
    )
    if note:
        lines += ["", note]
    builder = Keyboard()
    for section in plan:
        if section.parent_id is None:
            builder.row(button(_section_title(tr, section, language), SectionCb(id=section.id)))
    builder.row(
        button(tr("📋 About the consultation"), ConsultationCb(id=consultation.id)),
        *home_row(tr),
    )
    return Screen("\n".join(lines), builder.as_markup())


def section_view(
    tr: Translator,
    consultation: Consultation,
    section: Section,
    where: WalkPosition,
    page: int,
    page_chars: int,
    now: datetime,
) -> Screen:
    language = consultation.original_language
    title = pick(section.title, tr.locale, language)
    body = pick(section.body, tr.locale, language) if section.body else None
    pages = paginate(body.text, page_chars) if body else [""]
    page = min(max(page, 0), len(pages) - 1)

    consultation_title = pick(consultation.title, tr.locale, language).text
    trail = " › ".join(_section_title(tr, item, language) for item in where.ancestors)
    lines = [f"<i>{html(consultation_title)}</i>"]
    if trail:
        lines.append(f"<i>{html(trail)}</i>")
    heading = f"<b>{html(section.number)}. {html(title.text)}</b>"
    position = tr("Section %(index)s of %(total)s", index=where.index, total=where.total)
    if len(pages) > 1:  # said at the top too: a reader sees at once that there is more
        page_of = tr("page %(page)s of %(pages)s", page=page + 1, pages=len(pages))
        heading += f" · <i>{page_of}</i>"
        position += " · " + page_of
    lines += ["", heading]
    if pages[page]:
        lines += ["", html(pages[page])]
    lines += ["", f"<i>{position}</i>"]
    if page + 1 < len(pages):  # reading on means the next page, not the next section
        lines.append(
            tr(
                "<i>The section continues on page %(page)s: %(next)s</i>",
                page=page + 2,
                next=tr("Next ➡️"),
            )
        )
    note = translation_note(tr, *(item for item in (title, body) if item))
    if note:
        lines.append(note)
    keyboard = _section_keyboard(tr, consultation, section, where, page, len(pages), now)
    return Screen("\n".join(lines), keyboard)


def _section_keyboard(
    tr: Translator,
    consultation: Consultation,
    section: Section,
    where: WalkPosition,
    page: int,
    pages: int,
    now: datetime,
) -> InlineKeyboardMarkup:
    language = consultation.original_language
    builder = Keyboard()
    for child in where.children:
        builder.row(button(_section_title(tr, child, language), SectionCb(id=child.id)))
    # Previous and Next follow the reading order: the pages of a long section first,
    # then the neighbouring section (going back, at its last page).
    walk = []
    if page > 0:
        walk.append(button(tr("⬅️ Previous"), SectionCb(id=section.id, page=page - 1)))
    elif where.previous is not None:
        walk.append(button(tr("⬅️ Previous"), SectionCb(id=where.previous.id, page=LAST_PAGE)))
    if page + 1 < pages:
        walk.append(button(tr("Next ➡️"), SectionCb(id=section.id, page=page + 1)))
    elif where.next is not None:
        walk.append(button(tr("Next ➡️"), SectionCb(id=where.next.id)))
    if walk:
        builder.row(*walk)
    parent = where.ancestors[-1] if where.ancestors else None
    up = (
        button(tr("⬆️ Up"), SectionCb(id=parent.id))
        if parent is not None
        else button(tr("⬆️ Contents"), ContentsCb(consultation_id=consultation.id))
    )
    builder.row(up, button(tr("📋 Consultation"), ConsultationCb(id=consultation.id)))
    if consultation.phase(now) is Phase.OPEN:
        builder.row(*submit_row(tr, consultation.id, section.id))
    builder.row(*home_row(tr))
    return builder.as_markup()


# --- answers to what the bot cannot use ------------------------------------------


def stale(tr: Translator) -> str:
    return tr("This button is out of date. Here is the current menu.")


def gone(tr: Translator) -> Screen:
    return Screen(
        tr("This consultation or section is no longer available. Please choose again below."),
        main_menu(tr),
    )


def bad_link(tr: Translator) -> str:
    return tr("This link does not lead to any current consultation. Here is what is open now.")
