"""A local Telegram Bot API server: real HTTP on 127.0.0.1, the real wire format.

The demo (`gigaspot-bot demo`) runs the bot against it and serves its chat page from it
(`/chat/...`, see `bot.simulated.chat_api`); the test suite's fake Telegram
(`tests/fakes/telegram_server.py`, `BotApiServer`) is this class.

python-telegram-bot (in-process) and a bot started as a subprocess both talk to it through
`base_url` / `TELEGRAM_API_URL`. Tests inject user actions (`user_message`, `user_taps`),
observe what the bot did (`requests`, `messages`, `callback_query`), wait for it without
sleeping (`wait_for*` / `await_*`, backed by one `threading.Condition`), and inject faults
(`fail_next`, `block_bot`).

It is deliberately stricter than Telegram where that catches bugs: HTML text must be well
formed (every `<` and `&` escaped), chats must exist (a user wrote first, or `add_user`), and a
tap must hit a button the message currently shows.
"""

from __future__ import annotations

import asyncio
import copy
import email.parser
import email.policy
import html
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

DEFAULT_TOKEN = "123456:TEST-token"
DEFAULT_WAIT = 15.0  # a wait ends as soon as its event comes; long only on a loaded machine

T = TypeVar("T")

# Bot API parameters whose values PTB sends as bare strings; every other value is JSON.
_STRING_PARAMS = frozenset(
    {"text", "parse_mode", "callback_query_id", "url", "caption", "language_code",
     "inline_message_id", "business_connection_id", "message_effect_id", "description",
     "short_description", "name", "secret_token", "ip_address"}
)
_HTML_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
     "code", "pre", "blockquote", "tg-emoji"}
)
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>")
_ENTITY_RE = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
MAX_CAPTION_LENGTH = 1024
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # Telegram's limit for photos sent by upload
MAX_TEXT_LENGTH = 4096


class ApiError(Exception):
    """An error reply of the Bot API."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


@dataclass(frozen=True)
class Fault:
    """What the server does instead of answering; build with the factory methods."""

    code: int = 0
    description: str = ""
    retry_after: int | None = None
    drop: bool = False
    after_processing: bool = False

    @classmethod
    def flood(cls, retry_after: int = 1) -> Fault:
        return cls(429, f"Too Many Requests: retry after {retry_after}", retry_after)

    @classmethod
    def blocked(cls, description: str = "Forbidden: bot was blocked by the user") -> Fault:
        return cls(403, description)

    @classmethod
    def bad_request(cls, description: str = "Bad Request: injected fault") -> Fault:
        return cls(400, description)

    @classmethod
    def server_error(cls, code: int = 502, description: str = "Bad Gateway") -> Fault:
        return cls(code, description)

    @classmethod
    def dropped_connection(cls, *, after_processing: bool = False) -> Fault:
        """Close the connection without a reply; `after_processing` = the call took effect."""
        return cls(drop=True, after_processing=after_processing)


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP call. `status` is None while it runs; 0 when the connection was dropped."""

    seq: int
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() when the request arrived
    status: int | None = None
    result: Any = None
    description: str | None = None
    done_at: float | None = None  # time.monotonic() when it was answered (or dropped)

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")


@dataclass
class MessageVersion:
    text: str
    html: str
    reply_markup: dict[str, Any] | None
    at: float


