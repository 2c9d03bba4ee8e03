"""The demo's chat page and the small JSON surface it uses, served by the local Bot API server.

    GET  /                                   the page (chat.html, static)
    GET  /chat/config                        the demo's users and keys (`page_config`)
    GET  /chat/messages?chat_id=C&since=V    a chat as it is now, once `version` > V (long poll)
    GET  /chat/photo?chat_id=C&message_id=M  a photo the bot sent
    POST /chat/send {"user_id", "text"}      the user writes (an update for the bot)
    POST /chat/tap {"user_id", "message_id", "data"}   the user taps an inline button

The page builds its DOM from these fields itself; bot HTML is sent as the bot wrote it and
parsed on the page into the subset Telegram allows, never assigned as markup.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, parse_qs

if TYPE_CHECKING:
    from bot.simulated.bot_api import BotApiServer, ChatMessage

LONG_POLL_SECONDS = 20.0
Reply = tuple[int, str, bytes]


def serve_chat(fake: BotApiServer, method: str, url: SplitResult, body: bytes) -> Reply:
    query = {name: values[-1] for name, values in parse_qs(url.query).items()}
    try:
        if url.path == "/" and method == "GET":
            page = resources.files("bot.simulated").joinpath("chat.html").read_bytes()
            return 200, "text/html; charset=utf-8", page
        if url.path == "/chat/config" and method == "GET":
            return _json(200, fake.page_config)
        if url.path == "/chat/messages" and method == "GET":
            return _json(200, _chat(fake, int(query["chat_id"]), int(query.get("since", -1)),
                                    min(float(query.get("wait", 0)), LONG_POLL_SECONDS)))
        if url.path == "/chat/photo" and method == "GET":
            photo = fake.message(int(query["chat_id"]), int(query["message_id"])).photo
            if photo is None:
                return _json(404, {"error": "no photo"})
            return 200, "image/png", photo
        if url.path in ("/chat/send", "/chat/tap") and method == "POST":
            return _json(200, _act(fake, url.path, json.loads(body or b"{}")))
    except (KeyError, ValueError, TypeError) as exc:  # bad input or a stale tap: say so
        return _json(409 if isinstance(exc, ValueError) else 400, {"error": str(exc)})
    return _json(404, {"error": "not found"})


def _json(status: int, payload: Any) -> Reply:
    return status, "application/json", json.dumps(payload).encode()


def _act(fake: BotApiServer, path: str, request: dict[str, Any]) -> dict[str, Any]:
    user_id = int(request["user_id"])
    name = _user_name(fake, user_id)
    if path == "/chat/send":
        text = str(request["text"]).strip()
        if not text:
            raise ValueError("empty message")
        return {"message_id": fake.user_message(user_id, text, first_name=name)}
    query_id = fake.user_taps(user_id, int(request["message_id"]), str(request["data"]))
    return {"query_id": query_id}


def _user_name(fake: BotApiServer, user_id: int) -> str | None:
    for user in fake.page_config.get("users", []):
        if user.get("id") == user_id:
            return str(user.get("name"))
    return None


def _chat(fake: BotApiServer, chat_id: int, since: int, wait: float) -> dict[str, Any]:
    with fake._cond:
        if wait > 0:
            fake._cond.wait_for(lambda: fake.version > since or fake._stopping, wait)
        version = fake.version
        messages = fake.messages(chat_id)
        answers = [
            {"query_id": q.query_id, "text": q.answer_text, "show_alert": q.show_alert}
            for q in fake._queries.values() if q.chat_id == chat_id and q.answered
        ]
    return {"version": version, "messages": [_message(m) for m in messages],
            "answers": answers}


def _message(message: ChatMessage) -> dict[str, Any]:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return {
        "id": message.message_id,
        "from_bot": message.from_bot,
        "html": message.html if (message.parse_mode or "").lower() == "html" else None,
        "text": message.text,
        "buttons": [
            [{"text": b.get("text", ""), "data": b.get("callback_data"), "url": b.get("url")}
             for b in row]
            for row in rows
        ],
        "edits": len(message.history),
        "deleted": message.deleted,
        "photo": message.photo is not None,
        "date": message.date,
    }
