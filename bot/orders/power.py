"""Lead by power: the power limit at which an outbid bid leads again at the same price.

Pure. A bid's score is its price minus the energy cost of its power limit
(`bot.market.ranking.score`), so a bid can get back in front without paying more by asking
less power. This module finds the highest whole-watt power limit, within every GPU's `pl`
range, at which the bid's current price puts it strictly in front of the best competitor
(strictly: a tie counts as leading in the contract, but a float tie is one rounding away
from "outbid", so the bot never offers one on purpose).

The snapshot gives a bid's power as one total over its GPUs; `edit_gigaspot_orders` takes
one `pl` per GPU. The total is shared out by water-filling: every GPU starts at its lowest
whole-watt limit and all are raised together, one watt at a time, each up to its highest.
Only the power limit is sent: other overclock settings of the order are not known from the
snapshot (clore may reset them when `oc` changes; the README says so).

Nothing here helps when energy is free to the ranking: with no CLORE price or an
`energy_price` of 0, power does not change the score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.market.ranking import TIE_EPS, best_competitor, energy, score
from bot.market.snapshot import Bid, Server

EPS = 1e-9


@dataclass(frozen=True, slots=True)
class PowerLead:
    """Lead at `price` (unchanged) with `total_pl` watts, `per_gpu` as sent in `oc`."""

    order_id: int
    price: float
    from_pl: float  # the bid's power limit now, W in total
    total_pl: int  # the new power limit, W in total (sum of per_gpu)
    per_gpu: tuple[int, ...]
    new_score: float
    top_score: float  # the best competitor's score it now beats

    @property
    def cut_share(self) -> float:
        """How much less power the workload gets, as a share of what it had (0..1)."""
        return 1 - self.total_pl / self.from_pl if self.from_pl > 0 else 0.0


def gpu_floor(server: Server) -> tuple[int, ...]:
    """Each GPU's lowest whole-watt power limit."""
    return tuple(math.ceil(gpu.pl[0] - EPS) for gpu in server.gpus)


def gpu_ceiling(server: Server) -> tuple[int, ...]:
    """Each GPU's highest whole-watt power limit."""
    return tuple(math.floor(gpu.pl[1] + EPS) for gpu in server.gpus)


def share_power(server: Server, total: int) -> tuple[int, ...] | None:
    """`total` watts over the server's GPUs, water-filled from each one's floor; None when
    `total` is outside what the GPUs allow together."""
    low, high = gpu_floor(server), gpu_ceiling(server)
    if not server.gpus or any(lo > hi for lo, hi in zip(low, high, strict=True)):
        return None
    if not sum(low) <= total <= sum(high):
        return None
    levels = list(low)
    left = total - sum(low)
    while left > 0:
        open_ = [i for i in range(len(levels)) if levels[i] < high[i]]
        # Raise every GPU with room by the same amount, as far as the smallest room allows.
        step = min(min(high[i] - levels[i] for i in open_), max(1, left // len(open_)))
        for i in open_:
            if left == 0:
                break
            add = min(step, high[i] - levels[i], left)
            levels[i] += add
            left -= add
    return tuple(levels)


def max_leading_power(
    price: float, top_score: float, energy_price: float, clore_price: float | None
) -> int | None:
    """The highest whole number of watts W with `price - energy(W) > top_score`; None when
    power does not change the score (no CLORE price, free energy) or no W >= 0 leads."""
    if clore_price is None or not clore_price > 0 or not energy_price > 0:
        return None
    margin = price - top_score - TIE_EPS
    if margin <= 0:
        return None
    watts = math.floor(margin * 1000 * clore_price / (24 * energy_price))
    # The closed form may be off by a watt in floats: settle it with the ranking's own
    # function, so the bid leads by the very formula that ranks it.
    while watts >= 0 and not price - energy(watts, energy_price, clore_price) > top_score + TIE_EPS:
        watts -= 1
    while price - energy(watts + 1, energy_price, clore_price) > top_score + TIE_EPS:
        watts += 1
    return watts if watts >= 0 else None


def lead_by_power(
    server: Server, bid: Bid, clore_price: float | None, *, min_total: int | None = None
) -> PowerLead | None:
    """How `bid` (outbid) leads again at its price by lowering its power limit, or None
    when it is not behind, lowering cannot help, or even the lowest limits do not lead.

    `min_total`: never go below this many watts in total (a user's floor).
    """
    best = best_competitor(server, clore_price, bid.owner)
    if best is None:
        return None
    top_score = best[1]
    if not top_score > score(bid, server, clore_price) + TIE_EPS:
        return None  # leading or tied already
    limit = max_leading_power(bid.price, top_score, server.energy_price, clore_price)
    if limit is None:
        return None
    high = min(limit, sum(gpu_ceiling(server)), math.ceil(bid.pl - EPS) - 1)
    floor = max(sum(gpu_floor(server)), min_total or 0)
    if high < floor:
        return None
    per_gpu = share_power(server, high)
    if per_gpu is None:
        return None
    new_score = bid.price - energy(high, server.energy_price, clore_price)
    return PowerLead(
        order_id=bid.id,
        price=bid.price,
        from_pl=bid.pl,
        total_pl=high,
        per_gpu=per_gpu,
        new_score=new_score,
        top_score=top_score,
    )


def lowest_power(server: Server) -> tuple[int, ...] | None:
    """Every GPU at its lowest whole-watt limit (what "Bid with lowest power" sends)."""
    return share_power(server, sum(gpu_floor(server))) if server.gpus else None