@dataclass
class ChatMessage:
    """A message in a chat as it is now; `history` holds earlier versions (oldest first)."""

    chat_id: int
    message_id: int
    from_bot: bool
    text: str  # plain text, as a Telegram client shows it
    html: str  # what the bot sent (parse_mode applied on top of it)
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    date: int
    sent_at: float
    deleted: bool = False
    history: list[MessageVersion] = field(default_factory=list)
    photo: bytes | None = None  # sendPhoto's uploaded file; `text`/`html` are its caption

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        """(label, callback_data) of every inline button, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b.get("text", ""), b.get("callback_data")) for row in rows for b in row]

    def callback_data_for(self, label_contains: str) -> str:
        for label, data in self.buttons:
            if label_contains in label and data is not None:
                return data
        raise LookupError(f"no button labelled {label_contains!r} in {self.buttons}")


@dataclass
class CallbackQueryRecord:
    query_id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answered: bool = False
    answer_text: str | None = None
    show_alert: bool = False
    answered_at: float | None = None


@dataclass
class _Chat:
    chat: dict[str, Any]
    user: dict[str, Any]
    next_message_id: int = 1
    blocked: bool = False
    messages: dict[int, ChatMessage] = field(default_factory=dict)


@dataclass
class _PendingFault:
    method: str
    chat_id: int | None
    fault: Fault
    remaining: int


def html_to_text(source: str) -> str:
    """Telegram's HTML subset -> plain text; raises ApiError 400 like the real API."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    while pos < len(source):
        char = source[pos]
        if char == "<":
            tag = _TAG_RE.match(source, pos)
            if tag is None or tag.group(2).lower() not in _HTML_TAGS:
                raise ApiError(400, f"Bad Request: can't parse entities: unsupported start tag "
                                    f"at byte offset {pos}")
            closing, name = tag.group(1) == "/", tag.group(2).lower()
            if closing:
                if not stack or stack.pop() != name:
                    raise ApiError(400, f"Bad Request: can't parse entities: unexpected end "
                                        f"tag at byte offset {pos}")
            else:
                stack.append(name)
            pos = tag.end()
        elif char == "&":
            entity = _ENTITY_RE.match(source, pos)
            if entity is None:
                raise ApiError(400, f"Bad Request: can't parse entities: unescaped '&' at "
                                    f"byte offset {pos}")
            out.append(html.unescape(entity.group(0)))
            pos = entity.end()
        else:
            out.append(char)
            pos += 1
    if stack:
        raise ApiError(400, f"Bad Request: can't parse entities: can't find end tag "
                            f"corresponding to start tag \"{stack[-1]}\"")
    return "".join(out)


_ENTITY_TYPES = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic",
                 "u": "underline", "ins": "underline", "s": "strikethrough",
                 "strike": "strikethrough", "del": "strikethrough", "code": "code",
                 "pre": "pre", "blockquote": "blockquote", "tg-spoiler": "spoiler"}  # fmt: skip


def html_entities(source: str) -> list[dict[str, Any]]:
    """The message entities Telegram derives from (valid) HTML, offsets in UTF-16 units, as
    it returns them with a message (so a client can rebuild the formatting)."""
    found: list[dict[str, Any]] = []
    open_at: list[tuple[str, int, str]] = []
    units, pos = 0, 0
    while pos < len(source):
        if source[pos] == "<" and (tag := _TAG_RE.match(source, pos)) is not None:
            name = tag.group(2).lower()
            if tag.group(1) != "/":
                open_at.append((name, units, tag.group(3)))
            else:
                opened, start, attrs = open_at.pop()
                kind = _ENTITY_TYPES.get(opened)
                href = re.search(r'href="([^"]*)"', attrs) if opened == "a" else None
                if href is not None:
                    found.append({"type": "text_link", "offset": start,
                                  "length": units - start, "url": html.unescape(href.group(1))})
                elif kind is not None and units > start:
                    found.append({"type": kind, "offset": start, "length": units - start})
            pos = tag.end()
            continue
        if source[pos] == "&" and (entity := _ENTITY_RE.match(source, pos)) is not None:
            text, pos = html.unescape(entity.group(0)), entity.end()
        else:
            text, pos = source[pos], pos + 1
        units += len(text.encode("utf-16-le")) // 2
    return sorted(found, key=lambda e: (e["offset"], -e["length"]))


def _decode_value(name: str, raw: str) -> Any:
    if name in _STRING_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # e.g. chat_id "@channel"


