"""Repositories: small async functions over an `AsyncSession`, one module per table group.

Use them as namespaces: `from bot.db.repositories import users, rules` then
`await users.get_or_create(session, telegram_id=..., chat_id=...)`.

Contract for callers:
- The caller owns the transaction: open it with `async with sessions() as s, s.begin():`.
  Repositories flush (so ids exist and constraints fire) but never commit.
- No network calls inside a transaction. A write transaction on SQLite holds the one write
  lock (BEGIN IMMEDIATE); awaiting Telegram or clore while holding it stalls every other
  writer. Read what you need, close the transaction, do the I/O, then open a new
  transaction to record the outcome.
- Datetimes in and out are aware UTC. `now` parameters exist so tests need no clock tricks.
- Ownership is checked in the query (`user_id` in the WHERE clause), not by the caller.
"""

from bot.db.repositories import (
    actions,
    alerts,
    audit,
    outbox,
    pending_orders,
    protections,
    rules,
    state,
    templates,
    users,
)

__all__ = [
    "actions",
    "alerts",
    "audit",
    "outbox",
    "pending_orders",
    "protections",
    "rules",
    "state",
    "templates",
    "users",
]
