"""/template and /history."""

from __future__ import annotations

from bot.db.models import AuditEntry
from bot.db.repositories.protections import parse_raise_detail
from bot.i18n import N_, Translator
from bot.orders.template import IMAGE_NAMES, OVERCLOCK_FIELDS, Template
from bot.services.results import TemplateSaved
from bot.telegram.html import esc
from bot.telegram.render.common import clore

TEMPLATE_HELP = N_(
    "Set the template new bids use with <code>/template image=ubuntu pl=min</code>.\n"
    "Settings: <code>image</code> (ubuntu, hiveos or a 24-character id), <code>pl</code> "
    "(min or watts per GPU), <code>core_lock</code>, <code>mem_lock</code>, "
    "<code>core_offset</code>, <code>mem_offset</code> (MHz), "
    '<code>env=KEY:VALUE,K2:"a b"</code>, <code>currency</code>. '
    "Later <code>/template pl=250</code> changes one setting; <code>key=none</code> removes one."
)
OUTCOME_WORDS = {
    "ok": N_("done"),
    "error": N_("failed"),
    "ambiguous": N_("not confirmed (the next snapshot will tell)"),
    "rejected": N_("refused by clore.ai"),
    "pending": N_("sent, no answer from clore.ai yet"),
}
ACTION_WORDS = {
    "create": N_("create"),
    "raise": N_("raise"),
    "cancel": N_("cancel"),
}


def describe_template(tr: Translator, template: Template) -> str:
    """Plain lines for showing a template; env values are not shown (they may be secrets)."""
    image = IMAGE_NAMES.get(template.image)
    if template.power == "min":
        power = tr.gettext("each GPU's lowest allowed limit")
    else:
        power = tr.gettext("{watts} W per GPU", watts=template.power)
    overclock = ", ".join(
        f"{name.replace('_', ' ')} {getattr(template, name)} MHz"
        for name in OVERCLOCK_FIELDS
        if getattr(template, name) is not None
    )
    return "\n".join(
        (
            tr.gettext("Image: {image} (clore base image)", image=image)
            if image
            else tr.gettext("Image: {image}", image=template.image),
            tr.gettext("Power limit: {power}", power=power),
            tr.gettext("Overclock: {overclock}", overclock=overclock)
            if overclock
            else tr.gettext("Overclock: none (the server keeps its own)"),
            tr.gettext("Environment variables: {names}", names=", ".join(template.env))
            if template.env
            else tr.gettext("Environment variables: none"),
            tr.gettext("Currency: {currency}", currency=template.currency),
        )
    )


def template_shown(tr: Translator, template: Template | None) -> str:
    if template is None:
        return tr.gettext("You have no order template yet.") + "\n" + tr.gettext(TEMPLATE_HELP)
    return "\n".join(
        [
            tr.gettext("<b>Your order template</b>"),
            esc(describe_template(tr, template)),
            "",
            tr.gettext("Change a setting with e.g. <code>/template pl=250</code>."),
        ]
    )


def template_saved(tr: Translator, saved: TemplateSaved) -> str:
    lines = [tr.gettext("✅ Template saved."), esc(describe_template(tr, saved.template))]
    if saved.lost_env:
        lines.append(
            tr.gettext(
                "Your earlier environment variables could not be decrypted and were dropped."
            )
        )
    return "\n".join(lines)


def history_line(tr: Translator, entry: AuditEntry) -> str:
    """`2025-06-01 12:00 UTC  auto raise order 100 on #7 11 → 12.5: done` (plain text)."""
    when = entry.created_at.strftime("%Y-%m-%d %H:%M UTC")
    action = (
        tr.gettext(ACTION_WORDS[entry.action]) if entry.action in ACTION_WORDS else entry.action
    )
    what = tr.gettext("auto {action}", action=action) if entry.automatic else action
    if entry.order_id is not None:
        what += " " + tr.gettext("order {order_id}", order_id=entry.order_id)
    if entry.server_id is not None:
        what += " " + tr.gettext("on #{server}", server=entry.server_id)
    reason, from_price = entry.detail, None
    if entry.automatic and entry.action == "raise":
        from_price, reason = parse_raise_detail(entry.detail)
    if entry.price is not None and from_price is not None:
        what += " " + tr.gettext("{old} → {new} CLORE/day", old=clore(from_price),
                                 new=clore(entry.price))  # fmt: skip
    elif entry.price is not None:
        what += " " + tr.gettext("at {price} CLORE/day", price=clore(entry.price))
    words = OUTCOME_WORDS.get(entry.outcome)
    result = tr.gettext(words) if words else entry.outcome
    return f"{when}  {what}: {result}" + (f" ({reason})" if reason else "")


def history(tr: Translator, entries: list[AuditEntry]) -> str:
    if not entries:
        return tr.gettext("No order actions yet.")
    head = tr.ngettext(
        "<b>Your last {n} order action</b> (newest first)",
        "<b>Your last {n} order actions</b> (newest first)",
        len(entries),
    )
    return "\n".join([head, *(esc(history_line(tr, entry)) for entry in entries)])
