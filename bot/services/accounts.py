"""Users, their linked clore account and their settings.

A stored key that no longer decrypts (the secret key was lost or replaced) is a state of its
own: the user is flagged, told once to /link again, left out of bid tracking and
protection, and every use of the key answers with the same advice. Nobody else notices.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clore import errors as clore_errors
from bot.db.models import User
from bot.db.repositories import outbox, users
from bot.i18n import LANGUAGES, pick_language, translator
from bot.market.rules import parse_rule
from bot.secrets import DecryptionError
from bot.services.context import ServiceContext, UserError
from bot.services.events import KeyNeedsLink
from bot.services.results import Profile
from bot.telegram.render.alerts import notice

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 200
MAX_PRICE = 5000.0  # CLORE/day, the highest price clore accepts for a bid


class KeyUnreadable(UserError):
    """The user's stored API key cannot be decrypted with the current secret key."""

    def __init__(self) -> None:
        super().__init__(
            "I can no longer decrypt your stored clore.ai API key (the bot's secret key was "
            "changed or lost). Nothing was done. Send /link followed by your API key again."
        )


async def touch(
    ctx: ServiceContext,
    telegram_id: int,
    chat_id: int | None = None,
    language_code: str | None = None,
) -> User:
    """The user behind a Telegram update, created on first contact (and reactivated).

    A new user speaks the language of their Telegram app (`language_code`) when the bot
    has it, English otherwise; /lang changes it later.

    Their chat is their private chat, whose id is their Telegram id, whatever chat the update
    came from: alerts must never follow a user into a group.
    """
    chat_id = telegram_id if chat_id is None else chat_id
    # Read first: most updates change nothing, and a read works while another process
    # holds the database's write lock.
    async with ctx.reads() as s:
        known = await users.get_by_telegram_id(s, telegram_id)
    if known is not None and known.active and known.chat_id == chat_id:
        return known
    async with ctx.sessions() as s, s.begin():
        known = await users.get_by_telegram_id(s, telegram_id)
        returning = known is not None and not known.active
        user = await users.get_or_create(
            s, telegram_id=telegram_id, chat_id=chat_id, language=pick_language(language_code)
        )
    if returning:
        # Rules and bids of inactive users are not registered at start-up.
        await refresh_owners(ctx, user.id)
    return user


async def set_language(ctx: ServiceContext, user: User, language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    async with ctx.sessions() as s, s.begin():
        await users.set_language(s, user.id, language)
    user.language = language


def profile(ctx: ServiceContext, user: User) -> Profile:
    return Profile(
        user_id=user.id,
        clore_user_id=user.clore_user_id,
        raise_step=user.raise_step or ctx.settings.default_raise_step,
        price_cap=user.price_cap,
        alerts_paused=user.alerts_paused,
        key_unreadable=user.api_key_unreadable_at is not None,
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
    """The user's clore key in plain text; raises `KeyUnreadable` when it cannot be decrypted
    (call `key_unreadable` then, so the user is flagged and told once)."""
    if not user.api_key_encrypted or user.clore_user_id is None:
        raise UserError("Link your clore.ai account first: /link <API key>.")
    if user.api_key_unreadable_at is not None:
        raise KeyUnreadable()
    try:
        return ctx.keybox.decrypt(user.api_key_encrypted)
    except DecryptionError:
        log.warning("the stored API key of user %s cannot be decrypted", user.id)
        raise KeyUnreadable() from None


async def key_unreadable(ctx: ServiceContext, user_id: int) -> None:
    """Flag the user's key as unreadable; the first time, tell them and stop tracking it."""
    now = ctx.clock()
    async with ctx.sessions() as s, s.begin():
        user = await users.get(s, user_id)
        newly = user is not None and await users.set_key_unreadable(s, user_id, now)
        if newly and user is not None:
            await _tell_key_unreadable(s, user, now.isoformat())
    if newly:
        ctx.kick_sender()
        await refresh_owners(ctx, user_id)


async def _tell_key_unreadable(s: AsyncSession, user: User, stamp: str) -> None:
    await outbox.enqueue(
        s,
        outbox.NewMessage(
            user_id=user.id,
            chat_id=user.telegram_id,
            kind="status",
            text=notice(translator(user.language), KeyNeedsLink()).text,
            dedupe_key=f"key-unreadable:{user.id}:{stamp}",
        ),
    )


async def check_stored_keys(ctx: ServiceContext) -> int:
    """At start-up: flag every stored key the current secret cannot decrypt (telling each of
    those users once) and unflag keys that decrypt again. Returns how many are unreadable."""
    now = ctx.clock()
    unreadable = 0
    async with ctx.sessions() as s, s.begin():
        for user in await users.list_with_keys(s):
            try:
                ctx.keybox.decrypt(user.api_key_encrypted or "")
            except DecryptionError:
                unreadable += 1
                if await users.set_key_unreadable(s, user.id, now):
                    await _tell_key_unreadable(s, user, now.isoformat())
                continue
            if user.api_key_unreadable_at is not None:
                await users.clear_key_unreadable(s, user.id)
    if unreadable:
        log.warning(
            "%d stored API key(s) cannot be decrypted with the current secret key (SECRET_KEY "
            "or data/secret.key changed?); those users are asked to /link again",
            unreadable,
        )
    return unreadable


async def refresh_owners(ctx: ServiceContext, user_id: int | None = None) -> None:
    """Re-register rules with their owner's current clore id and the tracked bid owners.

    The owner's own bids are left out of a rule's competition, so a (un)link changes prices.
    """
    async with ctx.reads() as s:
        active, _ = await ctx.watch_reads.read(s)  # at start: what the first cycle reuses
        linked = await ctx.watch_reads.linked(s)
    async with ctx.market.lock:
        await ctx.market.set_rules(
            [
                (rule.rule_id, parse_rule(rule.text), rule.clore_user_id)
                for rule in active
                if user_id is None or rule.user_id == user_id
            ]
        )
        await ctx.market.track_owners(
            u.clore_user_id for u in linked if u.clore_user_id is not None
        )


async def register_at_start(ctx: ServiceContext) -> None:
    """What start-up registers before `alert_state.restore` applies the baseline: every
    rule with its owner's clore id, the tracked bid owners, and the price medians (rules
    with `deal` need them when the baseline is matched)."""
    await refresh_owners(ctx)
    await ctx.history.load(ctx)


async def set_raise_step(ctx: ServiceContext, user: User, step: float | None) -> None:
    if step is not None and not 0 < step <= MAX_PRICE:
        raise UserError(
            "The raise step must be above 0 and at most {max} CLORE/day.", max=MAX_PRICE
        )
    async with ctx.sessions() as s, s.begin():
        await users.set_raise_step(s, user.id, step)


async def set_price_cap(ctx: ServiceContext, user: User, cap: float | None) -> None:
    if cap is not None and not 0 < cap <= MAX_PRICE:
        raise UserError(
            "The price cap must be above 0 and at most {max} CLORE/day "
            "(clore's highest price), or 'off'.",
            max=MAX_PRICE,
        )
    async with ctx.sessions() as s, s.begin():
        await users.set_price_cap(s, user.id, cap)


async def set_paused(ctx: ServiceContext, user: User, paused: bool) -> None:
    async with ctx.sessions() as s, s.begin():
        await users.set_alerts_paused(s, user.id, paused)
