"""/protect, /unprotect, /budget and the Protect button's hint."""

from __future__ import annotations

from bot.i18n import Translator
from bot.services.results import BudgetState, ProtectionOff, ProtectionOn
from bot.telegram.html import esc
from bot.telegram.render.common import clore


def protection_on(tr: Translator, result: ProtectionOn) -> str:
    return tr.ngettext(
        "🛡 Order {order_id} on #{server} is protected: when outbid I raise it, never above "
        "{cap} CLORE/day and at most {n} time per hour. /unprotect {order_id} stops it.",
        "🛡 Order {order_id} on #{server} is protected: when outbid I raise it, never above "
        "{cap} CLORE/day and at most {n} times per hour. /unprotect {order_id} stops it.",
        result.settings.max_raises_per_hour,
        order_id=result.order_id,
        server=esc(result.server_id),
        cap=clore(result.settings.cap),
    )


def protection_off(tr: Translator, result: ProtectionOff) -> str:
    return tr.gettext("Protection of order {order_id} is off.", order_id=result.order_id)


def budget(tr: Translator, result: BudgetState) -> str:
    if result.budget is None:
        head = tr.gettext(
            "Daily budget for automatic raises: none. Used in the last 24 h: {spent}.",
            spent=clore(result.spent),
        )
    else:
        head = tr.gettext(
            "Daily budget for automatic raises: {budget} CLORE/day per 24 h. "
            "Used in the last 24 h: {spent}.",
            budget=clore(result.budget),
            spent=clore(result.spent),
        )
    head += "\n" + tr.gettext("(<code>/budget 20</code> or <code>/budget off</code>)")
    if result.below_step is not None:
        head += "\n" + tr.gettext(
            "⚠️ That is less than one raise step ({step} CLORE/day): no automatic raise fits "
            "in it. A budget of at least {step} lets protection act once.",
            step=clore(result.below_step),
        )
    return head


def protect_hint(tr: Translator, order_id: int, cap: float) -> str:
    return tr.gettext(
        "To protect order {order_id}, send\n<code>/protect {order_id} {cap}</code>\n"
        "with the highest price (CLORE/day) I may raise it to; add a number for raises per hour.",
        order_id=order_id,
        cap=clore(cap),
    )
