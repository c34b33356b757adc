"""CallbackData factories and keyboard builders.

Callback data carries ids, never state, so a button keeps working after a restart;
an id that no longer exists is answered politely by the handler that reads it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from pydantic import Field

from bot.i18n import LANGUAGE_NAMES, Translator
from storage.models import SubmissionKind

MAX_BUTTON_LABEL = 60
MAX_ROW_WIDTH = 8
# A database id (PostgreSQL's integer): forged data outside this range is a stale button,
# not a query the database refuses.
DbId = Annotated[int, Field(ge=0, le=2**31 - 1)]
Page = Annotated[int, Field(ge=0, le=10_000)]


class MenuAction(StrEnum):
    HOME = "home"
    HELP = "help"
    LANGUAGE = "lang"
    ASK = "ask"
    MINE = "mine"
    DRAFT = "draft"
    NOTIFICATIONS = "notify"


class MenuCb(CallbackData, prefix="m"):
    action: MenuAction


class LanguageCb(CallbackData, prefix="l"):
    code: str


class ListCb(CallbackData, prefix="ls"):
    page: Page = 0


class ConsultationCb(CallbackData, prefix="c"):
    id: DbId


class ContentsCb(CallbackData, prefix="t"):
    consultation_id: DbId


class SectionCb(CallbackData, prefix="s"):
    id: DbId
    page: Page = 0


class SubmitCb(CallbackData, prefix="w"):
    """Start a draft: a proposal or question about a consultation (0: the general channel)
    and optionally one of its sections."""

    kind: SubmissionKind
    consultation_id: DbId = 0
    section_id: DbId = 0


class DraftAction(StrEnum):
    AGREE = "agree"
    DECLINE = "decline"
    SEND = "send"
    EDIT = "edit"
    SIGN = "sign"
    ANONYMOUS = "anon"
    CANCEL = "cancel"
    ORGANISATION = "org"  # signed on behalf of an organisation: choose its kind
    NO_ORGANISATION = "noorg"


class DraftCb(CallbackData, prefix="d"):
    """A button of one draft; `key` tells an old draft's buttons from the current one's."""

    action: DraftAction
    key: str


class OrganisationCb(CallbackData, prefix="og"):
    """The kind of organisation a signed draft speaks for; its name is typed next."""

    kind: str
    key: str


class MineCb(CallbackData, prefix="my"):
    page: Page = 0


class MineFullCb(CallbackData, prefix="myf"):
    """One of the resident's own submissions in full; `page` is the /my page to go back to."""

    id: DbId
    page: Page = 0


class ForgetAction(StrEnum):
    KEEP_SUBMISSIONS = "keep"
    DELETE_SUBMISSIONS = "delete"
    CANCEL = "cancel"


class ForgetCb(CallbackData, prefix="f"):
    action: ForgetAction


class Keyboard:
    """An inline keyboard, row by row. aiogram's InlineKeyboardBuilder validates and
    deep-copies every button again on the way out, a large share of the CPU a screen
    costs; these buttons are made by `button` and need neither."""

    def __init__(self) -> None:
        self._rows: list[list[InlineKeyboardButton]] = []

    def row(self, *buttons: InlineKeyboardButton) -> Keyboard:
        # As aiogram's builder: Telegram shows at most 8 buttons side by side.
        for start in range(0, len(buttons), MAX_ROW_WIDTH):
            self._rows.append(list(buttons[start : start + MAX_ROW_WIDTH]))
        return self

    def as_markup(self) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(inline_keyboard=self._rows)


