"""Match alerts held during quiet hours, delivered as one digest when they end.

The cycle holds the machines a match alert would have listed (`held_matches`) instead of
queuing the alert. Every poll, users whose quiet hours are over get one message with the
held machines their rules still match, at today's price to win (machines that stopped
matching meanwhile are left out); a user who paused or turned match alerts off meanwhile
gets nothing, and the held rows are forgotten either way.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Rule
from bot.db.repositories import actions, held_matches, outbox, users
from bot.db.repositories import rules as rules_repo
from bot.services import alert_control, orders
from bot.services import events as ev
from bot.services.alert_prefs import AlertPrefs, match_muted
from bot.services.bids import make_action, make_keyboard
from bot.services.buttons import markup_json
from bot.services.context import ServiceContext
from bot.services.payloads import as_dict
from bot.telegram.render import renter as render
from bot.telegram.render import translator_for
from bot.telegram.render.alerts import match_alert
from bot.telegram.render.bids import bid_label


async def send_due(ctx: ServiceContext) -> int:
    """Queue the digests that are due; returns how many were queued."""
    now = ctx.clock()
    async with ctx.reads() as s:
        waiting = await held_matches.users_with_held(s)
        if not waiting:
            return 0
        prefs = await users.prefs_for(s, waiting)
    due = [u for u in waiting if not prefs.get(u, AlertPrefs()).quiet_now(now)]
    sent = 0
    for user_id in due:
        async with ctx.sessions() as s, s.begin(), actions.batch(s):
            sent += await _one(ctx, s, user_id, prefs.get(user_id, AlertPrefs()))
    return sent


async def _one(ctx: ServiceContext, s: AsyncSession, user_id: int, prefs: AlertPrefs) -> int:
    held = await held_matches.held_for(s, user_id)
    if not held:
        return 0
    await held_matches.release(s, user_id, held[-1].id)
    user = await users.get(s, user_id)
    if user is None or not user.active or match_muted(prefs, ctx.clock()):
        return 0
    items: list[ev.MatchItem] = []
    rules: dict[int, Rule | None] = {}
    seen: set[tuple[int, str]] = set()
    for row in held:
        if (row.rule_id, row.server_id) in seen:
            continue
        seen.add((row.rule_id, row.server_id))
        if row.rule_id not in rules:
            rules[row.rule_id] = await rules_repo.get(s, row.rule_id, user_id)
        rule = rules[row.rule_id]
        price = ctx.market.matcher.matches(row.rule_id).get(row.server_id)
        server = ctx.market.server(row.server_id)
        if rule is None or rule.paused or price is None or server is None:
            continue  # the rule is gone or paused, or the machine no longer matches
        items.append(
            ev.MatchItem(
                rule.id, rule.text, row.server_id, server, price,
                versus_median=ctx.history.versus_median(server, price), number=rule.number,
            )
        )  # fmt: skip
    if not items:
        return 0
    limit = ctx.settings.max_matches_per_message
    tr = translator_for(user)
    offers = await orders.bid_offers(ctx, s, user, items)
    keyboard = [
        [(bid_label(tr, o.server_id, o.price),
          await make_action(ctx, s, user.id, "bid", **as_dict(o)))]
        for o in offers or ()
    ]  # fmt: skip
    keyboard += await make_keyboard(ctx, s, user.id, alert_control.mute_buttons(
        tr, items, more=len(ev.machines(items)) > limit
    ))
    text = render.digest_heading(tr) + "\n" + match_alert(tr, ev.MatchAlert(items, limit))
    queued = await outbox.enqueue_many(
        s,
        [
            outbox.NewMessage(
                user_id=user.id,
                chat_id=user.chat_id,
                kind="match",
                text=text,
                reply_markup=markup_json(keyboard),
                dedupe_key=f"digest:{user.id}:{held[-1].id}",
                alert="match",
            )
        ],
        decided_at=ctx.clock(),
    )
    return int(queued[0])
