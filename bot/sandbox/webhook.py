"""Delivery of updates to a webhook, the way the Bot API server's WebhookActor does it.

Each update is POSTed as JSON (with ``X-Telegram-Bot-Api-Secret-Token`` when a secret
was set). It counts as delivered on a 2xx answer; otherwise, or when the connection
fails or the answer takes longer than ``timeout``, it is retried later with a doubling
delay. Updates of one chat (messages, edits) or of one user (callback queries) go
strictly in order, one at a time; others go in parallel, up to ``max_connections``.
A 2xx answer may carry a Bot API call (``{"method": ...}``), which is executed, as
Telegram does.

Telegram's own back-off is immediate, then 2, 4, 8 ... seconds up to a minute or two;
the stand-in's is configurable (:class:`WebhookSettings`) so that tests stay fast.
For safety the stand-in connects only to loopback addresses: an update for any other
host fails as if the host could not be resolved.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp

from .models import WebhookDelivery
from .spec import UploadedFile
from .updates import UpdateQueue, update_type

logger = logging.getLogger(__name__)

# What the Bot API server never executes when a webhook answers with it.
_IGNORED_ANSWER_METHODS = frozenset({"setwebhook", "deletewebhook", "close", "logout"})


def is_executed_in_answer(method: str) -> bool:
    """Whether Telegram executes ``method`` when a webhook answers with it (not get*)."""
    lowered = method.lower()
    return lowered not in _IGNORED_ANSWER_METHODS and not lowered.startswith("get")


READ_TIMEOUT = "Read timeout expired"
CONNECTION_CLOSED = "Webhook connection closed"
NOT_LOOPBACK = "Failed to resolve host: the stand-in delivers only to loopback addresses"

AnswerHandler = Callable[[str, dict[str, Any], dict[str, UploadedFile]], Awaitable[None]]


@dataclass
class WebhookConfig:
    url: str
    secret_token: str | None
    max_connections: int
    allowed_updates: list[str] | None


@dataclass
class WebhookSettings:
    """How the stand-in retries (seconds). Telegram waits about 60 s for an answer."""

    retry_delay: float = 0.1
    """Delay before the first retry of an update; it doubles with every failure."""
    max_retry_delay: float = 5.0
    """Longest delay between retries (also caps a ``Retry-After`` the webhook sends)."""
    timeout: float = 60.0
    """An answer that takes longer is a failure ("Read timeout expired")."""


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def delivery_key(update: dict[str, Any]) -> tuple[str, int]:
    """Updates with the same key are delivered one after the other, as Telegram does."""
    kind = update_type(update)
    body = update.get(kind) or {}
    if kind in ("message", "edited_message", "channel_post", "edited_channel_post"):
        return ("chat", body["chat"]["id"])
    if kind == "callback_query":
        return ("user", body["from"]["id"])
    if kind == "my_chat_member":
        return (kind, body["chat"]["id"])
    if kind == "chat_member":
        return (kind, body["from"]["id"])
    return ("update", update["update_id"])


class WebhookSender:
    """Delivers the queue's updates to one webhook URL until stopped."""

    def __init__(
        self,
        config: WebhookConfig,
        queue: UpdateQueue,
        settings: WebhookSettings,
        deliveries: list[WebhookDelivery],
        *,
        on_activity: Callable[[], None],
        on_error: Callable[[str], None],
        on_answer: AnswerHandler,
    ) -> None:
        self.config = config
        self._queue = queue
        self._settings = settings
        self._deliveries = deliveries
        self._on_activity = on_activity
        self._on_error = on_error
        self._on_answer = on_answer
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._not_before: dict[int, float] = {}
        self._failures: dict[int, int] = {}
        self._wake = asyncio.Event()
        self._loopback = is_loopback_host(urlsplit(config.url).hostname)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="telegram-standin-webhook")

    async def stop(self) -> None:
        """Stop delivering; updates not yet delivered stay queued."""
        current = asyncio.current_task()
        tasks = [t for t in (self._task, *self._tasks) if t is not None and t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._in_flight.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.config.max_connections, ssl=False)
        self._session = aiohttp.ClientSession(connector=connector)
        while True:
            pushed = self._queue.next_push()
            self._wake.clear()
            delay = self._dispatch()
            waiters = {
                asyncio.ensure_future(pushed.wait()),
                asyncio.ensure_future(self._wake.wait()),
            }
            try:
                await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    def _dispatch(self) -> float | None:
        """Start every delivery that may go now; return seconds until the next retry is due."""
        now = time.monotonic()
        pending = self._queue.peek(len(self._queue)) if len(self._queue) else []
        blocked: set[tuple[str, int]] = set()
        next_due: float | None = None
        for update in pending:
            key = delivery_key(update)
            if key in blocked:
                continue
            blocked.add(key)
            update_id = update["update_id"]
            if update_id in self._in_flight:
                continue
            due = self._not_before.get(update_id, 0.0)
            if due > now:
                next_due = due if next_due is None else min(next_due, due)
                continue
            if len(self._in_flight) >= self.config.max_connections:
                break
            task = asyncio.create_task(self._deliver(update))
            self._in_flight[update_id] = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return None if next_due is None else max(0.0, next_due - now)

    async def _deliver(self, update: dict[str, Any]) -> None:
        update_id = update["update_id"]
        self._on_activity()
        answer: tuple[str, dict[str, Any], dict[str, UploadedFile]] | None = None
        retry_after: float | None = None
        try:
            result, error, retry_after, answer = await self._post(update)
        except asyncio.CancelledError:
            self._in_flight.pop(update_id, None)
            raise
        except Exception as exc:  # a bug of the stand-in itself: make it loud, then retry
            logger.exception("webhook delivery of update %s failed", update_id)
            result = error = f"stand-in bug: {type(exc).__name__}: {exc}"
        self._deliveries.append(WebhookDelivery(update_id, result, time.time()))
        if error is None:
            self._queue.remove(update_id)
            self._not_before.pop(update_id, None)
            self._failures.pop(update_id, None)
        else:
            failures = self._failures[update_id] = self._failures.get(update_id, 0) + 1
            delay = self._settings.retry_delay * 2 ** (failures - 1)
            if retry_after is not None:
                delay = retry_after
            delay = min(delay, self._settings.max_retry_delay)
            self._not_before[update_id] = time.monotonic() + delay
            self._on_error(error)
            logger.info(
                "webhook: update %s not delivered (%s); retry in %.2f s", update_id, error, delay
            )
        self._in_flight.pop(update_id, None)
        self._wake.set()
        self._on_activity()
        if answer is not None:
            await self._on_answer(*answer)

    async def _post(
        self, update: dict[str, Any]
    ) -> tuple[
        int | str,
        str | None,
        float | None,
        tuple[str, dict[str, Any], dict[str, UploadedFile]] | None,
    ]:
        """POST one update: (result, error or None, Retry-After, method the answer carries)."""
        if not self._loopback:
            return NOT_LOOPBACK, NOT_LOOPBACK, None, None
        assert self._session is not None
        headers = {"Content-Type": "application/json"}
        if self.config.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.config.secret_token
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout)
        try:
            async with self._session.post(
                self.config.url, data=json.dumps(update), headers=headers, timeout=timeout
            ) as response:
                status = response.status
                if not 200 <= status <= 299:
                    error = f"Wrong response from the webhook: {status} {response.reason or ''}"
                    return status, error.rstrip(), _retry_after(response), None
                return status, None, None, await _read_answer(response)
        except TimeoutError:
            return READ_TIMEOUT, READ_TIMEOUT, None, None
        except aiohttp.ClientConnectorError as exc:
            message = _connect_error(exc)
            return message, message, None, None
        except aiohttp.ClientError:
            return CONNECTION_CLOSED, CONNECTION_CLOSED, None, None


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


