"""What the cycle and the background work tell users, as data: one type per kind of
message. The Telegram layer (`bot.telegram.render.alerts.notice`) says each in the user's
language where its outbox row is made; nothing here is text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.i18n import Say
from bot.market.ranking import BidStanding
from bot.market.snapshot import Server
from bot.orders.protection import AtCap, OverBudget, RateLimited


@dataclass(frozen=True, slots=True)
class MatchItem:
    """One (rule, machine) pair a match alert or preview lists."""

    rule_id: int
    rule_text: str
    server_id: str
    server: Server
    price_to_win: float
    versus_median: float | None = None  # % against the 7-day median per GPU (price context)
    number: int = 0  # the rule's number for its user, as shown; 0: show `rule_id`


def machines(items: Sequence[MatchItem]) -> dict[str, MatchItem]:
    """Each machine once, cheapest first, under the lowest-numbered of the rules it matches."""
    ordered = sorted(items, key=lambda i: (i.price_to_win, int(i.server_id), i.rule_id))
    found: dict[str, MatchItem] = {}
    for item in ordered:
        found.setdefault(item.server_id, item)
    return found


def listed_machines(items: Sequence[MatchItem], limit: int) -> list[MatchItem]:
    """The machines a match alert lists, in its order (for one button per machine)."""
    return list(machines(items).values())[:limit]


@dataclass(frozen=True, slots=True)
class MatchAlert:
    """A user's new matches of one cycle: `items` to list, `total` machines new in all."""

    items: Sequence[MatchItem]
    limit: int
    total: int | None = None


@dataclass(frozen=True, slots=True)
class ProtectionFailed:
    """An automatic raise that was tried and did not take effect."""

    price: float
    outcome: str  # "ambiguous", "error" or "rejected"
    error: Say


ProtectionHeld = AtCap | OverBudget | RateLimited | ProtectionFailed


@dataclass(frozen=True, slots=True)
class OutbidAlert:
    standing: BidStanding
    server: Server | None
    raise_to: float
    held: ProtectionHeld | None = None  # why outbid protection did not raise it


@dataclass(frozen=True, slots=True)
class AutoRaised:
    order_id: int
    server_id: str
    price: float
    rival: float | None


@dataclass(frozen=True, slots=True)
class MarketStale:
    age_seconds: float | None


@dataclass(frozen=True, slots=True)
class MarketFresh:
    pass


@dataclass(frozen=True, slots=True)
class OrderInMarket:
    """A bid placed from a Bid button showed up in a snapshot."""

    standing: BidStanding


@dataclass(frozen=True, slots=True)
class OrderNotShown:
    """A bid placed from a Bid button did not show up within 10 minutes."""

    server_id: str
    price: float


@dataclass(frozen=True, slots=True)
class KeyNeedsLink:
    """The user's stored API key cannot be decrypted any more."""


@dataclass(frozen=True, slots=True)
class Interrupted:
    """A money action the last stop cut short between its intent and clore's answer."""

    action: str  # "create", "cancel" or "raise"
    automatic: bool
    order_id: int | None
    server_id: str | None
    price: float | None


Notice = (
    MatchAlert
    | OutbidAlert
    | AutoRaised
    | MarketStale
    | MarketFresh
    | OrderInMarket
    | OrderNotShown
    | KeyNeedsLink
    | Interrupted
)
