"""Watch rules: save, list, pause, resume, delete, and preview matches without saving."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Rule as DbRule
from bot.db.models import User
from bot.db.repositories import rules as rules_repo
from bot.market.alert_memory import MemoryChange
from bot.market.matcher import Match, Pairs
from bot.market.rules import Rule, RuleError, format_rule, parse_rule
from bot.market.suggest import (
    Unmatched,
    guess_rule,
    market_values,
    mistyped_key,
    unmatched_values,
)
from bot.services import alert_state, orders
from bot.services.context import ServiceContext, UserError
from bot.services.events import MatchItem
from bot.services.payloads import ServerPrice
from bot.services.results import MarketView, RuleRow

MAX_RULES_PER_USER = 50
MAX_RULE_LENGTH = 500


@dataclass(frozen=True, slots=True)
class Preview:
    canonical: str
    matches: list[Match]  # the cheapest PREVIEW_MATCHES, cheapest first
    total: int  # machines matching now
    ready: bool  # False while no snapshot has been loaded yet


PREVIEW_MATCHES = 10


def _preview(canonical: str, pairs: Pairs, ready: bool) -> Preview:
    return Preview(canonical, pairs.take(np.arange(min(len(pairs), PREVIEW_MATCHES))).matches(),
                   len(pairs), ready)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Saved:
    rule_id: int  # the rule's number for its user (1, 2, 3 ...), as users see it
    preview: Preview
    unmatched: tuple[Unmatched, ...] = ()  # values no machine in the market has


def parse(text: str) -> Rule:
    """The rule, or a UserError that says what is wrong and, where it can, what was meant:
    the nearest key for an unknown one, a guessed rule for free text."""
    text = text.strip()
    if not text:
        raise UserError("The rule is empty.")
    if len(text) > MAX_RULE_LENGTH:
        raise UserError(
            "A rule can be at most {limit} characters long.", limit=MAX_RULE_LENGTH
        )
    try:
        return parse_rule(text)
    except RuleError as exc:
        if (typo := mistyped_key(exc.condition)) is not None:
            raise UserError(
                "{condition}: unknown key {key}. Did you mean {nearest}?",
                condition=exc.condition, key=typo[0], nearest=typo[1],
            ) from None
        if (guess := _valid_guess(text)) is not None:
            raise UserError("{error}\nDid you mean: {rule}", error=exc.say, rule=guess) from None
        raise UserError(exc.say) from None


def _valid_guess(text: str) -> str | None:
    guess = guess_rule(text)
    if guess is None:
        return None
    try:
        return format_rule(parse_rule(guess))
    except RuleError:
        return None


def unmatched(ctx: ServiceContext, rule: Rule) -> tuple[Unmatched, ...]:
    """The rule's gpu, cpu and cc values no machine in the whole market has."""
    snapshot = ctx.market.snapshot
    if snapshot is None:
        return ()
    values = _VALUES.get(id(snapshot))
    if values is None:  # one snapshot at a time: a new one replaces the cached values
        _VALUES.clear()
        values = _VALUES[id(snapshot)] = market_values(snapshot.servers.values())
    return tuple(unmatched_values(rule, values))


_VALUES: dict[int, dict[str, set[str]]] = {}


async def preview(ctx: ServiceContext, user: User, text: str) -> Preview:
    rule = parse(text)
    pairs = await ctx.market.evaluate(rule, user.clore_user_id)
    return _preview(format_rule(rule), pairs, ctx.market.snapshot is not None)


MARKET_PAGE = 5


async def market_view(
    ctx: ServiceContext, user: User, text: str, start: int = 0, pairs: Pairs | None = None
) -> MarketView:
    """A page of what `text` matches now (`pairs`: already evaluated), with Bid offers."""
    rule = parse(text)
    canonical = format_rule(rule)
    if ctx.market.snapshot is None:
        return MarketView(canonical, [], 0, 0, MARKET_PAGE, [], ready=False)
    if pairs is None:
        pairs = await ctx.market.evaluate(rule, user.clore_user_id)
    total = len(pairs)
    start = max(0, min(start, max(0, total - 1)))
    page = pairs.take(np.arange(start, min(total, start + MARKET_PAGE))).matches()
    items = [
        MatchItem(
            -1, canonical, m.server_id, server, m.price_to_win,
            versus_median=ctx.history.versus_median(server, m.price_to_win),
        )
        for m in page
        if (server := ctx.market.server(m.server_id)) is not None
    ]
    offers: list[ServerPrice] = []
    if items and user.api_key_encrypted:
        async with ctx.reads() as s:
            offers = await orders.bid_offers(ctx, s, user, items) or []
    return MarketView(canonical, items, total, start, MARKET_PAGE, offers)


