"""What staff see: submission cards, prompts for a reason, and the notices residents get."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from aiogram.types import ForceReply, InlineKeyboardMarkup

from bot.export.common import (
    AmbiguousSlug,
    ExportError,
    NoReport,
    UnknownConsultation,
    channel_label,
    stakeholder_label,
)
from bot.export.report import ReportPublished, Review, WithdrawnConsultation, checklist
from bot.i18n import Translator
from bot.plan import pick
from bot.publication import Withdrawn
from bot.staff import PROMPT_MINUTES
from bot.telegram_text import fit, in_messages, person, person_name
from bot.zones import zone_of
from handlers.keyboards import (
    Keyboard,
    PublishCb,
    StaffAct,
    StaffCb,
    StaffTool,
    StaffToolCb,
    button,
    main_menu,
)
from handlers.staff_groups_views import group_row, similar_line
from handlers.submission_views import attachment_summary, kind_label, status_label
from handlers.views import Screen, html
from storage.models import (
    Consultation,
    OutboxStatus,
    Resident,
    Section,
    StakeholderKind,
    Submission,
    SubmissionChannel,
    SubmissionKind,
    SubmissionStatus,
)

EXPORT_FORMATS = ("csv", "xlsx", "json")
CLOSE = "close"  # the report tool's "format" that closes the review
REPORT_FORMATS = ("html", "docx", "xlsx")


def _about(
    tr: Translator, consultation: Consultation | None, section: Section | None, number: str | None
) -> str:
    if consultation is None:
        return tr("✍️ General channel (ask, suggest)")
    language = consultation.original_language
    title = html(pick(consultation.title, tr.locale, language).text)
    if section is not None:
        section_title = html(pick(section.title, tr.locale, language).text)
        removed = removed_note(tr, section)
        return f"<b>{title}</b> › {html(section.number)}. {section_title}{removed}"
    if number:
        return f"<b>{title}</b> › {html(number)}"
    return f"<b>{title}</b>"


def removed_note(tr: Translator, section: Section) -> str:
    """After a section's label when a later version of the document dropped it."""
    if section.removed_in_version is None:
        return ""
    return " " + tr("(removed in version %(version)s)", version=section.removed_in_version)


_CARD_NUMBER = re.compile(r"📥 № (\d{4}-\d+) ")


def card_number(text: str | None) -> str | None:
    """The public number a card shows on its first line (as `card` writes it)."""
    found = _CARD_NUMBER.match(text or "")
    return found.group(1) if found else None


