"""Chat with the bot from a terminal, as one simulated person at a time.

Everything the bot sends to the chat the person looks at (their private chat, or a
group such as the staff group) is printed as plain text (links as ``text <url>``),
followed by its inline buttons numbered ``[1] ...``. ``:as NAME`` switches to another
person the chat was given (``seats``). Files the bot sends are saved to a folder when
one is given. After each input line the client waits for the bot to settle before
printing, so a piped session gives the same transcript every time.
"""

from __future__ import annotations

import asyncio
import re
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, TextIO

from .html_entities import utf16_len
from .models import Button, SentMessage, SimChat, SimUser
from .server import TelegramStandIn

HELP = """\
Type a message and press Enter to send it (commands too, e.g. /start).
  >N        press button N of the latest message that has buttons
  >N@M      press button N of message M (the number in [bot #M])
  :reply M text   reply to message M with text (in the staff group: answers a card,
            or gives the answer or reason a prompt asks for)
  :as NAME  be someone else: :as staff (the staff group), :as Ana, or any name :who lists
  :who      who you can be
  :photo    send a photo          :document  send a file
  :sticker  send a sticker        :voice     send a voice note
  :location share a location      :contact   share your phone number
  :help     show this list        :quit      leave (so does end of input)"""

_PRESS_RE = re.compile(r">\s*(\d+)(?:\s*@\s*(\d+))?")
_REPLY_RE = re.compile(r":reply\s+(\S+)(?:\s+(.*))?", re.DOTALL)
_INDENT = "  "


@dataclass(frozen=True)
class Seat:
    """Someone the person at the terminal can be: a user and the chat they look at."""

    user: SimUser
    chat: SimChat | None = None
    """A group they write in; None is their private chat with the bot."""
    alias: str | None = None
    """Another name ``:as`` accepts, e.g. ``staff``."""

    @property
    def place(self) -> SimChat | SimUser:
        return self.chat if self.chat is not None else self.user

    @property
    def in_group(self) -> bool:
        return self.chat is not None

    def answers_to(self, name: str) -> bool:
        wanted = name.casefold()
        return wanted in (self.user.first_name.casefold(), (self.alias or "").casefold())

    def describe(self, standin: TelegramStandIn) -> str:
        if self.chat is None:
            return f"{self.user.full_name}, in your private chat with @{standin.bot_user.username}"
        return f"{self.user.full_name}, in the group \u00ab{self.chat.title}\u00bb"


async def run_terminal_chat(
    standin: TelegramStandIn,
    user: SimUser | Seat,
    *,
    seats: Sequence[Seat] = (),
    files: Path | None = None,
    notes: Sequence[str] = (),
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    settle_timeout: float = 10.0,
) -> None:
    """Let a person chat with the bot as ``user`` until ``:quit`` or end of input.

    ``seats``: whom else ``:as`` may switch to (what their chats held before the start
    counts as seen). ``files``: the folder for files the bot sends. ``notes``: lines
    for the banner.
    """
    first = user if isinstance(user, Seat) else Seat(user)
    chat = _TerminalChat(standin, first, [first, *seats], stdout, settle_timeout, files)
    reader = _LineReader(stdin)
    interactive = _is_tty(stdin)
    chat.write(
        f"Civicbot sandbox: you are {first.user.full_name} (user id {first.user.id}) "
        f"chatting with @{standin.bot_user.username}"
        + (f" in the group \u00ab{first.chat.title}\u00bb." if first.chat else ".")
    )
    chat.write("Type a message and press Enter; >N presses button N; :help lists the rest.")
    if files is not None:
        chat.write(f"Files the bot sends are saved in {files}")
    for note in notes:
        chat.write(note)
    await chat.settle()
    while True:
        if interactive:
            chat.write("> ", end="")
        line = await reader.readline()
        if line is None:
            break
        line = line.rstrip("\r\n")
        if not interactive:
            # Echo piped input so the transcript reads like a conversation.
            chat.write(f"{chat.seat.user.first_name}> {line}")
        if not line.strip():
            continue
        if not chat.handle(line.strip()):
            break
        await chat.settle()
    chat.write("(chat ended)")


