"""`civicbot demo` as a newcomer runs it: a real process, a person typing at the terminal."""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.demo_staff import ANA_PROPOSAL

CIVICBOT = str(Path(sys.executable).with_name("civicbot"))


def _demo(typed: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BOT_")}
    return subprocess.run(
        [CIVICBOT, "demo", *args],
        input=typed,
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
        check=False,
    )


def test_demo_chats_in_the_terminal() -> None:
    result = _demo("/start\n>1\n:sticker\n:quit\n", "--language", "bg")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    out = result.stdout
    assert "Добре дошли, Ana!" in out
    listing = out[out.index("Обществени консултации") :]
    open_part = listing[listing.index("Отворени сега") : listing.index("Приключили")]
    assert open_part.count("остават") == 2, "two consultations are open, with days left"
    assert "Казанлък" in listing[listing.index("Приключили") :]
    assert "Тук разбирам само текстови съобщения" in out  # the sticker got an answer


def test_the_main_command_without_a_token_is_the_demo() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BOT_")}
    result = subprocess.run(
        [CIVICBOT],
        input="/help\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "How to use this bot" in result.stdout


# --- `civicbot demo --staff`: the municipality's side, typed line by line ---------------

NOTICES = {
    "bg": ("💬 Отговор на предложение № {number}", "📋 Решение по предложение № {number}: прието"),
    "en": (
        "💬 An answer to your proposal № {number}",
        "📋 A decision on your proposal № {number}: accepted",
    ),
}
# A message: its header line, then lines indented by two spaces or empty.
BLOCK_RE = re.compile(r"^\[bot #(\d+)[^\]\n]*\] ?(.*(?:\n(?:  .*)?)*)", re.MULTILINE)


class DemoTerminal:
    """`civicbot demo` in a real process; the test types a line once the last one's
    answer showed (so it can read message numbers off the screen, as a person does)."""

    def __init__(self, *args: str) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("BOT_")}
        self.process = subprocess.Popen(
            [CIVICBOT, "demo", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.output = ""
        self.position = 0
        self.chunks: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in iter(self.process.stdout.readline, ""):
            self.chunks.put(line)
        self.chunks.put(None)

    def expect(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """Wait for `pattern` in what was printed since the last match."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.compile(pattern, re.MULTILINE).search(self.output, self.position)
            if found is not None:
                self.position = found.end()
                return found
            try:
                chunk = self.chunks.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                chunk = None
            if chunk is None:
                raise AssertionError(f"no {pattern!r} in:\n{self.output[self.position :]}")
            self.output += chunk

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def run(self, line: str) -> str:
        """Type `line`; everything printed in answer (`:who` after it marks the end)."""
        start = self.position
        self.type(line)
        self.type(":who")
        end = self.expect(r"^\(you can be: .*\)$").start()
        return self.output[start:end]

    def latest(self, number: int) -> str:
        """Message `number` as the screen shows it now (its latest rendering)."""
        shown = [m.group(2) for m in BLOCK_RE.finditer(self.output) if int(m.group(1)) == number]
        assert shown, f"message #{number} was never shown"
        return shown[-1]

    def finish(self) -> tuple[int, str]:
        self.type(":quit")
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = self.process.wait(timeout=30)
        assert self.process.stderr is not None
        self.expect(r"\(chat ended\)")
        return code, self.process.stderr.read()


def _first_message(shown: str) -> int:
    return int(BLOCK_RE.search(shown).group(1))


def _button(block: str, prefix: str) -> int:
    found = re.search(r"\[(\d+)\] " + re.escape(prefix), block)
    assert found, f"no button {prefix!r} in:\n{block}"
    return int(found.group(1))


def test_every_demo_names_the_staff_demo() -> None:
    result = _demo(":quit\n")
    assert "civicbot demo --staff" in result.stdout


@pytest.mark.parametrize("language", ["bg", "en"])
def test_the_staff_demo_closes_the_loop(language: str) -> None:
    demo = DemoTerminal("--staff", "--language", language)
    folder = None
    try:
        folder = Path(demo.expect(r"Files the bot sends are saved in (\S+)").group(1))
        shown = demo.run(":help")
        assert ":as NAME" in shown and ":reply M text" in shown
        cards = {int(n): b for n, b in BLOCK_RE.findall(demo.output) if b.startswith("📥 №")}
        assert len(cards) >= 3, "a few residents' submissions are waiting"
        [(card, body)] = [(n, b) for n, b in cards.items() if ANA_PROPOSAL[language] in b]
        public_number = re.match(r"📥 № (\S+)", body).group(1)
        consultation = body.split("\n")[1].strip()[:20]  # its title, as the listings start

        # Reply to the card: the answer; then a decision with its reason.
        saved = demo.run(f":reply {card} {ANSWER[language]}")
        assert public_number in saved and ANSWER[language] in demo.latest(card)
        accept = _button(demo.latest(card), "✅")
        asked = demo.run(f">{accept}@{card}")
        prompt = int(re.search(r"^\[bot #(\d+)[^\]\n]*\] ✍️", asked, re.MULTILINE).group(1))
        saved = demo.run(f":reply {prompt} {REASON[language]}")
        assert public_number in saved and REASON[language] in demo.latest(card)

        # /stats: the numbers and the chart, saved; /export: a CSV, saved.
        listing = _first_message(demo.run("/stats"))
        shown = demo.run(f">{_button(demo.latest(listing), consultation)}@{listing}")
        chart = Path(re.search(r"\[photo\] saved as (\S+)", shown).group(1))
        assert chart.parent == folder and chart.read_bytes().startswith(b"\x89PNG")
        listing = _first_message(demo.run("/export"))
        formats = _first_message(
            demo.run(f">{_button(demo.latest(listing), consultation)}@{listing}")
        )
        shown = demo.run(f">{_button(demo.latest(formats), 'CSV')}@{formats}")
        export = Path(re.search(r"\[document: \S+\.csv, \d+ bytes\] saved as (\S+)", shown)[1])
        assert export.parent == folder
        assert ANA_PROPOSAL[language] in export.read_text(encoding="utf-8-sig")

        # Bad input gets a line, not a traceback.
        assert "no one called nobody" in demo.run(":as nobody")
        assert "no message 999" in demo.run(":reply 999 x")
        assert "no one called ?" in demo.run(":as")

        # Back to the resident: the answer and the decision have arrived.
        shown = demo.run(":as Ana")
        answered, decided = (notice.format(number=public_number) for notice in NOTICES[language])
        assert answered in shown and decided in shown, shown
        code, errors = demo.finish()
    finally:
        if demo.process.poll() is None:
            demo.process.kill()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    assert code == 0, errors
    assert "Traceback" not in errors + demo.output


@pytest.mark.parametrize("language", ["bg", "en"])
def test_the_staff_demo_publishes_the_report_of_a_closed_consultation(language: str) -> None:
    # Kazanlak's consultation is closed; what it received by e-mail and at a meeting waits.
    demo = DemoTerminal("--staff", "--language", language)
    folder = None
    try:
        folder = Path(demo.expect(r"Files the bot sends are saved in (\S+)").group(1))
        demo.run(":help")
        cards = {int(n): b for n, b in BLOCK_RE.findall(demo.output) if b.startswith("📥 №")}
        [proposal] = [n for n, b in cards.items() if "дуалното обучение" in b]
        [question] = [n for n, b in cards.items() if "спортната зала" in b]
        assert OFFLINE[language] in cards[proposal]

        asked = demo.run(f">{_button(demo.latest(proposal), '✅')}@{proposal}")
        prompt = int(re.search(r"^\[bot #(\d+)[^\]\n]*\] ✍️", asked, re.MULTILINE).group(1))
        assert NOT_SENT[language] in asked, "nobody to send it to: the prompt says so"
        demo.run(f":reply {prompt} {REASON[language]}")
        demo.run(f":reply {question} {ANSWER[language]}")

        listing = _first_message(demo.run("/report"))
        title = KAZANLAK[language]
        checklist = _first_message(demo.run(f">{_button(demo.latest(listing), title)}@{listing}"))
        shown = demo.run(f">{_button(demo.latest(checklist), 'DOCX')}@{checklist}")
        draft = Path(re.search(r"\[document: \S+, \d+ bytes\] saved as (\S+)", shown)[1])
        assert draft.parent == folder and draft.name.endswith("-DRAFT.docx")

        closed = _first_message(demo.run(f">{_button(demo.latest(checklist), '🔒')}@{checklist}"))
        confirm = _first_message(demo.run(f">{_button(demo.latest(closed), '📢')}@{closed}"))
        published = demo.run(f">{_button(demo.latest(confirm), '✅')}@{confirm}")
        assert "📢" in published and title in published
        again = demo.run(f">{_button(demo.latest(closed), '📢')}@{closed}")
        assert ALREADY[language] in again

        shown = demo.run(f">{_button(demo.latest(closed), 'DOCX')}@{closed}")
        final = Path(re.search(r"\[document: \S+, \d+ bytes\] saved as (\S+)", shown)[1])
        assert final.parent == folder and "DRAFT" not in final.name
        code, errors = demo.finish()
    finally:
        if demo.process.poll() is None:
            demo.process.kill()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    assert code == 0, errors
    assert "Traceback" not in errors + demo.output


KAZANLAK = {"bg": "План за интегрирано развитие", "en": "Integrated Development Plan"}
OFFLINE = {"bg": "Получено (имейл)", "en": "Received (e-mail)"}
NOT_SENT = {"bg": "не се изпращат", "en": "not sent"}
ALREADY = {"bg": "вече е публикувана", "en": "already published"}


ANSWER = {
    "bg": "Благодарим! Ще го обсъдим на заседанието.",
    "en": "Thank you! We will discuss it at the meeting.",
}
REASON = {"bg": "Включено в плана за 2025 г.", "en": "Included in the 2025 plan."}
