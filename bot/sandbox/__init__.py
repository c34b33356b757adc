"""A local stand-in for the Telegram Bot API, for end-to-end tests and the demo.

Typical use::

    async with TelegramStandIn("123456:TEST") as standin:
        session = AiohttpSession(api=TelegramAPIServer.from_base(standin.base_url))
        bot = Bot("123456:TEST", session=session)
        anna = standin.add_user("Anna")
        standin.send_text(anna, "/start")
        ...  # run the dispatcher's polling
        await standin.wait_idle()
        assert standin.last_message(anna).text.startswith("Welcome")
        assert standin.invalid_requests == []

Besides long polling it delivers to a webhook (``setWebhook`` on a loopback URL), with
Telegram's retries; it simulates forum topics, albums, forwards and copies, and files
sent again by file_id. ``standin.faults`` injects latency, 5xx, 429, hangs and dropped
connections, as Telegram over the internet has them (:mod:`bot.sandbox.faults`).
"""

from .api import ChatAction, WebhookConfig
from .errors import ApiError
from .faults import Faults
from .html_entities import EntityParseError, FormattedText, parse_html, utf16_len
from .models import (
    ApiRequest,
    Button,
    CallbackAnswer,
    InvalidRequest,
    NoSuchButton,
    SentMessage,
    SimChat,
    SimTopic,
    SimUser,
    StoredFile,
    WebhookDelivery,
)
from .server import TelegramStandIn
from .terminal import Seat, run_terminal_chat
from .webhook import WebhookSettings

__all__ = [
    "ApiError",
    "ApiRequest",
    "Button",
    "CallbackAnswer",
    "ChatAction",
    "EntityParseError",
    "Faults",
    "FormattedText",
    "InvalidRequest",
    "NoSuchButton",
    "Seat",
    "SentMessage",
    "SimChat",
    "SimTopic",
    "SimUser",
    "StoredFile",
    "TelegramStandIn",
    "WebhookConfig",
    "WebhookDelivery",
    "WebhookSettings",
    "parse_html",
    "run_terminal_chat",
    "utf16_len",
]
