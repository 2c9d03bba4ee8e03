"""Typed requests to and replies from clore.ai's GigaSPOT endpoints.

The `_…Reply` structs mirror the wire format; the public results are normalised (ids as
ints even where clore documents strings, `clore_price` None when absent).
"""

from __future__ import annotations

from typing import Any

import msgspec

DEFAULT_CURRENCY = "CLORE-Blockchain"


class Overclock(msgspec.Struct, omit_defaults=True, frozen=True):
    """One GPU's settings; `pl` (W) is required, the rest must lie in the server's ranges."""

    pl: int
    core_lock: int | None = None
    mem_lock: int | None = None
    mem_offset: int | None = None
    core_offset: int | None = None


class NewOrder(msgspec.Struct, frozen=True):
    """One entry of a create_gigaspot_orders call; `oc` has one entry per GPU.

    Not `omit_defaults`: the currency must be sent even when it is the default one.
    """

    renting_server: int
    price: float
    image: str
    oc: tuple[Overclock, ...]
    currency: str = DEFAULT_CURRENCY
    env: dict[str, str] | msgspec.UnsetType = msgspec.UNSET  # left out of the body when unset


class OrderEdit(msgspec.Struct, omit_defaults=True, frozen=True):
    """One entry of an edit_gigaspot_orders call: only price and overclock can change."""

    order_id: int
    price: float
    oc: tuple[Overclock, ...] | None = None


class GigaspotInfo(msgspec.Struct, frozen=True):
    my_user_id: int
    snapshot_url: str
    creation_fees: dict[str, float]
    clore_price: float | None


class CreateResult(msgspec.Struct, frozen=True):
    """Servers (ids) whose order failed; the new order ids only appear in the next snapshot."""

    failed_to_oc_servers: list[int]
    failed_to_rent_servers: list[int]
    too_low_bids_servers: list[int]


class EditResult(msgspec.Struct, frozen=True):
    success_ids: list[int]
    failed_ids: list[int]
    too_low_ids: list[int]


class CancelResult(msgspec.Struct, frozen=True):
    failed_ids: list[int]


class Wallet(msgspec.Struct, frozen=True):
    name: str
    balance: float
    deposit: str | None = None
    withdrawal_fee: float | None = None


# Wire formats. Missing result lists are errors, not "nothing failed": for an order call an
# unreadable answer must stay ambiguous rather than pass for success.

Id = int | str


class _Envelope(msgspec.Struct):
    code: int
    error: Any = None


class _GigaspotReply(msgspec.Struct):
    my_user_id: int
    v1_snapshot_url: str
    creation_fees: dict[str, float] = {}
    clore_price: float | None = None


class _CreateReply(msgspec.Struct):
    failed_to_oc_servers: list[Id]
    failed_to_rent_servers: list[Id]
    too_low_bids_servers: list[Id]


class _EditReply(msgspec.Struct):
    success_to_update_ids: list[Id]
    failed_to_update_ids: list[Id]
    too_low_bid_ids: list[Id]


class _CancelReply(msgspec.Struct):
    failed_to_cancel: list[Id]


class _WalletsReply(msgspec.Struct):
    wallets: list[Wallet]


class _OrdersReply(msgspec.Struct):
    orders: list[dict[str, Any]]
