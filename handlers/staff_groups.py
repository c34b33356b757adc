"""Staff on a group of near-duplicate proposals: one decision with one reason for every
proposal of the group still without one, and «Not similar» to take one out.

The decision goes through the same prompt as a card's: a message bound to the card's
submission, answered only by a reply to it; its act is PROMPT_PREFIX and the decision.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import BaseFilter
from aiogram.types import CallbackQuery, Message, ReplyParameters
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot import groups, staff
from bot.clock import Clock
from bot.config import Settings
from bot.i18n import Catalogs, Translator
from bot.notify.outbox import queue_card_refresh
from bot.staff import Reply, ReplyTarget
from handlers import staff_groups_views as screens
from handlers import staff_views
from handlers.keyboards import GroupAct, GroupCb, StaffAct
from handlers.respond import alert
from handlers.staff import (
    StaffOnly,
    actor_of,
    chat_of,
    in_staff_language,
    published_note,
    queue_resident_reply,
    refuse,
    replied_to,
    text_refusal,
)
from storage.models import Submission, SubmissionStatus
from storage.repositories import StaffRepository

DECISION_OF = {
    GroupAct.ACCEPT: SubmissionStatus.ACCEPTED,
    GroupAct.PARTLY: SubmissionStatus.PARTLY_ACCEPTED,
    GroupAct.REJECT: SubmissionStatus.REJECTED,
}


async def on_group_button(
    query: CallbackQuery,
    callback_data: GroupCb,
    session: AsyncSession,
    bot: Bot,
    tr: Translator,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> None:
    submission = await StaffRepository(session).submission(callback_data.id)
    if submission is None:
        alert(callback_answer, staff_views.erased(tr))
        return
    similar = await groups.similar_to(session, submission)
    if not similar:
        alert(callback_answer, screens.not_in_group(tr))
        return
    published = await staff.published_on(session, submission)
    if published is not None:
        alert(callback_answer, await published_note(session, tr, submission, published))
        return
    if callback_data.act is GroupAct.APART:
        others = await groups.take_apart(session, submission, actor_of(query.from_user))
        for card in [submission, *others]:
            await queue_card_refresh(session, card)
        await session.commit()
        callback_answer.text = screens.taken_apart(tr, submission)
        return
    chat = chat_of(query)
    assert chat is not None
    card = query.message.message_id if query.message else None
    reply_to = ReplyParameters(message_id=card, allow_sending_without_reply=True) if card else None
    if callback_data.act is GroupAct.CHOOSE:
        screen = screens.choose_decision(tr, submission, [submission, *similar])
        await bot.send_message(
            chat.id, screen.text, reply_markup=screen.markup, reply_parameters=reply_to
        )
        return
    decision = DECISION_OF[callback_data.act]
    waiting = groups.undecided([submission, *similar])
    text = screens.ask_for_reason(tr, submission, decision, len(waiting), query.from_user.full_name)
    sent = await bot.send_message(
        chat.id, text, reply_markup=staff_views.force_reply(tr), reply_parameters=reply_to
    )
    act = screens.PROMPT_PREFIX + decision.value
    await staff.open_prompt(
        session, submission.id, act, chat.id, sent.message_id, query.from_user.id, clock()
    )
    await session.commit()


class GroupPromptReply(BaseFilter):
    """A reply to an open prompt for a group's decision (anything else goes on to the
    card's handlers: an expired or used prompt is explained there)."""

    async def __call__(
        self, message: Message, session: AsyncSession, bot: Bot, clock: Clock
    ) -> bool | dict[str, ReplyTarget]:
        replied = replied_to(message)
        if replied is None or replied.from_user is None or replied.from_user.id != bot.id:
            return False
        target = await staff.reply_target(session, message.chat.id, replied.message_id, clock())
        if target.kind is not Reply.PROMPT or not (target.act or "").startswith(
            screens.PROMPT_PREFIX
        ):
            return False
        return {"target": target}


async def on_group_reason(
    message: Message,
    target: ReplyTarget,
    session: AsyncSession,
    settings: Settings,
    catalogs: Catalogs,
    tr: Translator,
    clock: Clock,
) -> None:
    assert target.submission is not None and target.act is not None
    reason = (message.text or "").strip()
    refusal = text_refusal(tr, reason)
    if refusal is not None:
        await message.reply(refusal)
        return
    now = clock()
    if not await staff.take(session, target, now):
        await message.reply(staff_views.prompt_closed(tr))
        return
    submission: Submission = target.submission
    published = await staff.published_on(session, submission)
    if published is not None:  # the prompt was opened before the report was published
        await message.reply(await published_note(session, tr, submission, published))
        return
    assert message.from_user is not None
    decision = SubmissionStatus(target.act.removeprefix(screens.PROMPT_PREFIX))
    outcome = await groups.decide_group(
        session, submission, decision, reason, actor_of(message.from_user), now
    )
    unreachable = 0
    for decided in outcome.decided:
        if not await queue_resident_reply(
            session, catalogs, settings, decided, StaffAct(decision.value)
        ):
            unreachable += 1
        await queue_card_refresh(session, decided)
    await session.commit()
    await message.reply(screens.group_done(tr, outcome, unreachable))


def build() -> Router:
    router = in_staff_language(Router(name="staff-groups"))
    # Rights are asked of Telegram last, once the update is known to be ours: every
    # other message in the staff chat goes on to the staff router, which asks itself.
    router.callback_query.register(on_group_button, GroupCb.filter(), StaffOnly())
    router.message.register(
        on_group_reason,
        F.chat.type != "private",
        F.reply_to_message,
        GroupPromptReply(),
        StaffOnly(),
    )
    return router


def build_refusals() -> Router:
    router = Router(name="staff-groups-refusals")
    router.callback_query.register(refuse, GroupCb.filter())
    return router
