"""Routers, one module per journey, in the order they see an update.

Messages of other bots are set aside first (a bot is no resident). Residents' journeys
come next (private chats only); then the staff side (the staff chat and administrators'
private chats, with rights asked of Telegram on every update) and the refusal of staff
actions to everyone else; the fallback router is last: it answers whatever the others
did not take.
"""

from __future__ import annotations

from aiogram import Router

from handlers import (
    bots,
    broadcast,
    consultations,
    errors,
    fallback,
    follow,
    groups,
    language,
    membership,
    mydata,
    plan,
    staff,
    start,
    submit,
)


def build_router() -> Router:
    root = Router(name="civicbot")
    root.include_routers(
        errors.build(),
        bots.build(),
        membership.build(),
        start.build(),
        language.build(),
        consultations.build(),
        plan.build(),
        submit.build(),
        mydata.build(),
        follow.build(),
        broadcast.build(),
        staff.build(),
        staff.build_refusals(),
        groups.build(),
        fallback.build(),
    )
    return root