def card(
    tr: Translator,
    submission: Submission,
    consultation: Consultation | None,
    section: Section | None,
    resident: Resident | None,
    similar: Sequence[Submission] = (),
) -> Screen:
    """The card; a text and answer too long for one message are shortened on it, and
    «📄 Full text» sends all of them. `similar`: the other proposals of its group."""
    zone = zone_of(consultation, tr.home_zone)
    icon = "💡" if submission.kind is SubmissionKind.PROPOSAL else "❓"
    number = html(submission.public_number or "")
    offline = received_elsewhere(submission)
    head = [
        f"📥 <b>№ {number}</b> · {icon} {kind_label(tr, submission.kind)}",
        _about(tr, consultation, section, submission.section_number),
        f"🕓 {tr.datetime(submission.created_at, zone)}",
        *([_received_line(tr, submission, zone)] if offline else []),
        *([similar_line(tr, similar)] if similar else []),
        "",
    ]
    who = [""]
    attached = attachment_summary(tr, submission.attachments)
    if attached:
        who.append(tr("📎 Attached: %(list)s", list=attached))
    if submission.author_name:
        who.append(tr("👤 Signed: %(name)s", name=person_name(submission.author_name)))
    elif offline and submission.anonymised_at is None:
        who.append(tr("🙈 Anonymous to the public"))
    elif resident is not None:
        who.append(tr("🙈 Anonymous to the public (resident #%(id)s)", id=resident.id))
    elif submission.anonymised_at is not None:
        who.append(
            tr(
                "🗑 Anonymised (erased at the resident's request, or at the end of the "
                "retention period): name, attachments and the answer to them removed; the "
                "text and the decision stay."
            )
        )
    else:
        who.append(tr("🙈 Anonymous; the resident erased their data"))
    if submission.organisation_name or submission.stakeholder not in (
        None,  # a submission not stored yet
        StakeholderKind.INDIVIDUAL,
    ):
        who.append(_on_behalf_line(tr, submission))
    if resident is not None and resident.banned:
        who.append(tr("⛔ The sender is blocked."))
    if offline:
        who.append(
            tr(
                "✉️ Not from Telegram: an answer or decision is recorded here, not sent; "
                "the author is answered the way they wrote (%(channel)s).",
                channel=channel_label(tr, submission.channel),
            )
        )
    who.append(tr("Status: %(status)s", status=status_label(tr, submission.status)))
    if submission.answered_by and submission.answered_at:
        who.append(
            tr(
                "By %(name)s, %(when)s",
                name=person_name(submission.answered_by),
                when=tr.datetime(submission.answered_at, zone),
            )
        )
    delivery = reply_status(tr, submission.reply_status)

    def render(pieces: Mapping[str, str], shortened: bool) -> str:
        lines = [*head, person(pieces["text"]), *who]
        if pieces["reason"]:
            lines.append(tr("Reason: %(reason)s", reason=person(pieces["reason"])))
        if pieces["answer"]:
            lines.append(tr("💬 Answer: %(answer)s", answer=person(pieces["answer"])))
        if delivery:
            lines.append(delivery)
        if shortened:
            lines.append(tr("✂️ Shortened to fit in one message: “📄 Full text” shows all of it."))
        return "\n".join(lines)

    pieces = {
        "text": submission.text,
        "reason": submission.decision_reason or "",
        "answer": submission.answer or "",
    }
    text, shortened = fit(render, pieces)
    markup = _card_keyboard(tr, submission, resident, shortened=shortened)
    if similar:
        markup.inline_keyboard.append(group_row(tr, submission, similar))
    return Screen(text, markup)


def received_elsewhere(submission: Submission) -> bool:
    """Received by e-mail, letter, phone or at a meeting: there is no resident to answer."""
    return submission.channel not in (None, SubmissionChannel.TELEGRAM)


def _received_line(tr: Translator, submission: Submission, zone: str) -> str:
    line = tr(
        "📨 Received (%(channel)s) on %(date)s",
        channel=channel_label(tr, submission.channel),
        date=tr.date(submission.received_at, zone),
    )
    if submission.registered_by:
        line += " · " + tr("registered by %(name)s", name=person_name(submission.registered_by))
    return line


def _on_behalf_line(tr: Translator, submission: Submission) -> str:
    kind = stakeholder_label(tr, submission.stakeholder)
    if submission.organisation_name:
        return tr(
            "🏢 On behalf of: %(organisation)s (%(kind)s)",
            organisation=person_name(submission.organisation_name),
            kind=kind,
        )
    return tr("🏢 On behalf of: %(kind)s", kind=kind)


def in_full(tr: Translator, submission: Submission) -> list[str]:
    """A card's submission with all its text, reason and answer, in as many messages as
    it takes."""
    heading = tr("📄 <b>№ %(number)s in full</b>", number=html(submission.public_number or ""))
    blocks = [(heading, submission.text)]
    if submission.decision_reason:
        blocks.append((tr("<b>Reason:</b>"), submission.decision_reason))
    if submission.answer:
        blocks.append((tr("<b>💬 Answer:</b>"), submission.answer))
    return in_messages(blocks)


def reply_status(tr: Translator, status: str | None) -> str | None:
    """What became of the latest answer or decision sent to the resident (None: nothing
    was sent yet)."""
    if status is None:
        return None
    try:
        known = OutboxStatus(status)
    except ValueError:
        return None
    return {
        OutboxStatus.PENDING: tr("⏳ Being sent to the resident…"),
        OutboxStatus.SENDING: tr("⏳ Being sent to the resident…"),
        OutboxStatus.SENT: tr("✉️ Delivered to the resident."),
        OutboxStatus.UNREACHABLE: tr("✉️ Not delivered: the resident has blocked the bot."),
        OutboxStatus.FAILED: tr("✉️ Not delivered: Telegram refused the message."),
        OutboxStatus.UNCERTAIN: tr(
            "✉️ Telegram did not confirm the delivery; the resident may have it."
        ),
    }[known]


