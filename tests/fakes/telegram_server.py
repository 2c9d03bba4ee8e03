"""The test suite's fake Telegram Bot API: the product's local Bot API server (one fake).

`FakeTelegram` is `bot.simulated.bot_api.BotApiServer`; see its docstring for user actions,
observation, waiting and faults.
"""

from __future__ import annotations

from bot.simulated.bot_api import (
    DEFAULT_TOKEN,
    DEFAULT_WAIT,
    MAX_CAPTION_LENGTH,
    MAX_PHOTO_BYTES,
    MAX_TEXT_LENGTH,
    ApiError,
    BotApiServer,
    CallbackQueryRecord,
    ChatMessage,
    Fault,
    MessageVersion,
    RecordedRequest,
    html_to_text,
)

FakeTelegram = BotApiServer

__all__ = [
    "DEFAULT_TOKEN", "DEFAULT_WAIT", "MAX_CAPTION_LENGTH", "MAX_PHOTO_BYTES", "MAX_TEXT_LENGTH",
    "ApiError", "BotApiServer",
    "CallbackQueryRecord", "ChatMessage", "FakeTelegram", "Fault", "MessageVersion",
    "RecordedRequest", "html_to_text",
]
