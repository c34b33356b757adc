"""The texts of notices, in each recipient's language, and of a broadcast's progress."""

from __future__ import annotations

from html import escape

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translator
from bot.plan import pick
from bot.reading import share_link, start_payload
from storage.models import Consultation, Notice, NoticeKind


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
            "You can read it and send proposals until %(closes)s.",
            title=title,
            closes=tr.datetime(consultation.closes_at, zone),
        )
    if notice.kind is NoticeKind.DEADLINE:
        assert consultation.closes_at is not None
        days = max(1, int(notice.offset_key.rstrip("d") or 1))
        return tr.plural(
            "⏳ <b>%(count)s day left</b> to send proposals on %(title)s: it closes on %(closes)s.",
            "⏳ <b>%(count)s days left</b> to send proposals on %(title)s: "
            "it closes on %(closes)s.",
            days,
            title=title,
            closes=tr.datetime(consultation.closes_at, zone),
        )
    return tr(
        "✅ <b>The consultation %(title)s has closed.</b>\n\n"
        "Thank you for following it. The municipality now reviews every proposal and "
        "publishes a report on them; answers to your own proposals come here.",
        title=title,
    )


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
