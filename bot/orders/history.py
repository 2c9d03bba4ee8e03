"""One plain-text line per audit entry, for `/history`. Not HTML: escape before sending."""

from __future__ import annotations

from bot.db.models import AuditEntry
from bot.db.repositories.protections import parse_raise_detail

OUTCOME_WORDS = {
    "ok": "done",
    "error": "failed",
    "ambiguous": "not confirmed (the next snapshot will tell)",
    "rejected": "refused by clore.ai",
    "pending": "sent, no answer from clore.ai yet",
}


def _amount(value: float) -> str:
    return f"{value:,.4f}".rstrip("0").rstrip(".")


def history_line(entry: AuditEntry) -> str:
    """`2025-06-01 12:00 UTC  auto raise order 100 on #7 11 → 12.5: done`."""
    when = entry.created_at.strftime("%Y-%m-%d %H:%M UTC")
    what = f"{'auto ' if entry.automatic else ''}{entry.action}"
    if entry.order_id is not None:
        what += f" order {entry.order_id}"
    if entry.server_id is not None:
        what += f" on #{entry.server_id}"
    reason, from_price = entry.detail, None
    if entry.automatic and entry.action == "raise":
        from_price, reason = parse_raise_detail(entry.detail)
    if entry.price is not None and from_price is not None:
        what += f" {_amount(from_price)} → {_amount(entry.price)}"
    elif entry.price is not None:
        what += f" at {_amount(entry.price)}"
    result = OUTCOME_WORDS.get(entry.outcome, entry.outcome)
    return f"{when}  {what}: {result}" + (f" ({reason})" if reason else "")
