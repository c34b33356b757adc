"""`civicbot demo --staff`: the municipality's staff group in the stand-in, with a few
residents' submissions already waiting in it.

The submissions are sent through the real bot, by simulated residents tapping the same
buttons a person would, so the cards, receipts and outbox rows are the real ones.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.received import COLUMNS, import_csv
from bot.sandbox import Seat, SimChat, SimUser, TelegramStandIn

# What the simulated people are called and what they write: people's own words, not the
# bot's, so they are not translated through the catalogs.
GROUP_TITLES = {
    "bg": "Община — обществени консултации",
    "sl": "Občina — javna posvetovanja",
    "en": "Municipality — public consultations",
}
ANA_PROPOSAL = {
    "bg": "Предлагам общината да открие споделено работно място за млади предприемачи в центъра.",
    "sl": "Predlagam, da občina odpre skupni delovni prostor za mlade podjetnike v središču.",
    "en": "I propose that the municipality opens a shared workspace for young entrepreneurs "
    "in the centre.",
}
STRATEGY_SECTION = "stara-zagora-pid-strategy__3-1"
VISION_SECTION = "stara-zagora-vision-2027__2"
# Who else has written before the demo starts: name, language, where, which button, what.
OTHER_RESIDENTS = (
    (
        "Boris",
        "bg",
        STRATEGY_SECTION,
        "❓",
        "Кога ще бъде обявена първата процедура за финансиране по тази мярка?",
    ),
    (
        "Vesna",
        "sl",
        VISION_SECTION,
        "💡",
        "Predlagam, da vizija vključi tudi kolesarske poti do vseh šol v mestu.",
    ),
)
STEP_SECONDS = 15.0
# Kazanlak's consultation really closed on 10.11.2021 and took comments by e-mail: what
# it received is registered as staff would (`civicbot submissions import`), so that its
# review can be closed and its справка published in the demo.
RECEIVED_ELSEWHERE = (
    (
        "kazanlak-ipd-2021-2027",
        "5.1",
        "proposal",
        "Предлагаме дуалното обучение да включи и професионалната гимназия в Шипка.",
        "",
        "ngo",
        "Сдружение „Розова долина“",
        "email",
        "20.10.2021",
    ),
    (
        "kazanlak-ipd-2021-2027",
        "",
        "question",
        "Кога ще бъде обявен графикът за ремонта на спортната зала?",
        "Иван Петров",
        "",
        "",
        "meeting",
        "02.11.2021",
    ),
)


@dataclass(frozen=True)
class StaffGroup:
    chat: SimChat
    mira: SimUser
    petar: SimUser

    def seats(self) -> list[Seat]:
        return [Seat(self.mira, self.chat, alias="staff"), Seat(self.petar, self.chat)]


def add_staff_group(standin: TelegramStandIn, language: str) -> StaffGroup:
    """A forum supergroup, as a municipality would set it up: the bot is an
    administrator that opens a topic per consultation; Mira administers the group."""
    mira = standin.add_user("Mira", language_code=language)
    petar = standin.add_user("Petar", language_code=language)
    chat = standin.add_group(
        GROUP_TITLES.get(language, GROUP_TITLES["en"]),
        members=[petar],
        admins=[mira],
        is_forum=True,
        bot_is_admin=True,
        bot_can_manage_topics=True,
    )
    return StaffGroup(chat, mira, petar)


async def register_received_elsewhere(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings, now: datetime
) -> None:
    csv_file = io.StringIO()
    csv.writer(csv_file).writerows([COLUMNS, *RECEIVED_ELSEWHERE])
    async with session_factory.begin() as session:
        await import_csv(
            session,
            csv_file.getvalue().encode(),
            settings=settings,
            registered_by="Mira",
            now=now,
        )


async def seed_submissions(standin: TelegramStandIn, ana: SimUser) -> list[Seat]:
    """Ana and two other residents send a proposal or a question through the bot; the
    residents, as seats the terminal can switch to."""
    language = ana.language_code if ana.language_code in ANA_PROPOSAL else "en"
    await _submit(standin, ana, STRATEGY_SECTION, "💡", ANA_PROPOSAL[language])
    seats = []
    for name, their_language, link, kind, text in OTHER_RESIDENTS:
        resident = standin.add_user(name, language_code=their_language)
        await _submit(standin, resident, link, kind, text)
        seats.append(Seat(resident))
    # The cards go out through the outbox after the commits.
    await standin.wait_idle(timeout=STEP_SECONDS)
    return seats


async def _submit(
    standin: TelegramStandIn, resident: SimUser, link: str, kind: str, text: str
) -> None:
    await _write(standin, resident, f"/start {link}")
    await _tap(standin, resident, kind)
    if _last_text(standin, resident).startswith("🔒"):  # the privacy notice, once
        await _tap(standin, resident, "✅")
    await _write(standin, resident, text)
    await _tap(standin, resident, "✅")


async def _write(standin: TelegramStandIn, resident: SimUser, text: str) -> None:
    before = standin.message_count(resident)
    standin.send_text(resident, text)
    await standin.wait_for(lambda: standin.message_count(resident) > before, STEP_SECONDS)
    await standin.wait_idle(timeout=STEP_SECONDS)


async def _tap(standin: TelegramStandIn, resident: SimUser, prefix: str) -> None:
    message = standin.last_message(resident)
    if message is None:
        raise LookupError(f"the bot has not written to {resident.first_name}")
    label = next((b.text for b in message.flat_buttons if b.text.startswith(prefix)), None)
    if label is None:
        raise LookupError(f"no {prefix} button for {resident.first_name}: {message.text[:80]!r}")
    query = standin.press(resident, message, text=label)
    await standin.wait_callback_answer(query, timeout=STEP_SECONDS)
    await standin.wait_idle(timeout=STEP_SECONDS)


def _last_text(standin: TelegramStandIn, resident: SimUser) -> str:
    message = standin.last_message(resident)
    return message.text if message else ""
