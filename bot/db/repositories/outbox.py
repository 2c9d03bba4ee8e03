"""Outbox: messages decided in a cycle's transaction and delivered later by the sender.

The sender keeps a light copy of what is pending (`pending`: no texts), reads one row's text
(`get`) just before sending it outside any transaction, then `mark_sent` / `mark_retry` /
`mark_failed` in a short transaction. A row is delivered at most once unless the process
dies between Telegram's reply and `mark_sent` (then it is sent again).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.db.models import Outbox, utcnow
from bot.db.repositories import users as users_repo
from bot.db.repositories._rows import rowcount, table
from bot.services.alert_prefs import AlertKind, AlertPrefs, Route, route

MessageKind = Literal["outbid", "match", "status", "action"]
MESSAGE_KINDS: frozenset[str] = frozenset(get_args(MessageKind))
# Lower goes first: a tap's answer, then money at risk (outbid), then news (match).
DEFAULT_PRIORITY: dict[str, int] = {"action": 0, "outbid": 10, "match": 20, "status": 30}
MAX_ERROR_CHARS = 1000
_CHUNK = 500  # ids per IN (...) list, under SQLite's parameter limit


@dataclass(frozen=True, slots=True)
class PendingRow:
    """What the sender needs to schedule a queued message (the text is read when sent)."""

    id: int
    user_id: int
    chat_id: int
    kind: str
    priority: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str | None


@dataclass(frozen=True, slots=True)
class NewMessage:
    user_id: int
    chat_id: int
    kind: MessageKind
    text: str
    reply_markup: str | None = None  # Bot API reply_markup as JSON text
    dedupe_key: str | None = None  # e.g. f"match:{rule_id}:{snapshot_url}"
    priority: int | None = None  # None: DEFAULT_PRIORITY[kind]
    # An alert: the user's settings for this kind decide whether and how it is sent (see
    # `enqueue_many`). None: an answer the user asked for, always sent with sound.
    alert: AlertKind | None = None
    silent: bool = False  # sent with disable_notification


def _pending() -> tuple[ColumnElement[bool], ...]:
    return (Outbox.sent_at.is_(None), Outbox.failed_at.is_(None))


async def enqueue_many(
    session: AsyncSession,
    messages: Iterable[NewMessage],
    *,
    now: datetime | None = None,
    decided_at: datetime | None = None,
    prefs: dict[int, AlertPrefs] | None = None,
) -> list[bool]:
    """Queue messages; returns for each whether it was queued (False when its dedupe key
    was already queued, now or earlier, or twice in this batch, or when the user turned
    its kind of alert off).

    An alert (`NewMessage.alert`) goes through its user's settings at `decided_at` (the
    service clock; default `now`): off drops it, silent or quiet hours make it silent.
    Match alerts in quiet hours are held by the cycle before they get here. `prefs`: the
    settings of some of these users as the caller already read them (the others are read).
    """
    batch = list(messages)
    if bad := {m.kind for m in batch} - MESSAGE_KINDS:
        raise ValueError(f"unknown message kind(s): {sorted(bad)}")
    ways = await _routes(session, batch, decided_at or now or utcnow(), prefs or {})
    keys = {m.dedupe_key for m in batch if m.dedupe_key is not None}
    taken: set[str] = set()
    if keys:
        found = await session.scalars(
            select(Outbox.dedupe_key).where(Outbox.dedupe_key.in_(keys))
        )
        taken = {key for key in found if key is not None}
    stamp = now or utcnow()
    rows: list[dict[str, object]] = []
    fresh: list[bool] = []
    for message, way in zip(batch, ways, strict=True):
        duplicate = message.dedupe_key is not None and message.dedupe_key in taken
        fresh.append(not duplicate and way != "drop")
        if duplicate or way == "drop":
            continue
        if message.dedupe_key is not None:
            taken.add(message.dedupe_key)
        rows.append(
            {
                "user_id": message.user_id,
                "chat_id": message.chat_id,
                "kind": message.kind,
                "priority": (
                    DEFAULT_PRIORITY[message.kind] if message.priority is None
                    else message.priority
                ),
                "text": message.text,
                "reply_markup": message.reply_markup,
                "dedupe_key": message.dedupe_key,
                "created_at": stamp,
                "attempts": 0,
                "next_attempt_at": stamp,
                "alert_kind": message.alert,
                "silent": message.silent or way in ("silent", "hold"),
            }
        )  # fmt: skip
    if rows:  # one Core executemany: a cycle may queue thousands of messages
        await session.execute(insert(table(Outbox)), rows)
    return fresh


async def _routes(
    session: AsyncSession, batch: list[NewMessage], when: datetime, known: dict[int, AlertPrefs]
) -> list[Route]:
    """Each message's way to its user; answers (no `alert`) are always sent."""
    alerting = {m.user_id for m in batch if m.alert is not None} - known.keys()
    prefs = {**known, **(await users_repo.prefs_for(session, alerting) if alerting else {})}
    return [
        "send" if m.alert is None else route(prefs.get(m.user_id, AlertPrefs()), m.alert, when)
        for m in batch
    ]


async def enqueue(
    session: AsyncSession, message: NewMessage, *, now: datetime | None = None
) -> int | None:
    """Queue one message; its outbox id, or None when its dedupe key was already queued."""
    if not (await enqueue_many(session, [message], now=now))[0]:
        return None
    return int(await session.scalar(select(func.max(Outbox.id))) or 0)


