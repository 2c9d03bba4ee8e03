"""Callback actions: the opaque ids in inline buttons' `callback_data`.

A button carries only a random id; what it does (raise order X to price Y, delete rule Z)
is stored here, so a forged or replayed callback can do nothing. `claim` is the only way to
act on one: it marks it used atomically, so a double tap (or two handlers racing) acts
exactly once.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import CallbackAction, utcnow
from bot.db.repositories._rows import rowcount, table

ACTION_ID_LENGTH = 22  # token_urlsafe(16): 128 random bits; Telegram allows 64 bytes of data

Unclaimable = Literal["missing", "not_owner", "used", "expired"]


# What new_action_id makes. Anything else (hostile callback data, even a NUL byte, which
# PostgreSQL text cannot hold) is not looked up at all.
_ACTION_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{ACTION_ID_LENGTH}}}")


def _well_formed(action_id: str) -> bool:
    return _ACTION_ID.fullmatch(action_id) is not None


def new_action_id() -> str:
    return secrets.token_urlsafe(16)


async def create(
    session: AsyncSession,
    *,
    user_id: int,
    kind: str,
    payload: Mapping[str, Any],
    expires_at: datetime,
    action_id: str | None = None,
    now: datetime | None = None,
) -> CallbackAction:
    """`action_id` may be generated beforehand (`new_action_id`) to build the keyboard
    before the outbox row exists; `payload` must be JSON-serialisable."""
    action = CallbackAction(
        id=action_id or new_action_id(),
        user_id=user_id,
        kind=kind,
        payload=json.dumps(dict(payload), separators=(",", ":"), sort_keys=True),
        created_at=now or utcnow(),
        expires_at=expires_at,
    )
    if len(action.id) > ACTION_ID_LENGTH:
        raise ValueError(f"action id longer than {ACTION_ID_LENGTH} characters")
    session.add(action)
    await session.flush()
    return action


_BATCH = "callback action rows"
_encode = msgspec.json.Encoder(order="sorted").encode  # what json.dumps(sort_keys) gives


def _payload_json(payload: Mapping[str, Any]) -> str:
    return _encode(dict(payload)).decode()


@contextlib.asynccontextmanager
async def batch(session: AsyncSession) -> AsyncIterator[None]:
    """Inside: `add` queues rows that are inserted together when the block ends without an
    error (a poll cycle makes thousands of buttons; one statement instead of thousands)."""
    rows: list[dict[str, Any]] = []
    session.info[_BATCH] = rows
    try:
        yield
    finally:
        del session.info[_BATCH]
    if rows:
        await session.execute(insert(table(CallbackAction)), rows)


async def add(
    session: AsyncSession,
    *,
    user_id: int,
    kind: str,
    payload: Mapping[str, Any],
    expires_at: datetime,
    now: datetime | None = None,
) -> str:
    """A new action's id: queued in the session's `batch` when there is one, else created."""
    rows: list[dict[str, Any]] | None = session.info.get(_BATCH)
    if rows is None:
        action = await create(
            session, user_id=user_id, kind=kind, payload=payload, expires_at=expires_at, now=now
        )
        return action.id
    action_id = new_action_id()
    rows.append(
        {
            "id": action_id, "user_id": user_id, "kind": kind,
            "payload": _payload_json(payload),
            "created_at": now or utcnow(), "expires_at": expires_at,
        }
    )  # fmt: skip
    return action_id


async def get(session: AsyncSession, action_id: str) -> CallbackAction | None:
    if not _well_formed(action_id):
        return None
    return await session.scalar(
        select(CallbackAction)
        .where(CallbackAction.id == action_id)
        .execution_options(populate_existing=True)
    )


async def claim(
    session: AsyncSession, action_id: str, user_id: int, *, now: datetime | None = None
) -> CallbackAction | None:
    """Mark the action used and return it, only if it is unused, unexpired and this user's.

    None means the tap must do nothing; `why_unclaimable` tells the user why. Commit
    before acting on the result, so the claim is durable before any money moves.
    """
    if not _well_formed(action_id):
        return None
    stamp = now or utcnow()
    result = await session.execute(
        update(CallbackAction)
        .where(
            CallbackAction.id == action_id,
            CallbackAction.user_id == user_id,
            CallbackAction.used_at.is_(None),
            CallbackAction.expires_at > stamp,
        )
        .values(used_at=stamp)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        return None
    return await get(session, action_id)


async def release(
    session: AsyncSession, action_id: str, user_id: int, *, claimed_at: datetime
) -> bool:
    """Make a claimed action usable again: the tap that claimed it did nothing (the market
    was not loaded, Telegram refused the answer). Only that claim is undone (`claimed_at`),
    never a later one."""
    result = await session.execute(
        update(CallbackAction)
        .where(
            CallbackAction.id == action_id,
            CallbackAction.user_id == user_id,
            CallbackAction.used_at == claimed_at,
        )
        .values(used_at=None)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def why_unclaimable(
    action: CallbackAction | None, user_id: int, *, now: datetime | None = None
) -> Unclaimable:
    """Why `claim` returned None for `action` (as read with `get` afterwards)."""
    if action is None:
        return "missing"
    if action.user_id != user_id:
        return "not_owner"
    if action.used_at is not None:
        return "used"
    if action.expires_at <= (now or utcnow()):
        return "expired"
    return "used"  # claimed by a concurrent tap between the UPDATE and this read


async def prune(session: AsyncSession, *, older_than: datetime) -> int:
    """Delete actions that expired or were used before `older_than`."""
    result = await session.execute(
        delete(CallbackAction).where(
            or_(CallbackAction.expires_at < older_than, CallbackAction.used_at < older_than)
        )
    )
    return rowcount(result)
