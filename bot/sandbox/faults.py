"""Faults the stand-in injects on purpose, so tests see the Bot API as it is over the internet.

Telegram over a real network is slow now and then, answers 5xx while it is overloaded
(sometimes *after* it delivered the message), asks for a pause with 429, and connections
break mid-call. A bot that survives only a perfect Telegram loses or doubles messages in
production; end-to-end tests turn these faults on to prove it does not.

Every :class:`~bot.sandbox.server.TelegramStandIn` has a :class:`Faults` object
(``standin.faults``) that injects nothing until :meth:`Faults.configure` or
:meth:`Faults.once` is called. Injected errors are not the bot's fault, so they are not
listed in ``invalid_requests``; each affected request is marked in its
:attr:`~bot.sandbox.models.ApiRequest.injected` field and counted in :attr:`Faults.stats`.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

# Methods a bot calls to start up or to receive updates: faults there would only test
# aiogram's polling loop, so they are spared unless a test names them in ``methods``.
SPARED_METHODS = frozenset(
    {"getUpdates", "getMe", "setMyCommands", "deleteWebhook", "setWebhook", "getWebhookInfo"}
)

OutcomeKind = Literal[
    "error_before", "error_after", "too_many", "disconnect_before", "disconnect_after"
]


@dataclass(frozen=True)
class Outcome:
    """How an injected fault ends a call: ``kind`` plus the HTTP status of an error."""

    kind: OutcomeKind
    status: int | None = None
    retry_after: int | None = None

    @property
    def executed(self) -> bool:
        """Whether the call is carried out (Telegram did the work, the answer went wrong)."""
        return self.kind in ("error_after", "disconnect_after")

    @property
    def http_status(self) -> int:
        """The status answered (a dropped connection answers nothing; 0 stands for that)."""
        if self.kind == "too_many":
            return 429
        return self.status or 0

    @property
    def drops_connection(self) -> bool:
        return self.kind in ("disconnect_before", "disconnect_after")

    @property
    def label(self) -> str:
        """The key in :attr:`Faults.stats` and :attr:`ApiRequest.injected`."""
        return f"{self.kind}:{self.status}" if self.status is not None else self.kind

    def payload(self) -> dict[str, Any]:
        """The error answer, exactly as Telegram words it."""
        if self.kind == "too_many":
            assert self.retry_after is not None
            return too_many_payload(self.retry_after)
        assert self.status is not None
        return server_error_payload(self.status)


@dataclass(frozen=True)
class Plan:
    """What to do to one call: wait ``delay`` seconds, then end it as ``outcome`` says
    (``None``: serve it normally). ``labels`` are the injections to count."""

    delay: float = 0.0
    outcome: Outcome | None = None
    labels: tuple[str, ...] = ()

    @property
    def delay_labels(self) -> tuple[str, ...]:
        """The injections that only delay the call (``latency``, ``hang``)."""
        return tuple(label for label in self.labels if label in ("latency", "hang"))

    def injected(self, *, outcome_applied: bool) -> str | None:
        """For ApiRequest.injected: what changed the call, apart from plain latency."""
        shown = [label for label in self.delay_labels if label != "latency"]
        if outcome_applied and self.outcome is not None:
            shown.append(self.outcome.label)
        return ",".join(shown) if shown else None


def server_error_payload(status: int) -> dict[str, Any]:
    """``{"ok": false, "error_code": 502, "description": "Bad Gateway"}`` and the like."""
    return {"ok": False, "error_code": status, "description": HTTPStatus(status).phrase}


def too_many_payload(retry_after: int) -> dict[str, Any]:
    return {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }


@dataclass
class _OneShot:
    method: str
    chat_id: int | str | None
    hang: float
    outcome: Outcome | None

    def matches(self, method: str, params: Mapping[str, Any]) -> bool:
        if method != self.method:
            return False
        # Form-encoded parameters arrive as strings, JSON ones as numbers.
        return self.chat_id is None or str(params.get("chat_id")) == str(self.chat_id)


@dataclass
class _Settings:
    latency: float = 0.0
    outcomes: list[tuple[float, Outcome]] = field(default_factory=list)
    hang: float = 0.0
    hang_seconds: float = 20.0
    methods: frozenset[str] | None = None
    chats: frozenset[str] | None = None

    @property
    def active(self) -> bool:
        return self.latency > 0 or self.hang > 0 or bool(self.outcomes)


class Faults:
    """The faults a stand-in injects: random ones (:meth:`configure`) and queued one-shot
    ones (:meth:`once`). Inactive until configured."""

    def __init__(self) -> None:
        self._settings = _Settings()
        self._rng = random.Random()
        self._once: deque[_OneShot] = deque()
        self.stats: Counter[str] = Counter()
        """What was injected so far, e.g. ``{"error_after:500": 3, "latency": 120}``.

        Kept by :meth:`clear`, like the stand-in keeps its request log."""

    @property
    def active(self) -> bool:
        """Whether any call may still be affected."""
        return self._settings.active or bool(self._once)

    def configure(
        self,
        *,
        latency: float = 0.0,
        error_before: Mapping[int, float] | None = None,
        error_after: Mapping[int, float] | None = None,
        too_many: float = 0.0,
        retry_after: int = 1,
        hang: float = 0.0,
        hang_seconds: float = 20.0,
        disconnect_before: float = 0.0,
        disconnect_after: float = 0.0,
        methods: Iterable[str] | None = None,
        chats: Iterable[int] | None = None,
        seed: int | None = None,
    ) -> None:
        """Replace the random faults (queued one-shot faults stay).

        ``latency`` seconds are added to every affected call; with probability ``hang``
        a call waits ``hang_seconds`` more. Then at most one of the outcomes happens; its
        probabilities (``error_before`` and ``error_after`` map a 5xx status to one) must
        add up to 1 at most. ``methods=None`` affects every method but
        :data:`SPARED_METHODS`; a set of names affects exactly those. ``chats`` limits
        the faults to calls addressed to those chat ids (say, residents but not staff).
        """
        if latency < 0 or hang_seconds < 0:
            raise ValueError("latency and hang_seconds cannot be negative")
        if retry_after < 1:
            raise ValueError("retry_after is a whole number of seconds, at least 1")
        _check_probability("hang", hang)
        outcomes: list[tuple[float, Outcome]] = []

        def add(probability: float, outcome: Outcome) -> None:
            _check_probability(outcome.label, probability)
            if probability > 0:
                outcomes.append((probability, outcome))

        add(disconnect_before, Outcome("disconnect_before"))
        for status, probability in (error_before or {}).items():
            add(probability, Outcome("error_before", _server_error(status)))
        add(too_many, Outcome("too_many", retry_after=retry_after))
        add(disconnect_after, Outcome("disconnect_after"))
        for status, probability in (error_after or {}).items():
            add(probability, Outcome("error_after", _server_error(status)))
        total = sum(probability for probability, _ in outcomes)
        if total > 1 + 1e-9:
            raise ValueError(f"the outcome probabilities add up to {total:.3f}, more than 1")
        self._settings = _Settings(
            latency=latency,
            outcomes=outcomes,
            hang=hang,
            hang_seconds=hang_seconds,
            methods=frozenset([methods] if isinstance(methods, str) else methods)
            if methods is not None
            else None,
            chats=frozenset(str(chat) for chat in chats) if chats is not None else None,
        )
        self._rng = random.Random(seed)

    def once(
        self,
        method: str,
        *,
        chat_id: int | str | None = None,
        error_before: int | None = None,
        error_after: int | None = None,
        too_many: bool = False,
        retry_after: int = 1,
        hang: float | None = None,
        disconnect_before: bool = False,
        disconnect_after: bool = False,
    ) -> None:
        """Queue a fault for the next call of ``method`` (to ``chat_id``, if given).

        One-shot faults are matched first-in first-out; each hits one call, whatever
        ``methods`` says (so ``once("getUpdates", ...)`` works). ``hang`` is a delay in
        seconds and may go with one of the outcomes; an ``error_after`` or
        ``disconnect_after`` whose call fails by itself (a genuine 4xx) is used up
        without being injected, and the genuine error is answered.
        """
        outcomes: list[Outcome] = []
        if error_before is not None:
            outcomes.append(Outcome("error_before", _server_error(error_before)))
        if error_after is not None:
            outcomes.append(Outcome("error_after", _server_error(error_after)))
        if too_many:
            if retry_after < 1:
                raise ValueError("retry_after is a whole number of seconds, at least 1")
            outcomes.append(Outcome("too_many", retry_after=retry_after))
        if disconnect_before:
            outcomes.append(Outcome("disconnect_before"))
        if disconnect_after:
            outcomes.append(Outcome("disconnect_after"))
        if len(outcomes) > 1:
            raise ValueError("a call can end in one way only: pass one outcome per once()")
        if hang is not None and hang < 0:
            raise ValueError("hang cannot be negative")
        if not outcomes and not hang:
            raise ValueError("once() needs a fault: an outcome or hang=seconds")
        self._once.append(_OneShot(method, chat_id, hang or 0.0, outcomes[0] if outcomes else None))

    def clear(self) -> None:
        """No faults any more: random ones switched off, queued one-shot ones dropped."""
        self._settings = _Settings()
        self._once.clear()

    def plan(self, method: str, params: Mapping[str, Any]) -> Plan | None:
        """Decide the fate of one call (and count it in :attr:`stats`); ``None``: untouched.

        The stand-in calls this once per Bot API request, after checking its parameters.
        """
        shot = next((s for s in self._once if s.matches(method, params)), None)
        settings = self._settings
        in_scope = (
            settings.active
            and (
                method in settings.methods
                if settings.methods is not None
                else method not in SPARED_METHODS
            )
            and (settings.chats is None or str(params.get("chat_id")) in settings.chats)
        )
        if shot is None and not in_scope:
            return None
        delay = 0.0
        labels: list[str] = []
        if in_scope and settings.latency > 0:
            delay += settings.latency
            labels.append("latency")
        if shot is not None:
            self._once.remove(shot)
            if shot.hang > 0:
                delay += shot.hang
                labels.append("hang")
            outcome = shot.outcome
        else:
            if settings.hang > 0 and self._rng.random() < settings.hang:
                delay += settings.hang_seconds
                labels.append("hang")
            outcome = self._draw(settings.outcomes)
        if outcome is not None:
            labels.append(outcome.label)
        return Plan(delay, outcome, tuple(labels))

    def count(self, labels: Iterable[str]) -> None:
        """Add injections that took effect to :attr:`stats`."""
        self.stats.update(labels)

    def _draw(self, outcomes: list[tuple[float, Outcome]]) -> Outcome | None:
        if not outcomes:
            return None
        roll = self._rng.random()
        for probability, outcome in outcomes:
            if roll < probability:
                return outcome
            roll -= probability
        return None


def _server_error(status: int) -> int:
    if not 500 <= status <= 599:
        raise ValueError(f"{status} is not a server error (5xx); a 429 is too_many=")
    HTTPStatus(status)  # a ValueError for a status without a name, e.g. 599
    return status


def _check_probability(name: str, probability: float) -> None:
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"the probability of {name} must be between 0 and 1, not {probability}")