def label(text: str, limit: int = MAX_BUTTON_LABEL) -> str:
    """Button labels are one line. A long one is shortened in the middle, at word
    boundaries: titles that begin alike ("… of the Municipality of …") differ at their
    end (the place, the years) or at their start (the number), so both are kept."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    words = text.split(" ")
    room = limit - len(MIDDLE_CUT)
    # The end first, up to a share of the room; then as much of the start as fits.
    tail = _words_within(reversed(words[1:]), room * TAIL_SHARE // 100)[::-1]
    head = _words_within(words[: len(words) - len(tail)], room - _width(tail))
    while len(head) > 1 and len(head[-1]) <= 3 and not head[-1][0].isdigit():
        head.pop()  # "… plan of the …": a dangling "of", "the", "на", "za" says nothing
    # Room the start did not use goes to the end.
    tail = _words_within(reversed(words[len(head) :]), room - _width(head))[::-1]
    if not head or not tail:  # a word longer than the whole label: cut it
        return text[: limit - 1].rstrip() + "…"
    return " ".join(head).rstrip(",;:") + MIDDLE_CUT + " ".join(tail)


MIDDLE_CUT = " … "
TAIL_SHARE = 45  # percent of a shortened label kept for its end


def _width(words: list[str]) -> int:
    return len(" ".join(words))


def _words_within(words, room: int) -> list[str]:
    """The leading words of `words` that fit in `room` characters, spaces included."""
    taken: list[str] = []
    for word in words:
        if _width([*taken, word]) > room:
            break
        taken.append(word)
    return taken


def button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=label(text), callback_data=data.pack())


def main_menu(tr: Translator, *, has_draft: bool = False) -> InlineKeyboardMarkup:
    builder = Keyboard()
    if has_draft:
        builder.row(button(tr("📝 Continue your draft"), MenuCb(action=MenuAction.DRAFT)))
    builder.row(button(tr("📋 Consultations"), ListCb()))
    builder.row(
        button(tr("✍️ Ask or suggest"), MenuCb(action=MenuAction.ASK)),
        button(tr("📂 My submissions"), MineCb()),
    )
    builder.row(button(tr("🔔 Notifications"), MenuCb(action=MenuAction.NOTIFICATIONS)))
    builder.row(
        button(tr("🌐 Language"), MenuCb(action=MenuAction.LANGUAGE)),
        button(tr("❓ Help"), MenuCb(action=MenuAction.HELP)),
    )
    return builder.as_markup()


def home_row(tr: Translator) -> list[InlineKeyboardButton]:
    return [button(tr("🏠 Menu"), MenuCb(action=MenuAction.HOME))]


def just_home(tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[home_row(tr)])


def languages(tr: Translator) -> InlineKeyboardMarkup:
    builder = Keyboard()
    for code, name in LANGUAGE_NAMES.items():
        mark = "✓ " if code == tr.locale else ""
        builder.row(button(f"{mark}{name}", LanguageCb(code=code)))
    builder.row(*home_row(tr))
    return builder.as_markup()


def submit_row(
    tr: Translator, consultation_id: int = 0, section_id: int = 0
) -> list[InlineKeyboardButton]:
    """The "suggest" and "ask" buttons for a consultation, a section or the channel."""
    where = {"consultation_id": consultation_id, "section_id": section_id}
    return [
        button(tr("💡 Suggest"), SubmitCb(kind=SubmissionKind.PROPOSAL, **where)),
        button(tr("❓ Ask"), SubmitCb(kind=SubmissionKind.QUESTION, **where)),
    ]


class StaffAct(StrEnum):
    ANSWER = "answer"
    ACCEPT = "accepted"
    PARTLY = "partly_accepted"
    REJECT = "rejected"
    SPAM = "spam"
    BLOCK = "block"
    UNBLOCK = "unblock"
    FULL = "full"  # the whole text and answer of a card shortened to fit


class StaffCb(CallbackData, prefix="sc"):
    """A staff button on a submission's card. Rights are checked on every press."""

    act: StaffAct
    id: DbId


class GroupAct(StrEnum):
    CHOOSE = "choose"  # the decisions offered for the whole group
    ACCEPT = "accepted"
    PARTLY = "partly_accepted"
    REJECT = "rejected"
    APART = "apart"  # "not similar": out of its group


class GroupCb(CallbackData, prefix="sg"):
    """A staff button about the group of near-duplicates of the card's submission."""

    act: GroupAct
    id: DbId


class StaffTool(StrEnum):
    EXPORT = "export"
    REPORT = "report"
    STATS = "stats"


