"""Alert settings a user changes: modes per kind, /pause, /quiet, /tz.

Returns the settings after the change (`AlertPrefs`); the Telegram layer renders them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.db.models import User
from bot.db.repositories import rules as rules_repo
from bot.db.repositories import users
from bot.i18n import Translator
from bot.market.ranking import price_to_win
from bot.services import watch
from bot.services.alert_prefs import (
    ALERT_KINDS,
    AlertPrefs,
    BadSetting,
    dump_modes,
    next_mode,
    parse_duration,
    parse_quiet,
    parse_zone,
)
from bot.services.buttons import ButtonToMake, KeyboardToMake
from bot.services.context import ServiceContext, UserError
from bot.services.events import MatchItem
from bot.telegram.render import renter as render


async def fresh_user(ctx: ServiceContext, user: User) -> User:
    """The user's row as stored now (a handler's copy predates the change it made)."""
    async with ctx.reads() as s:
        found = await users.get(s, user.id)
    return found or user


async def current(ctx: ServiceContext, user: User) -> AlertPrefs:
    return users.prefs_of(await fresh_user(ctx, user))


async def cycle_mode(ctx: ServiceContext, user: User, kind: str) -> tuple[AlertPrefs, str]:
    """The settings button of `kind`: on -> silent -> off -> on. Returns the new mode."""
    if kind not in ALERT_KINDS:
        raise UserError("This button does nothing any more.")
    async with ctx.sessions() as s, s.begin():
        row = await users.get(s, user.id)
        if row is None:
            raise UserError("This button does nothing any more.")
        prefs = users.prefs_of(row)
        modes = dict(prefs.modes)
        modes[kind] = next_mode(prefs.mode(kind))
        await users.set_alert_modes(s, user.id, dump_modes(modes))
    return await current(ctx, user), modes[kind]


async def pause(
    ctx: ServiceContext, user: User, duration: str
) -> tuple[AlertPrefs, datetime | None]:
    """Pause match alerts for `duration` ("2h"), or until /resume when it is blank."""
    until: datetime | None = None
    if duration.strip():
        try:
            until = ctx.clock() + parse_duration(duration)
        except BadSetting as exc:
            raise UserError(exc.say) from None
    async with ctx.sessions() as s, s.begin():
        await users.set_pause(s, user.id, True, until)
    return await current(ctx, user), until


async def resume(ctx: ServiceContext, user: User) -> AlertPrefs:
    async with ctx.sessions() as s, s.begin():
        await users.set_pause(s, user.id, False, None)
    return await current(ctx, user)


async def set_quiet(ctx: ServiceContext, user: User, text: str) -> AlertPrefs:
    """`23:00-07:00` or `off`."""
    if text.strip().lower() in {"off", "none", "no"}:
        start: int | None = None
        end: int | None = None
    else:
        try:
            start, end = parse_quiet(text)
        except BadSetting as exc:
            raise UserError(exc.say) from None
    async with ctx.sessions() as s, s.begin():
        await users.set_quiet(s, user.id, start, end)
    return await current(ctx, user)


async def set_zone(ctx: ServiceContext, user: User, text: str) -> AlertPrefs:
    try:
        zone = parse_zone(text)
    except BadSetting as exc:
        raise UserError(exc.say) from None
    async with ctx.sessions() as s, s.begin():
        await users.set_time_zone(s, user.id, None if zone == "UTC" else zone)
    return await current(ctx, user)


def local_time(prefs: AlertPrefs, now: datetime) -> str:
    return now.astimezone(prefs.zone()).strftime("%H:%M")




def mute_buttons(
    tr: Translator, items: Sequence[MatchItem], more: bool = False
) -> KeyboardToMake:
    """A match alert's buttons besides Bid (made when it is sent): Details (each machine in
    full: CUDA, RAM, CPU, energy, longest rental) and a "mute rule N" per rule it lists.

    `more`: the alert lists only the cheapest of its machines; a "More ▶" per rule (at most
    `MAX_MORE`) opens that rule's /market page, whose Next / Previous show the rest."""
    seen: dict[int, tuple[int, str]] = {}
    for item in items:
        seen.setdefault(item.rule_id, (item.number or item.rule_id, item.rule_text))
    servers = list(dict.fromkeys(item.server_id for item in items))[:MAX_DETAILS]
    details = [[ButtonToMake(render.details_button(tr), "details", {"servers": servers})]]
    if more:
        rules = list(seen.values())[:MAX_MORE]
        details.append([
            ButtonToMake(render.more_button(tr, number if len(seen) > 1 else None),
                         "market_page", {"rule": text, "start": 0})
            for number, text in rules
        ])  # fmt: skip
    return details + [
        [ButtonToMake(render.mute_rule_button(tr, number), "mute_rule",
                      {"rule_id": rule_id, "number": number})]
        for rule_id, (number, _) in seen.items()
    ]  # fmt: skip


MAX_MORE = 3  # "More ▶" buttons on one alert (one per rule it lists)
MAX_DETAILS = 10


def details(ctx: ServiceContext, user: User, servers: list[str]) -> list[MatchItem]:
    """The machines of a match alert as the market has them now (price to win for this
    user); machines gone from the market are left out."""
    found = []
    for server_id in servers[:MAX_DETAILS]:
        server = ctx.market.server(server_id)
        if server is not None:
            price = price_to_win(server, ctx.market.clore_price, user.clore_user_id)
            found.append(MatchItem(-1, "", server_id, server, price))
    return found


async def mute_rule(ctx: ServiceContext, user: User, rule_id: int) -> int:
    """The mute button of a match alert: pauses that rule. Returns its number."""
    async with ctx.reads() as s:
        rule = await rules_repo.get(s, rule_id, user.id)
    if rule is None:
        raise UserError("This rule was deleted.")
    await watch.set_paused(ctx, user, rule.number, True)
    return rule.number
