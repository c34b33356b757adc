"""Publishing the report from the staff chat's report tool: a check (draft, or already
published), the number of residents it goes to, a confirmation; then the publication is
committed with its notice and the notifier sends it."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.types import CallbackQuery
from sqlalchemy.ext.asyncio import AsyncSession

from bot import publication
from bot.clock import Clock
from bot.export.common import ExportError
from bot.i18n import Translator
from bot.notify.notifier import Notifier
from bot.plan import pick
from handlers import staff_views
from handlers.keyboards import Keyboard, PublishCb, button
from handlers.staff import StaffOnly, chat_of, in_staff_language, refuse
from handlers.views import html
from storage.models import ConsultationStatus
from storage.repositories import ConsultationRepository


async def on_publish(
    query: CallbackQuery,
    callback_data: PublishCb,
    session: AsyncSession,
    bot: Bot,
    tr: Translator,
    clock: Clock,
    notifier: Notifier,
) -> None:
    chat = chat_of(query)
    assert chat is not None
    consultation = await ConsultationRepository(session).by_id(callback_data.consultation_id)
    if consultation is None or consultation.status is ConsultationStatus.WITHDRAWN:
        await bot.send_message(chat.id, tr("This consultation no longer exists."))
        return
    title = html(pick(consultation.title, tr.locale, consultation.original_language).text)
    now = clock()
    try:
        if callback_data.confirm:
            published = await publication.publish(
                session, consultation.slug, query.from_user.full_name, now
            )
        else:  # the check before the confirmation: nothing is written yet
            await publication.check(session, consultation.slug, now)
    except publication.AlreadyPublished as error:
        await bot.send_message(chat.id, publication.already_text(tr, error, consultation.timezone))
        return
    except publication.NotFinal as error:
        await bot.send_message(chat.id, publication.not_final_text(tr, error))
        return
    except ExportError as error:
        await bot.send_message(chat.id, staff_views.report_refusal(tr, error))
        return
    if callback_data.confirm:
        await session.commit()
        notifier.wake()
        await bot.send_message(
            chat.id,
            tr.plural(
                "📢 The report on %(title)s is published. It is on its way to %(count)s resident.",
                "📢 The report on %(title)s is published. It is on its way to %(count)s residents.",
                published.recipients,
                title=title,
            ),
        )
        return
    count = await publication.recipients(session, consultation.id)
    builder = Keyboard()
    builder.row(
        button(
            tr.plural(
                "✅ Publish and send to %(count)s resident",
                "✅ Publish and send to %(count)s residents",
                count,
            ),
            PublishCb(consultation_id=consultation.id, confirm=True),
        )
    )
    await bot.send_message(
        chat.id,
        tr(
            "Publish the report on %(title)s? Each resident who took part gets what became "
            "of their proposals and questions, each follower the news, both with the report "
            "attached. This cannot be undone.",
            title=title,
        ),
        reply_markup=builder.as_markup(),
    )


def build() -> Router:
    router = in_staff_language(Router(name="publish"))
    router.callback_query.filter(StaffOnly())
    router.callback_query.register(on_publish, PublishCb.filter())
    return router


def build_refusals() -> Router:
    router = Router(name="publish-refusals")
    router.callback_query.register(refuse, PublishCb.filter())
    return router
