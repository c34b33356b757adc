"""End to end: residents send proposals and questions through the real bot."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bot.sandbox import TelegramStandIn
from storage.models import Resident, Submission, SubmissionKind
from tests.conftest import Chat, RunningBot, load_examples
from tests.processes import civicbot, environment, finish, polling

PROPOSAL = "We need a co-working space near the station, open in the evenings too."
QUESTION = "When will the industrial zone get a direct bus line from the centre?"

WORDS = {
    "en": {
        "suggest": "💡 Suggest",
        "ask": "❓ Ask",
        "agree": "✅ I agree",
        "send": "✅ Send",
        "received": "✅ Received. Your proposal has the number",
        "received_q": "✅ Received. Your question has the number",
        "privacy": "🔒 Before you write: your data",
        "write": "Write it in one message",
        "channel": "✍️ Ask or suggest",
    },
    "bg": {
        "suggest": "💡 Предложение",
        "ask": "❓ Въпрос",
        "agree": "✅ Съгласявам се",
        "send": "✅ Изпращане",
        "received": "✅ Получено. Предложението ви е с номер",
        "received_q": "✅ Получено. Въпросът ви е с номер",
        "privacy": "🔒 Преди да пишете: вашите данни",
        "write": "Напишете го в едно съобщение",
        "channel": "✍️ Питайте или предложете",
    },
    "sl": {
        "suggest": "💡 Predlagaj",
        "ask": "❓ Vprašaj",
        "agree": "✅ Strinjam se",
        "send": "✅ Pošlji",
        "received": "✅ Prejeto. Vaš predlog ima številko",
        "received_q": "✅ Prejeto. Vaše vprašanje ima številko",
        "privacy": "🔒 Preden začnete pisati: vaši podatki",
        "write": "Napišite ga v enem sporočilu",
        "channel": "✍️ Vprašaj, predlagaj",
    },
}


async def stored(running_bot: RunningBot) -> list[Submission]:
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        return list(await session.scalars(select(Submission).order_by(Submission.id)))


async def open_section(chat: Chat, link: str = "stara-zagora-pid-strategy__3-1") -> None:
    await chat.send(f"/start {link}")


async def agree_and_write(chat: Chat, words: dict[str, str], text: str) -> None:
    """From the privacy notice (first time) or the prompt to the preview."""
    if chat.last.text.startswith(words["privacy"]):
        await chat.tap(words["agree"])
    assert words["write"] in chat.last.text
    await chat.send(text)


@pytest.mark.parametrize("language", ["en", "bg", "sl"])
async def test_a_proposal_on_a_section_from_start_to_receipt(
    resident, running_bot: RunningBot, language: str
) -> None:
    words = WORDS[language]
    chat: Chat = resident("Ana", language)
    await open_section(chat)
    notice = await chat.tap(words["suggest"])
    assert notice.text.startswith(words["privacy"]), "consent is asked before the first one"
    await agree_and_write(chat, words, PROPOSAL)
    assert PROPOSAL in chat.last.text  # the preview
    receipt = await chat.tap(words["send"])
    assert receipt.text.startswith(words["received"])

    [submission] = await stored(running_bot)
    assert submission.kind is SubmissionKind.PROPOSAL
    assert submission.section_number == "3.1"
    assert submission.text == PROPOSAL
    assert submission.author_name is None, "anonymous to the public unless signed"
    assert submission.language == language
    assert submission.public_number in receipt.text

    # The second time there is no notice: the agreement and its version were stored.
    await open_section(chat, "stara-zagora-pid-strategy")
    prompt = await chat.tap(words["ask"])
    assert words["write"] in prompt.text
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        ana = await session.scalar(
            select(Resident).where(Resident.telegram_user_id == chat.user.id)
        )
        assert ana is not None and ana.consent_at is not None and ana.consent_version


@pytest.mark.parametrize("language", ["en", "bg", "sl"])
async def test_a_question_on_the_general_channel(resident, running_bot, language: str) -> None:
    words = WORDS[language]
    chat: Chat = resident("Ana", language)
    await chat.send("/start")
    await chat.tap(words["channel"])
    await chat.tap(words["ask"])
    await agree_and_write(chat, words, QUESTION)
    receipt = await chat.tap(words["send"])
    assert receipt.text.startswith(words["received_q"])
    [submission] = await stored(running_bot)
    assert submission.consultation_id is None and submission.section_id is None
    assert submission.kind is SubmissionKind.QUESTION


async def _to_prompt(chat: Chat) -> None:
    await open_section(chat)
    await chat.tap("💡 Suggest")
    await chat.tap("✅ I agree")


async def test_photo_and_location_are_attached(
    resident, standin: TelegramStandIn, running_bot
) -> None:
    chat: Chat = resident()
    await _to_prompt(chat)
    added = await chat.expect_answer(lambda: standin.send_photo(chat.user))
    assert added.text.startswith("📎 Added") and "Now write your text" in added.text
    await chat.send(PROPOSAL)
    preview = await chat.expect_answer(lambda: standin.send_location(chat.user, 42.4258, 25.6345))
    assert "1 photo, a location" in preview.text
    await chat.tap("✅ Send")
    [submission] = await stored(running_bot)
    kinds = [item["type"] for item in submission.attachments]
    assert kinds == ["photo", "location"]
    assert submission.attachments[0]["file_id"]
    assert submission.attachments[1]["latitude"] == pytest.approx(42.4258)


async def test_a_photo_with_a_caption_is_text_and_attachment(resident, standin, running_bot):
    chat: Chat = resident()
    await _to_prompt(chat)
    preview = await chat.expect_answer(lambda: standin.send_photo(chat.user, caption=PROPOSAL))
    assert PROPOSAL in preview.text and "1 photo" in preview.text


async def test_too_many_photos_and_unusable_content_are_refused_politely(
    resident, standin: TelegramStandIn
) -> None:
    chat: Chat = resident()
    await _to_prompt(chat)
    await chat.send(PROPOSAL)
    for _ in range(5):
        await chat.expect_answer(lambda: standin.send_photo(chat.user))
    refused = await chat.expect_answer(lambda: standin.send_photo(chat.user))
    assert refused.text == "A submission can have at most 5 photos."
    sticker = await chat.expect_answer(lambda: standin.send_sticker(chat.user))
    assert sticker.text.startswith("I can attach photos, a document or a location")


async def test_signing_with_the_telegram_name(resident, running_bot) -> None:
    chat: Chat = resident("Ana")
    await _to_prompt(chat)
    await chat.send(PROPOSAL)
    signed = await chat.tap("👤 Sign with my name")
    # A name is set apart by invisible isolates (its writing direction stays inside).
    assert "👤 Signed as \u2068Ana\u2069" in signed.text
    back = await chat.tap("🙈 Stay anonymous")
    assert "🙈 Anonymous to the public" in back.text
    await chat.tap("👤 Sign with my name")
    await chat.tap("✅ Send")
    [submission] = await stored(running_bot)
    assert submission.author_name == "Ana"


async def test_edit_and_cancel(resident, running_bot) -> None:
    chat: Chat = resident()
    await _to_prompt(chat)
    await chat.send(PROPOSAL)
    prompt = await chat.tap("✏️ Edit the text")
    assert "Your new text will replace" in prompt.text
    preview = await chat.send(QUESTION)
    assert QUESTION in preview.text and PROPOSAL not in preview.text
    cancelled = await chat.tap("✖️ Cancel")
    assert cancelled.text.startswith("Cancelled. Nothing was sent.")
    assert await stored(running_bot) == []
    assert (await chat.send("/cancel")).text.startswith("There is nothing to cancel.")


async def test_text_limits_are_explained_and_the_draft_waits(resident) -> None:
    chat: Chat = resident()
    await _to_prompt(chat)
    assert (await chat.send("Too short")).text.startswith("This is 9 characters; please write")
    long = await chat.send("x" * 3001)
    assert long.text.startswith("This is 3,001 characters; at most 3,000 fit")
    assert PROPOSAL in (await chat.send(PROPOSAL)).text


async def test_closed_and_upcoming_consultations_refuse_politely(resident, running_bot) -> None:
    chat: Chat = resident()
    card = await chat.send("/start kazanlak-ipd-2021-2027")
    assert "💡 Suggest" not in chat.labels, "no suggest button on a closed consultation"
    ids = {}
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        from storage.models import Consultation

        for consultation in await session.scalars(select(Consultation)):
            ids[consultation.slug] = consultation.id
    await chat.tap_data(f"w:proposal:{ids['kazanlak-ipd-2021-2027']}:0", message=card)
    assert "This consultation closed on 10 November 2021" in chat.text
    await chat.tap_data(f"w:question:{ids['stara-zagora-vision-2027']}:0")
    assert "This consultation opens on 2 September 2024" in chat.text
    assert await stored(running_bot) == []


async def test_person_written_text_is_escaped_everywhere(resident, standin, running_bot) -> None:
    chat: Chat = resident("<b>Ana</b> & co")
    tricky = "Use <b>bold</b> & <script>alert(1)</script> *stars* _under_ [link](http://x)"
    await _to_prompt(chat)
    preview = await chat.send(tricky)
    assert tricky in preview.text
    signed = await chat.tap("👤 Sign with my name")
    assert "Signed as \u2068<b>Ana</b> & co\u2069" in signed.text
    await chat.tap("✅ Send")
    mine = await chat.send("/my")
    assert "<script>" in mine.text
    assert standin.invalid_requests == []


async def test_a_double_tap_on_send_makes_one_submission(
    resident, standin: TelegramStandIn, running_bot
) -> None:
    chat: Chat = resident()
    await _to_prompt(chat)
    preview = await chat.send(PROPOSAL)
    first = standin.press(chat.user, preview, text="✅ Send")
    second = standin.press(chat.user, preview, text="✅ Send")
    await standin.wait_callback_answer(first)
    await standin.wait_callback_answer(second)
    await chat.settled()
    assert len(await stored(running_bot)) == 1
    assert chat.last.text.startswith("✅ Received.")
    # The second press still carries the preview and asks for the receipt the first put
    # there: the bot knows, and sends no edit that changes nothing.
    assert standin.invalid_requests == []


async def test_a_redelivered_send_update_makes_one_submission(
    resident, standin: TelegramStandIn, running_bot
) -> None:
    chat: Chat = resident()
    await _to_prompt(chat)
    preview = await chat.send(PROPOSAL)
    send_data = preview.button(text="✅ Send").value
    for _ in range(2):  # the same button press delivered twice, as after a crash
        await chat.tap_data(send_data, message=preview)
    submissions = await stored(running_bot)
    assert len(submissions) == 1
    assert submissions[0].public_number in chat.last.text


async def test_the_same_text_twice_is_recognised(resident, running_bot) -> None:
    chat: Chat = resident()
    await _to_prompt(chat)
    await chat.send(PROPOSAL)
    await chat.tap("✅ Send")
    await open_section(chat)
    await chat.tap("💡 Suggest")
    await chat.send("  " + PROPOSAL.upper() + "  ")
    again = await chat.tap("✅ Send")
    [submission] = await stored(running_bot)
    assert again.text.startswith("You sent the same text a few minutes ago")
    assert submission.public_number in again.text


async def test_a_draft_survives_a_restart(resident, running_bot: RunningBot) -> None:
    chat: Chat = resident()
    await _to_prompt(chat)
    await running_bot.restart()
    preview = await chat.send(PROPOSAL)
    assert PROPOSAL in preview.text
    await running_bot.restart()
    receipt = await chat.tap("✅ Send", message=preview)
    assert receipt.text.startswith("✅ Received.")
    assert len(await stored(running_bot)) == 1


async def test_the_menu_offers_to_continue_a_draft(resident) -> None:
    chat: Chat = resident()
    await _to_prompt(chat)
    await chat.send(PROPOSAL)
    await chat.send("/start")
    assert "📝 Continue your draft" in chat.labels
    preview = await chat.tap("📝 Continue your draft")
    assert PROPOSAL in preview.text and "✅ Send" in chat.labels


async def test_my_submissions_list_shows_status(resident) -> None:
    chat: Chat = resident()
    assert (await chat.send("/my")).text.startswith("You have not sent any")
    await _to_prompt(chat)
    await chat.send(PROPOSAL)
    await chat.tap("✅ Send")
    mine = await chat.send("/my")
    assert "Your proposals and questions" in mine.text
    assert "Status: received, waiting for an answer" in mine.text
    assert "3.1" in mine.text


async def test_my_data_is_a_json_document(resident, standin: TelegramStandIn) -> None:
    chat: Chat = resident()
    await _to_prompt(chat)
    await chat.send(PROPOSAL)
    await chat.tap("✅ Send")
    before = len(standin.messages(chat.user))
    standin.send_text(chat.user, "/mydata")
    await standin.wait_idle()
    [document, readable] = standin.messages(chat.user)[before:]
    assert document.kind == "document" and document.filename == "civicbot-my-data.json"
    assert readable.filename == "civicbot-my-data.txt" and "/forget" in readable.text
    data = json.loads(document.document or b"{}")
    assert data["profile"]["telegram_user_id"] == chat.user.id
    assert data["profile"]["privacy_notice_version"]
    assert [item["text"] for item in data["submissions"]] == [PROPOSAL]


@pytest.mark.parametrize("keep", [True, False])
async def test_forget_erases_the_resident(resident, running_bot, keep: bool) -> None:
    chat: Chat = resident("Ana")
    await _to_prompt(chat)
    await chat.send(PROPOSAL)
    await chat.tap("👤 Sign with my name")
    await chat.tap("✅ Send")
    question = await chat.send("/forget")
    assert "You have sent 1 submission." in question.text
    label = (
        "🗑 Erase me, keep my submissions anonymously" if keep else "🗑 Erase me and my submissions"
    )
    done = await chat.tap(label)
    assert done.text.startswith("Done.")
    assert ("stays, with no link to you" in done.text) == keep
    submissions = await stored(running_bot)
    if keep:
        [kept] = submissions
        assert kept.resident_id is None and kept.author_name is None
    else:
        assert submissions == []
    assert running_bot.app is not None
    async with running_bot.app.session_factory() as session:
        ana = await session.scalar(
            select(Resident).where(Resident.telegram_user_id == chat.user.id)
        )
        assert ana is None


@pytest.fixture(params=["database", "redis"])
def conversation_store(request: pytest.FixtureRequest) -> dict[str, str]:
    """Where drafts are kept: the database (default) or Redis (REDIS_URL)."""
    if request.param == "database":
        return {}
    return {"REDIS_URL": request.getfixturevalue("clean_redis_url")}


async def test_a_draft_survives_the_real_process_being_stopped_and_started(
    standin: TelegramStandIn, bot_settings, conversation_store: dict[str, str]
) -> None:
    await load_examples(bot_settings)
    env = environment(standin, bot_settings.database_url, **conversation_store)
    chat = Chat(standin, standin.add_user("Ana", language_code="en"))

    bot = await civicbot(env, "run")
    await polling(standin)
    await chat.send("/start")  # the real clock: the general channel is always open
    await chat.tap("✍️ Ask or suggest")
    await chat.tap("💡 Suggest")
    await chat.tap("✅ I agree")
    bot.send_signal(15)
    assert (await finish(bot))[0] == 0

    bot = await civicbot(env, "run")
    await polling(standin)
    preview = await chat.send(PROPOSAL)
    assert PROPOSAL in preview.text and "✅ Send" in chat.labels
    bot.send_signal(15)
    assert (await finish(bot))[0] == 0

    bot = await civicbot(env, "run")
    await polling(standin)
    await chat.tap("✅ Send", message=preview)
    # The receipt (the preview, edited) follows the commit through the outbox: on a busy
    # machine, after the button's answer.
    await standin.wait_for(lambda: chat.last.text.startswith("✅ Received."), 15)
    bot.send_signal(15)
    code, errors = await finish(bot)
    assert code == 0 and "Traceback" not in errors
    assert standin.invalid_requests == []


async def test_a_forged_send_before_any_text_stores_nothing(resident, running_bot) -> None:
    chat: Chat = resident()
    await _to_prompt(chat)
    cancel_data = chat.last.button(text="✖️ Cancel").value
    await chat.tap_data(cancel_data.replace("cancel", "send"))
    assert "Write it in one message" in chat.last.text
    assert await stored(running_bot) == []
