"""Which bid in a snapshot is the order a user created from an alert.

Pure. An order is the user's bid on the pending order's server that was not there at tap
time (`known`) and is not already another pending order's (`taken`); with several, the
lowest order id, and older pending orders are served first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.market.snapshot import Bid, Server


@dataclass(frozen=True, slots=True)
class Waiting:
    pending_id: int
    server_id: str
    known: frozenset[int]  # the user's order ids on the server at tap time


def new_order(
    server: Server | None, owner: int, known: Iterable[int], taken: Iterable[int]
) -> Bid | None:
    """The user's lowest-id bid on `server` outside `known` and `taken` (active or not)."""
    if server is None:
        return None
    skip = {*known, *taken}
    candidates = [bid for bid in server.bids if bid.owner == owner and bid.id not in skip]
    return min(candidates, key=lambda bid: bid.id, default=None)


def match_pending(
    waiting: Iterable[Waiting],
    servers: Mapping[str, Server],
    owner: int,
    taken: Iterable[int] = (),
) -> dict[int, Bid]:
    """pending id -> its bid, for those whose order is in `servers` now."""
    used = set(taken)
    found: dict[int, Bid] = {}
    for item in sorted(waiting, key=lambda w: w.pending_id):
        bid = new_order(servers.get(item.server_id), owner, item.known, used)
        if bid is not None:
            found[item.pending_id] = bid
            used.add(bid.id)
    return found
