"""How the tracked owners' bids stand, and which changes are news.

News about a bid: seen for the first time; moved between "in front" (leading or tied) and
"outbid"; or, while outbid, the best competitor's score rose (someone outbid it further).
A tracked bid that is no longer there (cancelled, expired, inactive, server gone) is "gone".
Only servers that changed (or every server, when the CLORE price changed) are looked at.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from bot.market import ranking
from bot.market.snapshot import Snapshot

BidKey = tuple[str, int]  # (server id, order id)


class BidChange(msgspec.Struct, frozen=True, gc=False):
    standing: ranking.BidStanding
    previous_state: str | None  # None: seen for the first time


def _in_front(state: str) -> bool:
    return state != "outbid"


def is_news(previous: ranking.BidStanding, now: ranking.BidStanding) -> bool:
    if _in_front(previous.state) != _in_front(now.state):
        return True
    return (
        now.state == "outbid"
        and now.top_score is not None
        and (previous.top_score is None or now.top_score > previous.top_score + ranking.TIE_EPS)
    )


class BidTracker:
    def __init__(self) -> None:
        self.tracked: set[int] = set()
        self.newly_tracked: set[int] = set()  # their bids are looked up on every server
        self._standings: dict[BidKey, ranking.BidStanding] = {}
        self._by_server: dict[str, set[BidKey]] = {}

    def standings(self) -> list[ranking.BidStanding]:
        """Every tracked owner's active bid as of the last update."""
        return list(self._standings.values())

    def track(self, owners: set[int]) -> None:
        owners = set(owners)
        self.newly_tracked = (self.newly_tracked | (owners - self.tracked)) & owners
        for key in [k for k, s in self._standings.items() if s.owner not in owners]:
            self._forget(key)
        self.tracked = owners

    def _forget(self, key: BidKey) -> None:
        del self._standings[key]
        keys = self._by_server[key[0]]
        keys.discard(key)
        if not keys:
            del self._by_server[key[0]]

    def _servers_to_check(
        self,
        changed: list[str],
        removed: list[str],
        owner_rows: dict[int, set[int]],
        owners_of: Callable[[str], frozenset[int]],
        server_ids: list[str],
    ) -> set[str]:
        """Servers where a tracked owner bids now, or had a tracked bid before."""
        check = {sid for sid in removed if sid in self._by_server}
        if self._by_server:
            check.update(sid for sid in changed if sid in self._by_server)
        if self.tracked:
            tracked = self.tracked
            theirs = [owner_rows[o] for o in tracked if o in owner_rows]
            if sum(map(len, theirs)) < len(changed):  # e.g. a full update: from the owners
                changed_ids = set(changed)
                ids = (server_ids[row] for rows in theirs for row in rows)
                check.update(sid for sid in ids if sid in changed_ids)
            else:
                check.update(sid for sid in changed if any(o in tracked for o in owners_of(sid)))
        for owner in self.newly_tracked:  # their bids on unchanged servers are news too
            check.update(server_ids[row] for row in owner_rows.get(owner, ()))
        return check

    def update(
        self,
        snapshot: Snapshot,
        clore_price: float | None,
        changed: list[str],
        removed: list[str],
        owner_rows: dict[int, set[int]],
        owners_of: Callable[[str], frozenset[int]],
        server_ids: list[str],
    ) -> tuple[list[BidChange], list[ranking.BidStanding]]:
        """(news, gone bids) after `snapshot`.

        `owner_rows`: owner -> rows of the servers it bids on; `server_ids`: row -> server id;
        `owners_of`: server id -> owners of its active bids (the matcher keeps these).
        """
        news: list[BidChange] = []
        gone: list[ranking.BidStanding] = []
        check = self._servers_to_check(changed, removed, owner_rows, owners_of, server_ids)
        self.newly_tracked = set()
        for server_id in sorted(check, key=int):
            before = {key: self._standings[key] for key in self._by_server.get(server_id, ())}
            server = snapshot.servers.get(server_id)
            now: dict[BidKey, ranking.BidStanding] = {}
            if server is not None:
                for standing in ranking.standings_of(server_id, server, self.tracked, clore_price):
                    now[(server_id, standing.order_id)] = standing
            for key, standing in before.items():
                if key not in now:
                    self._forget(key)
                    gone.append(standing)
            for key, standing in now.items():
                previous = before.get(key)
                if previous is None or is_news(previous, standing):
                    state = previous.state if previous is not None else None
                    news.append(BidChange(standing, state))
                self._standings[key] = standing
                self._by_server.setdefault(server_id, set()).add(key)
        return news, gone
