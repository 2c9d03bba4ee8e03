"""Who wins a server, and by how much: the one place the ranking formula lives.

All figures are CLORE per day for the whole server (docs/market-contract.md). The formula is
clore's working model, not a published one; keep every use of it behind these functions so it
can be corrected in one place. Operation order follows the contract's formula literally so
that every caller (scalar or numpy) gets bit-identical prices.
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec

from bot.market.snapshot import Bid, Server, Snapshot

# Scores closer than this are a tie: float noise must not turn into an "outbid" alert.
TIE_EPS = 1e-9

State = Literal["leading", "tied", "outbid"]


def energy(pl: float, energy_price: float, clore_price: float | None) -> float:
    """Host's electricity cost of running `pl` watts for a day, in CLORE (0 when unknown)."""
    if clore_price is None or not clore_price > 0:
        return 0.0
    return pl * 24 / 1000 * energy_price / clore_price


def score(bid: Bid, server: Server, clore_price: float | None) -> float:
    """The host's profit from `bid`: what ranks bids against each other."""
    return bid.price - energy(bid.pl, server.energy_price, clore_price)


def base_pl(server: Server) -> float:
    """The least power a bid can ask: the sum of every GPU's lowest power limit."""
    total = 0.0
    for gpu in server.gpus:
        total += gpu.pl[0]
    return total


def best_competitor(
    server: Server, clore_price: float | None, exclude_owner: int | None
) -> tuple[Bid, float] | None:
    """(bid, score) of the best active bid not owned by `exclude_owner`, or None."""
    best: tuple[Bid, float] | None = None
    known = clore_price is not None and clore_price > 0
    energy_price = server.energy_price
    for bid in server.bids:
        if bid.active and bid.owner != exclude_owner:
            # score() inlined (this loop runs for every server of every snapshot): the same
            # expression, so the same bits
            bid_score = bid.price - (
                bid.pl * 24 / 1000 * energy_price / clore_price if known else 0.0  # type: ignore[operator]
            )
            if best is None or bid_score > best[1]:
                best = (bid, bid_score)
    return best


def price_to_win(server: Server, clore_price: float | None, exclude_owner: int | None) -> float:
    """Price above which a new bid at `base_pl` leads; `exclude_owner`'s own bids don't count."""
    best = best_competitor(server, clore_price, exclude_owner)
    if best is None:
        return server.min_bid
    return max(server.min_bid, best[1] + energy(base_pl(server), server.energy_price, clore_price))


def prices_to_win(
    servers: list[Server], clore_price: float | None
) -> list[tuple[float, int, float]]:
    """Per server: (`price_to_win(server, clore_price, None)`, the owner of the best active
    bid, that owner's own price to win, as `leader_price_to_win` gives it), to the bit: the
    same expressions in one loop (a full evaluation prices every server of the market).
    Without an active bid: (min bid, -1, NaN)."""
    known = clore_price is not None and clore_price > 0
    found = []
    for server in servers:
        energy_price = server.energy_price
        best: float | None = None
        leader: int | None = None
        behind: float | None = None  # the best score of another owner than the leader
        for bid in server.bids:
            if bid.active:
                bid_score = bid.price - (
                    bid.pl * 24 / 1000 * energy_price / clore_price if known else 0.0  # type: ignore[operator]
                )
                if best is None or bid_score > best:
                    if bid.owner != leader:
                        behind = best
                    best, leader = bid_score, bid.owner
                elif bid.owner != leader and (behind is None or bid_score > behind):
                    behind = bid_score
        if best is None or leader is None:
            found.append((server.min_bid, -1, math.nan))
            continue
        pl = 0.0
        for gpu in server.gpus:
            pl += gpu.pl[0]
        base = pl * 24 / 1000 * energy_price / clore_price if known else 0.0  # type: ignore[operator]
        own = server.min_bid if behind is None else max(server.min_bid, behind + base)
        found.append((max(server.min_bid, best + base), leader, own))
    return found


