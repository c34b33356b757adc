"""The texts of notices, in each recipient's language, and of a broadcast's progress."""

from __future__ import annotations

from html import escape

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.export.common import kind_label, status_label
from bot.i18n import Translator
from bot.plan import pick
from bot.reading import share_link, start_payload
from bot.telegram_text import MAX_CAPTION, fit, fold_html, person
from storage.models import Consultation, Notice, NoticeKind, Submission, SubmissionKind


def notice_text(tr: Translator, notice: Notice, consultation: Consultation | None) -> str:
    if notice.kind is NoticeKind.BROADCAST or consultation is None:
        return escape(notice.text or "", quote=False)
    title = escape(
        pick(consultation.title, tr.locale, consultation.original_language).text, quote=False
    )
    zone = consultation.timezone
    if notice.kind is NoticeKind.OPENED:
        assert consultation.closes_at is not None
        return tr(
            "🆕 <b>A new public consultation is open:</b> %(title)s\n\n"
            "You can read it and send proposals until %(closes)s (%(zone)s).",
            title=title,
            closes=tr.datetime(consultation.closes_at, zone),
            zone=tr.zone_name(zone),
        )
    if notice.kind is NoticeKind.DEADLINE:
        assert consultation.closes_at is not None
        days = max(1, int(notice.offset_key.rstrip("d") or 1))
        return tr.plural(
            "⏳ <b>%(count)s day left</b> to send proposals on %(title)s: "
            "it closes on %(closes)s (%(zone)s).",
            "⏳ <b>%(count)s days left</b> to send proposals on %(title)s: "
            "it closes on %(closes)s (%(zone)s).",
            days,
            title=title,
            closes=tr.datetime(consultation.closes_at, zone),
            zone=tr.zone_name(zone),
        )
    if notice.kind is NoticeKind.REPORT:
        return report_text(tr, consultation, [])
    if notice.kind is NoticeKind.EXTENDED:
        assert consultation.closes_at is not None
        return tr(
            "📅 <b>More time for %(title)s:</b> the municipality extended the deadline. "
            "You can send proposals until %(closes)s (%(zone)s).",
            title=title,
            closes=tr.datetime(consultation.closes_at, zone),
            zone=tr.zone_name(zone),
        )
    return tr(
        "✅ <b>The consultation %(title)s has closed.</b>\n\n"
        "Thank you for following it. The municipality now reviews every proposal and "
        "publishes a report on them; answers to your own proposals come here.",
        title=title,
    )


def report_text(tr: Translator, consultation: Consultation, outcomes: list[Submission]) -> str:
    """The published report, to one resident: their own submissions' outcomes when they
    took part (all in one message, the staff's words shortened fairly when they do not
    fit, saying so), else the news; the report itself follows as a file."""
    title = escape(
        pick(consultation.title, tr.locale, consultation.original_language).text, quote=False
    )
    heading = tr("📋 <b>The report on the consultation %(title)s is published.</b>", title=title)
    if not outcomes:
        return (
            heading
            + "\n\n"
            + tr(
                "The municipality has reviewed every proposal and question received. The "
                "report in the file below lists each of them with the decision and its "
                "reasons.\n\nThank you for following the consultation."
            )
        )
    # The staff's words, which may be long, are the pieces `fit` may shorten.
    pieces: dict[str, str] = {}
    for index, submission in enumerate(outcomes):
        if submission.kind is SubmissionKind.PROPOSAL and submission.decision_reason:
            pieces[f"r{index}"] = submission.decision_reason.strip()
        if submission.answer:
            pieces[f"a{index}"] = submission.answer.strip()

    def render(texts, shortened: bool) -> str:
        parts = [
            heading,
            tr("Thank you for taking part. What became of what you sent:"),
        ]
        for index, submission in enumerate(outcomes):
            lines = [
                tr(
                    "<b>№ %(number)s</b>, %(kind)s: <b>%(decision)s</b>",
                    number=escape(submission.public_number or "", quote=False),
                    kind=kind_label(tr, submission.kind),
                    decision=status_label(tr, submission.status, submission.kind),
                )
            ]
            if f"r{index}" in texts:
                lines.append(tr("Reasons: %(reasons)s", reasons=person(texts[f"r{index}"])))
            if f"a{index}" in texts:
                lines.append(tr("Answer: %(answer)s", answer=person(texts[f"a{index}"])))
            parts.append("\n".join(lines))
        ending = tr("📎 The full report, with every proposal received, is in the file below.")
        if shortened:
            ending += " " + tr("Some texts are shortened here; the report has them in full.")
        parts.append(ending)
        return "\n\n".join(parts)

    return fit(render, pieces)[0]


def report_caption(tr: Translator, consultation: Consultation) -> str:
    title = escape(
        pick(consultation.title, tr.locale, consultation.original_language).text, quote=False
    )
    return fold_html(tr("📎 The report on the consultation %(title)s", title=title), MAX_CAPTION)


def notice_markup(
    tr: Translator, consultation: Consultation | None, bot_username: str | None
) -> InlineKeyboardMarkup | None:
    """A link button rather than callback data: it works in any chat, at any time."""
    if consultation is None:
        return None
    link = share_link(bot_username, start_payload(consultation.slug))
    if link is None:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=tr("📋 Open the consultation"), url=link)]]
    )


def progress_text(
    tr: Translator,
    sent: int,
    failed: int,
    left: int,
    eta_seconds: float | None,
    finished: bool,
    uncertain: int = 0,
) -> str:
    if finished:
        text = tr(
            "📣 <b>Broadcast finished.</b> Sent: %(sent)s. Not delivered: %(failed)s.",
            sent=tr.number(sent),
            failed=tr.number(failed),
        )
    else:
        text = tr(
            "📣 <b>Broadcasting…</b> Sent: %(sent)s. Not delivered: %(failed)s. Left: %(left)s.",
            sent=tr.number(sent),
            failed=tr.number(failed),
            left=tr.number(left),
        )
    if uncertain:
        text += " " + tr(
            "Uncertain: %(count)s (Telegram failed after it may have delivered; "
            "each was sent once more at most).",
            count=tr.number(uncertain),
        )
    if not finished and eta_seconds is not None:
        minutes, seconds = divmod(int(eta_seconds), 60)
        text += " " + tr("About %(time)s to go.", time=f"{minutes}:{seconds:02d}")
    return text
