"""Answer templates in the staff chat (and administrators' private chats): /templates
lists them, /template saves one, their buttons delete one; under a prompt, a template's
button answers with it, the way a typed reply to the prompt does."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message, ReplyParameters
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot import staff, templates
from bot.clock import Clock
from bot.config import Settings
from bot.i18n import Catalogs, Translator
from bot.staff import Actor, Reply
from handlers import staff_templates_views as views
from handlers import staff_views as screens
from handlers.keyboards import TemplateAct, TemplateCb
from handlers.respond import alert
from handlers.staff import StaffOnly, chat_of, in_staff_language, refuse, reply_with_text
from storage.repositories import TemplateRepository


async def templates_command(
    message: Message,
    session: AsyncSession,
    tr: Translator,
    catalogs: Catalogs,
) -> None:
    """The head (counts and how to add one), then one message per language."""
    saved = await TemplateRepository(session).all()
    head = views.listing(tr, saved, catalogs.locales)
    await message.answer(head.text)
    for language in catalogs.locales:
        of_language = [template for template in saved if template.language == language]
        if of_language:
            screen = views.of_language(tr, language, of_language)
            await message.answer(screen.text, reply_markup=screen.markup)


async def template_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    tr: Translator,
    catalogs: Catalogs,
    clock: Clock,
) -> None:
    """/template LANG NAME, then the text (on the same line or the next ones)."""
    assert message.from_user is not None
    words = (command.args or "").split(maxsplit=2)
    if len(words) < 2:
        await message.answer(views.usage(tr, catalogs.locales))
        return
    language, name = words[0].lower(), words[1]
    text = words[2] if len(words) == 3 else ""
    actor = Actor(message.from_user.id, message.from_user.full_name)
    try:
        created = await templates.save(
            session, language, name, text, actor, clock(), catalogs.locales
        )
    except templates.TemplateRefused as refused:
        await message.answer(views.refusal(tr, refused, catalogs.locales))
        return
    await session.commit()
    await message.answer(views.saved(tr, name, language, created))


async def delete_button(
    query: CallbackQuery,
    callback_data: TemplateCb,
    session: AsyncSession,
    bot: Bot,
    tr: Translator,
) -> None:
    chat = chat_of(query)
    assert chat is not None
    actor = Actor(query.from_user.id, query.from_user.full_name)
    template = await templates.delete(session, callback_data.id, actor)
    await session.commit()
    await bot.send_message(
        chat.id,
        views.deleted(tr, template),
        reply_parameters=_reply_to(query),
    )


async def template_button(
    query: CallbackQuery,
    callback_data: TemplateCb,
    session: AsyncSession,
    bot: Bot,
    tr: Translator,
    catalogs: Catalogs,
    settings: Settings,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> None:
    """▶ answers the prompt with the template as a typed reply would (once, whoever else
    answers at the same moment); 📋 of a long template shows its filled text to copy."""
    chat = chat_of(query)
    assert chat is not None
    template = await TemplateRepository(session).get(callback_data.id)
    if template is None:
        alert(callback_answer, views.template_gone(tr))
        return
    target = await staff.reply_target(session, chat.id, callback_data.prompt, clock())
    if target.kind is Reply.EXPIRED:
        alert(callback_answer, screens.prompt_expired(tr))
        return
    if target.kind is not Reply.PROMPT or target.submission is None:
        alert(callback_answer, screens.prompt_closed(tr))
        return
    language_tr = catalogs.translator(template.language)
    section = await templates.section_label(session, target.submission, language_tr)
    filled = templates.fill(template.text, target.submission.public_number or "", section)
    if callback_data.act is TemplateAct.SHOW:
        text = views.filled_text(tr, template.name, filled)
    else:
        actor = Actor(query.from_user.id, query.from_user.full_name)
        text = await reply_with_text(filled, target, actor, session, settings, catalogs, tr, clock)
    await bot.send_message(chat.id, text, reply_parameters=_reply_to(query))


def _reply_to(query: CallbackQuery) -> ReplyParameters | None:
    if query.message is None:
        return None
    return ReplyParameters(message_id=query.message.message_id, allow_sending_without_reply=True)


TEMPLATE_COMMANDS = Command("templates", "template")


def build() -> Router:
    router = in_staff_language(Router(name="staff-templates"))
    # The cheap look first: only then is Telegram asked whether the sender is staff.
    router.message.filter(F.text.startswith("/"), StaffOnly())
    router.callback_query.filter(F.data.startswith(f"{TemplateCb.__prefix__}:"), StaffOnly())
    router.message.register(templates_command, Command("templates"))
    router.message.register(template_command, Command("template"))
    router.callback_query.register(delete_button, TemplateCb.filter(F.act == TemplateAct.DELETE))
    router.callback_query.register(template_button, TemplateCb.filter())
    return router


def build_refusals() -> Router:
    router = Router(name="staff-templates-refusals")
    # A message posted as a channel or as the group itself has no person to refuse.
    router.message.filter(F.from_user)
    router.message.register(refuse, TEMPLATE_COMMANDS)
    router.callback_query.register(refuse, TemplateCb.filter())
    return router
