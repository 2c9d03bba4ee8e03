"""The market as the bot currently sees it: the snapshot in force, the matcher over it and
the alert memory beside it.

`lock` serialises everything that changes the matcher or the memory: a poll cycle holds it
from `matcher.update` until its alert memory is committed, and saving a rule holds it from
`set_rule` until the rule's current matches are recorded, so the two never interleave and a
match is neither announced twice nor missed. A second, inner lock is held only while the
matcher itself changes: a preview (`evaluate`, read-only) waits for that, not for a cycle's
decisions and commit. CPU-heavy matcher work runs in a thread so Telegram handlers keep
answering.

After a restart the matcher is rebuilt from the baseline snapshot (what the last committed
cycle applied): `snapshot` is then known but not `ready`, since the market may have moved
while the bot was down; money actions wait for `ready` (a snapshot polled by this process).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from bot.market.alert_memory import AlertMemory
from bot.market.matcher import Matcher, Pairs, Transitions
from bot.market.ranking import BidStanding
from bot.market.rules import Rule
from bot.market.snapshot import EMPTY, Server, Snapshot


class MarketState:
    def __init__(self, matcher: Matcher | None = None) -> None:
        self.matcher = matcher or Matcher()
        self.memory = AlertMemory()
        self.lock = asyncio.Lock()
        self._changing = asyncio.Lock()  # held while the matcher changes (see above)
        self.snapshot: Snapshot | None = None
        self.clore_price: float | None = None
        self.snapshot_url: str | None = None
        self.ready = False  # a snapshot polled by this process is in force
        # Replicas only (`bot.replicas.ReplicaSync` sets it): ids of the alert memory records
        # this process wrote and applied to its memory itself, which catching up need not
        # decode and apply again.
        self.own_records: set[int] | None = None

    def applied_own(self, record_id: int | None) -> None:
        """The record `record_id` (None: none was written) is in the memory already."""
        if record_id is not None and self.own_records is not None:
            self.own_records.add(record_id)

    def server(self, server_id: str) -> Server | None:
        return self.snapshot.servers.get(server_id) if self.snapshot is not None else None

    async def apply(
        self, snapshot: Snapshot, clore_price: float | None, url: str | None
    ) -> Transitions:
        """Caller holds `lock`."""
        async with self._changing:
            transitions = await asyncio.to_thread(self.matcher.update, snapshot, clore_price)
            self.snapshot, self.clore_price, self.snapshot_url = snapshot, clore_price, url
        return transitions

    async def revert(
        self, snapshot: Snapshot | None, clore_price: float | None, url: str | None
    ) -> None:
        """Put the matcher back on `snapshot` (what the last commit applied; None: nothing)
        after a cycle that could not commit. Caller holds `lock`."""
        async with self._changing:
            await asyncio.to_thread(self.matcher.update, snapshot or EMPTY, clore_price)
            self.snapshot, self.clore_price, self.snapshot_url = snapshot, clore_price, url

    async def set_rule(self, rule_id: int, rule: Rule, owner: int | None) -> Pairs:
        """Caller holds `lock`."""
        async with self._changing:
            return await asyncio.to_thread(self.matcher.set_rule, rule_id, rule, owner)

    async def set_rules(self, rules: list[tuple[int, Rule, int | None]]) -> None:
        """Many rules in one go (at start: one thread hop, not one per rule). Their current
        matches are not reported. Caller holds `lock`."""

        def work() -> None:
            for rule_id, rule, owner in rules:
                self.matcher.set_rule(rule_id, rule, owner)

        if rules:
            async with self._changing:
                await asyncio.to_thread(work)

    async def remove_rule(self, rule_id: int) -> None:
        """Caller holds `lock`."""
        async with self._changing:
            self.matcher.remove_rule(rule_id)

    async def track_owners(self, owners: Iterable[int]) -> None:
        """Caller holds `lock`."""
        async with self._changing:
            self.matcher.track_owners(set(owners))

    async def tracked_standings(self) -> dict[int, list[BidStanding]]:
        """owner -> the tracked owner's active bids as of the snapshot in force (read while
        the matcher is not changing)."""
        async with self._changing:
            standings = self.matcher.tracked_standings()
        found: dict[int, list[BidStanding]] = {}
        for standing in standings:
            found.setdefault(standing.owner, []).append(standing)
        return found

    async def evaluate(self, rule: Rule, owner: int | None) -> Pairs:
        async with self._changing:
            return await asyncio.to_thread(
                self.matcher.evaluate, rule, owner, self.snapshot, self.clore_price
            )
