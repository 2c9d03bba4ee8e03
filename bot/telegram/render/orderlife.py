"""Texts of an order's life: refusals with their fix, Bid again, lead by power, expiry,
won and lost, /balance and the low-balance alert.

Every function takes a `Translator` first; values are escaped; prices are CLORE/day.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.i18n import Translator
from bot.messages import clore
from bot.orders import refusals
from bot.orders.power import PowerLead
from bot.orders.wallet import Runway, WalletLine
from bot.services import order_taps as t
from bot.services.buttons import ButtonToMake, KeyboardToMake
from bot.telegram.html import esc
from bot.telegram.render import Rendered


def _where(server_id: str) -> str:
    return f"#{esc(server_id)}"


def _at(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M} UTC"


def duration(tr: Translator, span: timedelta) -> str:
    """`3 d 4 h`, `5 h`, `40 min`: coarse on purpose (it is an estimate)."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, hours = divmod(minutes // 60, 24)
    if days:
        return tr.gettext("{d} d {h} h", d=days, h=hours)
    if hours:
        return tr.gettext("{h} h", h=hours)
    return tr.gettext("{m} min", m=minutes)


# ---------------------------------------------------------------------- refusal fixes


def fix_buttons(tr: Translator, refused: t.Refused) -> KeyboardToMake:
    fix = refused.refusal.fix
    sid = refused.server_id
    watch = ButtonToMake(
        tr.gettext("👁 Watch #{server}", server=sid), "watch_server", {"server_id": sid}
    )
    match fix:
        case refusals.BidAt(price=price, refused=floor):
            payload = {"server_id": sid, "price": price, "refused": floor}
            return [[ButtonToMake(tr.gettext("Bid {price}", price=clore(price)), "fix_bid",
                                  payload)]]  # fmt: skip
        case refusals.BidLowestPower():
            payload = {"server_id": sid, "lowest": True}
            return [[ButtonToMake(tr.gettext("Bid with lowest power"), "fix_bid", payload)]]
        case refusals.RaiseAt(price=price):
            payload = {"order_id": refused.order_id, "server_id": sid, "price": price}
            return [[ButtonToMake(tr.gettext("Raise to {price}", price=clore(price)), "raise",
                                  payload)]]  # fmt: skip
        case refusals.WatchServer() | refusals.NoFix():
            return [[watch]]
    return []


def refusal_text(tr: Translator, refused: t.Refused) -> str:
    where, price = _where(refused.server_id), clore(refused.price)
    fix = refused.refusal.fix
    match refused.refusal.kind, fix:
        case "too_low", refusals.BidAt(price=offer):
            return tr.gettext(
                "❌ No bid on {where}: clore.ai refused {price} CLORE/day as too low. "
                "{offer} CLORE/day leads now.",
                where=where, price=price, offer=clore(offer),
            )
        case "failed_oc", refusals.BidLowestPower():
            return tr.gettext(
                "❌ No bid on {where}: clore.ai could not apply your template's power limit or "
                "overclock there. A bid with every GPU at its lowest power limit and no "
                "overclock may go through (your workload may run slower).",
                where=where,
            )
        case "failed_oc", _:
            return tr.gettext(
                "❌ No bid on {where}: clore.ai could not apply even the lowest power limit "
                "there. The machine may not take GigaSPOT orders now; watch it to hear when it "
                "matches again.",
                where=where,
            )
        case "failed_rent", _:
            return tr.gettext(
                "❌ No bid on {where}: this machine cannot be rented right now. Nothing was "
                "placed. Watch it to hear when it can be.",
                where=where,
            )
        case "too_low", refusals.RaiseAt(price=offer):
            return tr.gettext(
                "❌ Order {order} was not changed: clore.ai refused {price} CLORE/day as too "
                "low. {offer} CLORE/day leads now.",
                order=refused.order_id, price=price, offer=clore(offer),
            )
        case "failed_update", refusals.RaiseAt(price=offer):
            return tr.gettext(
                "❌ clore.ai did not lower the power limit of order {order}. Raising the price "
                "to {offer} CLORE/day (at its current power) also puts it in front.",
                order=refused.order_id, offer=clore(offer),
            )
    return tr.gettext(
        "❌ clore.ai could not update order {order} on {where} (it may have ended).",
        order=refused.order_id, where=where,
    )