async def next_due(
    session: AsyncSession, *, limit: int, now: datetime | None = None
) -> list[Outbox]:
    """Unsent, not given up, due by `now`; by priority, then oldest first."""
    result = await session.scalars(
        select(Outbox)
        .where(*_pending(), Outbox.next_attempt_at <= (now or utcnow()))
        .order_by(Outbox.priority, Outbox.id)
        .limit(limit)
    )
    return list(result)


async def pending(session: AsyncSession, *, after_id: int = 0) -> list[PendingRow]:
    """Unsent, not given up rows with an id above `after_id`, oldest first."""
    result = await session.execute(
        select(
            Outbox.id, Outbox.user_id, Outbox.chat_id, Outbox.kind, Outbox.priority,
            Outbox.created_at, Outbox.next_attempt_at, Outbox.last_error,
        )
        .where(*_pending(), Outbox.id > after_id)
        .order_by(Outbox.id)
    )
    return [PendingRow(*row) for row in result]


async def get_pending(session: AsyncSession, outbox_id: int) -> Outbox | None:
    return await session.scalar(select(Outbox).where(Outbox.id == outbox_id, *_pending()))


async def set_reply_markup(session: AsyncSession, outbox_id: int, reply_markup: str) -> None:
    """Its buttons made (see `bot.services.buttons.ButtonToMake`): what every send uses."""
    await session.execute(
        update(Outbox).where(Outbox.id == outbox_id).values(reply_markup=reply_markup)
    )


async def give_up(
    session: AsyncSession, outbox_ids: Iterable[int], *, error: str, now: datetime | None = None
) -> int:
    """Abandon pending rows (e.g. undelivered for too long); returns how many were."""
    ids = list(outbox_ids)
    done = 0
    for start in range(0, len(ids), _CHUNK):
        result = await session.execute(
            update(Outbox)
            .where(Outbox.id.in_(ids[start : start + _CHUNK]), *_pending())
            .values(failed_at=now or utcnow(), last_error=error[:MAX_ERROR_CHARS])
            .execution_options(synchronize_session=False)
        )
        done += rowcount(result)
    return done


async def _set(session: AsyncSession, outbox_id: int, **values: object) -> bool:
    result = await session.execute(
        update(Outbox)
        .where(Outbox.id == outbox_id, *_pending())
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result) == 1


async def mark_sent(
    session: AsyncSession,
    outbox_id: int,
    *,
    message_id: int | None,
    now: datetime | None = None,
) -> bool:
    """Record delivery (`message_id` lets buttons' results edit the message later)."""
    return await _set(
        session,
        outbox_id,
        sent_at=now or utcnow(),
        message_id=message_id,
        attempts=Outbox.attempts + 1,
    )


async def mark_sent_many(
    session: AsyncSession, sent: Iterable[tuple[int, int | None, datetime]]
) -> None:
    """`mark_sent` for many rows (id, message_id, when) in one executemany statement."""
    params = [{"row_id": i, "message_id": m, "sent_at": at} for i, m, at in sent]
    if not params:
        return
    rows = table(Outbox)
    await session.execute(
        update(rows)
        .where(rows.c.id == bindparam("row_id"), rows.c.sent_at.is_(None),
               rows.c.failed_at.is_(None))
        .values(sent_at=bindparam("sent_at"), message_id=bindparam("message_id"),
                attempts=rows.c.attempts + 1),
        params,
    )


async def mark_retry(
    session: AsyncSession, outbox_id: int, *, error: str, retry_at: datetime
) -> bool:
    """A transient failure (429, 5xx, timeout): try again at `retry_at`."""
    return await _set(
        session,
        outbox_id,
        next_attempt_at=retry_at,
        last_error=error[:MAX_ERROR_CHARS],
        attempts=Outbox.attempts + 1,
    )


async def mark_failed(
    session: AsyncSession, outbox_id: int, *, error: str, now: datetime | None = None
) -> bool:
    """A permanent failure (blocked, chat not found, bad request): never retried."""
    return await _set(
        session,
        outbox_id,
        failed_at=now or utcnow(),
        last_error=error[:MAX_ERROR_CHARS],
        attempts=Outbox.attempts + 1,
    )


async def fail_pending_for_user(
    session: AsyncSession, user_id: int, *, error: str, now: datetime | None = None
) -> int:
    """Give up on everything queued for a user, e.g. after they blocked the bot."""
    result = await session.execute(
        update(Outbox)
        .where(Outbox.user_id == user_id, *_pending())
        .values(failed_at=now or utcnow(), last_error=error[:MAX_ERROR_CHARS])
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result)


async def pending_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count(Outbox.id)).where(*_pending())) or 0)


async def prune(session: AsyncSession, *, older_than: datetime) -> int:
    """Delete delivered or abandoned rows created before `older_than`.

    Their dedupe keys are released too, so keep rows longer than a dedupe key can recur.
    """
    result = await session.execute(
        delete(Outbox).where(
            Outbox.created_at < older_than,
            or_(Outbox.sent_at.is_not(None), Outbox.failed_at.is_not(None)),
        )
    )
    return rowcount(result)
