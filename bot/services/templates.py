"""`/template` (the user's order template) and `/history` (the audit log of their orders).

The template text may hold environment values the user considers secret: it is never
logged, and `describe_template` shows env keys only.
"""

from __future__ import annotations

from bot import messages
from bot.db.models import User
from bot.db.repositories import audit
from bot.db.repositories import templates as templates_repo
from bot.orders.history import history_line
from bot.orders.template import (
    Template,
    TemplateError,
    describe_template,
    format_template,
    parse_template,
)
from bot.services.context import ServiceContext, UserError

HISTORY_LIMIT = 20

TEMPLATE_HELP = (
    "Set the template new bids use with <code>/template image=ubuntu pl=min</code>.\n"
    "Settings: <code>image</code> (ubuntu, hiveos or a 24-character id), <code>pl</code> "
    "(min or watts per GPU), <code>core_lock</code>, <code>mem_lock</code>, "
    "<code>core_offset</code>, <code>mem_offset</code> (MHz), "
    '<code>env=KEY:VALUE,K2:"a b"</code>, <code>currency</code>. '
    "Later <code>/template pl=250</code> changes one setting; <code>key=none</code> removes one."
)


async def load(ctx: ServiceContext, user_id: int) -> Template | None:
    """The user's stored template (None: none set)."""
    async with ctx.reads() as s:
        text = await templates_repo.get_text(s, user_id)
    return parse_template(text) if text else None


async def show(ctx: ServiceContext, user: User) -> str:
    template = await load(ctx, user.id)
    if template is None:
        return "You have no order template yet.\n" + TEMPLATE_HELP
    return (
        "<b>Your order template</b>\n"
        + messages.esc(describe_template(template))
        + "\n\nChange a setting with e.g. <code>/template pl=250</code>."
    )


async def save(ctx: ServiceContext, user: User, text: str) -> str:
    """Parse `text` over the current template, store it, and describe the result."""
    base = await load(ctx, user.id)
    try:
        template = parse_template(text, base=base)
    except TemplateError as exc:
        raise UserError(str(exc)) from None
    async with ctx.sessions() as s, s.begin():
        await templates_repo.set_text(s, user.id, format_template(template), now=ctx.clock())
    return "✅ Template saved.\n" + messages.esc(describe_template(template))


async def history(ctx: ServiceContext, user: User) -> str:
    async with ctx.reads() as s:
        entries = await audit.recent_for_user(s, user.id, limit=HISTORY_LIMIT)
    if not entries:
        return "No order actions yet."
    lines = [f"<b>Your last {len(entries)} order actions</b> (newest first)"]
    lines += [messages.esc(history_line(entry)) for entry in entries]
    return "\n".join(lines)
