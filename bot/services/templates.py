"""`/template` (the user's order template) and `/history` (the audit log of their orders).

Environment values may be secrets: they are stored encrypted with the API keys' `KeyBox`
(the template text itself is kept without `env`), never logged, never echoed, and
`/template` shows env keys only. Rows from before that split are sealed at start-up
(`seal_plain_environments`): a migration cannot, since it runs without the secret key.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import secure_delete
from bot.db.models import AuditEntry, User
from bot.db.repositories import audit
from bot.db.repositories import templates as templates_repo
from bot.i18n import Say
from bot.orders.template import (
    MAX_PRICE,
    MIN_PRICE,
    Template,
    TemplateError,
    build_order,
    format_template,
    parse_template,
    serialise_env,
)
from bot.secrets import DecryptionError
from bot.services.context import ServiceContext, UserError
from bot.services.results import TemplateSaved

log = logging.getLogger(__name__)

HISTORY_LIMIT = 20



class TemplateUnreadable(UserError):
    """The stored environment cannot be decrypted with the current secret key."""

    def __init__(self) -> None:
        super().__init__(
            "I can no longer decrypt your template's environment variables (the bot's secret "
            "key was changed or lost). Set them again with /template env=KEY:VALUE,… "
            "(or env=none)."
        )


def sets_environment(text: str) -> bool:
    """Whether a `/template` argument carries environment values (its message then goes)."""
    lowered = text.lower()
    return "env=" in lowered and lowered.split("env=", 1)[1].split()[:1] != ["none"]


def _decode(ctx: ServiceContext, row: templates_repo.StoredTemplate) -> Template | None:
    try:
        template = parse_template(row.text)
    except TemplateError:
        # Stored texts were printed by format_template; one that no longer parses (rules
        # tightened since) is treated as no template. The text itself is never logged.
        log.warning("stored template of user %s no longer parses", row.user_id)
        return None
    if row.env_encrypted is None:
        return template  # no environment, or one not sealed yet (still in the text)
    try:
        env = json.loads(ctx.keybox.decrypt(row.env_encrypted))
    except DecryptionError:
        raise TemplateUnreadable() from None
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise TemplateUnreadable()
    return replace(template, env={str(k): v for k, v in env.items()})


async def stored(ctx: ServiceContext, s: AsyncSession, user_id: int) -> Template | None:
    """The user's template, environment decrypted (None: none set, or it no longer parses).
    Raises `TemplateUnreadable` when the environment cannot be decrypted."""
    row = await templates_repo.get(s, user_id)
    return _decode(ctx, row) if row is not None else None


async def load(ctx: ServiceContext, user_id: int) -> Template | None:
    async with ctx.reads() as s:
        return await stored(ctx, s, user_id)


def _sealed(ctx: ServiceContext, template: Template) -> tuple[str, str | None]:
    """(text without env, env encrypted or None): what the table stores."""
    env = ctx.keybox.encrypt(serialise_env(template.env)) if template.env else None
    return format_template(replace(template, env={})), env


async def show(ctx: ServiceContext, user: User) -> Template | None:
    return await load(ctx, user.id)


async def save(ctx: ServiceContext, user: User, text: str) -> TemplateSaved:
    """Parse `text` over the current template, store it, and describe the result."""
    lost_env = False
    try:
        base = await load(ctx, user.id)
    except TemplateUnreadable:
        # Editing must still work, or the user could never set the environment again.
        async with ctx.reads() as s:
            row = await templates_repo.get(s, user.id)
        base = _decode(ctx, replace(row, env_encrypted=None)) if row is not None else None
        lost_env = True
    try:
        template = parse_template(text, base=base)
    except TemplateError as exc:
        raise UserError(exc.say) from None
    if (misfit := await asyncio.to_thread(_misfit, ctx, template)) is not None:
        raise misfit
    template_text, env = _sealed(ctx, template)
    async with ctx.sessions() as s, s.begin():
        await templates_repo.set_text(s, user.id, template_text, env_encrypted=env, now=ctx.clock())
    return TemplateSaved(template, lost_env and not sets_environment(text))


def _misfit(ctx: ServiceContext, template: Template) -> UserError | None:
    """Why no rentable server in the market could take this template, or None when one
    can (or the market is not loaded): such a template could never place a bid."""
    snapshot = ctx.market.snapshot
    if snapshot is None:
        return None
    first: tuple[str, Say] | None = None
    low, high = float("inf"), 0.0
    for server_id, server in snapshot.servers.items():
        if not (server.gpus and server.online and server.working_properly
                and not server.on_demand_rented and server.max_rental_length > 0):
            continue  # fmt: skip
        price = min(max(server.min_bid, MIN_PRICE), MAX_PRICE)
        try:
            build_order(template, server_id, server, price)
        except TemplateError as exc:
            first = first or (server_id, exc.say)
            low = min([low, *(g.pl[0] for g in server.gpus)])
            high = max([high, *(g.pl[1] for g in server.gpus)])
            continue
        return None
    if first is None:
        return None  # nothing rentable to check against
    hint = (
        Say("The market's GPUs take power limits from {low} to {high} W; pl=min always fits.",
            low=f"{low:g}", high=f"{high:g}")
        if template.power != "min"
        else Say("Remove the overclock settings (e.g. core_lock=none) to fit more GPUs.")
    )  # fmt: skip
    return UserError(
        "This template fits no server in the market now, so no bid could use it; nothing "
        "was changed. On #{server}: {problem}\n{hint}",
        server=first[0], problem=first[1], hint=hint,
    )  # fmt: skip


async def seal_plain_environments(ctx: ServiceContext) -> int:
    """Move environment values still stored in plain text into the encrypted column.

    Run at start-up, before anyone is served. `secure_delete` overwrites the old values in
    the database file instead of leaving them in free space. Returns templates sealed.
    """
    sealed = 0
    async with ctx.sessions() as s, s.begin():
        rows = await templates_repo.with_plain_env(s)
        if not rows:
            return 0
        await secure_delete(s, True)
        for row in rows:
            try:
                template = _decode(ctx, row)
            except TemplateUnreadable:
                template = _decode(ctx, replace(row, env_encrypted=None))
            if template is None or not template.env:
                continue
            template_text, env = _sealed(ctx, template)
            await templates_repo.set_text(
                s, row.user_id, template_text, env_encrypted=env, now=ctx.clock()
            )
            sealed += 1
        await secure_delete(s, False)
    if sealed:
        log.info("encrypted the environment values of %d order template(s)", sealed)
    return sealed


async def history(ctx: ServiceContext, user: User) -> list[AuditEntry]:
    async with ctx.reads() as s:
        return list(await audit.recent_for_user(s, user.id, limit=HISTORY_LIMIT))
