"""/broadcast in the staff chat: choose the audience, write, preview, confirm; then the
notifier sends it within Telegram's limits and keeps one message updated with progress."""

from __future__ import annotations

import secrets

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.i18n import Translator
from bot.notify.notifier import Notifier
from bot.plan import pick
from bot.reading import Reading
from bot.telegram_text import cut_to_fit, visible_length
from handlers.keyboards import BroadcastCb, BroadcastStep, Keyboard, button
from handlers.staff import StaffOnly, in_staff_language
from handlers.staff_views import force_reply
from handlers.submission_views import text_too_heavy
from handlers.views import Screen, html
from storage.models import Audience, Notice, NoticeKind, NoticeStatus
from storage.repositories import NoticeRepository

MAX_BROADCAST = 4000


class Broadcasting(StatesGroup):
    writing = State()
    confirming = State()


def _audience_screen(tr: Translator, consultations) -> Screen:
    builder = Keyboard()
    builder.row(
        button(
            tr("👥 Everyone"),
            BroadcastCb(step=BroadcastStep.AUDIENCE, audience=Audience.EVERYONE.value),
        )
    )
    for consultation in consultations:
        title = pick(consultation.title, tr.locale, consultation.original_language).text
        for audience, label in (
            (Audience.FOLLOWERS, tr("🔔 Followers: %(title)s", title=title)),
            (Audience.PARTICIPANTS, tr("✍️ Took part: %(title)s", title=title)),
        ):
            data = BroadcastCb(
                step=BroadcastStep.AUDIENCE,
                audience=audience.value,
                consultation_id=consultation.id,
            )
            builder.row(button(label, data))
    return Screen(tr("📣 <b>Broadcast.</b> Who should receive it?"), builder.as_markup())


async def start(
    message: Message,
    reading: Reading,
    tr: Translator,
    clock: Clock,
) -> None:
    screen = _audience_screen(tr, await reading.listing(clock()))
    await message.answer(screen.text, reply_markup=screen.markup)


async def on_step(
    query: CallbackQuery,
    callback_data: BroadcastCb,
    state: FSMContext,
    session: AsyncSession,
    bot: Bot,
    tr: Translator,
    clock: Clock,
    notifier: Notifier,
) -> None:
    chat = query.message.chat if query.message else None
    assert chat is not None
    if callback_data.step is BroadcastStep.AUDIENCE:
        await state.set_state(Broadcasting.writing)
        await state.set_data(
            {"audience": callback_data.audience, "consultation_id": callback_data.consultation_id}
        )
        await bot.send_message(
            chat.id,
            tr(
                "✍️ Reply to this message with the text to send (up to %(max)s characters).",
                max=MAX_BROADCAST,
            ),
            reply_markup=force_reply(tr),
        )
        return
    data = await state.get_data()
    if callback_data.step is BroadcastStep.CANCEL or data.get("key") != callback_data.key:
        # Cancelled, or the button of a broadcast already sent or replaced: nothing goes out.
        await state.clear()
        await bot.send_message(chat.id, tr("Nothing was sent."))
        return
    await state.clear()
    progress = await bot.send_message(chat.id, tr("📣 Broadcast starting…"))
    notice = Notice(
        kind=NoticeKind.BROADCAST,
        consultation_id=data["consultation_id"] or None,
        offset_key=data["key"],  # one notice per confirmed draft
        audience=Audience(data["audience"]),
        due_at=clock(),
        status=NoticeStatus.SENDING,
        text=data["text"],
        created_by=query.from_user.full_name,
        progress_chat_id=chat.id,
        progress_message_id=progress.message_id,
    )
    session.add(notice)
    await session.flush()
    await NoticeRepository(session).address(notice)
    await session.commit()
    notifier.wake()


async def on_text(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    tr: Translator,
) -> None:
    text = (message.text or "").strip()
    # Residents get exactly this text: Telegram's count of it must fit in a message.
    excess = cut_to_fit(text, MAX_BROADCAST)
    if excess and visible_length(text) <= MAX_BROADCAST:
        await message.reply(text_too_heavy(tr, excess))
        return
    if not visible_length(text) or visible_length(text) > MAX_BROADCAST:
        await message.reply(
            tr("Please reply with a text of 1 to %(max)s characters.", max=MAX_BROADCAST)
        )
        return
    data = await state.get_data()
    draft = Notice(
        kind=NoticeKind.BROADCAST,
        consultation_id=data["consultation_id"] or None,
        audience=Audience(data["audience"]),
    )
    recipients = await NoticeRepository(session).count_recipients(draft)
    key = secrets.token_urlsafe(9)
    await state.set_data({**data, "text": text, "key": key})
    await state.set_state(Broadcasting.confirming)
    builder = Keyboard()
    builder.row(
        button(
            tr.plural(
                "✅ Send to %(count)s resident", "✅ Send to %(count)s residents", recipients
            ),
            BroadcastCb(step=BroadcastStep.CONFIRM, key=key),
        ),
        button(tr("✖️ Cancel"), BroadcastCb(step=BroadcastStep.CANCEL)),
    )
    preview = tr("<b>Preview</b> (residents get exactly this):") + "\n\n" + html(text)
    await message.answer(preview, reply_markup=builder.as_markup())


def build() -> Router:
    router = in_staff_language(Router(name="broadcast"))
    router.message.filter(StaffOnly())
    router.callback_query.filter(StaffOnly())
    router.message.register(start, Command("broadcast"))
    router.callback_query.register(on_step, BroadcastCb.filter())
    router.message.register(on_text, Broadcasting.writing, F.text, ~F.text.startswith("/"))
    return router
