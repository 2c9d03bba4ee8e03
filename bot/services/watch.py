"""Watch rules: save, list, pause, resume, delete, and preview matches without saving."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.db.models import User
from bot.db.repositories import rules as rules_repo
from bot.market.alert_memory import MemoryChange
from bot.market.matcher import Match, Pairs
from bot.market.rules import Rule, RuleError, format_rule, parse_rule
from bot.services import alert_state
from bot.services.context import ServiceContext, UserError
from bot.services.results import RuleRow

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
    rule_id: int
    preview: Preview


def parse(text: str) -> Rule:
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
        raise UserError(str(exc)) from None


async def preview(ctx: ServiceContext, user: User, text: str) -> Preview:
    rule = parse(text)
    pairs = await ctx.market.evaluate(rule, user.clore_user_id)
    return _preview(format_rule(rule), pairs, ctx.market.snapshot is not None)


async def save(ctx: ServiceContext, user: User, text: str) -> Saved:
    rule = parse(text)
    canonical = format_rule(rule)
    async with ctx.sessions() as s, s.begin():
        if await rules_repo.count_for_user(s, user.id) >= MAX_RULES_PER_USER:
            raise UserError(
                "You already have {limit} rules; /unwatch one first.", limit=MAX_RULES_PER_USER
            )
        rule_id = (await rules_repo.add(s, user.id, canonical)).id
    pairs = await _activate(ctx, rule_id, rule, user.clore_user_id)
    return Saved(rule_id, _preview(canonical, pairs, ctx.market.snapshot is not None))


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
                await alert_state.record_change(ctx, s, change, body)
        except Exception:
            await market.remove_rule(rule_id)
            raise
        market.memory.apply(change)
    return pairs


async def _deactivate(ctx: ServiceContext, rule_id: int) -> None:
    """Take the rule out of the matcher and forget what its alerts said (a rule resumed
    later starts afresh from its /resume preview). Caller holds the market lock."""
    market = ctx.market
    await market.remove_rule(rule_id)
    change = MemoryChange.forgetting(rule_id)
    body = await alert_state.encode(change, market.matcher)
    async with ctx.sessions() as s, s.begin():
        await alert_state.record_change(ctx, s, change, body)
    market.memory.apply(change)


async def list_rules(ctx: ServiceContext, user: User) -> list[RuleRow]:
    async with ctx.reads() as s:
        return [(r.id, r.text, r.paused) for r in await rules_repo.list_for_user(s, user.id)]


async def set_paused(ctx: ServiceContext, user: User, rule_id: int, paused: bool) -> str:
    async with ctx.sessions() as s, s.begin():
        rule = await rules_repo.get(s, rule_id, user.id)
        if rule is None:
            raise UserError("You have no rule {rule_id}. /rules lists yours.", rule_id=rule_id)
        await rules_repo.set_paused(s, rule_id, user.id, paused)
        text = rule.text
    if paused:
        async with ctx.market.lock:
            await _deactivate(ctx, rule_id)
    else:
        await _activate(ctx, rule_id, parse_rule(text), user.clore_user_id)
    return text


async def delete(ctx: ServiceContext, user: User, rule_id: int) -> None:
    async with ctx.sessions() as s, s.begin():
        if not await rules_repo.delete(s, rule_id, user.id):
            raise UserError("You have no rule {rule_id}. /rules lists yours.", rule_id=rule_id)
    async with ctx.market.lock:
        await _deactivate(ctx, rule_id)
