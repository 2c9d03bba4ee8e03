"""Watch rules: save, list, pause, resume, delete, and preview matches without saving."""

from __future__ import annotations

from dataclasses import dataclass

from bot.db.models import User
from bot.db.repositories import alerts
from bot.db.repositories import rules as rules_repo
from bot.market.matcher import Match
from bot.market.rules import Rule, RuleError, format_rule, parse_rule
from bot.services.context import ServiceContext, UserError

MAX_RULES_PER_USER = 50
MAX_RULE_LENGTH = 500


@dataclass(frozen=True, slots=True)
class Preview:
    canonical: str
    matches: list[Match]  # cheapest first
    ready: bool  # False while no snapshot has been loaded yet


@dataclass(frozen=True, slots=True)
class Saved:
    rule_id: int
    preview: Preview


def parse(text: str) -> Rule:
    text = text.strip()
    if not text:
        raise UserError("The rule is empty.")
    if len(text) > MAX_RULE_LENGTH:
        raise UserError(f"A rule can be at most {MAX_RULE_LENGTH} characters long.")
    try:
        return parse_rule(text)
    except RuleError as exc:
        raise UserError(str(exc)) from None


async def preview(ctx: ServiceContext, user: User, text: str) -> Preview:
    rule = parse(text)
    matches = await ctx.market.evaluate(rule, user.clore_user_id)
    return Preview(format_rule(rule), matches, ctx.market.ready)


async def save(ctx: ServiceContext, user: User, text: str) -> Saved:
    rule = parse(text)
    canonical = format_rule(rule)
    async with ctx.sessions() as s, s.begin():
        if await rules_repo.count_for_user(s, user.id) >= MAX_RULES_PER_USER:
            raise UserError(f"You already have {MAX_RULES_PER_USER} rules; /unwatch one first.")
        rule_id = (await rules_repo.add(s, user.id, canonical)).id
    matches = await _activate(ctx, rule_id, rule, user.clore_user_id)
    return Saved(rule_id, Preview(canonical, matches, ctx.market.ready))


async def _activate(
    ctx: ServiceContext, rule_id: int, rule: Rule, owner: int | None
) -> list[Match]:
    """Register the rule and record its current matches as already shown to the user.

    The answer to /watch lists what matches now; alerts are for what starts matching later.
    Holding the market lock keeps a poll cycle from reporting these same pairs meanwhile.
    """
    now = ctx.clock()
    async with ctx.market.lock:
        matches = await ctx.market.set_rule(rule_id, rule, owner)
        async with ctx.sessions() as s, s.begin():
            await alerts.upsert_match_states(
                s,
                [
                    alerts.MatchState(
                        rule_id, m.server_id, True, m.price_to_win, m.price_to_win, now, None
                    )
                    for m in matches
                ],
            )
    return sorted(matches, key=lambda m: (m.price_to_win, int(m.server_id)))


async def list_rules(ctx: ServiceContext, user: User) -> list[tuple[int, str, bool]]:
    async with ctx.reads() as s:
        return [(r.id, r.text, r.paused) for r in await rules_repo.list_for_user(s, user.id)]


async def set_paused(ctx: ServiceContext, user: User, rule_id: int, paused: bool) -> str:
    async with ctx.sessions() as s, s.begin():
        rule = await rules_repo.get(s, rule_id, user.id)
        if rule is None:
            raise UserError(f"You have no rule {rule_id}. /rules lists yours.")
        await rules_repo.set_paused(s, rule_id, user.id, paused)
        text = rule.text
    if paused:
        async with ctx.market.lock:
            ctx.market.remove_rule(rule_id)
    else:
        await _activate(ctx, rule_id, parse_rule(text), user.clore_user_id)
    return text


async def delete(ctx: ServiceContext, user: User, rule_id: int) -> None:
    async with ctx.sessions() as s, s.begin():
        if not await rules_repo.delete(s, rule_id, user.id):
            raise UserError(f"You have no rule {rule_id}. /rules lists yours.")
    async with ctx.market.lock:
        ctx.market.remove_rule(rule_id)
