"""What the cycle and background work queue for users (`bot.services.events`), as text.

Rendering is per message, never per (rule, machine) pair: a cycle may queue thousands of
alerts, and many users get the same cheap machines, so server cards are cached per
language and price within a cycle (`CardCache`).
"""

from __future__ import annotations

from bot.i18n import Translator
from bot.orders.protection import AtCap, OverBudget, RateLimited
from bot.services import events as ev
from bot.telegram.html import esc
from bot.telegram.render import Rendered
from bot.telegram.render.bids import bid_buttons
from bot.telegram.render.common import at, clore, gpu_summary, say, server_line

CardCache = dict[tuple[str, str, float], str]  # (language, server id, price) -> card


def match_alert(tr: Translator, alert: ev.MatchAlert, cards: CardCache | None = None) -> str:
    """One message for a user's new matches of one cycle, cheapest first.

    A machine that several of the user's rules match is counted and shown once, under the
    lowest-numbered of those rules: the limit and the counts are about machines, not pairs.
    """
    cards = {} if cards is None else cards
    machines = ev.machines(alert.items)
    shown = list(machines.values())[: alert.limit]
    count = len(machines) if alert.total is None else alert.total
    lines = [
        tr.ngettext(
            "🔔 <b>{n} new machine matches</b> your rules",
            "🔔 <b>{n} new machines match</b> your rules",
            count,
        )
    ]
    by_rule: dict[int, list[ev.MatchItem]] = {}
    for item in shown:
        by_rule.setdefault(item.rule_id, []).append(item)
    for rule_id, group in by_rule.items():
        lines.append(
            "\n"
            + tr.gettext(
                "Rule {rule_id}: <code>{rule}</code>",
                rule_id=group[0].number or rule_id,
                rule=esc(group[0].rule_text),
            )
        )
        for i in group:
            key = (tr.lang, i.server_id, i.price_to_win)
            card = cards.get(key)
            if card is None:
                card = cards[key] = server_line(
                    tr, i.server_id, i.server, i.price_to_win, i.versus_median
                )
            lines.append(card)
    if count > len(shown):
        lines.append(
            "\n" + tr.gettext("…and {more} more. /market shows them all.", more=count - len(shown))
        )
    return "\n".join(lines)


def outbid_alert(tr: Translator, alert: ev.OutbidAlert) -> Rendered:
    standing, server = alert.standing, alert.server
    competitor = standing.top_price
    head = tr.gettext("⚠️ <b>Outbid</b> on server <b>#{server}</b>", server=esc(standing.server_id))
    if server is not None:
        head += f" ({esc(gpu_summary(tr, server))})"
    lines = [
        head,
        tr.gettext(
            "Order {order_id}: your bid {price} CLORE/day",
            order_id=standing.order_id,
            price=clore(standing.price),
        ),
        tr.gettext(
            "Top competitor: {price} CLORE/day",
            price=clore(competitor) if competitor is not None else "?",
        ),
        tr.gettext(
            "To lead again: more than {lead} · Raise sets {price}",
            lead=clore(standing.lead_price),
            price=clore(alert.raise_to),
        ),
    ]
    if alert.held is not None:
        lines.append(protection_held(tr, alert.held))
    return Rendered("\n".join(lines), bid_buttons(tr, standing, alert.raise_to))


def protection_held(tr: Translator, held: ev.ProtectionHeld) -> str:
    """The line an outbid alert gets when protection did not raise the bid."""
    match held:
        case AtCap():
            return tr.gettext(
                "🛡 Not raised: leading needs {needed}, above your cap of {cap}.",
                needed=clore(held.needed_price),
                cap=clore(held.cap),
            )
        case OverBudget():
            return tr.gettext(
                "🛡 Not raised to {needed}: your daily budget has {remaining} left (/budget).",
                needed=clore(held.needed_price),
                remaining=clore(held.remaining),
            )
        case RateLimited():
            return tr.gettext(
                "🛡 Not raised to {needed}: the hourly raise limit is reached until {time}.",
                needed=clore(held.needed_price),
                time=at(held.next_allowed_at),
            )
        case ev.ProtectionFailed():
            if held.outcome == "ambiguous":
                return tr.gettext(
                    "🛡 The automatic raise to {price} was not confirmed: {error} "
                    "I will not retry it.",
                    price=clore(held.price),
                    error=say(tr, held.error),
                )
            return tr.gettext(
                "🛡 The automatic raise to {price} failed: {error} I will not retry it.",
                price=clore(held.price),
                error=say(tr, held.error),
            )


