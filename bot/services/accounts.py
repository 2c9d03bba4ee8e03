"""Users, their linked clore account and their settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.clore import errors as clore_errors
from bot.db.models import User
from bot.db.repositories import rules as rules_repo
from bot.db.repositories import users
from bot.market.rules import parse_rule
from bot.services.context import ServiceContext, UserError

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Profile:
    user_id: int
    clore_user_id: int | None
    raise_step: float
    price_cap: float | None
    alerts_paused: bool


async def touch(ctx: ServiceContext, telegram_id: int, chat_id: int) -> User:
    """The user behind a Telegram update, created on first contact (and reactivated)."""
    async with ctx.sessions() as s, s.begin():
        known = await users.get_by_telegram_id(s, telegram_id)
        returning = known is not None and not known.active
        user = await users.get_or_create(s, telegram_id=telegram_id, chat_id=chat_id)
    if returning:
        # Rules and bids of inactive users are not registered at start-up.
        await refresh_owners(ctx, user.id)
    return user


def profile(ctx: ServiceContext, user: User) -> Profile:
    return Profile(
        user_id=user.id,
        clore_user_id=user.clore_user_id,
        raise_step=user.raise_step or ctx.settings.default_raise_step,
        price_cap=user.price_cap,
        alerts_paused=user.alerts_paused,
    )


async def link(ctx: ServiceContext, user: User, api_key: str) -> int:
    """Validate `api_key` with clore, store it encrypted, return the clore user id."""
    api_key = api_key.strip()
    if not api_key or len(api_key) > MAX_KEY_LENGTH or any(c.isspace() for c in api_key):
        raise UserError("That does not look like a clore API key. Send /link followed by the key.")
    try:
        info = await ctx.clore.get_gigaspot(api_key)  # outside any transaction
    except clore_errors.CloreAuthError:
        raise UserError("clore.ai rejected this API key. Check it and try again.") from None
    except clore_errors.CloreError as exc:
        log.warning("key validation failed: %s", type(exc).__name__)
        raise UserError(
            "clore.ai did not answer clearly. Please try /link again shortly."
        ) from None
    encrypted = ctx.keybox.encrypt(api_key)
    async with ctx.sessions() as s, s.begin():
        await users.set_api_key(
            s, user.id, api_key_encrypted=encrypted, clore_user_id=info.my_user_id
        )
    await refresh_owners(ctx, user.id)
    return info.my_user_id


async def unlink(ctx: ServiceContext, user: User) -> bool:
    async with ctx.sessions() as s, s.begin():
        had_key = await users.clear_api_key(s, user.id) and user.api_key_encrypted is not None
    await refresh_owners(ctx, user.id)
    return had_key


def api_key(ctx: ServiceContext, user: User) -> str:
    if not user.api_key_encrypted or user.clore_user_id is None:
        raise UserError("Link your clore.ai account first: /link <API key>.")
    return ctx.keybox.decrypt(user.api_key_encrypted)


async def refresh_owners(ctx: ServiceContext, user_id: int | None = None) -> None:
    """Re-register rules with their owner's current clore id and the tracked bid owners.

    The owner's own bids are left out of a rule's competition, so a (un)link changes prices.
    """
    async with ctx.reads() as s:
        active = await rules_repo.active_rules(s)
        linked = await users.list_linked(s)
    async with ctx.market.lock:
        await ctx.market.set_rules(
            [
                (rule.rule_id, parse_rule(rule.text), rule.clore_user_id)
                for rule in active
                if user_id is None or rule.user_id == user_id
            ]
        )
        ctx.market.track_owners(u.clore_user_id for u in linked if u.clore_user_id is not None)


async def set_raise_step(ctx: ServiceContext, user: User, step: float | None) -> None:
    if step is not None and not step > 0:
        raise UserError("The raise step must be above 0 CLORE/day.")
    async with ctx.sessions() as s, s.begin():
        await users.set_raise_step(s, user.id, step)


async def set_price_cap(ctx: ServiceContext, user: User, cap: float | None) -> None:
    if cap is not None and not cap > 0:
        raise UserError("The price cap must be above 0 CLORE/day (or 'off').")
    async with ctx.sessions() as s, s.begin():
        await users.set_price_cap(s, user.id, cap)


async def set_paused(ctx: ServiceContext, user: User, paused: bool) -> None:
    async with ctx.sessions() as s, s.begin():
        await users.set_alerts_paused(s, user.id, paused)