class BotApiServer:
    """The fake server. Use as a context manager, or call `start()` / `stop()`."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, bot_username: str = "gigaspot_test_bot"):
        self.token = token
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1
        self.bot_user: dict[str, Any] = {
            "id": bot_id, "is_bot": True, "first_name": "GigaSPOT Watch",
            "username": bot_username, "can_join_groups": False,
            "can_read_all_group_messages": False, "supports_inline_queries": False,
            "can_connect_to_business": False, "has_main_web_app": False,
        }
        self._cond = threading.Condition(threading.RLock())
        self._requests: list[RecordedRequest] = []
        self._updates: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None  # what setWebhook asked for
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._chats: dict[int, _Chat] = {}
        self._queries: dict[str, CallbackQueryRecord] = {}
        self._faults: list[_PendingFault] = []
        self._commands: dict[str, list[dict[str, Any]]] = {}
        self._stopping = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        # Seconds a method takes to answer (by lower-case name), like a far-away Telegram.
        self.latency: dict[str, float] = {}
        self.version = 0  # grows with every change a chat page could show
        self.page_config: dict[str, Any] = {}  # what the demo's chat page is told
        self.host = "127.0.0.1"
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> BotApiServer:
        server = ThreadingHTTPServer((self.host, self.port), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fake-telegram",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()  # wakes long polls and waiters
            connections = list(self._connections)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for conn in connections:  # idle keep-alive connections would hold handler threads
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> BotApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def api_root(self) -> str:
        """`http://127.0.0.1:PORT`, the value for TELEGRAM_API_URL."""
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """What PTB's `base_url` takes; the token is appended to it."""
        return f"{self.api_root}/bot"

    # -- user actions ---------------------------------------------------------------------

    def add_user(self, user_id: int, *, first_name: str | None = None,
                 username: str | None = None, language_code: str = "en") -> None:
        """Open a private chat as if the user had started the bot earlier."""
        with self._cond:
            self._chat_for(user_id, user_id, first_name, username, language_code)

    def user_message(self, user_id: int, text: str, *, chat_id: int | None = None,
                     first_name: str | None = None, username: str | None = None,
                     language_code: str = "en") -> int:
        """The user writes `text`; returns its message_id. `/cmd` texts get a command entity."""
        with self._cond:
            chat = self._chat_for(user_id, chat_id if chat_id is not None else user_id,
                                  first_name, username, language_code)
            message = self._store_message(chat, text, text, None, None, from_bot=False)
            payload = self._message_dict(chat, message, sender=chat.user)
            if text.startswith("/"):
                payload["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
            self._push_update({"message": payload})
            return message.message_id

    def user_taps(self, user_id: int, message_id: int, callback_data: str, *,
                  chat_id: int | None = None, require_button: bool = True) -> str:
        """The user taps an inline button of a bot message; returns the callback query id.

        `require_button=False` lets a test tap data the keyboard no longer shows (a stale tap
        racing an edit)."""
        chat_id = user_id if chat_id is None else chat_id
        with self._cond:
            chat = self._chats.get(chat_id)
            message = chat.messages.get(message_id) if chat else None
            if chat is None or message is None or not message.from_bot or message.deleted:
                raise ValueError(f"no live bot message {message_id} in chat {chat_id}")
            if require_button and callback_data not in {d for _, d in message.buttons}:
                raise ValueError(f"message {message_id} shows no button with data "
                                 f"{callback_data!r}: {message.buttons}")
            query_id = str(next(self._query_ids) * 1000003)
            self._queries[query_id] = CallbackQueryRecord(query_id, user_id, chat_id,
                                                          message_id, callback_data)
            sender = self._chats[user_id].user if user_id in self._chats else chat.user
            self._push_update({"callback_query": {
                "id": query_id, "from": sender,
                "message": self._message_dict(chat, message, self.bot_user),
                "chat_instance": f"ci{chat_id}", "data": callback_data,
            }})
            return query_id

    def post_as_bot(self, chat_id: int, member_id: int, text: str,
                    reply_markup: dict[str, Any] | None = None) -> int:
        """A bot message already in chat `chat_id` (a group, unless it is `member_id`'s own
        chat), e.g. one with buttons shared there; returns its message_id."""
        with self._cond:
            chat = self._chat_for(member_id, chat_id, None, None, "en")
            return self._store_message(chat, text, text, None, reply_markup,
                                       from_bot=True).message_id

    def block_bot(self, user_id: int, blocked: bool = True) -> None:
        """From now on every call to this chat fails with 403 (until unblocked)."""
        with self._cond:
            self._chat_for(user_id, user_id, None, None, "en").blocked = blocked

    # -- fault injection ------------------------------------------------------------------

    def fail_next(self, method: str, fault: Fault, *, times: int = 1,
                  chat_id: int | None = None) -> None:
        """The next `times` calls of `method` (to `chat_id`, if given) get `fault`."""
        with self._cond:
            self._faults.append(_PendingFault(method.lower(), chat_id, fault, times))

    def clear_faults(self) -> None:
        """Forget every fault not yet used up (e.g. the end of an outage)."""
        with self._cond:
            self._faults.clear()

    # -- observation ----------------------------------------------------------------------

    def requests(self, method: str | None = None, *, chat_id: int | None = None,
                 since: int = 0) -> list[RecordedRequest]:
        """Recorded calls, oldest first; `since` is a value of `mark()`."""
        with self._cond:
            return [r for r in self._requests[since:]
                    if (method is None or r.method.lower() == method.lower())
                    and (chat_id is None or r.chat_id == chat_id)]

    def mark(self) -> int:
        """A cursor into the request log for `requests(since=...)` / `wait_for_request`."""
        with self._cond:
            return len(self._requests)

    def messages(self, chat_id: int, *, include_deleted: bool = True) -> list[ChatMessage]:
        """Copies of the messages of a chat (user's and bot's), oldest first."""
        with self._cond:
            chat = self._chats.get(chat_id)
            found = list(chat.messages.values()) if chat else []
            return [copy.deepcopy(m) for m in found if include_deleted or not m.deleted]

    def bot_messages(self, chat_id: int) -> list[ChatMessage]:
        return [m for m in self.messages(chat_id) if m.from_bot]

    def message(self, chat_id: int, message_id: int) -> ChatMessage:
        with self._cond:
            return copy.deepcopy(self._chats[chat_id].messages[message_id])

    def callback_query(self, query_id: str) -> CallbackQueryRecord:
        with self._cond:
            return replace(self._queries[query_id])

    def commands(self, scope: dict[str, Any] | None = None,
                 language_code: str = "") -> list[dict[str, Any]]:
        with self._cond:
            return list(self._commands.get(self._commands_key(scope, language_code), []))

    @property
    def pending_updates(self) -> int:
        """Updates not yet confirmed by a getUpdates offset."""
        with self._cond:
            return len(self._updates)

    # -- waiting --------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[BotApiServer], T | None],
                 timeout: float = DEFAULT_WAIT, what: str = "condition") -> T:
        """Block until `predicate(self)` is truthy and return its value; re-checked on every
        state change; a LookupError in the predicate counts as "not yet". Raises TimeoutError
        with the recent request log."""
        with self._cond:
            found: list[T] = []

            def check() -> bool:
                try:
                    value = predicate(self)
                except LookupError:  # e.g. the message it looks at does not exist yet
                    value = None
                if value:
                    found.append(value)
                return bool(value) or self._stopping

            self._cond.wait_for(check, timeout)
            if found:
                return found[0]
            recent = ", ".join(f"{r.method}->{r.status}" for r in self._requests[-12:])
            raise TimeoutError(f"{what} not met within {timeout}s; recent calls: {recent}")

    async def await_for(self, predicate: Callable[[BotApiServer], T | None],
                        timeout: float = DEFAULT_WAIT,  # noqa: ASYNC109 - a thread waits, not the loop
                        what: str = "condition") -> T:
        """`wait_for` for async tests: waits in a worker thread, so the loop keeps serving."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout, what)

    def wait_for_request(self, method: str, *, chat_id: int | None = None, since: int = 0,
                         where: Callable[[RecordedRequest], bool] | None = None,
                         timeout: float = DEFAULT_WAIT) -> RecordedRequest:
        """The first completed call of `method` at or after cursor `since`."""
        def first(fake: BotApiServer) -> RecordedRequest | None:
            return next((r for r in fake.requests(method, chat_id=chat_id, since=since)
                         if r.status is not None and (where is None or where(r))), None)
        return self.wait_for(first, timeout, f"{method} to {chat_id} since #{since}")

    def wait_for_bot_message(self, chat_id: int, *, after: int = 0,
                             where: Callable[[ChatMessage], bool] | None = None,
                             timeout: float = DEFAULT_WAIT) -> ChatMessage:
        """The first bot message in the chat with message_id > `after` (e.g. the user's
        message id), as it is now."""
        def first(fake: BotApiServer) -> ChatMessage | None:
            return next((m for m in fake.bot_messages(chat_id)
                         if m.message_id > after and (where is None or where(m))), None)
        return self.wait_for(first, timeout, f"bot message in chat {chat_id} after #{after}")

    def wait_for_edit(self, chat_id: int, message_id: int, *, edits: int = 1,
                      timeout: float = DEFAULT_WAIT) -> ChatMessage:
        """The message once it has been edited at least `edits` times."""
        def edited(fake: BotApiServer) -> ChatMessage | None:
            message = fake.message(chat_id, message_id)
            return message if len(message.history) >= edits else None
        return self.wait_for(edited, timeout, f"edit #{edits} of {chat_id}/{message_id}")

    def wait_for_callback_answer(self, query_id: str,
                                 timeout: float = DEFAULT_WAIT) -> CallbackQueryRecord:
        def answered(fake: BotApiServer) -> CallbackQueryRecord | None:
            query = fake.callback_query(query_id)
            return query if query.answered else None
        return self.wait_for(answered, timeout, f"answer to callback query {query_id}")

    async def await_request(self, method: str, **kwargs: Any) -> RecordedRequest:
        return await asyncio.to_thread(lambda: self.wait_for_request(method, **kwargs))

    async def await_bot_message(self, chat_id: int, **kwargs: Any) -> ChatMessage:
        return await asyncio.to_thread(lambda: self.wait_for_bot_message(chat_id, **kwargs))

    async def await_edit(self, chat_id: int, message_id: int, **kwargs: Any) -> ChatMessage:
        return await asyncio.to_thread(lambda: self.wait_for_edit(chat_id, message_id, **kwargs))

    async def await_callback_answer(self, query_id: str, **kwargs: Any) -> CallbackQueryRecord:
        return await asyncio.to_thread(lambda: self.wait_for_callback_answer(query_id, **kwargs))

    # -- state helpers (call with the lock held) ------------------------------------------

    def _chat_for(self, user_id: int, chat_id: int, first_name: str | None,
                  username: str | None, language_code: str) -> _Chat:
        if chat_id not in self._chats:
            user = {"id": user_id, "is_bot": False, "first_name": first_name or f"User{user_id}",
                    "username": username or f"user{user_id}", "language_code": language_code}
            if chat_id == user_id:
                chat = {"id": chat_id, "type": "private", "first_name": user["first_name"],
                        "username": user["username"]}
            else:
                chat = {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}
            self._chats[chat_id] = _Chat(chat=chat, user=user)
        return self._chats[chat_id]

    def _store_message(self, chat: _Chat, text: str, source: str, parse_mode: str | None,
                       markup: dict[str, Any] | None, *, from_bot: bool) -> ChatMessage:
        message = ChatMessage(chat.chat["id"], chat.next_message_id, from_bot, text, source,
                              parse_mode, markup, int(time.time()), time.monotonic())
        chat.next_message_id += 1
        chat.messages[message.message_id] = message
        return message

    def _message_dict(self, chat: _Chat, message: ChatMessage,
                      sender: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {"message_id": message.message_id, "from": sender,
                                   "chat": chat.chat, "date": message.date, "text": message.text}
        if message.photo is not None:
            del payload["text"]
            payload["photo"] = [{"file_id": f"photo-{chat.chat['id']}-{message.message_id}",
                                 "file_unique_id": f"p{message.message_id}", "width": 960,
                                 "height": 576, "file_size": len(message.photo)}]
            if message.text:
                payload["caption"] = message.text
        if message.history:
            payload["edit_date"] = int(time.time())
        if message.parse_mode == "HTML" and (entities := html_entities(message.html)):
            # as Telegram returns a formatted message (a caption's would be caption_entities)
            payload["caption_entities" if message.photo is not None else "entities"] = entities
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            payload["reply_markup"] = message.reply_markup
        return payload

    def _push_update(self, body: dict[str, Any]) -> None:
        self._updates.append({"update_id": next(self._update_ids), **body})
        self.version += 1
        self._cond.notify_all()

    @staticmethod
    def _commands_key(scope: dict[str, Any] | None, language_code: str) -> str:
        return json.dumps([scope or {"type": "default"}, language_code], sort_keys=True)

    def _take_fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        for pending in self._faults:
            if pending.method == method.lower() and pending.chat_id in (None,
                                                                          params.get("chat_id")):
                pending.remaining -= 1
                if pending.remaining <= 0:
                    self._faults.remove(pending)
                return pending.fault
        return None

    def _record(self, method: str, params: dict[str, Any]) -> int:
        with self._cond:
            seq = len(self._requests)
            self._requests.append(RecordedRequest(seq, method, params, time.monotonic()))
            self._cond.notify_all()
            return seq

    def _complete(self, seq: int, status: int, result: Any, description: str | None) -> None:
        with self._cond:
            self._requests[seq] = replace(self._requests[seq], status=status, result=result,
                                          description=description, done_at=time.monotonic())
            self._cond.notify_all()

    # -- request dispatch ---------------------------------------------------------------

    def handle(self, method: str, params: dict[str, Any]) -> Any:
        """Run one Bot API method (names are case-insensitive); raises ApiError."""
        handler = getattr(self, f"_api_{method.lower()}", None)
        if handler is None:
            raise ApiError(404, "Not Found")
        if method.lower() == "getupdates":
            return handler(params)  # waits on the condition, which releases the lock
        with self._cond:
            result = handler(params)
            self.version += 1
            self._cond.notify_all()
            return result

    # -- Bot API methods (lock held, except getUpdates) -------------------------------------

    def _api_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user

    def _api_deletewebhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _api_setwebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {"url": params.get("url"), "secret_token": params.get("secret_token")}
        return True

    def take_updates(self) -> list[dict[str, Any]]:
        """Pending updates, removed (a test then posts them to a webhook, as Telegram would)."""
        with self._cond:
            updates, self._updates = self._updates, []
            return updates

    def _api_getwebhookinfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": "", "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    def _api_close(self, params: dict[str, Any]) -> bool:
        return True

    def _api_logout(self, params: dict[str, Any]) -> bool:
        return True

    def _api_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset, limit = int(params.get("offset") or 0), int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        with self._cond:
            if offset > 0:  # confirms every update below the offset, as Telegram does
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self._cond.wait_for(lambda: self._updates or self._stopping, timeout)
            batch = self._updates[offset:] if offset < 0 else self._updates
            return copy.deepcopy(batch[:limit])

    def _api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._writable_chat(params)
        text, source = self._text(params)
        markup = params.get("reply_markup")
        message = self._store_message(chat, text, source, params.get("parse_mode"), markup,
                                      from_bot=True)
        return self._message_dict(chat, message, self.bot_user)

    def _api_sendphoto(self, params: dict[str, Any]) -> dict[str, Any]:
        """A photo uploaded as multipart/form-data (a file id or URL is not supported)."""
        chat = self._writable_chat(params)
        photo = params.get("photo")
        if not isinstance(photo, bytes) or not photo:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        if len(photo) > MAX_PHOTO_BYTES:
            raise ApiError(400, "Bad Request: file is too big")
        source, caption = self._caption(params)
        message = self._store_message(chat, caption, source, params.get("parse_mode"),
                                      params.get("reply_markup"), from_bot=True)
        message.photo = photo
        return self._message_dict(chat, message, self.bot_user)

    def _api_editmessagecaption(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._editable_message(params)
        source, caption = self._caption(params)
        self._edit(message, caption, source, params.get("reply_markup"))
        return self._message_dict(chat, message, self.bot_user)

    def _api_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._editable_message(params)
        text, source = self._text(params)
        self._edit(message, text, source, params.get("reply_markup"))
        message.parse_mode = params.get("parse_mode")
        return self._message_dict(chat, message, self.bot_user)

    def _api_editmessagereplymarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._editable_message(params)
        self._edit(message, message.text, message.html, params.get("reply_markup"))
        return self._message_dict(chat, message, self.bot_user)

    def _api_deletemessage(self, params: dict[str, Any]) -> bool:
        chat = self._writable_chat(params)
        message = chat.messages.get(int(params.get("message_id") or 0))
        if message is None or message.deleted:
            raise ApiError(400, "Bad Request: message to delete not found")
        message.deleted = True
        return True

    def _api_answercallbackquery(self, params: dict[str, Any]) -> bool:
        query = self._queries.get(str(params.get("callback_query_id")))
        if query is None or query.answered:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired "
                                "or query ID is invalid")
        query.answered, query.answered_at = True, time.monotonic()
        query.answer_text = params.get("text")
        query.show_alert = bool(params.get("show_alert"))
        return True

    def _api_setmycommands(self, params: dict[str, Any]) -> bool:
        key = self._commands_key(params.get("scope"), params.get("language_code") or "")
        self._commands[key] = list(params.get("commands") or [])
        return True

    def _api_getmycommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands(params.get("scope"), params.get("language_code") or "")

    def _api_deletemycommands(self, params: dict[str, Any]) -> bool:
        key = self._commands_key(params.get("scope"), params.get("language_code") or "")
        self._commands.pop(key, None)
        return True

    def _writable_chat(self, params: dict[str, Any]) -> _Chat:
        chat = self._chats.get(params.get("chat_id"))  # type: ignore[arg-type]
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _editable_message(self, params: dict[str, Any]) -> tuple[_Chat, ChatMessage]:
        chat = self._writable_chat(params)
        message = chat.messages.get(int(params.get("message_id") or 0))
        if message is None or message.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not message.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return chat, message

    @staticmethod
    def _caption(params: dict[str, Any]) -> tuple[str, str]:
        """(as sent, as shown) of a photo's caption."""
        source = str(params.get("caption") or "")
        mode = str(params.get("parse_mode") or "").lower()
        caption = html_to_text(source) if mode == "html" else source
        if len(caption) > MAX_CAPTION_LENGTH:
            raise ApiError(400, "Bad Request: message caption is too long")
        return source, caption

    @staticmethod
    def _text(params: dict[str, Any]) -> tuple[str, str]:
        source = str(params.get("text") or "")
        mode = str(params.get("parse_mode") or "").lower()
        text = html_to_text(source) if mode == "html" else source
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        return text, source

    @staticmethod
    def _edit(message: ChatMessage, text: str, source: str,
              markup: dict[str, Any] | None) -> None:
        # A missing reply_markup removes the keyboard, as on Telegram.
        if source == message.html and markup == message.reply_markup:
            raise ApiError(400, "Bad Request: message is not modified: specified new message "
                                "content and reply markup are exactly the same as a current "
                                "content and reply markup of the message")
        message.history.append(MessageVersion(message.text, message.html,
                                              message.reply_markup, time.monotonic()))
        message.text, message.html, message.reply_markup = text, source, markup


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects
    server: ThreadingHTTPServer

    def setup(self) -> None:
        super().setup()
        with self.fake._cond:
            self.fake._connections.add(self.connection)

    def finish(self) -> None:
        with self.fake._cond:
            self.fake._connections.discard(self.connection)
        super().finish()

    @property
    def fake(self) -> BotApiServer:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is the record; stderr noise helps nobody

    def do_GET(self) -> None:
        self.do_POST()

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path == "/" or url.path.startswith("/chat/"):
            from bot.simulated.chat_api import serve_chat  # only the demo's page needs it

            status, content_type, data = serve_chat(self.fake, self.command, url, body)
            self._send_bytes(status, content_type, data)
            return
        match = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)", url.path)
        if match is None:
            self._reply(HTTPStatus.NOT_FOUND, {"ok": False, "error_code": 404,
                                               "description": "Not Found"})
            return
        method = match.group(2)
        params = self._params(url.query, body)
        seq = self.fake._record(method, params)
        if match.group(1) != self.fake.token:
            self.fake._complete(seq, 401, None, "Unauthorized")
            self._reply(HTTPStatus.UNAUTHORIZED, {"ok": False, "error_code": 401,
                                                  "description": "Unauthorized"})
            return
        with self.fake._cond:
            fault = self.fake._take_fault(method, params)
            latency = self.fake.latency.get(method.lower(), 0.0)
        if latency:
            time.sleep(latency)
        if fault is not None and fault.drop:
            if fault.after_processing:
                try:
                    self.fake.handle(method, params)
                except ApiError:
                    pass
            self.fake._complete(seq, 0, None, "connection dropped")
            self.close_connection = True  # the socket closes with no reply at all
            return
        try:
            if fault is not None:
                raise ApiError(fault.code, fault.description, fault.retry_after)
            result = self.fake.handle(method, params)
        except ApiError as error:
            reply: dict[str, Any] = {"ok": False, "error_code": error.code,
                                     "description": error.description}
            if error.retry_after is not None:
                reply["parameters"] = {"retry_after": error.retry_after}
            self.fake._complete(seq, error.code, None, error.description)
            self._reply(error.code, reply)
            return
        self.fake._complete(seq, 200, result, None)
        self._reply(HTTPStatus.OK, {"ok": True, "result": result})

    def _params(self, query: str, body: bytes) -> dict[str, Any]:
        content_type = self.headers.get("Content-Type", "")
        raw: dict[str, str] = dict(parse_qsl(query))
        if content_type.startswith("application/json") and body:
            return {**raw, **json.loads(body)}
        if content_type.startswith("multipart/form-data"):
            head = f"Content-Type: {content_type}\r\n\r\n".encode()
            parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
            files: dict[str, bytes] = {}
            for part in parsed.iter_parts():
                name = str(part.get_param("name", header="content-disposition"))
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                if part.get_filename() is not None:  # an uploaded file (sendPhoto's photo)
                    files[name] = data
                else:
                    raw[name] = data.decode()
            decoded = {name: _decode_value(name, value) for name, value in raw.items()}
            return {**decoded, **files}
        if body:
            raw.update(parse_qsl(body.decode(), keep_blank_values=True))
        return {name: _decode_value(name, value) for name, value in raw.items()}

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        self._send_bytes(status, "application/json", json.dumps(payload).encode())

    def _send_bytes(self, status: int, content_type: str, data: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True  # the client gave up (e.g. a cancelled long poll)
