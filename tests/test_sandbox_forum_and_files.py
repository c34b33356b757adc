"""The stand-in's forum topics, files sent by file_id, albums, locations, forwards and copies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BufferedInputFile,
    InputMediaDocument,
    InputMediaPhoto,
    Message,
    ReplyParameters,
)

from bot.sandbox import SimTopic, TelegramStandIn
from bot.sandbox.simulation import SAMPLE_OGG, SAMPLE_STICKER, sample_png
from tests.test_sandbox import TOKEN, FastCloseSession, call

YELLOW = 0xFFD67E


@pytest.fixture
async def standin() -> AsyncIterator[TelegramStandIn]:
    async with TelegramStandIn(
        TOKEN, global_rate=None, per_chat_rate=None, group_rate_per_minute=None
    ) as server:
        yield server


@pytest.fixture
async def bot(standin: TelegramStandIn) -> AsyncIterator[Bot]:
    session = FastCloseSession(api=TelegramAPIServer.from_base(standin.base_url))
    yield Bot(TOKEN, session=session)
    await session.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def descriptions(standin: TelegramStandIn) -> list[str]:
    return [r.description for r in standin.invalid_requests]


# --- forum topics ------------------------------------------------------------------------------


async def test_create_forum_topic_needs_a_forum_and_the_right_to_manage_topics(
    standin: TelegramStandIn, bot: Bot
) -> None:
    plain = standin.add_group("Town", bot_is_admin=True)
    unprivileged = standin.add_group("Forum A", is_forum=True)
    no_topic_right = standin.add_group(
        "Forum B", is_forum=True, bot_is_admin=True, bot_can_manage_topics=False
    )
    forum = standin.add_group("Forum C", is_forum=True, bot_is_admin=True)
    anna = standin.add_user("Anna")

    for chat, error in [
        (plain.id, "Bad Request: the chat is not a forum"),
        (anna.id, "Bad Request: the chat is not a forum"),
        (unprivileged.id, "Bad Request: not enough rights to create a topic"),
        (no_topic_right.id, "Bad Request: not enough rights to create a topic"),
    ]:
        with pytest.raises(TelegramBadRequest) as raised:
            await bot.create_forum_topic(chat, "Roads")
        assert raised.value.message == error
    member = await bot.get_chat_member(no_topic_right.id, standin.bot_user.id)
    assert member.status == "administrator" and member.can_manage_topics is False

    roads = await bot.create_forum_topic(forum.id, "  Roads \n and  bridges ")
    parks = await bot.create_forum_topic(forum.id, "Parks", icon_color=YELLOW)
    assert (roads.name, roads.icon_color) == ("Roads and bridges", 0x6FB9F0)
    assert parks.message_thread_id > roads.message_thread_id > 1
    bot_id = standin.bot_user.id
    assert standin.topics(forum) == [
        SimTopic(
            forum.id, roads.message_thread_id, "Roads and bridges", 0x6FB9F0, creator_id=bot_id
        ),
        SimTopic(forum.id, parks.message_thread_id, "Parks", YELLOW, creator_id=bot_id),
    ]
    with pytest.raises(TelegramBadRequest, match="Bad Request: name must be non-empty"):
        await bot.create_forum_topic(forum.id, " \n ")
    with pytest.raises(TelegramBadRequest, match="Bad Request: invalid icon color specified"):
        await bot.create_forum_topic(forum.id, "Bins", icon_color=0x1000000)
    # Topic service messages are not among the bot's messages.
    assert standin.messages(forum) == []
    assert (await bot.get_chat(forum.id)).is_forum is True


async def test_messages_in_a_topic_carry_its_thread_id_and_implicit_reply(
    standin: TelegramStandIn, bot: Bot
) -> None:
    forum = standin.add_group("Staff", is_forum=True, bot_is_admin=True)
    roads = await bot.create_forum_topic(forum.id, "Roads")
    thread = roads.message_thread_id

    sent = await bot.send_message(forum.id, "New report", message_thread_id=thread)
    assert (sent.message_thread_id, sent.is_topic_message) == (thread, True)
    # The Bot API shows the topic's creation as what a topic message replies to.
    assert sent.reply_to_message is not None
    assert sent.reply_to_message.message_id == thread
    assert sent.reply_to_message.forum_topic_created.name == "Roads"
    photo = await bot.send_photo(
        forum.id, BufferedInputFile(sample_png(), "p.png"), message_thread_id=thread
    )
    document = await bot.send_document(
        forum.id, BufferedInputFile(b"a;b\n", "r.csv"), message_thread_id=thread
    )
    location = await bot.send_location(forum.id, 52.0, 4.0, message_thread_id=thread)
    album = await bot.send_media_group(
        forum.id,
        [InputMediaPhoto(media=photo.photo[-1].file_id)] * 2,
        message_thread_id=thread,
    )
    assert await bot.send_chat_action(forum.id, "typing", message_thread_id=thread)
    general = await bot.send_message(forum.id, "In General")

    assert {m.message_thread_id for m in (photo, document, location, *album)} == {thread}
    assert [m.thread_id for m in standin.messages(forum)] == [thread] * 6 + [None]
    assert general.message_thread_id is None and general.reply_to_message is None
    assert standin.chat_actions[-1].thread_id == thread
    # A reply without message_thread_id lands in the replied message's topic.
    reply = await bot.send_message(
        forum.id, "Fixed", reply_parameters=ReplyParameters(message_id=sent.message_id)
    )
    assert reply.message_thread_id == thread
    assert reply.reply_to_message.message_id == sent.message_id
    assert standin.invalid_requests == []


@pytest.mark.parametrize(
    ("chat_kind", "thread_id"),
    [("forum", 999), ("forum", 1), ("private", 5)],
)
async def test_unknown_message_threads_are_refused(
    standin: TelegramStandIn, http: aiohttp.ClientSession, chat_kind: str, thread_id: int
) -> None:
    forum = standin.add_group("Staff", is_forum=True, bot_is_admin=True)
    anna = standin.add_user("Anna")
    chat_id = forum.id if chat_kind == "forum" else anna.id
    for method, params in [
        ("sendMessage", {"text": "x"}),
        ("sendLocation", {"latitude": 1, "longitude": 2}),
        ("sendChatAction", {"action": "typing"}),
    ]:
        status, body = await call(
            http,
            standin,
            method,
            {"chat_id": chat_id, "message_thread_id": thread_id, **params},
        )
        assert (status, body["description"]) == (400, "Bad Request: message thread not found")


async def test_message_thread_id_outside_a_forum_is_ignored_but_reported(
    standin: TelegramStandIn, bot: Bot
) -> None:
    town = standin.add_group("Town")
    sent = await bot.send_message(town.id, "hello", message_thread_id=7)
    assert sent.message_thread_id is None
    assert descriptions(standin) == [
        "message_thread_id in a group that is not a forum (Telegram ignores it)"
    ]


async def test_closing_editing_and_rights_over_topics(standin: TelegramStandIn, bot: Bot) -> None:
    anna, olga = standin.add_user("Anna"), standin.add_user("Olga")
    forum = standin.add_group(
        "Staff", is_forum=True, bot_is_admin=True, members=[anna], admins=[olga]
    )
    topic = await bot.create_forum_topic(forum.id, "Roads")
    thread = topic.message_thread_id

    assert await bot.edit_forum_topic(forum.id, thread, name="Streets")
    assert await bot.edit_forum_topic(forum.id, thread)  # nothing to change: a no-op
    with pytest.raises(TelegramBadRequest, match="Bad Request: TOPIC_NOT_MODIFIED"):
        await bot.edit_forum_topic(forum.id, thread, name="Streets")
    assert await bot.close_forum_topic(forum.id, thread)
    with pytest.raises(TelegramBadRequest, match="Bad Request: TOPIC_NOT_MODIFIED"):
        await bot.close_forum_topic(forum.id, thread)
    assert standin.topics(forum)[0].is_closed and standin.topics(forum)[0].name == "Streets"
    with pytest.raises(TelegramBadRequest, match="Bad Request: TOPIC_ID_INVALID"):
        await bot.close_forum_topic(forum.id, 4242)

    # Managing topics lets the bot (and admins) post in a closed topic; members cannot.
    await bot.send_message(forum.id, "Closed for now", message_thread_id=thread)
    standin.send_text(olga, "noted", chat=forum, thread_id=thread)
    with pytest.raises(ValueError, match="is closed"):
        standin.send_text(anna, "let me in", chat=forum, thread_id=thread)

    # Without the right, the bot still manages its own topics, but no one else's.
    olgas = standin.create_topic(olga, forum, "Parks")
    standin.set_member_status(forum, standin.bot_user, "member")
    with pytest.raises(TelegramBadRequest, match="Bad Request: TOPIC_CLOSED"):
        await bot.send_message(forum.id, "still here?", message_thread_id=thread)
    assert await bot.reopen_forum_topic(forum.id, thread)
    with pytest.raises(TelegramBadRequest, match="not enough rights to close or open the topic"):
        await bot.close_forum_topic(forum.id, olgas.thread_id)
    with pytest.raises(
        TelegramBadRequest, match="Bad Request: not enough rights to edit the topic"
    ):
        await bot.edit_forum_topic(forum.id, olgas.thread_id, name="Gardens")
    with pytest.raises(TelegramBadRequest, match="not enough rights to create a topic"):
        await bot.create_forum_topic(forum.id, "Bins")

    (update,) = [u for u in await bot.get_updates() if u.message.forum_topic_created]
    assert update.message.forum_topic_created.name == "Parks"
    assert update.message.message_thread_id == olgas.thread_id


async def test_users_write_in_topics_and_reply_to_the_bot(
    standin: TelegramStandIn, bot: Bot
) -> None:
    anna, ben = standin.add_user("Anna"), standin.add_user("Ben")
    forum = standin.add_group("Staff", is_forum=True, bot_is_admin=True, members=[anna, ben])
    town = standin.add_group("Town", members=[anna])
    thread = (await bot.create_forum_topic(forum.id, "Roads")).message_thread_id
    asked = await bot.send_message(forum.id, "Who takes #12?", message_thread_id=thread)
    in_town = await bot.send_message(town.id, "Consultation open")

    standin.send_text(anna, "Pothole on Main St", chat=forum, thread_id=thread)
    standin.send_text(ben, "me", chat=forum, reply_to=standin.message(forum, asked.message_id))
    standin.send_text(anna, "thanks", chat=town, reply_to=in_town.message_id)
    standin.send_text(ben, "general chat", chat=forum)

    pothole, taken, thanks, general = (u.message for u in await bot.get_updates())
    assert (pothole.message_thread_id, pothole.is_topic_message) == (thread, True)
    assert pothole.reply_to_message.forum_topic_created.name == "Roads"
    assert taken.message_thread_id == thread
    assert taken.reply_to_message.message_id == asked.message_id
    assert taken.reply_to_message.text == "Who takes #12?"
    assert taken.reply_to_message.from_user.id == standin.bot_user.id
    assert thanks.reply_to_message.message_id == in_town.message_id
    assert thanks.reply_to_message.text == "Consultation open"
    assert general.message_thread_id is None and general.reply_to_message is None
    with pytest.raises(LookupError, match="no topic 77"):
        standin.send_text(anna, "x", chat=forum, thread_id=77)
    with pytest.raises(ValueError, match="has no topics"):
        standin.send_text(anna, "x", chat=town, thread_id=thread)


async def test_aiogram_answers_land_in_the_topic_they_answer(standin: TelegramStandIn) -> None:
    router = Router()

    @router.message(F.text == "status?")
    async def status(message: Message) -> None:
        await message.answer("All good")
        await message.reply("(replying)")

    anna = standin.add_user("Anna")
    forum = standin.add_group("Staff", is_forum=True, bot_is_admin=True, members=[anna])
    session = FastCloseSession(api=TelegramAPIServer.from_base(standin.base_url))
    bot = Bot(TOKEN, session=session)
    thread = (await bot.create_forum_topic(forum.id, "Roads")).message_thread_id
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1)
    )
    try:
        await standin.wait_for(lambda: standin.is_long_polling)
        asked = standin.message_id_of(
            standin.send_text(anna, "status?", chat=forum, thread_id=thread)
        )
        answer, reply = await standin.wait_messages(forum, 2)
    finally:
        await dispatcher.stop_polling()
        await polling
        await session.close()
    assert (answer.text, answer.thread_id) == ("All good", thread)
    assert (reply.thread_id, reply.reply_to_message_id) == (thread, asked)
    assert standin.invalid_requests == []


# --- files by file_id -----------------------------------------------------------------------------


async def test_files_go_again_by_file_id(standin: TelegramStandIn, bot: Bot) -> None:
    anna = standin.add_user("Anna")
    staff = standin.add_group("Staff")
    standin.send_photo(anna, caption="pothole")
    standin.send_document(anna, b"plan", filename="plan.txt")
    standin.send_voice(anna, duration=4)
    standin.send_sticker(anna, emoji="🚧")
    photo, document, voice, sticker = (u.message for u in await bot.get_updates())

    sent_photo = await bot.send_photo(staff.id, photo.photo[-1].file_id, caption="From Anna")
    assert [p.file_unique_id for p in sent_photo.photo] == [p.file_unique_id for p in photo.photo]
    sent_doc = await bot.send_document(staff.id, document.document.file_id)
    assert (await bot.download(sent_doc.document.file_id)).read() == b"plan"
    sent_voice = await bot.send_voice(staff.id, voice.voice.file_id)
    assert sent_voice.voice.duration == 4
    sent_sticker = await bot.send_sticker(staff.id, sticker.sticker.file_id)
    assert sent_sticker.sticker.emoji == "🚧"
    # Document-like files stand in for each other and stay what they are.
    voice_as_document = await bot.send_document(staff.id, voice.voice.file_id)
    assert voice_as_document.voice is not None and voice_as_document.document is None
    # A file the bot uploaded can be reused too.
    uploaded = await bot.send_document(anna.id, BufferedInputFile(b"csv", "r.csv"))
    again = await bot.send_document(staff.id, uploaded.document.file_id)
    assert again.document.file_unique_id == uploaded.document.file_unique_id

    kinds = [(m.kind, m.file_id is not None) for m in standin.messages(staff)]
    assert kinds == [
        ("photo", True),
        ("document", True),
        ("voice", True),
        ("sticker", True),
        ("voice", True),
        ("document", True),
    ]
    assert standin.messages(staff)[0].text == "From Anna"
    assert standin.invalid_requests == []


@pytest.mark.parametrize(
    ("sender", "file_of", "error"),
    [
        ("send_photo", "unknown", "wrong file identifier/HTTP URL specified"),
        ("send_document", "unknown", "wrong file identifier/HTTP URL specified"),
        ("send_document", "photo", "can't use file of type Photo as Document"),
        ("send_voice", "photo", "can't use file of type Photo as VoiceNote"),
        ("send_photo", "document", "can't use file of type Document as Photo"),
        ("send_photo", "sticker", "can't use file of type Sticker as Photo"),
    ],
)
async def test_unknown_or_mismatched_file_ids_are_refused(
    standin: TelegramStandIn, bot: Bot, sender: str, file_of: str, error: str
) -> None:
    anna = standin.add_user("Anna")
    standin.send_photo(anna)
    standin.send_document(anna, b"x", filename="x.txt")
    standin.send_sticker(anna)
    photo, document, sticker = (u.message for u in await bot.get_updates())
    file_id = {
        "unknown": "AgACAgIAAxkBAAIBQ2ZfakeFileIdOfAnotherBot",
        "photo": photo.photo[-1].file_id,
        "document": document.document.file_id,
        "sticker": sticker.sticker.file_id,
    }[file_of]
    with pytest.raises(TelegramBadRequest) as raised:
        await getattr(bot, sender)(anna.id, file_id)
    assert raised.value.message == f"Bad Request: {error}"


async def test_voice_and_sticker_uploads(standin: TelegramStandIn, bot: Bot) -> None:
    anna = standin.add_user("Anna")
    voice = await bot.send_voice(anna.id, BufferedInputFile(SAMPLE_OGG, "v.ogg"), duration=2)
    assert (voice.voice.duration, voice.voice.mime_type) == (2, "audio/ogg")
    sticker = await bot.send_sticker(anna.id, BufferedInputFile(SAMPLE_STICKER, "s.webp"))
    assert sticker.sticker.width == 512
    assert standin.invalid_requests == []
    not_audio = await bot.send_voice(anna.id, BufferedInputFile(b"just text", "v.txt"))
    assert not_audio.voice is None and not_audio.document.file_name == "v.txt"
    assert descriptions(standin) == [
        "the voice note is not OGG/Opus, MP3 or M4A; Telegram sends it as a document"
    ]


# --- albums ------------------------------------------------------------------------------------


async def test_send_media_group_returns_messages_sharing_a_group_id(
    standin: TelegramStandIn, bot: Bot
) -> None:
    anna = standin.add_user("Anna")
    standin.send_photo(anna)
    (update,) = await bot.get_updates()
    known = update.message.photo[-1].file_id

    album = await bot.send_media_group(
        anna.id,
        [
            InputMediaPhoto(
                media=BufferedInputFile(sample_png(), "a.png"),
                caption="<b>Site</b> visit",
                parse_mode="HTML",
            ),
            InputMediaPhoto(media=BufferedInputFile(sample_png(), "b.png")),
            InputMediaPhoto(media=known),
        ],
    )
    assert len(album) == 3 and len({m.media_group_id for m in album}) == 1
    assert album[0].media_group_id is not None
    assert (album[0].caption, album[0].caption_entities[0].type) == ("Site visit", "bold")
    assert album[2].photo[-1].file_unique_id == update.message.photo[-1].file_unique_id
    stored = standin.messages(anna)
    assert [m.media_group_id for m in stored] == [album[0].media_group_id] * 3
    assert [m.text for m in stored] == ["Site visit", "", ""]

    documents = await bot.send_media_group(
        anna.id,
        [
            InputMediaDocument(media=BufferedInputFile(b"1", "one.txt")),
            InputMediaDocument(media=BufferedInputFile(b"2", "two.txt")),
        ],
    )
    assert [m.document.file_name for m in documents] == ["one.txt", "two.txt"]
    assert documents[0].media_group_id != album[0].media_group_id
    assert standin.invalid_requests == []


@pytest.mark.parametrize(
    ("media", "error"),
    [
        (
            [{"type": "photo", "media": "attach://nowhere"}] * 2,
            "can't parse InputMedia: media not found",
        ),
        (
            [{"type": "animation", "media": "attach://a"}] * 2,
            "can't parse InputMedia: type \"animation\" can't be used in sendMediaGroup",
        ),
        (
            [{"type": "poll", "media": "attach://a"}] * 2,
            'can\'t parse InputMedia: type "poll" is unsupported',
        ),
        (
            [{"type": "photo", "media": "attach://a", "caption": "<b>x", "parse_mode": "HTML"}],
            "can't parse InputMedia: Can't parse entities: "
            'Can\'t find end tag corresponding to start tag "b"',
        ),
        ([], "there are no messages to send"),
        ([{"type": "photo", "media": "attach://a"}] * 11, "too many messages to send as an album"),
        (
            [{"type": "photo", "media": "attach://a"}, {"type": "document", "media": "attach://a"}],
            "document can't be mixed with other media types",
        ),
    ],
)
async def test_bad_albums_are_refused_in_telegrams_words(
    standin: TelegramStandIn,
    http: aiohttp.ClientSession,
    media: list[dict[str, Any]],
    error: str,
) -> None:
    anna = standin.add_user("Anna")
    form = aiohttp.FormData()
    form.add_field("chat_id", str(anna.id))
    form.add_field("media", json.dumps(media))
    form.add_field("a", sample_png(), filename="a.png", content_type="image/png")
    url = f"{standin.base_url}/bot{TOKEN}/sendMediaGroup"
    async with http.post(url, data=form) as response:
        body = await response.json()
    assert (response.status, body["description"]) == (400, f"Bad Request: {error}")
    assert standin.messages(anna) == []


# --- locations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"latitude": 90.5, "longitude": 0}, "wrong location specified"),
        ({"latitude": 0, "longitude": -180.01}, "wrong location specified"),
        (
            {"latitude": 1, "longitude": 1, "live_period": 30},
            "wrong live location period specified",
        ),
        ({"latitude": 1, "longitude": 1, "heading": 361}, "wrong live location heading specified"),
        (
            {"latitude": 1, "longitude": 1, "proximity_alert_radius": 100001},
            "wrong live location proximity alert radius specified",
        ),
    ],
)
async def test_locations_are_checked(
    standin: TelegramStandIn, http: aiohttp.ClientSession, params: dict[str, Any], error: str
) -> None:
    anna = standin.add_user("Anna")
    status, body = await call(http, standin, "sendLocation", {"chat_id": anna.id, **params})
    assert (status, body["description"]) == (400, f"Bad Request: {error}")


async def test_a_live_location_keeps_its_live_fields(standin: TelegramStandIn, bot: Bot) -> None:
    anna = standin.add_user("Anna")
    sent = await bot.send_location(
        anna.id, -33.9, 151.2, live_period=600, heading=90, horizontal_accuracy=2000
    )
    location = sent.location
    assert (location.live_period, location.heading, location.horizontal_accuracy) == (
        600,
        90,
        1500,
    )
    assert standin.last_message(anna).location == (-33.9, 151.2)
    assert descriptions(standin) == [
        "horizontal_accuracy 2000.0 is outside 0-1500; Telegram clamps it"
    ]


# --- forwarding and copying --------------------------------------------------------------------


async def test_forward_a_residents_message_to_staff(standin: TelegramStandIn, bot: Bot) -> None:
    anna = standin.add_user("Anna", last_name="Berg")
    hidden = standin.add_user("Ivo", hides_forwards=True)
    staff = standin.add_group("Staff", is_forum=True, bot_is_admin=True)
    thread = (await bot.create_forum_topic(staff.id, "Reports")).message_thread_id
    anna_wrote = standin.message_id_of(standin.send_text(anna, "/report Broken lamp"))
    ivo_wrote = standin.message_id_of(standin.send_photo(hidden, caption="leak"))

    forwarded = await bot.forward_message(staff.id, anna.id, anna_wrote, message_thread_id=thread)
    assert forwarded.text == "/report Broken lamp"
    assert forwarded.entities[0].type == "bot_command"
    assert forwarded.forward_origin.type == "user"
    assert forwarded.forward_origin.sender_user.id == anna.id
    assert forwarded.forward_from.id == anna.id  # the Bot API server still sends it
    assert forwarded.message_thread_id == thread
    private = await bot.forward_message(staff.id, hidden.id, ivo_wrote)
    assert private.forward_origin.type == "hidden_user"
    assert private.forward_origin.sender_user_name == "Ivo"
    assert private.forward_from is None and private.caption == "leak"

    stored = standin.messages(staff)
    assert [m.forward_origin["type"] for m in stored] == ["user", "hidden_user"]
    assert stored[0].thread_id == thread
    with pytest.raises(TelegramBadRequest, match="Bad Request: message can't be edited"):
        await bot.edit_message_text("changed", chat_id=staff.id, message_id=forwarded.message_id)
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to forward not found"):
        await bot.forward_message(staff.id, anna.id, 999)
    with pytest.raises(TelegramBadRequest, match="Bad Request: chat not found"):
        await bot.forward_message(staff.id, 42, anna_wrote)


async def test_copy_a_residents_photo_with_a_new_caption(
    standin: TelegramStandIn, bot: Bot
) -> None:
    anna = standin.add_user("Anna")
    staff = standin.add_group("Staff")
    photo_id = standin.message_id_of(standin.send_photo(anna, caption="pothole"))
    text_id = standin.message_id_of(standin.send_text(anna, "near the school"))

    copied = await bot.copy_message(
        staff.id, anna.id, photo_id, caption="<i>Report #7</i>", parse_mode="HTML"
    )
    copied_text = await bot.copy_message(staff.id, anna.id, text_id)
    photo, text = standin.messages(staff)
    assert (copied.message_id, copied_text.message_id) == (photo.message_id, text.message_id)
    assert (photo.kind, photo.text, photo.entities[0]["type"]) == ("photo", "Report #7", "italic")
    assert photo.forward_origin is None and photo.document == sample_png()
    assert text.text == "near the school"
    with pytest.raises(TelegramBadRequest, match="Bad Request: message to copy not found"):
        await bot.copy_message(staff.id, anna.id, 999)
    assert standin.invalid_requests[-1].description == "Bad Request: message to copy not found"


@pytest.mark.parametrize(
    ("method", "params", "error"),
    [
        ("createForumTopic", {}, "name must be non-empty"),
        ("editForumTopic", {"name": "x"}, "invalid forum topic identifier specified"),
        ("closeForumTopic", {"message_thread_id": -3}, "invalid forum topic identifier specified"),
        ("forwardMessage", {"message_id": 1}, 'parameter "from_chat_id" is required'),
        ("copyMessage", {"from_chat_id": 1}, "message identifier is not specified"),
        ("sendVoice", {}, "there is no voice in the request"),
        ("sendSticker", {}, "there is no sticker in the request"),
        ("sendMediaGroup", {}, 'parameter "media" is required'),
    ],
)
async def test_missing_parameters_of_the_new_methods(
    standin: TelegramStandIn,
    http: aiohttp.ClientSession,
    method: str,
    params: dict[str, Any],
    error: str,
) -> None:
    forum = standin.add_group("Staff", is_forum=True, bot_is_admin=True)
    status, body = await call(http, standin, method, {"chat_id": forum.id, **params})
    assert (status, body["description"]) == (400, f"Bad Request: {error}")