def _card_keyboard(
    tr: Translator, submission: Submission, resident: Resident | None, *, shortened: bool
) -> InlineKeyboardMarkup:
    number = submission.id
    builder = Keyboard()
    if shortened:
        builder.row(button(tr("📄 Full text"), StaffCb(act=StaffAct.FULL, id=number)))
    if submission.anonymised_at is None:  # nobody would receive an answer any more
        builder.row(button(tr("💬 Answer"), StaffCb(act=StaffAct.ANSWER, id=number)))
    if submission.kind is not SubmissionKind.QUESTION:  # a question is answered, not decided
        builder.row(
            button(tr("✅ Accept"), StaffCb(act=StaffAct.ACCEPT, id=number)),
            button(tr("◐ Partly"), StaffCb(act=StaffAct.PARTLY, id=number)),
            button(tr("❌ Do not accept"), StaffCb(act=StaffAct.REJECT, id=number)),
        )
    row = []
    if submission.status is not SubmissionStatus.SPAM:
        row.append(button(tr("🚫 Spam"), StaffCb(act=StaffAct.SPAM, id=number)))
    if resident is not None:
        if resident.banned:
            row.append(button(tr("✅ Unblock sender"), StaffCb(act=StaffAct.UNBLOCK, id=number)))
        else:
            row.append(button(tr("⛔ Block sender"), StaffCb(act=StaffAct.BLOCK, id=number)))
    if row:
        builder.row(*row)
    return builder.as_markup()


def ask_for_text(tr: Translator, submission: Submission, act: StaffAct, staff_name: str) -> Screen:
    number = submission.public_number or ""
    name = person_name(staff_name)
    if received_elsewhere(submission):
        # No resident to send it to: the author is answered by the way they wrote.
        channel = channel_label(tr, submission.channel)
        if act is StaffAct.ANSWER:
            text = tr(
                "✍️ %(name)s, reply to this message with the answer to № %(number)s. It is "
                "recorded for the report, not sent: the author wrote by another way (%(channel)s). "
                "/cancel stops.",
                name=name,
                number=number,
                channel=channel,
            )
        else:
            text = tr(
                "✍️ %(name)s, reply to this message with the reason for “%(decision)s” on "
                "№ %(number)s. It is recorded for the report, not sent: the author wrote by "
                "another way (%(channel)s). /cancel stops.",
                name=name,
                number=number,
                decision=status_label(tr, SubmissionStatus(act.value)),
                channel=channel,
            )
    elif act is StaffAct.ANSWER:
        text = tr(
            "✍️ %(name)s, reply to this message with the answer to № %(number)s. "
            "The resident gets it in their language as you write it. /cancel stops.",
            name=name,
            number=number,
        )
    else:
        text = tr(
            "✍️ %(name)s, reply to this message with the reason for “%(decision)s” on "
            "№ %(number)s. The resident gets the decision with your reason. /cancel stops.",
            name=name,
            number=number,
            decision=status_label(tr, SubmissionStatus(act.value)),
        )
    return Screen(text, None)


def report_refusal(tr: Translator, error: ExportError) -> str:
    """Why there is no report to show, make or publish, in the staff chat's language."""
    if isinstance(error, UnknownConsultation):
        return tr("No consultation has the slug “%(slug)s”.", slug=html(error.slug))
    if isinstance(error, ReportPublished):
        return report_published(tr, error.at, error.zone)
    if isinstance(error, WithdrawnConsultation | Withdrawn):
        return tr(
            "The consultation “%(slug)s” was withdrawn: it has no report.", slug=html(error.slug)
        )
    if isinstance(error, NoReport):
        return tr("The general channel is not a consultation and has no report; /export it.")
    if isinstance(error, AmbiguousSlug):
        return tr(
            "A consultation has the slug of the general channel: give it another slug in its "
            "file, then try again."
        )
    return tr("This cannot be done: %(reason)s", reason=html(str(error)))


def in_published_report(tr: Translator, published: datetime, zone: str) -> str:
    return tr(
        "The report on this consultation was published on %(when)s: its decisions and "
        "answers are part of it and no longer change.",
        when=tr.datetime(published, zone),
    )


def report_published(tr: Translator, published: datetime, zone: str) -> str:
    """Why a published report's review and signatures no longer change."""
    return tr(
        "The report on this consultation was published on %(when)s: it is a public "
        "document now, and its review and signatures no longer change.",
        when=tr.datetime(published, zone),
    )


