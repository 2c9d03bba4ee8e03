"""New orders from match alerts: the Bid buttons, the Bid tap, and confirming the order.

A Bid tap spends money: it is claimed once (`taps.claim`), re-checked against the snapshot
in force, and sent to clore exactly once. clore returns no order id, so a pending order
remembers the user's bids on the server at tap time; the first other bid of theirs there
in a later snapshot is the new order (`bot.orders.pending`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bot import messages
from bot.db.models import User
from bot.db.repositories import templates as templates_repo
from bot.orders.template import Template, TemplateError, parse_template, price_to_lead
from bot.services.bids import make_action
from bot.services.buttons import Keyboard
from bot.services.context import ServiceContext

log = logging.getLogger(__name__)

EPS = 1e-9


async def stored_template(s: AsyncSession, user_id: int) -> Template | None:
    text = await templates_repo.get_text(s, user_id)
    if not text:
        return None
    try:
        return parse_template(text)
    except TemplateError:
        # Stored texts were printed by format_template; one that no longer parses (rules
        # tightened since) is treated as no template. The text itself is never logged.
        log.warning("stored template of user %s no longer parses", user_id)
        return None


def bid_price(ctx: ServiceContext, user: User, template: Template, server_id: str) -> float | None:
    """What a Bid button offers now: the price to lead with this template plus the step."""
    server = ctx.market.server(server_id)
    if server is None:
        return None
    step = user.raise_step or ctx.settings.default_raise_step
    return price_to_lead(template, server, ctx.market.clore_price, user.clore_user_id) + step


def bid_label(server_id: str, price: float) -> str:
    return f"Bid #{server_id} at {messages.clore(price)}"


async def match_keyboard(
    ctx: ServiceContext, s: AsyncSession, user: User, items: Sequence[messages.MatchItem]
) -> Keyboard | None:
    """One Bid button per machine the alert lists; None without a linked key or template."""
    if not user.api_key_encrypted or user.clore_user_id is None:
        return None
    template = await stored_template(s, user.id)
    if template is None:
        return None
    keyboard: Keyboard = []
    for item in messages.listed_machines(items, ctx.settings.max_matches_per_message):
        price = bid_price(ctx, user, template, item.server_id)
        if price is None:
            continue
        action = await make_action(
            ctx, s, user.id, "bid", server_id=item.server_id, price=price
        )
        keyboard.append([(bid_label(item.server_id, price), action)])
    return keyboard or None