# ------------------------------------------------------------------------ tap results


def tap_result(tr: Translator, outcome: t.TapOutcome) -> tuple[str, Rendered]:
    """(toast, text and buttons) for a tap's outcome."""
    match outcome:
        case t.Placed(server_id=sid, price=price, offered=offered, lowest_power=low):
            text = tr.gettext(
                "✅ Bid on {where} at {price} CLORE/day sent. I will tell you when the order "
                "shows up in the market.",
                where=_where(sid), price=clore(price),
            )
            if low:
                text += " " + tr.gettext("Every GPU asks its lowest power limit.")
            if offered is not None:
                text += " " + tr.gettext(
                    "Leading needed less than the button's {offered}.", offered=clore(offered)
                )
            return tr.gettext("Bid placed"), Rendered(text)
        case t.Refused():
            toast = tr.gettext("Not placed") if outcome.order_id is None else tr.gettext(
                "Not changed"
            )
            return toast, Rendered(refusal_text(tr, outcome), fix_buttons(tr, outcome))
        case t.CallFailed(message=message, ambiguous=ambiguous):
            toast = tr.gettext("Not confirmed") if ambiguous else tr.gettext("Failed")
            return toast, Rendered(esc(message))
        case t.ServerGone(server_id=sid):
            return tr.gettext("Server gone"), Rendered(
                tr.gettext("Server {where} is no longer in the market.", where=_where(sid))
            )
        case t.NoTemplate():
            return tr.gettext("No template"), Rendered(
                tr.gettext("You have no order template. Set one with /template.")
            )
        case t.TemplateMisfit(message=message):
            return tr.gettext("Template does not fit"), Rendered(
                "❌ " + esc(message) + " " + tr.gettext("Nothing was sent.")
            )
        case t.AlreadySent(server_id=sid, price=price, at=at):
            return tr.gettext("Bid already sent"), Rendered(tr.gettext(
                "Your bid on {where} at {price} CLORE/day ({at}) has not shown up in the "
                "market yet. I will not send another; I will tell you when it does.",
                where=_where(sid), price=clore(price), at=_at(at),
            ))  # fmt: skip
        case t.NeedsConfirmation(server_id=sid, price=price, cap=cap, kind=kind, payload=p):
            button = ButtonToMake(tr.gettext("Yes, bid {price}", price=clore(price)), kind, p)
            return tr.gettext("Above your cap"), Rendered(tr.gettext(
                "{price} CLORE/day is above your cap of {cap}. Bid on {where} anyway?",
                price=clore(price), cap=clore(cap), where=_where(sid),
            ), [[button]])  # fmt: skip
        case t.PriceMoved(server_id=sid, offered=offered, needed=needed, payload=p):
            if "pl" in p:
                button = ButtonToMake(
                    tr.gettext("Lower power to {watts} W", watts=int(needed)), "power_lead", p
                )
                return tr.gettext("Market moved"), Rendered(tr.gettext(
                    "The market moved: {agreed} W no longer leads on {where}; it takes "
                    "{watts} W now.",
                    agreed=int(offered), where=_where(sid), watts=int(needed),
                ), [[button]])  # fmt: skip
            button = ButtonToMake(tr.gettext("Bid {price}", price=clore(needed)), "fix_bid", p)
            return tr.gettext("Price no longer leads"), Rendered(tr.gettext(
                "The market moved: {offered} no longer leads on {where}.",
                offered=clore(offered), where=_where(sid),
            ), [[button]])  # fmt: skip
        case t.NotConfirmedYet(order_id=order, at=at):
            return tr.gettext("Not confirmed yet"), Rendered(tr.gettext(
                "⏳ An action on order {order} ({at}) is not confirmed by clore.ai yet. I will "
                "not send another until the market shows what happened (at most 10 minutes).",
                order=order, at=_at(at),
            ))  # fmt: skip
        case t.OrderGone(order_id=order):
            return tr.gettext("Order not found"), Rendered(
                tr.gettext("Order {order} is no longer in the market.", order=order)
            )
        case t.PowerLowered(order_id=order, server_id=sid, price=price, from_pl=old, to_pl=new):
            return tr.gettext("Power lowered"), Rendered(tr.gettext(
                "✅ Order {order} on {where} now asks {new} W instead of {old} W at the same "
                "{price} CLORE/day. Your workload gets less power and may run slower.",
                order=order, where=_where(sid), new=new, old=f"{old:g}", price=clore(price),
            ))  # fmt: skip
        case t.PowerNoLonger(order_id=order, server_id=sid, leading=True):
            return tr.gettext("Already in front"), Rendered(tr.gettext(
                "✅ Order {order} already leads on {where}: nothing was sent.",
                order=order, where=_where(sid),
            ))  # fmt: skip
        case t.PowerNoLonger(order_id=order, server_id=sid, raise_to=raise_to):
            buttons: KeyboardToMake | None = None
            if raise_to is not None:
                payload = {"order_id": order, "server_id": sid, "price": raise_to}
                buttons = [[ButtonToMake(
                    tr.gettext("Raise to {price}", price=clore(raise_to)), "raise", payload
                )]]  # fmt: skip
            return tr.gettext("No longer possible"), Rendered(tr.gettext(
                "Lowering the power limit no longer puts order {order} in front on {where}. "
                "Nothing was sent.",
                order=order, where=_where(sid),
            ), buttons)  # fmt: skip
        case t.Watching(rule_id=rule, server_id=sid):
            return tr.gettext("Watching"), Rendered(tr.gettext(
                "👁 Rule {rule} saved: I will tell you when {where} matches (it must be "
                "online, working and rentable).",
                rule=rule, where=_where(sid),
            ))  # fmt: skip
    raise AssertionError(outcome)


