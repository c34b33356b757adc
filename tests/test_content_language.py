"""Which language a resident reads content in: their own, else English where the file
has it, else the original; and the screen says which, in the resident's language."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.content import load_consultations, read_consultation_files
from bot.i18n import Catalogs
from bot.notify.messages import notice_text
from bot.plan import Localized, pick, translation_note
from storage.models import Consultation, Notice, NoticeKind
from tests.conftest import NOW, Chat, RunningBot, flat
from tests.test_submissions import QUESTION, WORDS, agree_and_write

CYRILLIC = set("абвгдежзийклмнопрстуфхцчшщъьюя")

STARA_ZAGORA = "stara-zagora-pid-strategy"
STARA_ZAGORA_EN = "Strategy for the development of entrepreneurship, innovation and digitalisation"
STARA_ZAGORA_BG = "Стратегия за развитие на предприемачеството, иновациите и дигитализацията"
IN_ENGLISH = {
    "sl": "Prikazano v angleščini: slovenskega prevoda še ni.",
    "bg": "Показано на английски: още няма превод на български.",
}
IN_THE_ORIGINAL = {
    "sl": "Prikazano v izvirniku (bolgarščina): prevoda v slovenščino ali angleščino še ni.",
    "en": "Shown in the original (Bulgarian): there is no English translation yet.",
}
CONTENTS = {"en": "📖 Contents", "bg": "📖 Съдържание", "sl": "📖 Vsebina"}
READ = {"en": "▶️ Read from the beginning", "bg": "▶️ Четене от началото", "sl": "▶️ Beri od začetka"}

# A consultation written only in Bulgarian: nothing to fall back on but the original.
ONLY_BULGARIAN = """\
format: 1
slug: kazanlak-parking
original_language: bg
timezone: Europe/Sofia
opens_at: 2024-05-27
closes_at: 2024-06-30
organizer: {bg: Община Казанлък}
title: {bg: Наредба за паркирането в центъра}
summary: {bg: Общината предлага нови правила за паркиране в центъра на града.}
sections:
  - number: "1"
    title: {bg: Зони за паркиране}
    body: {bg: Синя зона обхваща улиците около площад „Севтополис“.}
