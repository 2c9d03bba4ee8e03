"""The market as the bot currently sees it: the snapshot in force and the matcher over it.

One lock serialises everything that reads or changes the matcher: a poll cycle holds it from
`matcher.update` until its alert state is written, and saving a rule holds it from
`set_rule` until the rule's current matches are recorded, so the two never interleave and
a match is neither announced twice nor missed. CPU-heavy matcher work runs in a thread so
Telegram handlers keep answering.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from bot.market.matcher import Match, Matcher, Transitions
from bot.market.rules import Rule
from bot.market.snapshot import Server, Snapshot


class MarketState:
    def __init__(self, matcher: Matcher | None = None) -> None:
        self.matcher = matcher or Matcher()
        self.lock = asyncio.Lock()
        self.snapshot: Snapshot | None = None
        self.clore_price: float | None = None
        self.snapshot_url: str | None = None

    @property
    def ready(self) -> bool:
        return self.snapshot is not None

    def server(self, server_id: str) -> Server | None:
        return self.snapshot.servers.get(server_id) if self.snapshot is not None else None

    async def apply(
        self, snapshot: Snapshot, clore_price: float | None, url: str | None
    ) -> Transitions:
        """Caller holds `lock`."""
        transitions = await asyncio.to_thread(self.matcher.update, snapshot, clore_price)
        self.snapshot, self.clore_price, self.snapshot_url = snapshot, clore_price, url
        return transitions

    async def set_rule(self, rule_id: int, rule: Rule, owner: int | None) -> list[Match]:
        """Caller holds `lock`."""
        return await asyncio.to_thread(self.matcher.set_rule, rule_id, rule, owner)

    def remove_rule(self, rule_id: int) -> None:
        """Caller holds `lock`."""
        self.matcher.remove_rule(rule_id)

    def track_owners(self, owners: Iterable[int]) -> None:
        """Caller holds `lock`."""
        self.matcher.track_owners(set(owners))

    async def evaluate(self, rule: Rule, owner: int | None) -> list[Match]:
        async with self.lock:
            if self.snapshot is None:
                return []
            return await asyncio.to_thread(
                self.matcher.evaluate, rule, owner, self.snapshot, self.clore_price
            )