def leader_price_to_win(server: Server, clore_price: float | None) -> tuple[int, float] | None:
    """(owner of the best active bid, that owner's own price to win); None without bids.

    Every other owner's price to win is the common one (`price_to_win(server, p, None)`),
    to the bit: excluding an owner that does not hold the best bid leaves the same best
    bid (the first of the highest score), hence the same expression.
    """
    best = best_competitor(server, clore_price, None)
    if best is None:
        return None
    owner = best[0].owner
    return owner, price_to_win(server, clore_price, owner)


class BidStanding(msgspec.Struct, frozen=True, gc=False):  # a Struct: built thousands of times
    server_id: str
    order_id: int
    owner: int
    price: float
    pl: float
    score: float
    state: State
    top_price: float | None  # the best competitor's price and score; None without competitors
    top_score: float | None
    lead_price: float  # the price that puts the bid back in front, before the raise step


def bid_standing(
    server_id: str, server: Server, bid: Bid, clore_price: float | None
) -> BidStanding:
    return _standing(server_id, server, bid, clore_price,
                     best_competitor(server, clore_price, bid.owner))  # fmt: skip


def standings_of(
    server_id: str, server: Server, owners: set[int], clore_price: float | None
) -> list[BidStanding]:
    """`bid_standing` of every active bid of `owners` on the server, in the server's order:
    the best competitor of a bid is the best bid unless its owner holds that (see
    `leader_price_to_win`), so a server's bids are scanned twice, not once per bid."""
    mine = [bid for bid in server.bids if bid.active and bid.owner in owners]
    if not mine:
        return []
    best = best_competitor(server, clore_price, None)
    assert best is not None
    leader = best[0].owner
    found = []
    looked = False
    behind_leader: tuple[Bid, float] | None = None  # the best bid of another owner
    for bid in mine:
        if bid.owner != leader:
            found.append(_standing(server_id, server, bid, clore_price, best))
            continue
        if not looked:
            behind_leader, looked = best_competitor(server, clore_price, leader), True
        found.append(_standing(server_id, server, bid, clore_price, behind_leader))
    return found


def _standing(
    server_id: str, server: Server, bid: Bid, clore_price: float | None,
    best: tuple[Bid, float] | None,
) -> BidStanding:  # fmt: skip
    own_score = score(bid, server, clore_price)
    if best is None:
        state: State = "leading"
        top_price = top_score = None
        lead = server.min_bid
    else:
        top_price, top_score = best[0].price, best[1]
        if top_score > own_score + TIE_EPS:
            state = "outbid"
        elif top_score >= own_score - TIE_EPS:
            state = "tied"
        else:
            state = "leading"
        lead = max(server.min_bid, top_score + energy(bid.pl, server.energy_price, clore_price))
    return BidStanding(
        server_id=server_id,
        order_id=bid.id,
        owner=bid.owner,
        price=bid.price,
        pl=bid.pl,
        score=own_score,
        state=state,
        top_price=top_price,
        top_score=top_score,
        lead_price=lead,
    )


def raise_price(server: Server, bid: Bid, clore_price: float | None, step: float) -> float:
    """The price that puts `bid` back in front: its lead price plus the user's step (> 0)."""
    if not step > 0:
        raise ValueError(f"the raise step must be above 0, not {step!r}")
    return bid_standing("", server, bid, clore_price).lead_price + step


def standings_for_owner(
    snapshot: Snapshot, owner: int, clore_price: float | None
) -> list[BidStanding]:
    """Every active bid of `owner`, by server id (as a number), then order id."""
    standings = []
    for server_id in snapshot.sorted_ids():
        server = snapshot.servers[server_id]
        for bid in sorted(server.bids, key=lambda b: b.id):
            if bid.active and bid.owner == owner:
                standings.append(bid_standing(server_id, server, bid, clore_price))
    return standings