class _TerminalChat:
    def __init__(
        self,
        standin: TelegramStandIn,
        seat: Seat,
        seats: list[Seat],
        stdout: TextIO,
        settle_timeout: float,
        files: Path | None,
    ) -> None:
        self.standin = standin
        self.seat = seat
        self.seats = seats
        self.stdout = stdout
        self.settle_timeout = settle_timeout
        self.files = files
        # (chat id, message id) -> (edit count, deleted) as last printed.
        self.seen: dict[tuple[int, int], tuple[int, bool]] = {}
        self.pressed: list[str] = []
        # How many bot messages the chat had when the person last wrote: the bot's answer
        # is a message after those.
        self.written_at: int | None = None
        # The others' chats so far are their past, not news to the person at the terminal.
        for other in seats:
            if self._chat_id(other) != self._chat_id(seat):
                self.mark_seen(other)

    @property
    def user(self) -> SimUser:
        return self.seat.user

    @property
    def place(self) -> SimChat | SimUser:
        return self.seat.place

    def _chat_id(self, seat: Seat) -> int:
        return seat.chat.id if seat.chat is not None else seat.user.id

    def mark_seen(self, seat: Seat) -> None:
        for message in self.standin.messages(seat.place):
            key = (message.chat_id, message.message_id)
            self.seen[key] = (message.edit_count, message.deleted)

    def write(self, text: str, *, end: str = "\n") -> None:
        self.stdout.write(text + end)
        self.stdout.flush()

    def handle(self, line: str) -> bool:
        """Act on one input line; False means the user wants to leave."""
        if line in (":quit", ":q", ":exit"):
            return False
        press = _PRESS_RE.fullmatch(line)
        try:
            if line == ":help":
                self.write(HELP)
            elif line == ":who":
                self.write(self.who())
            elif line == ":as" or line.startswith(":as "):
                self.switch(line[3:].strip())
            elif line == ":reply" or line.startswith(":reply "):
                self.reply(line)
            elif press is not None:
                self.press(press)
            elif line.startswith(":"):
                self.send_special(line)
            else:
                self.write_text(line)
        except (LookupError, ValueError) as error:
            # E.g. the bot deleted the message between printing and pressing.
            self.write(f"({error})")
        return True

    def expect_answer(self, line: str) -> None:
        """In a group the bot answers commands and replies only; elsewhere everything."""
        if not self.seat.in_group or line.startswith(("/", ":reply")):
            self.written_at = self.standin.message_count(self.place)

    def write_text(self, line: str) -> None:
        self.expect_answer(line)
        self.standin.send_text(self.user, line, chat=self.seat.chat)

    def who(self) -> str:
        names = [
            f"{seat.user.first_name} ({seat.alias})" if seat.alias else seat.user.first_name
            for seat in self.seats
        ]
        return f"(you can be: {', '.join(names)}; type :as NAME)"

    def switch(self, name: str) -> None:
        seat = next((seat for seat in self.seats if name and seat.answers_to(name)), None)
        if seat is None:
            self.write(f"(no one called {name or '?'} here) " + self.who())
            return
        self.seat = seat
        self.write(f"(you are now {seat.describe(self.standin)})")
        if not self.print_new_messages():
            latest = self.standin.last_message(self.place)
            if latest is None:
                self.write("(nothing here yet)")
                return
            # Something to go on: where this person's conversation stands.
            self.write("(nothing new here; the latest message:)")
            self.write(render_message(latest, topic=self._topic_names().get(latest.thread_id or 0)))

    def reply(self, line: str) -> None:
        found = _REPLY_RE.fullmatch(line)
        if found is None or not found.group(1).isdigit() or not (found.group(2) or "").strip():
            self.write("(type :reply M text, where M is the number in [bot #M])")
            return
        message_id = int(found.group(1))
        try:
            self.standin.message(self.place, message_id)
        except KeyError:
            self.write(f"(no message {message_id} here; the numbers are those in [bot #M])")
            return
        self.expect_answer(line)
        self.standin.send_text(
            self.user, found.group(2).strip(), chat=self.seat.chat, reply_to=message_id
        )
        self.write(f"(you replied to #{message_id})")

    def send_special(self, line: str) -> None:
        where = {"chat": self.seat.chat}
        senders = {
            ":photo": lambda: self.standin.send_photo(self.user, **where),
            ":sticker": lambda: self.standin.send_sticker(self.user, **where),
            ":voice": lambda: self.standin.send_voice(self.user, **where),
            ":location": lambda: self.standin.send_location(self.user, **where),
            ":document": lambda: self.standin.send_document(self.user, **where),
            ":contact": lambda: self.standin.send_contact(self.user, **where),
        }
        sender = senders.get(line)
        if sender is None:
            self.write(f"(unknown command {line}; :help lists the commands)")
            return
        self.expect_answer(line)
        sender()
        self.write(f"(you sent a {line[1:]})")

    def press(self, match: re.Match[str]) -> None:
        number = int(match.group(1))
        message = self.target_message(int(match.group(2)) if match.group(2) else None)
        if message is None:
            return
        buttons = message.flat_buttons
        if not 1 <= number <= len(buttons):
            self.write(f"(message {message.message_id} has buttons 1-{len(buttons)})")
            return
        button = buttons[number - 1]
        if not _is_callback(message, number - 1):
            self.write(f"(button [{number}] opens {button.value}; nothing is sent to the bot)")
            return
        self.write(f"(you pressed [{number}] {button.text})")
        self.pressed.append(
            self.standin.press(
                self.user, message, text=button.text, data=button.value, chat=self.seat.chat
            )
        )

    def target_message(self, message_id: int | None) -> SentMessage | None:
        visible = self.standin.messages(self.place, include_deleted=False)
        if message_id is not None:
            found = [m for m in visible if m.message_id == message_id and m.buttons]
            if not found:
                self.write(f"(no message {message_id} with buttons)")
            return found[0] if found else None
        with_buttons = [m for m in visible if m.buttons]
        if not with_buttons:
            self.write("(no message with buttons yet)")
            return None
        return with_buttons[-1]

    async def settle(self) -> None:
        """Wait for what the input calls for (the answer to a press, a message after a
        text), then for the bot to go quiet: a moment of silence alone can come while the
        bot is still thinking."""
        try:
            for query_id in self.pressed:
                await self.standin.wait_callback_answer(query_id, timeout=self.settle_timeout)
            if self.written_at is not None:
                before, self.written_at = self.written_at, None
                await self.standin.wait_for(
                    lambda: self.standin.message_count(self.place) > before,
                    timeout=self.settle_timeout,
                )
            await self.standin.wait_idle(timeout=self.settle_timeout)
        except TimeoutError:
            self.write("(the bot is still busy or not running; showing what arrived so far)")
        self.print_new_messages()
        self.print_callback_answers()

    def print_new_messages(self) -> int:
        """Print what changed in the chat in view; how many messages that was."""
        printed = 0
        topics = self._topic_names()
        for message in self.standin.messages(self.place):
            state = (message.edit_count, message.deleted)
            key = (message.chat_id, message.message_id)
            previous = self.seen.get(key)
            self.seen[key] = state
            if previous == state:
                continue
            printed += 1
            if message.deleted:
                if previous is not None:
                    self.write(f"[bot #{message.message_id} deleted]")
                continue
            edited = previous is not None or message.edited
            saved = self.save_file(message) if previous is None else None
            topic = topics.get(message.thread_id or 0)
            self.write(render_message(message, edited=edited, topic=topic, saved=saved))
        return printed

    def _topic_names(self) -> dict[int, str]:
        if self.seat.chat is None or not self.seat.chat.is_forum:
            return {}
        return {topic.thread_id: topic.name for topic in self.standin.topics(self.seat.chat)}

    def save_file(self, message: SentMessage) -> Path | None:
        """Keep a file the bot sent where the person can open it."""
        if self.files is None or message.file_id is None or message.document is None:
            return None
        stored = self.standin.file(message.file_id)
        # The bot names the file; only its last part is used, so it stays in the folder.
        name = PurePath(message.filename or PurePath(stored.file_path).name).name
        target = _free_path(self.files / (name or f"file-{message.message_id}"))
        target.write_bytes(message.document)
        return target

    def print_callback_answers(self) -> None:
        for query_id in self.pressed:
            answer = self.standin.callback_answers.get(query_id)
            if answer is None:
                self.write("(the bot did not answer the button press; the button keeps spinning)")
            elif answer.text:
                self.write(f"[{'alert' if answer.show_alert else 'toast'}] {answer.text}")
        self.pressed.clear()