def force_reply(tr: Translator) -> ForceReply:
    return ForceReply(selective=True, input_field_placeholder=tr("Your text"))


def done(tr: Translator, submission: Submission) -> str:
    return tr("Saved for № %(number)s.", number=submission.public_number or "")


def undelivered(tr: Translator) -> str:
    return tr("⚠️ The resident could not be reached (they blocked the bot or erased their data).")


def not_sent_offline(tr: Translator) -> str:
    return tr("It was not received through Telegram: recorded, not sent to anyone.")


def not_staff(tr: Translator) -> str:
    return tr("Only the municipality's staff can do this.")


def staff_cancelled(tr: Translator) -> str:
    return tr("Stopped; nothing was saved.")


def prompts_cancelled(tr: Translator, count: int) -> str:
    if not count:
        return tr("You have no open prompt here.")
    return tr.plural(
        "%(count)s prompt cancelled; nothing was saved.",
        "%(count)s prompts cancelled; nothing was saved.",
        count,
    )


def prompt_expired(tr: Translator) -> str:
    return tr.plural(
        "This prompt expired after %(count)s minute; nothing was sent. Please press the "
        "button on the card again.",
        "This prompt expired after %(count)s minutes; nothing was sent. Please press the "
        "button on the card again.",
        PROMPT_MINUTES,
    )


def prompt_closed(tr: Translator) -> str:
    return tr(
        "This prompt was already used or cancelled. To write again, press the button on the card."
    )


def not_a_card(tr: Translator) -> str:
    return tr(
        "Nothing was sent: this message is neither a card nor a prompt, or its submission "
        "was erased."
    )


def erased(tr: Translator) -> str:
    return tr("This submission was erased.")


def question_not_decided(tr: Translator) -> str:
    return tr("A question gets an answer, not a decision.")


def staff_help(tr: Translator) -> str:
    return (
        tr(
            "<b>Staff</b>\n\n"
            "Every new proposal and question appears here as a card. Its buttons answer it, "
            "decide on it (each decision asks for a reason), mark it as spam or block the "
            "sender; replying to a card with text answers it too.\n\n"
            "/export – the submissions of a consultation as CSV, XLSX or JSON\n"
            "/report – the report to publish after a consultation (DOCX or XLSX)\n"
            "/stats – numbers and a chart per consultation"
        )
        + "\n"
        + tr("/add – a proposal or question received by e-mail, letter, phone or at a meeting")
        + "\n"
        + tr("/pending – what still needs an answer or a decision, oldest first")
        + "\n"
        + tr("/templates – answer templates per language, offered when you answer or decide")
        + "\n\n"
        + tr(
            "<b>The report (справка)</b>: /report, then the consultation, shows what is "
            "missing (proposals without a decision, questions without an answer, an open "
            "consultation) and closes the review once nothing is. Until then the report is "
            "a draft, marked on every page. Who prepared and who approved it:\n"
            "<code>/report SLUG prepared Ivan Petrov</code>\n"
            "<code>/report SLUG approved Maria Ivanova</code>\n"
            "<code>/report SLUG</code> shows the checklist of one consultation."
        )
    )


def pick_consultation(
    tr: Translator, tool: StaffTool, consultations: Sequence[Consultation]
) -> Screen:
    prompt = {
        StaffTool.EXPORT: tr("Export the submissions of which consultation?"),
        StaffTool.REPORT: tr("The report on which consultation?"),
        StaffTool.STATS: tr("Statistics for which consultation?"),
    }[tool]
    builder = Keyboard()
    for consultation in consultations:
        title = pick(consultation.title, tr.locale, consultation.original_language).text
        builder.row(button(title, StaffToolCb(tool=tool, consultation_id=consultation.id)))
    if tool is not StaffTool.REPORT:
        builder.row(button(tr("✍️ General channel"), StaffToolCb(tool=tool, consultation_id=0)))
    return Screen(prompt, builder.as_markup())


def pick_format(tr: Translator, tool: StaffTool, consultation_id: int) -> Screen:
    formats = EXPORT_FORMATS if tool is StaffTool.EXPORT else REPORT_FORMATS
    builder = Keyboard()
    builder.row(
        *(
            button(fmt.upper(), StaffToolCb(tool=tool, consultation_id=consultation_id, format=fmt))
            for fmt in formats
        )
    )
    return Screen(tr("Which format?"), builder.as_markup())


