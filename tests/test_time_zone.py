"""Times in the zone they belong to: a consultation's in its own, the rest (the general
channel, its /stats and exports, the staff's times there, /mydata) in the municipality's
(TIMEZONE); every zone named the way people say it ("Sofia time", "софийско време")."""

from __future__ import annotations

import io

import pytest

from bot.config import Settings
from bot.export import consultation_stats, export_submissions
from bot.export.stats import day_axis_label
from bot.i18n import Catalogs
from bot.sandbox import TelegramStandIn
from tests.conftest import Chat, RunningBot, flat
from tests.test_staff import Staff, StaffRoom
from tests.test_staff import maria as maria  # a fixture
from tests.test_staff import staff_room as staff_room  # a fixture
from tests.test_submissions import QUESTION, WORDS, agree_and_write

STARA_ZAGORA = "stara-zagora-pid-strategy"


# ---------------------------------------------------------------- naming zones


@pytest.mark.parametrize(
    ("zone", "names"),
    [
        ("Europe/Sofia", {"en": "Sofia time", "bg": "софийско време", "sl": "sofijski čas"}),
        (
            "Europe/Ljubljana",
            {"en": "Ljubljana time", "bg": "люблянско време", "sl": "ljubljanski čas"},
        ),
        ("UTC", {"en": "UTC", "bg": "UTC", "sl": "UTC"}),
        ("Etc/UTC", {"en": "UTC", "bg": "UTC", "sl": "UTC"}),
        (
            "Europe/Berlin",
            {"en": "Berlin time", "bg": "местно време в Берлин", "sl": "krajevni čas: Berlin"},
        ),
    ],
)
def test_zones_are_named_the_way_people_say_them(zone: str, names: dict[str, str]) -> None:
    catalogs = Catalogs.load()
    for language, name in names.items():
        assert catalogs.translator(language).zone_name(zone) == name


async def test_the_card_names_the_zone_of_its_deadline(resident) -> None:
    chat: Chat = resident("Ана", "bg")
    card = await chat.send(f"/start {STARA_ZAGORA}")
    assert "Отворена до 19 юни 2024 г., 23:59 (софийско време)." in flat(card.text)
    chat = resident("Ana", "en")
    card = await chat.send(f"/start {STARA_ZAGORA}")
    assert "Open until 19 June 2024, 23:59 (Sofia time)." in flat(card.text)


# ---------------------------------------------------------------- the municipality's zone


@pytest.fixture(params=["Europe/Sofia", "Europe/Ljubljana"])
def bot_settings(
    request: pytest.FixtureRequest, bot_settings: Settings, staff_room: StaffRoom
) -> Settings:
    return bot_settings.model_copy(
        update={
            "staff_chat_id": staff_room.chat.id,
            "default_locale": "bg",
            "timezone": request.param,
        }
    )


LOCAL_HOUR = {"Europe/Sofia": "12:00", "Europe/Ljubljana": "11:00"}  # NOW is 09:00 UTC
ZONE_IN_ENGLISH = {"Europe/Sofia": "Sofia time", "Europe/Ljubljana": "Ljubljana time"}
ZONE_IN_BULGARIAN = {"Europe/Sofia": "софийско време", "Europe/Ljubljana": "люблянско време"}


async def ask_the_municipality(chat: Chat) -> str:
    words = WORDS["en"]
    await chat.send("/start")
    await chat.tap(words["channel"])
    await chat.tap(words["ask"])
    await agree_and_write(chat, words, QUESTION)
    receipt = await chat.tap(words["send"])
    assert receipt.text.startswith(words["received_q"])
    return next(word.rstrip(".") for word in receipt.text.split() if word[:4].isdigit())


async def test_general_channel_times_are_in_the_municipalitys_zone(
    resident, maria: Staff, standin: TelegramStandIn, bot_settings: Settings
) -> None:
    zone = bot_settings.timezone
    chat: Chat = resident("Ana", "en")
    number = await ask_the_municipality(chat)

    card = await maria.card_of(number)
    assert f"🕓 1 юни 2024 г., {LOCAL_HOUR[zone]}" in flat(card.text)

    before = len(standin.messages(chat.user))
    standin.send_text(chat.user, "/mydata")
    await standin.wait_idle()
    [document, readable] = standin.messages(chat.user)[before:]
    text = flat((readable.document or b"").decode())
    sent = next(line for line in text.splitlines() if line.strip().startswith("sent:"))
    assert f"1 June 2024, {LOCAL_HOUR[zone]} ({ZONE_IN_ENGLISH[zone]})" in sent
    assert "UTC" not in text and "UTC" not in (document.document or b"").decode()


async def test_general_exports_and_stats_are_in_the_municipalitys_zone(
    resident, maria: Staff, running_bot: RunningBot, bot_settings: Settings
) -> None:
    zone = bot_settings.timezone
    chat: Chat = resident("Ana", "en")
    await ask_the_municipality(chat)
    catalogs = Catalogs.load(home_zone=zone)
    en, bg = catalogs.translator("en"), catalogs.translator("bg")
    assert running_bot.app is not None
    factory = running_bot.app.session_factory

    output = io.BytesIO()
    await export_submissions(factory, "general", "csv", output, en)
    lines = output.getvalue().decode("utf-8-sig").splitlines()
    assert f"Sent ({ZONE_IN_ENGLISH[zone]})" in lines[0]
    assert f"2024-06-01 {LOCAL_HOUR[zone]}" in lines[1]

    async with factory() as session:
        stats = await consultation_stats(session, "general", home_zone=zone)
        consultation = await consultation_stats(session, STARA_ZAGORA, home_zone=zone)
    assert day_axis_label(stats, bg) == f"Ден ({ZONE_IN_BULGARIAN[zone]})"
    assert day_axis_label(consultation, bg) == "Ден (софийско време)", "its own zone"