def _free_path(path: Path) -> Path:
    """``path``, or ``name-2.ext``, ``name-3.ext`` ... when it is taken (two exports)."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate


def render_message(
    message: SentMessage,
    *,
    edited: bool = False,
    topic: str | None = None,
    saved: Path | None = None,
) -> str:
    """A bot message as terminal text: header, body (a file with where it was saved),
    buttons."""
    where = f" in topic \u00ab{topic}\u00bb" if topic else ""
    header = f"[bot #{message.message_id}{where}{' (edited)' if edited else ''}]"
    body = _media_lines(message)
    if saved is not None and body:
        body[0] += f" saved as {saved}"
    if message.text:
        body.extend(render_text(message.text, list(message.entities)).split("\n"))
    lines = [f"{header} {body[0] if body else ''}".rstrip()]
    lines.extend(f"{_INDENT}{line}".rstrip() for line in body[1:])
    lines.extend(f"{_INDENT}{row}" for row in render_buttons(message.buttons))
    if message.keyboard:
        keys = "  ".join(f"[{label}]" for row in message.keyboard for label in row)
        lines.append(f"{_INDENT}keyboard: {keys}  (type the text to use one)")
    return "\n".join(lines)


def render_buttons(rows: tuple[tuple[Button, ...], ...]) -> list[str]:
    """Button rows numbered across rows: ``[1] Yes  [2] No``."""
    lines = []
    number = 0
    for row in rows:
        labels = []
        for button in row:
            number += 1
            labels.append(f"[{number}] {button.text}")
        lines.append("  ".join(labels))
    return lines


def render_text(text: str, entities: list[dict[str, Any]]) -> str:
    """Plain text with each link's URL added after it as `` <url>``."""
    links = [e for e in entities if e.get("type") == "text_link" and e.get("url")]
    # Insert from the end so earlier offsets stay valid.
    for entity in sorted(links, key=lambda e: e["offset"] + e["length"], reverse=True):
        end = _index_of_utf16_offset(text, entity["offset"] + entity["length"])
        label = text[_index_of_utf16_offset(text, entity["offset"]) : end]
        if label.strip() != entity["url"].rstrip("/"):
            text = f"{text[:end]} <{entity['url']}>{text[end:]}"
    return text


