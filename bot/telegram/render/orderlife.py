"""Texts of an order's life: refusals with their fix, Bid again, lead by power, expiry,
won and lost, /balance and the low-balance alert.

Every function takes a `Translator` first; values are escaped; prices are CLORE/day.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.i18n import Translator
from bot.orders.power import PowerLead
from bot.orders.wallet import Runway, WalletLine
from bot.services.buttons import ButtonToMake
from bot.telegram.html import esc
from bot.telegram.render import Rendered
from bot.telegram.render.common import clore


def _where(server_id: str) -> str:
    return f"#{esc(server_id)}"


def _at(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M} UTC"


def duration(tr: Translator, span: timedelta) -> str:
    """`3 d 4 h`, `5 h`, `40 min`: coarse on purpose (it is an estimate)."""
    minutes = max(0, int(span.total_seconds() / 60 + 0.5))
    if minutes < 60:
        return tr.gettext("{m} min", m=minutes)
    days, hours = divmod(int(minutes / 60 + 0.5), 24)  # to the nearest hour
    if days:
        return tr.gettext("{d} d {h} h", d=days, h=hours)
    return tr.gettext("{h} h", h=hours)


# ------------------------------------------------------------------------ alert parts


def power_button(tr: Translator, lead: PowerLead, server_id: str) -> ButtonToMake:
    payload = {"order_id": lead.order_id, "server_id": server_id, "pl": lead.total_pl}
    return ButtonToMake(
        tr.gettext("Lead at {price} by lowering power to {watts} W",
                   price=clore(lead.price), watts=lead.total_pl),
        "power_lead", payload,
    )  # fmt: skip


def with_power_offer(
    tr: Translator, alert: Rendered, lead: PowerLead, server_id: str
) -> Rendered:
    """The outbid alert with the lead-by-power line and button added."""
    keyboard = list(alert.keyboard or [])
    keyboard.append([power_button(tr, lead, server_id)])
    return Rendered(f"{alert.text}\n{power_note(tr, lead)}", keyboard)


def auto_power(tr: Translator, server_id: str, lead: PowerLead) -> str:
    """Outbid protection led by lowering the power limit (`/protect ... power`)."""
    return tr.gettext(
        "🛡 Order {order} on {where} leads again at the same {price} CLORE/day: I lowered "
        "its power limit from {old} W to {watts} W. A lower power limit can slow your "
        "workload; /unprotect {order} stops this.",
        order=lead.order_id, where=_where(server_id), price=clore(lead.price),
        old=f"{lead.from_pl:g}", watts=lead.total_pl,
    )


def protect_power_line(tr: Translator) -> str:
    return tr.gettext(
        "⚡ When it falls behind, I first try to lead at the same price with a lower power "
        "limit (within each GPU's range; this can slow your workload), and raise the price "
        "only when that cannot lead."
    )


def power_note(tr: Translator, lead: PowerLead) -> str:
    """The trade-off, stated plainly under the outbid alert."""
    return tr.gettext(
        "⚡ It can lead again at the same {price} CLORE/day by asking {watts} W instead of "
        "{old} W ({cut} less power): hosts are paid for energy, so less power scores "
        "higher. A lower power limit can slow your workload.",
        price=clore(lead.price), watts=lead.total_pl, old=f"{lead.from_pl:g}",
        cut=f"{lead.cut_share * 100:.0f}%",
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
    return Rendered(text, [[bid_again_button(tr, order_id, server_id)]])


def won_alert(tr: Translator, order_id: int, server_id: str, price: float) -> str:
    return tr.gettext(
        "🏁 Your order {order} on {where} is now the best bid at {price} CLORE/day: it "
        "should be the one running (as far as the market snapshot shows).",
        order=order_id, where=_where(server_id), price=clore(price),
    )


def bid_again_button(tr: Translator, order_id: int, server_id: str) -> ButtonToMake:
    return ButtonToMake(
        tr.gettext("🔁 Bid again on #{server}", server=server_id), "bid_again",
        {"server_id": server_id, "order_id": order_id},
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
