"""clore's refusal lists turned into the fix a renter can take with one tap.

Pure. `create_gigaspot_orders` answers only with lists of servers that failed, and
`edit_gigaspot_orders` with lists of order ids; each list has its own remedy:

- `too_low_bids_servers` (price below what the server accepts now): "Bid P" at the price
  that leads now;
- `failed_to_oc_servers` (power limit / overclock not applied): "Bid with lowest power";
- `failed_to_rent_servers` (the machine cannot be rented now): "Watch #S" (rule `server=S`);
- edit `too_low_bid_ids`: "Raise to P";
- edit `failed_to_update_ids`: after a power change (`oc`), "Raise to P" at the current
  power; otherwise "Watch #S".

A price clore refused is never offered again: the offer is above the highest refused price
by at least the user's step (`refused_floor`, carried by the fix button from tap to tap).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.clore.models import CreateResult, EditResult

EPS = 1e-9


@dataclass(frozen=True, slots=True)
class BidAt:
    """Offer a new bid at `price` (leads now, above every refused price)."""

    price: float
    refused: float  # the highest price clore refused for this server in this chain


@dataclass(frozen=True, slots=True)
class BidLowestPower:
    """Offer the same bid with every GPU at its lowest power limit and no overclock."""


@dataclass(frozen=True, slots=True)
class WatchServer:
    """The machine cannot take the order now: offer to watch it (`server=ID`)."""

    server_id: str


@dataclass(frozen=True, slots=True)
class RaiseAt:
    """Offer to raise the order to `price` (at its current power)."""

    price: float
    refused: float


@dataclass(frozen=True, slots=True)
class NoFix:
    """Nothing to offer (e.g. the bid was already at the lowest power with no overclock)."""

    reason: str  # "oc_at_lowest"


Fix = BidAt | BidLowestPower | WatchServer | RaiseAt | NoFix
Kind = str  # "too_low" | "failed_oc" | "failed_rent" | "failed_update"


@dataclass(frozen=True, slots=True)
class Refusal:
    kind: Kind
    fix: Fix


def offer_above(needed: float, refused: float, step: float) -> float:
    """The price to offer: what leads now, but never at or below a refused price."""
    if not step > 0:
        raise ValueError(f"the raise step must be above 0, not {step!r}")
    return max(needed, refused + step)


def create_refusal(
    result: CreateResult,
    server_id: str,
    *,
    sent_price: float,
    needed: float,
    step: float,
    refused_floor: float = 0.0,
    was_lowest_power: bool,
) -> Refusal | None:
    """Why clore did not place the order on `server_id`, and its fix (None: placed).

    `needed`: the price that leads now plus the step; `refused_floor`: the highest price
    already refused in this chain of fixes; `was_lowest_power`: the order already asked every
    GPU's lowest limit and no other overclock (then "lowest power" would change nothing)."""
    sid = int(server_id)
    if sid in result.failed_to_rent_servers:
        return Refusal("failed_rent", WatchServer(server_id))
    if sid in result.failed_to_oc_servers:
        if was_lowest_power:
            return Refusal("failed_oc", NoFix("oc_at_lowest"))
        return Refusal("failed_oc", BidLowestPower())
    if sid in result.too_low_bids_servers:
        refused = max(sent_price, refused_floor)
        return Refusal("too_low", BidAt(offer_above(needed, refused, step), refused))
    return None


def edit_refusal(
    result: EditResult,
    order_id: int,
    server_id: str,
    *,
    sent_price: float,
    needed: float,
    step: float,
    with_oc: bool,
    refused_floor: float = 0.0,
) -> Refusal | None:
    """Why clore did not change `order_id`, and its fix (None: changed)."""
    if order_id in result.success_ids:
        return None
    if order_id in result.too_low_ids:
        refused = max(sent_price, refused_floor)
        return Refusal("too_low", RaiseAt(offer_above(needed, refused, step), refused))
    if with_oc:
        # The power change was refused: leading the ordinary way is still open.
        return Refusal("failed_update", RaiseAt(max(needed, refused_floor + step), refused_floor))
    return Refusal("failed_update", WatchServer(server_id))