async def save(ctx: ServiceContext, user: User, text: str) -> Saved:
    rule = parse(text)
    canonical = format_rule(rule)
    async with ctx.sessions() as s, s.begin():
        if (same := await rules_repo.find_text(s, user.id, canonical)) is not None:
            raise UserError(
                "You already have this rule: rule {number}. /rules lists yours.",
                number=same.number,
            )
        if await rules_repo.count_for_user(s, user.id) >= MAX_RULES_PER_USER:
            raise UserError(
                "You already have {limit} rules; /unwatch one first.", limit=MAX_RULES_PER_USER
            )
        row = await rules_repo.add(s, user.id, canonical)
        rule_id, number = row.id, row.number
    pairs = await _activate(ctx, rule_id, rule, user.clore_user_id)
    return Saved(number, _preview(canonical, pairs, ctx.market.snapshot is not None),
                 unmatched(ctx, rule))  # fmt: skip


async def edit(ctx: ServiceContext, user: User, number: int, text: str) -> Saved:
    """/edit N RULE: rule N takes the new text (its alerts start afresh, as for a new rule)."""
    rule = parse(text)
    canonical = format_rule(rule)
    async with ctx.sessions() as s, s.begin():
        row = await _own(s, user, number)
        same = await rules_repo.find_text(s, user.id, canonical)
        if same is not None and same.id != row.id:
            raise UserError(
                "You already have this rule: rule {number}. /rules lists yours.",
                number=same.number,
            )
        await rules_repo.set_text(s, row.id, user.id, canonical)
        rule_id, paused = row.id, row.paused
    if paused:
        pairs = await ctx.market.evaluate(rule, user.clore_user_id)
    else:
        pairs = await _activate(ctx, rule_id, rule, user.clore_user_id)
    return Saved(number, _preview(canonical, pairs, ctx.market.snapshot is not None),
                 unmatched(ctx, rule))  # fmt: skip


async def _own(s: AsyncSession, user: User, number: int) -> DbRule:
    row = await rules_repo.get_by_number(s, user.id, number)
    if row is None:
        raise UserError("You have no rule {rule_id}. /rules lists yours.", rule_id=number)
    return row


async def _activate(ctx: ServiceContext, rule_id: int, rule: Rule, owner: int | None) -> Pairs:
    """Register the rule and remember its current matches as shown to the user.

    The answer to /watch lists what matches now; alerts are for what starts matching later.
    Holding the market lock keeps a poll cycle from reporting these same pairs meanwhile.
    What the memory knew of an earlier rule with this id is forgotten first.
    """
    market = ctx.market
    async with market.lock:
        pairs = await market.set_rule(rule_id, rule, owner)
        change = market.memory.shown(pairs, replace_rule=rule_id)
        try:
            body = await alert_state.encode(change, market.matcher)
            async with ctx.sessions() as s, s.begin():
                record_id = await alert_state.record_change(ctx, s, change, body)
        except Exception:
            await market.remove_rule(rule_id)
            raise
        market.memory.apply(change)
        market.applied_own(record_id)
    return pairs


async def _deactivate(ctx: ServiceContext, rule_id: int) -> None:
    """Take the rule out of the matcher and forget what its alerts said (a rule resumed
    later starts afresh from its /resume preview). Caller holds the market lock."""
    market = ctx.market
    await market.remove_rule(rule_id)
    change = MemoryChange.forgetting(rule_id)
    body = await alert_state.encode(change, market.matcher)
    async with ctx.sessions() as s, s.begin():
        record_id = await alert_state.record_change(ctx, s, change, body)
    market.memory.apply(change)
    market.applied_own(record_id)


async def list_rules(ctx: ServiceContext, user: User) -> list[RuleRow]:
    """The user's rules by their numbers (what /rules shows and its buttons carry)."""
    async with ctx.reads() as s:
        rows = await rules_repo.list_for_user(s, user.id)
    return sorted((r.number, r.text, r.paused) for r in rows)


async def set_paused(ctx: ServiceContext, user: User, number: int, paused: bool) -> str:
    """Pause or resume the user's rule `number`."""
    async with ctx.sessions() as s, s.begin():
        rule = await _own(s, user, number)
        rule_id = rule.id
        await rules_repo.set_paused(s, rule_id, user.id, paused)
        text = rule.text
    if paused:
        async with ctx.market.lock:
            await _deactivate(ctx, rule_id)
    else:
        await _activate(ctx, rule_id, parse_rule(text), user.clore_user_id)
    return text


async def delete(ctx: ServiceContext, user: User, number: int) -> None:
    """Delete the user's rule `number` (numbers of the others stay as they are)."""
    async with ctx.sessions() as s, s.begin():
        rule_id = (await _own(s, user, number)).id
        if not await rules_repo.delete(s, rule_id, user.id):
            raise UserError("You have no rule {rule_id}. /rules lists yours.", rule_id=number)
    async with ctx.market.lock:
        await _deactivate(ctx, rule_id)
