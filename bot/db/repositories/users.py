"""Users: one row per Telegram user who talked to the bot."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import User, utcnow
from bot.db.repositories._rows import rowcount
from bot.services.alert_prefs import AlertPrefs, parse_modes


async def get(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def by_ids(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, User]:
    """These users, by primary key in chunks: id -> user (missing ids are left out)."""
    ids = sorted(set(user_ids))
    found: dict[int, User] = {}
    for start in range(0, len(ids), 500):
        rows = await session.scalars(select(User).where(User.id.in_(ids[start : start + 500])))
        found.update({user.id: user for user in rows})
    return found


async def get_by_telegram_id(session: AsyncSession, telegram_id: int) -> User | None:
    return await session.scalar(select(User).where(User.telegram_id == telegram_id))


async def get_or_create(
    session: AsyncSession, *, telegram_id: int, chat_id: int, language: str | None = None
) -> User:
    """The user for this Telegram id, created on first contact.

    A user who writes to the bot can be reached again, so this also sets `active` and keeps
    `chat_id` current. `chat_id` must be the user's private chat (their Telegram id): alerts
    go there, so never pass the chat of a group the update came from. `language` is used
    only for a new user: a choice made with /lang is never overwritten.
    """
    user = await get_by_telegram_id(session, telegram_id)
    if user is None:
        try:
            # Savepoint: a concurrent first message from the same user must not poison the
            # caller's transaction (only possible on databases without BEGIN IMMEDIATE).
            async with session.begin_nested():
                user = User(telegram_id=telegram_id, chat_id=chat_id, language=language)
                session.add(user)
            return user
        except IntegrityError:
            user = await get_by_telegram_id(session, telegram_id)
            if user is None:
                raise
    if user.chat_id != chat_id or not user.active:
        user.chat_id = chat_id
        user.active = True
        await session.flush()
    return user


async def _update(session: AsyncSession, user_id: int, **values: object) -> bool:
    result = await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result) == 1


async def set_api_key(
    session: AsyncSession, user_id: int, *, api_key_encrypted: str, clore_user_id: int
) -> bool:
    """Store an already encrypted key (see `bot.secrets.KeyBox`) and the account it owns."""
    return await _update(
        session,
        user_id,
        api_key_encrypted=api_key_encrypted,
        clore_user_id=clore_user_id,
        api_key_unreadable_at=None,
    )


async def clear_api_key(session: AsyncSession, user_id: int) -> bool:
    """Forget the key and the clore account (competitor ranking then counts all bids)."""
    return await _update(
        session, user_id, api_key_encrypted=None, clore_user_id=None, api_key_unreadable_at=None
    )


async def set_key_unreadable(session: AsyncSession, user_id: int, now: datetime) -> bool:
    """Flag the stored key as undecryptable; False when it was flagged already (or gone)."""
    result = await session.execute(
        update(User)
        .where(
            User.id == user_id,
            User.api_key_encrypted.is_not(None),
            User.api_key_unreadable_at.is_(None),
        )
        .values(api_key_unreadable_at=now, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    return rowcount(result) == 1


async def clear_key_unreadable(session: AsyncSession, user_id: int) -> bool:
    return await _update(session, user_id, api_key_unreadable_at=None)


async def list_with_keys(session: AsyncSession) -> list[User]:
    """Every user with a stored key, readable or not (the start-up check reads them all)."""
    result = await session.scalars(
        select(User).where(User.api_key_encrypted.is_not(None)).order_by(User.id)
    )
    return list(result)


async def set_raise_step(session: AsyncSession, user_id: int, raise_step: float | None) -> bool:
    """None restores the configured default. Must be > 0: a raise of 0 never retakes a lead."""
    if raise_step is not None and not raise_step > 0:
        raise ValueError("raise step must be greater than 0")
    return await _update(session, user_id, raise_step=raise_step)


async def set_price_cap(session: AsyncSession, user_id: int, price_cap: float | None) -> bool:
    """None: no cap. Above the cap a raise needs an explicit confirmation."""
    if price_cap is not None and not price_cap > 0:
        raise ValueError("price cap must be greater than 0")
    return await _update(session, user_id, price_cap=price_cap)


async def set_language(session: AsyncSession, user_id: int, language: str) -> bool:
    return await _update(session, user_id, language=language)


async def set_alerts_paused(session: AsyncSession, user_id: int, paused: bool) -> bool:
    return await _update(session, user_id, alerts_paused=paused)


async def set_active(session: AsyncSession, user_id: int, active: bool) -> bool:
    """`active=False` when Telegram says the user blocked the bot; nothing is sent then."""
    return await _update(session, user_id, active=active)


async def list_linked(session: AsyncSession) -> list[User]:
    """Active users with a linked clore account whose key can be decrypted: the ones whose
    bids are watched (a lost key makes Raise, Cancel and protection impossible)."""
    result = await session.scalars(
        select(User)
        .where(
            User.active.is_(True),
            User.clore_user_id.is_not(None),
            User.api_key_unreadable_at.is_(None),
        )
        .order_by(User.id)
    )
    return list(result)


# -- alert control (see bot.services.alert_prefs) --------------------------------------------


def prefs_of(user: User) -> AlertPrefs:
    return AlertPrefs(
        modes=parse_modes(user.alert_modes),
        paused=user.alerts_paused,
        paused_until=user.paused_until,
        quiet_start=user.quiet_start,
        quiet_end=user.quiet_end,
        time_zone=user.time_zone,
    )


async def prefs_for(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, AlertPrefs]:
    """Alert settings of these users, looked up by primary key in chunks."""
    ids = sorted(set(user_ids))
    found: dict[int, AlertPrefs] = {}
    for start in range(0, len(ids), 500):
        rows = await session.execute(
            select(
                User.id, User.alert_modes, User.alerts_paused, User.paused_until,
                User.quiet_start, User.quiet_end, User.time_zone,
            ).where(User.id.in_(ids[start : start + 500]))
        )  # fmt: skip
        for uid, modes, paused, until, q_start, q_end, zone in rows:
            found[uid] = AlertPrefs(parse_modes(modes), paused, until, q_start, q_end, zone)
    return found


async def set_pause(
    session: AsyncSession, user_id: int, paused: bool, until: datetime | None = None
) -> bool:
    return await _update(session, user_id, alerts_paused=paused, paused_until=until)


async def set_alert_modes(session: AsyncSession, user_id: int, raw: str | None) -> bool:
    return await _update(session, user_id, alert_modes=raw)


async def set_quiet(
    session: AsyncSession, user_id: int, start: int | None, end: int | None
) -> bool:
    return await _update(session, user_id, quiet_start=start, quiet_end=end)


async def set_time_zone(session: AsyncSession, user_id: int, zone: str | None) -> bool:
    return await _update(session, user_id, time_zone=zone)
