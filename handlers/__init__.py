"""Routers, one module per journey, in the order they see an update.

Messages of other bots are set aside first (a bot is no resident). Residents' journeys
come next (private chats only); then the staff side (the staff chat and administrators'
private chats, with rights asked of Telegram on every update) and the refusal of staff
actions to everyone else; the fallback router is last: it answers whatever the others
did not take.
"""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject

from handlers import (
    bots,
    broadcast,
    consultations,
    errors,
    fallback,
    follow,
    free_text,
    groups,
    intake,
    language,
    membership,
    mydata,
    plan,
    publish,
    staff,
    staff_add,
    staff_groups,
    staff_pending,
    staff_running,
    staff_templates,
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
        # Before the residents' list: an administrator's private chat gets the staff one.
        staff_running.build(),
        consultations.build(),
        plan.build(),
        free_text.build_resume(),
        submit.build(),
        mydata.build(),
        follow.build(),
        broadcast.build(),
        staff_add.build(),
        staff_pending.build(),
        staff_templates.build(),
        staff_groups.build(),
        intake.build(),
        staff.build(),
        staff_groups.build_refusals(),
        staff.build_refusals(),
        staff_add.build_refusals(),
        staff_pending.build_refusals(),
        staff_templates.build_refusals(),
        intake.build_refusals(),
        staff_running.build_refusals(),
        publish.build(),
        publish.build_refusals(),
        groups.build(),
        free_text.build(),
        fallback.build(),
    )
    _run_filters_inline(root)
    return root


def _run_filters_inline(router: Router) -> None:
    """aiogram runs a synchronous filter (every `F.…`) in a worker thread, a round trip
    that costs more than the comparison it makes. Ours only compare: run them at once."""
    for observer in router.observers.values():
        # `_handler` holds the router-level filters (`router.message.filter(...)`).
        for handler in [observer._handler, *observer.handlers]:
            for filter_object in handler.filters or ():
                if not filter_object.awaitable:
                    _make_awaitable(filter_object)
    for child in router.sub_routers:
        _run_filters_inline(child)


def _make_awaitable(filter_object: FilterObject) -> None:
    check = filter_object.callback

    async def at_once(*args: Any, **kwargs: Any) -> Any:
        return check(*args, **kwargs)

    filter_object.callback = at_once
    filter_object.awaitable = True