class StaffToolCb(CallbackData, prefix="st"):
    """/export, /report, /stats: the consultation (0: the general channel), then a format."""

    tool: StaffTool
    consultation_id: DbId
    format: str = ""


class PublishCb(CallbackData, prefix="pu"):
    """Publish a consultation's report: first the check and the count, then (`confirm`)
    the publication itself. Rights and readiness are checked on every press."""

    consultation_id: DbId
    confirm: bool = False


class FollowFrom(StrEnum):
    CARD = "c"
    NOTIFICATIONS = "n"


class FollowCb(CallbackData, prefix="fo"):
    """Follow (on) or stop following a consultation; 0 means every new consultation.
    `origin` is the screen to show again afterwards."""

    consultation_id: DbId
    on: bool
    origin: FollowFrom = FollowFrom.NOTIFICATIONS


class BroadcastStep(StrEnum):
    AUDIENCE = "audience"
    CONFIRM = "confirm"
    CANCEL = "cancel"


class BroadcastCb(CallbackData, prefix="bc"):
    step: BroadcastStep
    audience: str = ""
    consultation_id: DbId = 0
    key: str = ""  # the confirmed draft: a stale or doubled confirmation sends nothing


class AddStep(StrEnum):
    CONSULTATION = "c"
    SECTION = "s"
    KIND = "k"
    ANONYMOUS = "a"
    STAKEHOLDER = "h"
    CHANNEL = "ch"
    SAVE = "ok"
    CANCEL = "x"


class AddCb(CallbackData, prefix="ad"):
    """/add in the staff chat: one step of registering a submission received elsewhere.
    `key` names the registration, so a button of an older one does nothing."""

    step: AddStep
    id: DbId = 0
    value: str = ""
    key: str = ""


def follow_button(tr: Translator, consultation_id: int, following: bool) -> InlineKeyboardButton:
    """On a consultation's card (or its receipt): the card shows again after a press."""
    where = {"consultation_id": consultation_id, "origin": FollowFrom.CARD}
    if following:
        return button(tr("🔕 Stop following"), FollowCb(on=False, **where))
    return button(tr("🔔 Follow"), FollowCb(on=True, **where))


class PendingCb(CallbackData, prefix="pn"):
    """A page of /pending (what still needs an answer or a decision)."""

    page: Page = 0


class PendingCardCb(CallbackData, prefix="po"):
    """/pending: show a submission's card here again."""

    id: DbId


class TemplateAct(StrEnum):
    USE = "u"  # send it, filled, as the answer or reason the prompt asks for
    SHOW = "s"  # its filled text as a message, to copy and change (too long to copy_text)
    DELETE = "d"


class TemplateCb(CallbackData, prefix="tp"):
    """An answer template's button; `prompt` is the message id, in this chat, of the
    prompt it answers (USE, SHOW). Rights are checked on every press."""

    act: TemplateAct
    id: DbId
    prompt: DbId = 0


class RunAct(StrEnum):
    OPEN = "open"  # one consultation's screen, with the buttons below
    EXTEND = "extend"  # a new closing date is typed next
    CLOSE = "close"
    WITHDRAW = "withdraw"
    REPLACE = "replace"  # a new version of the document is sent next
    DOWNLOAD = "download"  # its consultation file


class RunCb(CallbackData, prefix="rc"):
    """A staff button of /consultations, about one consultation. Rights are checked on
    every press."""

    act: RunAct
    id: DbId
    # 1: confirmed (Close now and Withdraw ask first).
    sure: Annotated[int, Field(ge=0, le=1)] = 0


class IntakeAct(StrEnum):
    SKIP = "skip"  # leave the optional field (the contact) empty
    ZONE = "zone"  # the municipality's time zone
    WHOLE = "whole"  # no structure found: the whole text as one section
    PUBLISH = "publish"
    REPLACE = "replace"  # the new version of a published consultation's document
    CANCEL = "cancel"


class IntakeCb(CallbackData, prefix="ik"):
    """A button of a consultation drafted from a document; `draft` (the message id of
    the document) tells an old draft's buttons from the current one's."""

    act: IntakeAct
    draft: DbId
