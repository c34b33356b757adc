"""Chat with the bot from a terminal, as one simulated resident.

Everything the bot sends to the resident's private chat is printed as plain text
(links as ``text <url>``), followed by its inline buttons numbered ``[1] ...``.
After each input line the client waits for the bot to settle before printing, so a
piped session gives the same transcript every time.
"""

from __future__ import annotations

import asyncio
import re
import sys
import threading
from typing import Any, TextIO

from .html_entities import utf16_len
from .models import Button, SentMessage, SimUser
from .server import TelegramStandIn

HELP = """\
Type a message and press Enter to send it (commands too, e.g. /start).
  >N        press button N of the latest message that has buttons
  >N@M      press button N of message M
  :photo    send a photo          :document  send a file
  :sticker  send a sticker        :voice     send a voice note
  :location share a location      :contact   share your phone number
  :help     show this list        :quit      leave (so does end of input)"""

_PRESS_RE = re.compile(r">\s*(\d+)(?:\s*@\s*(\d+))?")
_INDENT = "  "


async def run_terminal_chat(
    standin: TelegramStandIn,
    user: SimUser,
    *,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    settle_timeout: float = 10.0,
) -> None:
    """Let a person chat with the bot as ``user`` until ``:quit`` or end of input."""
    chat = _TerminalChat(standin, user, stdout, settle_timeout)
    reader = _LineReader(stdin)
    interactive = _is_tty(stdin)
    chat.write(
        f"Civicbot sandbox: you are {user.full_name} (user id {user.id}) "
        f"chatting with @{standin.bot_user.username}."
    )
    chat.write("Type a message and press Enter; >N presses button N; :help lists the rest.")
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
            chat.write(f"{user.first_name}> {line}")
        if not line.strip():
            continue
        if not chat.handle(line.strip()):
            break
        await chat.settle()
    chat.write("(chat ended)")


class _TerminalChat:
    def __init__(
        self, standin: TelegramStandIn, user: SimUser, stdout: TextIO, settle_timeout: float
    ) -> None:
        self.standin = standin
        self.user = user
        self.stdout = stdout
        self.settle_timeout = settle_timeout
        self.seen: dict[int, tuple[int, bool]] = {}
        self.pressed: list[str] = []
        # How many bot messages the chat had when the person last wrote: the bot's answer
        # is a message after those.
        self.written_at: int | None = None

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
            elif press is not None:
                self.press(press)
            elif line.startswith(":"):
                self.written_at = len(self.standin.messages(self.user))
                self.send_special(line)
            else:
                self.written_at = len(self.standin.messages(self.user))
                self.standin.send_text(self.user, line)
        except (LookupError, ValueError) as error:
            # E.g. the bot deleted the message between printing and pressing.
            self.write(f"({error})")
        return True

    def send_special(self, line: str) -> None:
        senders = {
            ":photo": lambda: self.standin.send_photo(self.user),
            ":sticker": lambda: self.standin.send_sticker(self.user),
            ":voice": lambda: self.standin.send_voice(self.user),
            ":location": lambda: self.standin.send_location(self.user),
            ":document": lambda: self.standin.send_document(self.user),
            ":contact": lambda: self.standin.send_contact(self.user),
        }
        sender = senders.get(line)
        if sender is None:
            self.write(f"(unknown command {line}; :help lists the commands)")
            return
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
            self.standin.press(self.user, message, text=button.text, data=button.value)
        )

    def target_message(self, message_id: int | None) -> SentMessage | None:
        visible = self.standin.messages(self.user, include_deleted=False)
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
                    lambda: len(self.standin.messages(self.user)) > before,
                    timeout=self.settle_timeout,
                )
            await self.standin.wait_idle(timeout=self.settle_timeout)
        except TimeoutError:
            self.write("(the bot is still busy or not running; showing what arrived so far)")
        self.print_new_messages()
        self.print_callback_answers()

    def print_new_messages(self) -> None:
        for message in self.standin.messages(self.user):
            state = (message.edit_count, message.deleted)
            previous = self.seen.get(message.message_id)
            self.seen[message.message_id] = state
            if previous == state:
                continue
            if message.deleted:
                if previous is not None:
                    self.write(f"[bot #{message.message_id} deleted]")
                continue
            edited = previous is not None or message.edited
            self.write(render_message(message, edited=edited))

    def print_callback_answers(self) -> None:
        for query_id in self.pressed:
            answer = self.standin.callback_answers.get(query_id)
            if answer is None:
                self.write("(the bot did not answer the button press; the button keeps spinning)")
            elif answer.text:
                self.write(f"[{'alert' if answer.show_alert else 'toast'}] {answer.text}")
        self.pressed.clear()


def render_message(message: SentMessage, *, edited: bool = False) -> str:
    """A bot message as terminal text: header, body, buttons."""
    header = f"[bot #{message.message_id}{' (edited)' if edited else ''}]"
    body = _media_lines(message)
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