"""


def cyrillic_in(text: str) -> bool:
    return any(letter in CYRILLIC for letter in text.lower())


async def load_file(running_bot: RunningBot, tmp_path: Path, text: str) -> None:
    path = tmp_path / "extra.yaml"
    path.write_text(text, encoding="utf-8")
    files = [item.consultation for item in read_consultation_files([path])]
    assert running_bot.app is not None
    async with running_bot.app.session_factory.begin() as session:
        await load_consultations(session, files)


# ---------------------------------------------------------------- the language chain


def test_the_chain_is_the_readers_language_then_english_then_the_original() -> None:
    texts = {"bg": "План", "en": "Plan", "sl": "Načrt"}
    assert pick(texts, "sl", "bg") == Localized("Načrt", "sl")
    assert pick({"bg": "План", "en": "Plan"}, "sl", "bg") == Localized("Plan", "en")
    assert pick({"bg": "План", "en": ""}, "sl", "bg") == Localized("План", "bg")
    assert pick({"sl": "Načrt", "en": "Plan"}, "bg", "sl") == Localized("Plan", "en")


def test_the_note_says_which_language_in_the_readers_language() -> None:
    catalogs = Catalogs.load()
    sl, en, bg = (catalogs.translator(code) for code in ("sl", "en", "bg"))
    assert translation_note(sl, Localized("Načrt", "sl")) is None
    assert translation_note(sl, Localized("Plan", "en")) == f"<i>{IN_ENGLISH['sl']}</i>"
    assert translation_note(sl, Localized("План", "bg")) == f"<i>{IN_THE_ORIGINAL['sl']}</i>"
    assert translation_note(en, Localized("План", "bg")) == f"<i>{IN_THE_ORIGINAL['en']}</i>"
    assert translation_note(bg, Localized("Ask", "en")) == f"<i>{IN_ENGLISH['bg']}</i>"
    # Title in English, body only in the original: both are said, English first.
    both = translation_note(sl, Localized("План", "bg"), Localized("Plan", "en"))
    assert both == f"<i>{IN_ENGLISH['sl']}</i>\n<i>{IN_THE_ORIGINAL['sl']}</i>"


async def test_a_slovenian_resident_reads_a_bulgarian_consultation_in_english(resident) -> None:
    chat: Chat = resident("Ana", "sl")
    listing = await chat.send("/consultations")
    assert STARA_ZAGORA_EN in listing.text and STARA_ZAGORA_BG not in listing.text
    assert "Vprašaj, predlagaj" in listing.text, "Kranj's own Slovenian stays"

    card = await chat.send(f"/start {STARA_ZAGORA}")
    assert STARA_ZAGORA_EN in card.text
    assert "Municipality of Stara Zagora" in card.text
    assert not cyrillic_in(card.text), card.text
    assert IN_ENGLISH["sl"] in card.text

    contents = await chat.tap(CONTENTS["sl"])
    assert not cyrillic_in(contents.text), contents.text
    assert IN_ENGLISH["sl"] in contents.text

    await chat.send(f"/start {STARA_ZAGORA}")
    section = await chat.tap(READ["sl"])
    assert not cyrillic_in(section.text), section.text
    assert IN_ENGLISH["sl"] in section.text
    assert "Razdelek 1 od 10" in section.text


@pytest.mark.parametrize("language", ["bg", "en"])
async def test_a_slovenian_channel_falls_back_to_english(resident, language: str) -> None:
    chat: Chat = resident("Ana", language)
    card = await chat.send("/start kranj-vprasaj-predlagaj")
    assert "Ask, suggest" in card.text and "City Municipality of Kranj" in card.text
    assert "Vprašaj" not in card.text
    if language == "bg":
        assert IN_ENGLISH["bg"] in card.text
    else:
        assert "Shown in" not in card.text, "English is the English reader's own"


@pytest.mark.parametrize("language", ["sl", "en"])
async def test_without_english_the_original_is_shown_and_named(
    resident, running_bot: RunningBot, tmp_path: Path, language: str
) -> None:
    await load_file(running_bot, tmp_path, ONLY_BULGARIAN)
    chat: Chat = resident("Ana", language)
    card = await chat.send("/start kazanlak-parking")
    assert "Наредба за паркирането в центъра" in card.text
    assert IN_THE_ORIGINAL[language] in card.text
    section = await chat.tap(READ[language])
    assert "Синя зона" in section.text
    assert IN_THE_ORIGINAL[language] in section.text


async def test_the_receipt_names_the_organizer_in_english_for_a_slovenian_resident(
    resident,
) -> None:
    words = WORDS["sl"]
    chat: Chat = resident("Ana", "sl")
    await chat.send(f"/start {STARA_ZAGORA}__3-1")
    await chat.tap(words["ask"])
    await agree_and_write(chat, words, QUESTION)
    receipt = await chat.tap(words["send"])
    assert receipt.text.startswith(words["received_q"])
    assert "Municipality of Stara Zagora" in receipt.text
    assert not cyrillic_in(receipt.text), receipt.text


async def test_a_reminder_uses_the_same_chain_and_names_the_zone() -> None:
    catalogs = Catalogs.load()
    consultation = Consultation(
        slug=STARA_ZAGORA,
        original_language="bg",
        timezone="Europe/Sofia",
        title={"bg": STARA_ZAGORA_BG, "en": STARA_ZAGORA_EN},
        opens_at=NOW,
        closes_at=NOW.replace(day=19, hour=20, minute=59),
    )
    notice = Notice(kind=NoticeKind.DEADLINE, offset_key="7d")
    text = flat(notice_text(catalogs.translator("sl"), notice, consultation))
    assert STARA_ZAGORA_EN in text
    assert "19. junij 2024, 23:59 (sofijski čas)" in text
    bg = flat(notice_text(catalogs.translator("bg"), notice, consultation))
    assert "(софийско време)" in bg
