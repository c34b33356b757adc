"""What /add shows in the staff chat: the steps of registering a proposal or question
the municipality received by e-mail, letter, phone or at a public meeting."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from bot.export.common import channel_label, stakeholder_label
from bot.i18n import Translator
from bot.plan import pick
from bot.submissions import MAX_ORGANISATION, MAX_TEXT, MIN_TEXT, OFFLINE_CHANNELS
from bot.telegram_text import person, person_name
from handlers.keyboards import AddCb, AddStep, Keyboard, button
from handlers.views import Screen, html
from storage.models import (
    Consultation,
    Section,
    StakeholderKind,
    Submission,
    SubmissionChannel,
    SubmissionKind,
)

# Telegram shows up to 100 buttons on a message: a longer plan is typed by number.
MAX_SECTION_BUTTONS = 90


def _cancel(tr: Translator, key: str) -> Any:
    return button(tr("✖️ Cancel"), AddCb(step=AddStep.CANCEL, key=key))


def pick_consultation(tr: Translator, consultations: Sequence[Consultation], key: str) -> Screen:
    builder = Keyboard()
    for consultation in consultations:
        title = pick(consultation.title, tr.locale, consultation.original_language).text
        builder.row(button(title, AddCb(step=AddStep.CONSULTATION, id=consultation.id, key=key)))
    builder.row(_cancel(tr, key))
    text = tr(
        "📨 <b>A proposal or question received by e-mail, letter, phone or at a public "
        "meeting.</b>\n\nWhich consultation is it about? (/cancel stops)"
    )
    if not consultations:
        text = tr("No consultation has opened yet: there is nothing to register.")
    return Screen(text, builder.as_markup())


def pick_section(
    tr: Translator, consultation: Consultation, sections: Sequence[Section], key: str
) -> Screen:
    language = consultation.original_language
    builder = Keyboard()
    builder.row(
        button(tr("The consultation as a whole"), AddCb(step=AddStep.SECTION, id=0, key=key))
    )
    for section in sections[:MAX_SECTION_BUTTONS]:
        title = pick(section.title, tr.locale, language).text
        builder.row(
            button(
                f"{section.number}. {title}", AddCb(step=AddStep.SECTION, id=section.id, key=key)
            )
        )
    builder.row(_cancel(tr, key))
    title = html(pick(consultation.title, tr.locale, language).text)
    return Screen(
        tr("<b>%(title)s</b>\n\nWhich section is it about?", title=title), builder.as_markup()
    )


def pick_kind(tr: Translator, key: str) -> Screen:
    builder = Keyboard()
    builder.row(
        button(tr("💡 Proposal"), AddCb(step=AddStep.KIND, value="proposal", key=key)),
        button(tr("❓ Question"), AddCb(step=AddStep.KIND, value="question", key=key)),
    )
    builder.row(_cancel(tr, key))
    return Screen(tr("A proposal or a question?"), builder.as_markup())


def ask_text(tr: Translator) -> str:
    return tr(
        "✍️ Reply to this message with its text as received (%(min)s to %(max)s characters).",
        min=MIN_TEXT,
        max=MAX_TEXT,
    )


def ask_author(tr: Translator, key: str) -> Screen:
    builder = Keyboard()
    builder.row(button(tr("🙈 Anonymous"), AddCb(step=AddStep.ANONYMOUS, key=key)))
    return Screen(
        tr(
            "👤 Reply to this message with the author's name as they gave it for publication, "
            "or press “🙈 Anonymous”."
        ),
        builder.as_markup(),
    )


def name_refused(tr: Translator) -> str:
    return tr(
        "Please reply with a name of 2 to %(max)s characters on one line.", max=MAX_ORGANISATION
    )


def pick_stakeholder(tr: Translator, key: str) -> Screen:
    builder = Keyboard()
    for kind in StakeholderKind:
        builder.row(
            button(
                stakeholder_label(tr, kind),
                AddCb(step=AddStep.STAKEHOLDER, value=kind.value, key=key),
            )
        )
    builder.row(_cancel(tr, key))
    return Screen(tr("On whose behalf does it speak?"), builder.as_markup())


def ask_organisation(tr: Translator) -> str:
    return tr("🏢 Reply to this message with the organisation's name.")


def pick_channel(tr: Translator, key: str) -> Screen:
    builder = Keyboard()
    builder.row(
        *(
            button(channel_label(tr, channel), AddCb(step=AddStep.CHANNEL, value=channel, key=key))
            for channel in OFFLINE_CHANNELS
        )
    )
    builder.row(_cancel(tr, key))
    return Screen(tr("How was it received?"), builder.as_markup())


def ask_date(tr: Translator) -> str:
    return tr("📅 Reply to this message with the date it was received, as dd.mm.yyyy.")


def date_refused(tr: Translator, problem: str, opened: str = "") -> str:
    if problem == "future":
        text = tr("That date is in the future.")
    elif problem == "before_opening":
        text = tr("That date is before the consultation opened (%(date)s).", date=opened)
    else:
        text = tr("That is not a date of the form dd.mm.yyyy, e.g. 03.06.2024.")
    return text + " " + tr("Please reply with the date it was received.")


def preview(
    tr: Translator,
    data: Mapping[str, Any],
    consultation: Consultation,
    section: Section | None,
    received: date,
    key: str,
) -> Screen:
    language = consultation.original_language
    about = html(pick(consultation.title, tr.locale, language).text)
    if section is not None:
        about += f" › {html(section.number)}. {html(pick(section.title, tr.locale, language).text)}"
    kind = tr("💡 Proposal") if data["kind"] == SubmissionKind.PROPOSAL else tr("❓ Question")
    author = person_name(data["author"]) if data.get("author") else tr("anonymous")
    lines = [
        tr("<b>Please check before saving:</b>"),
        "",
        f"{kind} · {about}",
        "",
        person(data["text"]),
        "",
        tr("👤 Author: %(name)s", name=author),
        tr("Speaking for: %(kind)s", kind=stakeholder_label(tr, data["stakeholder"])),
    ]
    if data.get("organisation"):
        lines.append(tr("🏢 Organisation: %(name)s", name=person_name(data["organisation"])))
        # The report names the organisation even when no person signed.
        lines.append(tr("Its name appears in the published report."))
    lines.append(
        tr(
            "📨 Received (%(channel)s) on %(date)s",
            channel=channel_label(tr, SubmissionChannel(data["channel"])),
            date=received.strftime("%d.%m.%Y"),
        )
    )
    builder = Keyboard()
    builder.row(
        button(tr("✅ Save"), AddCb(step=AddStep.SAVE, key=key)),
        _cancel(tr, key),
    )
    return Screen("\n".join(lines), builder.as_markup())


def saved(tr: Translator, submission: Submission) -> str:
    return tr(
        "✅ Registered as № %(number)s; its card follows.", number=submission.public_number or ""
    )


def report_published(tr: Translator, published: str) -> str:
    return tr(
        "The report on this consultation was published on %(date)s: nothing can be added "
        "to it any more.",
        date=published,
    )


def stale(tr: Translator) -> str:
    return tr("This registration is no longer in progress; /add starts a new one.")