def _connect_error(exc: aiohttp.ClientConnectorError) -> str:
    if exc.os_error.errno == errno.ECONNREFUSED:
        return "Connection refused"
    return f"Can't connect to the webhook: {exc.os_error.strerror or exc}"


async def _read_answer(
    response: aiohttp.ClientResponse,
) -> tuple[str, dict[str, Any], dict[str, UploadedFile]] | None:
    """The Bot API call a webhook answer carries, if any (JSON, urlencoded or multipart)."""
    params: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    content_type = response.content_type
    if content_type == "application/json":
        try:
            body = json.loads(await response.read() or b"null")
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        params = dict(body)
    elif content_type == "application/x-www-form-urlencoded":
        params = dict(parse_qsl((await response.read()).decode("utf-8", "replace")))
    elif content_type == "multipart/form-data":
        reader = aiohttp.MultipartReader(response.headers, response.content)
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                continue
            data = await part.read(decode=True)
            if part.filename is not None:
                content = part.headers.get(aiohttp.hdrs.CONTENT_TYPE, "")
                files[part.name] = UploadedFile(part.name, part.filename, content, bytes(data))
            else:
                params[part.name] = bytes(data).decode("utf-8", "replace")
    else:
        return None
    method = params.pop("method", None)
    if not isinstance(method, str) or not method:
        return None
    return method, params, files