def notice(tr: Translator, event: ev.Notice, cards: CardCache | None = None) -> Rendered:
    """Any queued message's text (and buttons to make when it is sent)."""
    match event:
        case ev.MatchAlert():
            return Rendered(match_alert(tr, event, cards))
        case ev.OutbidAlert():
            return outbid_alert(tr, event)
        case ev.AutoRaised():
            return Rendered(
                tr.gettext(
                    "🛡 Raised order {order_id} on #{server} to {price} CLORE/day (rival at "
                    "{rival} CLORE/day)",
                    order_id=event.order_id,
                    server=esc(event.server_id),
                    price=clore(event.price),
                    rival=clore(event.rival) if event.rival is not None else "?",
                )
            )
        case ev.MarketStale():
            return Rendered(stale_notice(tr, event.age_seconds))
        case ev.MarketFresh():
            return Rendered(tr.gettext("📡 <b>Market data is fresh again.</b> Alerts are back on."))
        case ev.OrderInMarket():
            from bot.telegram.render.bids import standing_label

            st = event.standing
            return Rendered(
                tr.gettext(
                    "Your order {order_id} on #{server} is in the market: <b>{standing}</b>.",
                    order_id=st.order_id,
                    server=esc(st.server_id),
                    standing=esc(standing_label(tr, st)),
                )
            )
        case ev.OrderNotShown():
            return Rendered(
                tr.gettext(
                    "Your bid on #{server} at {price} CLORE/day has not shown up in the market "
                    "after 10 minutes: clore.ai probably did not place it. /bids shows your bids.",
                    server=esc(event.server_id),
                    price=clore(event.price),
                )
            )
        case ev.KeyNeedsLink():
            return Rendered(
                tr.gettext(
                    "🔑 <b>Your clore.ai API key needs linking again.</b> I can no longer "
                    "decrypt the key you stored (the bot's secret key was changed or lost), so "
                    "I cannot show, raise, cancel or protect your bids. Send /link followed by "
                    "your API key; your rules and settings are kept."
                )
            )
        case ev.Interrupted():
            return Rendered(interrupted(tr, event))


def stale_notice(tr: Translator, age_seconds: float | None) -> str:
    if age_seconds is None:
        return tr.gettext(
            "📡 <b>Market data is stale</b>: no snapshot is loaded. Alerts pause until "
            "clore.ai publishes a new one; I will tell you when it recovers."
        )
    minutes = round(age_seconds / 60)
    return tr.ngettext(
        "📡 <b>Market data is stale</b>: the latest snapshot is {n} minute old. Alerts pause "
        "until clore.ai publishes a new one; I will tell you when it recovers.",
        "📡 <b>Market data is stale</b>: the latest snapshot is {n} minutes old. Alerts pause "
        "until clore.ai publishes a new one; I will tell you when it recovers.",
        minutes,
    )


def interrupted(tr: Translator, event: ev.Interrupted) -> str:
    server = esc(event.server_id or "?")
    price = clore(event.price) if event.price is not None else "?"
    if event.action == "create":
        return tr.gettext(
            "⚠️ The bot stopped while placing your bid on #{server} at {price} CLORE/day, "
            "before clore.ai answered. It may or may not have gone through; I will not repeat "
            "it. I will tell you if the order shows up.",
            server=server,
            price=price,
        )
    if event.action == "cancel":
        return tr.gettext(
            "⚠️ The bot stopped while cancelling order {order_id} on #{server}, before "
            "clore.ai answered. It may or may not have gone through; I will not repeat it. "
            "/bids shows what happened.",
            order_id=event.order_id,
            server=server,
        )
    if event.action == "power":  # lead by power (bot.services.order_taps)
        return tr.gettext(
            "⚠️ The bot stopped while lowering the power limit of order {order_id} on "
            "#{server}, before clore.ai answered. It may or may not have gone through; I will "
            "not repeat it. /bids shows what happened.",
            order_id=event.order_id,
            server=server,
        )
    if event.automatic:
        return tr.gettext(
            "⚠️ The bot stopped while automatically raising order {order_id} on #{server} to "
            "{price} CLORE/day, before clore.ai answered. It may or may not have gone through; "
            "I will not repeat it. /bids shows what happened.",
            order_id=event.order_id,
            server=server,
            price=price,
        )
    return tr.gettext(
        "⚠️ The bot stopped while raising order {order_id} on #{server} to {price} CLORE/day, "
        "before clore.ai answered. It may or may not have gone through; I will not repeat it. "
        "/bids shows what happened.",
        order_id=event.order_id,
        server=server,
        price=price,
    )