def _media_lines(message: SentMessage) -> list[str]:
    if message.kind == "document":
        size = len(message.document or b"")
        return [f"[document: {message.filename or 'file'}, {size} bytes]"]
    if message.kind == "photo":
        return ["[photo]"]
    if message.kind == "location" and message.location:
        latitude, longitude = message.location
        return [f"[location: {latitude:.5f}, {longitude:.5f}]"]
    if message.kind != "text":
        return [f"[{message.kind}]"]
    return []


def _is_callback(message: SentMessage, index: int) -> bool:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    raw = [button for row in rows for button in row]
    return index < len(raw) and "callback_data" in raw[index]


def _index_of_utf16_offset(text: str, offset: int) -> int:
    units = 0
    for index, char in enumerate(text):
        if units >= offset:
            return index
        units += utf16_len(char)
    return len(text)


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _LineReader:
    """Reads lines in a daemon thread, so the event loop (and the bot) keep running.

    A daemon thread rather than ``asyncio.to_thread``: a read blocked on a terminal must
    not keep the process alive at exit.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lines: asyncio.Queue[str | None] | None = None

    async def readline(self) -> str | None:
        """The next line, or None at end of input."""
        if self.lines is None:
            self.lines = asyncio.Queue()
            loop = asyncio.get_running_loop()
            threading.Thread(target=self._pump, args=(loop, self.lines), daemon=True).start()
        return await self.lines.get()

    def _pump(self, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
        try:
            for line in iter(self.stream.readline, ""):
                loop.call_soon_threadsafe(lines.put_nowait, line)
        except (OSError, ValueError):
            pass
        finally:
            try:
                loop.call_soon_threadsafe(lines.put_nowait, None)
            except RuntimeError:
                pass  # the loop is already closed: nobody is listening any more
