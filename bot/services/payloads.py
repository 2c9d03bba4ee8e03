"""What each button kind carries (stored in `callback_actions.payload` as JSON)."""

from __future__ import annotations

import msgspec


class OrderPrice(msgspec.Struct, frozen=True):
    """Raise (or confirm a raise above the cap) of one order to `price`."""

    order_id: int
    server_id: str
    price: float


class Order(msgspec.Struct, frozen=True):
    """Cancel one order."""

    order_id: int
    server_id: str


class OrderCap(msgspec.Struct, frozen=True):
    """The Protect hint: the /protect command with `cap` filled in."""

    order_id: int
    server_id: str
    cap: float


class ServerPrice(msgspec.Struct, frozen=True):
    """A new order on a server from a match alert (or its confirmation above the cap)."""

    server_id: str
    price: float


class RuleOnPage(msgspec.Struct, frozen=True):
    """A /rules button: the rule, and the first rule id of the page it is on."""

    rule_id: int
    page: int = 0


class Language(msgspec.Struct, frozen=True):
    lang: str


Payload = OrderPrice | Order | OrderCap | ServerPrice | RuleOnPage | Language


def as_dict(payload: Payload) -> dict[str, object]:
    """What `callback_actions.payload` stores."""
    return msgspec.structs.asdict(payload)