# ------------------------------------------------------------------------ alert parts


def power_button(tr: Translator, lead: PowerLead, server_id: str) -> ButtonToMake:
    payload = {"order_id": lead.order_id, "server_id": server_id, "pl": lead.total_pl}
    return ButtonToMake(
        tr.gettext("Lead at {price} by lowering power to {watts} W",
                   price=clore(lead.price), watts=lead.total_pl),
        "power_lead", payload,
    )  # fmt: skip


def power_note(tr: Translator, lead: PowerLead) -> str:
    """The trade-off, stated plainly under the outbid alert."""
    return tr.gettext(
        "⚡ It can lead again at the same {price} CLORE/day by asking {watts} W instead of "
        "{old} W ({cut}% less power): hosts are paid for energy, so less power scores "
        "higher. A lower power limit can slow your workload.",
        price=clore(lead.price), watts=lead.total_pl, old=f"{lead.from_pl:g}",
        cut=f"{lead.cut_share * 100:.0f}",
    )


def expiry_alert(
    tr: Translator, order_id: int, server_id: str, ends_at: datetime, left: timedelta,
    source: str, can_bid: bool,
) -> Rendered:
    inferred = (
        tr.gettext("from when clore.ai created it")
        if source == "created"
        else tr.gettext("counted from when I first saw it, so it may end earlier")
    )
    text = tr.gettext(
        "⏰ Your order {order} on {where} ends in about {left} ({at}; {how}). Orders last at "
        "most 20 days, and this machine's longest rental may be shorter.",
        order=order_id, where=_where(server_id), left=duration(tr, left), at=_at(ends_at),
        how=inferred,
    )
    if not can_bid:
        text += "\n" + tr.gettext("Set an order /template to bid again with one tap.")
        return Rendered(text)
    text += "\n" + tr.gettext(
        "Bid again places a new order from your template at the price that leads then."
    )
    button = ButtonToMake(
        tr.gettext("🔁 Bid again on #{server}", server=server_id), "bid_again",
        {"server_id": server_id, "order_id": order_id},
    )
    return Rendered(text, [[button]])


