"""Screens of following consultations and of notifications."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardButton
from babel.lists import format_list

from bot.i18n import Translator
from bot.notify.planner import FollowersGet
from bot.plan import pick
from handlers.keyboards import FollowCb, FollowFrom, Keyboard, button, home_row
from handlers.views import Screen, html
from storage.models import Consultation


def offer_to_follow(tr: Translator, consultation_id: int) -> InlineKeyboardButton:
    return button(
        tr("🔔 Follow"),
        FollowCb(consultation_id=consultation_id, on=True, origin=FollowFrom.CARD),
    )


def _what_followers_get(tr: Translator, gets: FollowersGet) -> str:
    """The notices ahead, in a list; no more than the notifier will send."""
    parts = []
    if gets.opening:
        parts.append(tr("the news when it opens"))
    if gets.reminders:
        parts.append(
            tr.plural(
                "%(count)s reminder before the deadline",
                "%(count)s reminders before the deadline",
                gets.reminders,
            )
        )
    if gets.closing:
        parts.append(tr("the news when it closes"))
    if gets.report:
        parts.append(tr("the report on the proposals once it is published"))
    parts.append(tr("the messages the municipality sends to its followers"))
    return format_list(parts, locale=tr.format_locale)


def _no_deadline(tr: Translator, gets: FollowersGet) -> str:
    return "" if gets.deadline else " " + tr("It has no deadline, so there are no reminders.")


def follow_offer(tr: Translator, gets: FollowersGet) -> str:
    """Below a receipt: what following its consultation would bring."""
    offer = tr("Follow it, and you will get: %(list)s.", list=_what_followers_get(tr, gets))
    return offer + _no_deadline(tr, gets)


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
        lines += ["", tr("You follow:")]
        for consultation in followed:
            title = pick(consultation.title, tr.locale, consultation.original_language).text
            lines.append(f"• {html(title)}")
            builder.row(button(f"🔕 {title}", FollowCb(consultation_id=consultation.id, on=False)))
    else:
        lines += ["", tr("You follow no consultation. To start, press “🔔 Follow” on one.")]
    builder.row(*home_row(tr))
    return Screen("\n".join(lines), builder.as_markup())


def followed(tr: Translator, gets: FollowersGet) -> str:
    done = tr("🔔 Done. You will get: %(list)s.", list=_what_followers_get(tr, gets))
    return done + _no_deadline(tr, gets)


def following_everything(tr: Translator) -> str:
    return tr(
        "🔔 Done. You will get: the news of every new consultation when it opens, reminders "
        "before each deadline, the news when each closes, the reports when they are "
        "published, and the messages the municipality sends to followers."
    )


def unfollowed(tr: Translator) -> str:
    return tr("🔕 Done: no more notices about it.")