def report_review(tr: Translator, review: Review) -> Screen:
    """The checklist of a consultation's report, with its formats, the closing of the
    review (when it is not closed yet) and the publication."""
    consultation, ready = review.consultation, review.readiness
    zone = consultation.timezone
    title = pick(consultation.title, tr.locale, consultation.original_language).text
    lines = [tr("📋 <b>The report on “%(title)s”</b>", title=html(title)), ""]
    if ready.clean:
        lines.append(
            tr(
                "✅ Nothing is missing: every proposal is decided with reasons, every "
                "question answered."
            )
        )
    else:
        lines.append(tr("⚠️ Before the review can be closed:"))
        lines += [f"• {html(line)}" for line in checklist(tr, ready, zone, review=False)]
    if ready.review_closed_at is not None:
        lines.append(
            tr(
                "🔒 Review closed on %(date)s by %(name)s.",
                date=tr.datetime(ready.review_closed_at, zone),
                name=person_name(ready.review_closed_by or "?"),
            )
        )
    else:
        lines.append(tr("🔓 The review is not closed: the report is a DRAFT."))
    not_set = tr("not set")
    lines.append(
        tr(
            "Prepared by: %(name)s",
            name=person_name(review.prepared_by) if review.prepared_by else not_set,
        )
    )
    approved = (
        tr(
            "%(name)s, %(date)s",
            name=person_name(review.approved_by),
            date=tr.date(review.approved_at, zone),
        )
        if review.approved_by and review.approved_at
        else not_set
    )
    lines.append(tr("Approved by: %(name)s", name=approved))
    slug = html(consultation.slug)
    lines += [
        "",
        tr(
            "Set the names with <code>/report %(slug)s prepared NAME</code> and "
            "<code>/report %(slug)s approved NAME</code>.",
            slug=slug,
        ),
    ]
    builder = Keyboard()
    builder.row(
        *(
            button(
                fmt.upper(),
                StaffToolCb(tool=StaffTool.REPORT, consultation_id=consultation.id, format=fmt),
            )
            for fmt in REPORT_FORMATS
        )
    )
    if ready.review_closed_at is None:
        builder.row(
            button(
                tr("🔒 Close the review"),
                StaffToolCb(tool=StaffTool.REPORT, consultation_id=consultation.id, format=CLOSE),
            )
        )
    # Checked when pressed: a draft is refused with what it lacks.
    builder.row(button(tr("📢 Publish the report"), PublishCb(consultation_id=consultation.id)))
    return Screen("\n".join(lines), builder.as_markup())


def review_refused(tr: Translator) -> str:
    return tr("The review cannot be closed yet: the list below says what is missing.")


def signed(tr: Translator, role: str, name: str) -> str:
    if role == "prepared":
        return tr("Saved: prepared by %(name)s.", name=person_name(name))
    return tr("Saved: approved by %(name)s, today.", name=person_name(name))


def report_usage(tr: Translator) -> str:
    return tr(
        "Please write <code>/report SLUG</code>, <code>/report SLUG prepared NAME</code> or "
        "<code>/report SLUG approved NAME</code> (a name of 1 to 200 characters)."
    )


# --- what the resident receives ----------------------------------------------------


def answer_notice(tr: Translator, submission: Submission) -> str:
    return tr(
        "💬 <b>An answer to your %(kind)s № %(number)s</b>\n\n%(answer)s",
        kind=kind_label(tr, submission.kind),
        number=submission.public_number or "",
        answer=person(submission.answer or ""),
    )


def decision_notice(tr: Translator, submission: Submission) -> str:
    return tr(
        "📋 <b>A decision on your %(kind)s № %(number)s: %(decision)s</b>\n\nReason: %(reason)s",
        kind=kind_label(tr, submission.kind),
        number=submission.public_number or "",
        decision=status_label(tr, submission.status),
        reason=person(submission.decision_reason or ""),
    )


def banned(tr: Translator) -> Screen:
    return Screen(
        tr(
            "You can no longer send proposals or questions here. If you think this is a "
            "mistake, please contact the municipality."
        ),
        main_menu(tr),
    )
