"""A text a resident simply types, outside any draft: offered to be sent as a proposal
or a question. The text is kept in the conversation state (it survives a restart) while
the resident chooses its kind, its consultation and section; then it becomes a draft of
the usual journey (handlers/submit.py), at its preview."""

from __future__ import annotations

import secrets
from typing import Any

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.i18n import Translator
from bot.reading import Reading
from bot.submissions import MIN_TEXT, Draft, text_problem
from bot.telegram_text import visible_length
from handlers import free_text_views as screens
from handlers import staff_views as staff_screens
from handlers import submission_views, views
from handlers.free_text_views import KeptCb, KeptStep
from handlers.keyboards import MenuAction, MenuCb
from handlers.respond import show
from handlers.submit import open_draft
from storage.models import Phase, Resident, SubmissionKind

KEPT = "kept"  # the key of the kept text in the conversation data


class KeepingText(StatesGroup):
    choosing = State()


async def offer(message: Message, state: FSMContext, resident: Resident, tr: Translator) -> None:
    if resident.banned:
        await show(message, staff_screens.banned(tr))
        return
    text = (message.text or "").strip()
    problem = text_problem(text)
    if problem is not None:  # too long (or too heavy) for one submission
        await show(message, screens.not_kept(tr, problem))
        return
    key = secrets.token_urlsafe(8)
    await state.set_state(KeepingText.choosing)
    # A newer text takes the place of one offered before.
    await state.set_data({KEPT: {"text": text, "key": key}})
    await show(message, screens.offer(tr, text, key))


async def show_again(query: CallbackQuery, state: FSMContext, tr: Translator) -> None:
    """ "Continue your draft" from the menu while a text waits for its kind."""
    kept = await _kept(state)
    if kept is None:
        await state.clear()
        await show(query, submission_views.draft_gone(tr))
        return
    await show(query, screens.offer(tr, kept["text"], kept["key"]))


async def on_step(
    query: CallbackQuery,
    callback_data: KeptCb,
    state: FSMContext,
    session: AsyncSession,
    reading: Reading,
    resident: Resident,
    settings: Settings,
    tr: Translator,
    clock: Clock,
) -> None:
    kept = await _kept(state)
    step, chosen = callback_data.step, callback_data.id
    if kept is None or kept["key"] != callback_data.key or not _in_order(kept, callback_data):
        await show(query, submission_views.draft_gone(tr))  # an older text's button
        return
    if step is KeptStep.DROP:
        await state.clear()
        await show(query, screens.dropped(tr))
        return
    if step is KeptStep.KIND:
        kept["kind"] = callback_data.kind
        await state.update_data({KEPT: kept})
        now = clock()
        open_now = [c for c in await reading.listing(now) if c.phase(now) is Phase.OPEN]
        await show(query, screens.pick_consultation(tr, kept["kind"], open_now, kept["key"]))
        return
    consultation_id, section_id = None, None  # the municipality in general
    if step is KeptStep.SECTION:
        consultation_id, section_id = kept["consultation_id"], chosen or None
    elif chosen:
        page = await reading.consultation_page(chosen)
        if page is None:
            await show(query, views.gone(tr))
            return
        if page.plan:  # which part of it, as its sections' own buttons would say
            kept["consultation_id"] = page.consultation.id
            await state.update_data({KEPT: kept})
            sections = screens.pick_section(
                tr, kept["kind"], page.consultation, page.plan, kept["key"]
            )
            await show(query, sections)
            return
        consultation_id = page.consultation.id
    # The kept text goes on as a draft of the usual journey (or, refused, is not kept).
    draft = Draft(kept["kind"], consultation_id, section_id, text=kept["text"])
    await state.clear()
    await open_draft(query, draft, state, session, resident, settings, tr, clock)


def _in_order(kept: dict[str, Any], step: KeptCb) -> bool:
    """Each step after the one before it (a forged button skips none)."""
    if step.step is KeptStep.KIND:
        return step.kind in set(SubmissionKind)
    if step.step is KeptStep.CONSULTATION:
        return "kind" in kept
    if step.step is KeptStep.SECTION:
        return "kind" in kept and "consultation_id" in kept
    return True


async def _kept(state: FSMContext) -> dict[str, Any] | None:
    if await state.get_state() != KeepingText.choosing.state:
        return None
    kept = (await state.get_data()).get(KEPT)
    return kept if isinstance(kept, dict) and kept.get("text") and kept.get("key") else None


def kept_draft(data: dict[str, Any]) -> Draft | None:
    """A kept text, as the draft it may become (its kind perhaps not chosen yet): what
    /mydata shows of it."""
    kept = data.get(KEPT)
    if not isinstance(kept, dict) or not kept.get("text"):
        return None
    return Draft(kind=kept.get("kind", ""), text=kept["text"])


def _long_enough(text: str) -> bool:
    """Shorter than a submission can be ("hi", "thanks"): not taken for one."""
    return visible_length(text.strip()) >= MIN_TEXT


def build_resume() -> Router:
    """Before the submit router: "Continue your draft" while a text waits."""
    router = Router(name="free_text_resume")
    router.callback_query.filter(F.message.chat.type == "private")
    router.callback_query.register(
        show_again, KeepingText.choosing, MenuCb.filter(F.action == MenuAction.DRAFT)
    )
    return router


def build() -> Router:
    """After every other journey (a staff reply, a draft's text are theirs), before the
    fallback: a text of a resident who is not in the middle of anything."""
    router = Router(name="free_text")
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(
        offer,
        StateFilter(None, KeepingText.choosing),
        F.text,
        ~F.text.startswith("/"),
        F.text.func(_long_enough),
    )
    router.callback_query.register(on_step, KeptCb.filter())
    return router
