"""One asyncio lock per (user, server): money actions on one machine never overlap.

A Raise or Cancel tap, an automatic raise and a Bid all spend the same account's money on
the same machine; the second must see what the first did (its intent record), so they run
one at a time. Keyed by server rather than order, so a Bid (no order id yet) and the
actions on the orders already there share one lock. Locks are dropped when nobody holds or
waits for them, so the table grows with what is in flight, not with history.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

Key = tuple[int, str]  # (bot user id, server id)


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class MoneyLocks:
    def __init__(self) -> None:
        self._entries: dict[Key, _Entry] = {}

    @contextlib.asynccontextmanager
    async def hold(self, user_id: int, server_id: str) -> AsyncIterator[None]:
        key = (user_id, server_id)
        entry = self._entries.setdefault(key, _Entry())
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)
