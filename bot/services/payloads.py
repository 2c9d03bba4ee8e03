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


class OrderOnly(msgspec.Struct, frozen=True):
    """Stop protecting one order."""

    order_id: int


class AlertMode(msgspec.Struct, frozen=True):
    """A /settings button: switch one kind of alert (on -> silent -> off)."""

    alert: str


class RuleMute(msgspec.Struct, frozen=True):
    """A match alert's mute button: pause the rule that fired it."""

    rule_id: int
    number: int = 0


class Nothing(msgspec.Struct, frozen=True):
    """A No that only says nothing was sent."""


class Builder(msgspec.Struct, frozen=True):
    """The /watch builder's state: the step to ask, and what was chosen so far."""

    step: str = "gpu"
    gpu: str = ""
    gpus: int = 0
    price: float = 0.0
    rel: float = 0.0
    cc: str = ""  # a whole condition: "cc=DE" or "cc!=RU"


class MarketPage(msgspec.Struct, frozen=True):
    """/market's Next / Previous: the rule (canonical) and the first machine to show."""

    rule: str
    start: int = 0


class Servers(msgspec.Struct, frozen=True):
    """A match alert's Details button: the machines it lists."""

    servers: list[str]


class RuleText(msgspec.Struct, frozen=True):
    """Save this rule (the builder's last step)."""

    text: str


Payload = (
    OrderPrice | Order | OrderCap | ServerPrice | RuleOnPage | Language | OrderOnly | AlertMode
    | RuleMute | Nothing | Builder | RuleText | MarketPage | Servers
)


def as_dict(payload: Payload) -> dict[str, object]:
    """What `callback_actions.payload` stores."""
    return msgspec.structs.asdict(payload)