def won_alert(tr: Translator, order_id: int, server_id: str, price: float) -> str:
    return tr.gettext(
        "🏁 Your order {order} on {where} is now the best bid at {price} CLORE/day: it "
        "should be the one running (as far as the market snapshot shows).",
        order=order_id, where=_where(server_id), price=clore(price),
    )


def lost_alert(tr: Translator, order_id: int, server_id: str, ended: bool) -> str:
    if ended:
        return tr.gettext(
            "⏹ Your order {order} on {where} has left the market: it reached its end.",
            order=order_id, where=_where(server_id),
        )
    return tr.gettext(
        "⏹ Your order {order} on {where} has left the market, so it no longer runs "
        "(cancelled, ended or refused by clore.ai).",
        order=order_id, where=_where(server_id),
    )


# --------------------------------------------------------------------------- balance


def balance(
    tr: Translator, wallets: list[WalletLine], runway: Runway | None, read_at: datetime | None,
    error: str | None, threshold: timedelta,
) -> str:
    if read_at is None:
        if error:
            return tr.gettext(
                "⚠️ I could not read your clore.ai wallets yet ({error}). I will try again "
                "in a few minutes.",
                error=esc(error),
            )
        return tr.gettext("I have not read your clore.ai wallets yet. Try again in a moment.")
    lines = [tr.gettext("💰 <b>Your clore.ai wallets</b> (read {at})", at=_at(read_at))]
    for wallet in wallets:
        lines.append(f"• {esc(wallet.name)}: <b>{clore(wallet.balance)}</b>")
    if error:
        lines.append(tr.gettext(
            "⚠️ The last read failed ({error}); this is the last good one.", error=esc(error)
        ))  # fmt: skip
    if runway is None:
        lines.append(tr.gettext("You have no CLORE wallet."))
        return "\n".join(lines)
    if runway.lasts is None:
        lines.append(tr.gettext("None of your bids leads now, so none is being paid for."))
    else:
        lines.append(tr.ngettext(
            "Your {n} leading bid costs {cost} CLORE/day; the CLORE balance lasts about {left}.",
            "Your {n} leading bids cost {cost} CLORE/day; the CLORE balance lasts about {left}.",
            runway.leading, cost=clore(runway.cost_per_day), left=duration(tr, runway.lasts),
        ))  # fmt: skip
    lines.append(tr.gettext(
        "Low-balance alert below {threshold} (/settings lowbalance 24h).",
        threshold=duration(tr, threshold),
    ))  # fmt: skip
    return "\n".join(lines)


def low_balance_alert(tr: Translator, runway: Runway, threshold: timedelta) -> str:
    left = runway.lasts or timedelta()
    return tr.gettext(
        "🪫 Your CLORE balance ({balance}) lasts only about {left} at what your leading bids "
        "cost ({cost} CLORE/day), under your alert threshold of {threshold}. Top up on "
        "clore.ai, or your orders stop when it runs out.",
        balance=clore(runway.balance), left=duration(tr, left),
        cost=clore(runway.cost_per_day), threshold=duration(tr, threshold),
    )


def settings_lines(tr: Translator, low_balance: timedelta, expiry: timedelta) -> str:
    return "\n".join((
        tr.gettext(
            "Low-balance alert: when the CLORE balance lasts less than {span} "
            "(<code>/settings lowbalance 24h</code>)",
            span=duration(tr, low_balance),
        ),
        tr.gettext(
            "Order end warning: {span} before (<code>/settings expiry 12h</code>)",
            span=duration(tr, expiry),
        ),
    ))  # fmt: skip
