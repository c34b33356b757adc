"""Screens of following consultations and of notifications."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardButton

from bot.i18n import Translator
from bot.plan import pick
from handlers.keyboards import FollowCb, FollowFrom, Keyboard, button, home_row
from handlers.views import Screen, html
from storage.models import Consultation


def offer_to_follow(tr: Translator, consultation_id: int) -> InlineKeyboardButton:
    return button(
        tr("🔔 Remind me about this consultation"),
        FollowCb(consultation_id=consultation_id, on=True, origin=FollowFrom.CARD),
    )


def notifications(tr: Translator, follows_all: bool, followed: Sequence[Consultation]) -> Screen:
    lines = [tr("🔔 <b>Notifications</b>"), ""]
    if follows_all:
        lines.append(tr("You are told about every new consultation and all their deadlines."))
    else:
        lines.append(tr("You are not told about new consultations."))
    builder = Keyboard()
    builder.row(
        button(
            tr("🔕 Stop telling me about new consultations"), FollowCb(consultation_id=0, on=False)
        )
        if follows_all
        else button(
            tr("🔔 Tell me about every new consultation"), FollowCb(consultation_id=0, on=True)
        )
    )
    if followed:
        lines += ["", tr("You follow (reminders before the deadline, and the closing):")]
        for consultation in followed:
            title = pick(consultation.title, tr.locale, consultation.original_language).text
            lines.append(f"• {html(title)}")
            builder.row(button(f"🔕 {title}", FollowCb(consultation_id=consultation.id, on=False)))
    else:
        lines += ["", tr("You follow no consultation. To start, press “🔔 Follow” on one.")]
    builder.row(*home_row(tr))
    return Screen("\n".join(lines), builder.as_markup())


def followed(tr: Translator) -> str:
    return tr("🔔 Done: you will get reminders before the deadline and the news when it closes.")


def unfollowed(tr: Translator) -> str:
    return tr("🔕 Done: no more notices about it.")
