"""Outbid protection: whether to raise a protected bid automatically, and to what.

Pure. The caller gathers the facts (the bid's standing in the snapshot in force, the
protection's settings, its recent automatic raises, the user's budget and what automatic
raises spent in the last 24 h) and acts on the decision:

- `Raise(price)`: edit the order to `price` (once; never retry an ambiguous failure).
- `AtCap(needed_price)`: send the usual outbid alert with buttons; the user decides.
- `RateLimited` / `OverBudget`: send the outbid alert too (the bot will not act for now).
- `NothingToDo`: the bid leads or ties (a tie counts as leading, per the market contract).

The raise price is the contract's: `lead_price + step`. It is never clamped to the cap: a
raise that would go above the cap is not made at all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.i18n import Say
from bot.market.ranking import BidStanding

RATE_WINDOW = timedelta(hours=1)  # max_raises_per_hour counts raises in this window
BUDGET_WINDOW = timedelta(hours=24)  # the daily budget covers this window
MAX_PRICE = 5000.0  # clore's highest accepted price, CLORE/day
MAX_RAISES_PER_HOUR = 60
DEFAULT_RAISES_PER_HOUR = 3
EPS = 1e-9


class InputError(ValueError):
    """A /protect or /budget argument that cannot be used, in plain words (`say`)."""

    def __init__(self, say: Say) -> None:
        super().__init__(say.english())
        self.say = say


@dataclass(frozen=True, slots=True)
class ProtectionSettings:
    cap: float  # the highest price (CLORE/day) an automatic raise may set
    max_raises_per_hour: int = DEFAULT_RAISES_PER_HOUR
    # `power`: first try to lead at the same price with a lower power limit
    # (`bot.orders.power`); raise the price only when that cannot lead.
    use_power: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.cap) and 0 < self.cap <= MAX_PRICE):
            raise InputError(
                Say("the cap must be above 0 and at most {max} CLORE/day", max=float(MAX_PRICE))
            )
        if not 1 <= self.max_raises_per_hour <= MAX_RAISES_PER_HOUR:
            raise InputError(
                Say("raises per hour must be between 1 and {max}", max=MAX_RAISES_PER_HOUR)
            )


@dataclass(frozen=True, slots=True)
class Raise:
    price: float  # the new price, CLORE/day
    increase: float  # price - the bid's current price: what it adds to the day's spending


@dataclass(frozen=True, slots=True)
class AtCap:
    needed_price: float  # lead price + step, above the cap
    cap: float


@dataclass(frozen=True, slots=True)
class RateLimited:
    needed_price: float
    next_allowed_at: datetime  # when the oldest raise in the window leaves it


@dataclass(frozen=True, slots=True)
class OverBudget:
    needed_price: float
    increase: float
    remaining: float  # budget left in the last 24 h (>= 0)


@dataclass(frozen=True, slots=True)
class NothingToDo:
    reason: Literal["leading", "tied"]


Decision = Raise | AtCap | RateLimited | OverBudget | NothingToDo


def raises_in_window(raised_at: Sequence[datetime], now: datetime) -> list[datetime]:
    """The raises that count against the hourly limit at `now`, oldest first."""
    start = now - RATE_WINDOW
    return sorted(t for t in raised_at if start < t <= now)


def decide(
    standing: BidStanding,
    settings: ProtectionSettings,
    recent_raises: Sequence[datetime],
    *,
    step: float,
    daily_budget: float | None,
    spent_last_24h: float,
    now: datetime,
) -> Decision:
    """What to do about one protected bid at `now`.

    `recent_raises`: when automatic raises of this bid were attempted (any outcome: an
    attempt that failed still counts, so a refusing clore is not hammered); older ones are
    ignored. `daily_budget` None means no budget. `spent_last_24h`: the sum of price
    increases of the user's automatic raises over `BUDGET_WINDOW`, all bids together.
    Checked in this order: leading/tied, cap, budget, hourly limit.
    """
    if not step > 0:
        raise ValueError(f"the raise step must be above 0, not {step!r}")
    if standing.state != "outbid":
        return NothingToDo(standing.state)
    needed = standing.lead_price + step
    if needed > settings.cap + EPS:
        return AtCap(needed, settings.cap)
    increase = max(0.0, needed - standing.price)
    if daily_budget is not None:
        remaining = max(0.0, daily_budget - spent_last_24h)
        if increase > remaining + EPS:
            return OverBudget(needed, increase, remaining)
    window = raises_in_window(recent_raises, now)
    if len(window) >= settings.max_raises_per_hour:
        # The (limit)-th newest must leave the window before one more fits.
        return RateLimited(needed, window[-settings.max_raises_per_hour] + RATE_WINDOW)
    return Raise(needed, increase)


def _number(piece: str, value: str, kind: type[float] | type[int]) -> float:
    try:
        return kind(value)
    except ValueError:
        raise InputError(
            Say("{piece}: {value} is not a number", piece=piece, value=repr(value))
        ) from None


def parse_protection(
    text: str, default_raises_per_hour: int = DEFAULT_RAISES_PER_HOUR
) -> ProtectionSettings:
    """`25` or `cap=25 per_hour=2` (CLORE/day; raises per hour). ValueError in plain words."""
    cap: float | None = None
    per_hour = default_raises_per_hour
    use_power = False
    for piece in text.split():
        if piece.lower() == "power":
            use_power = True
            continue
        key, eq, value = piece.partition("=")
        if not eq:
            key, value = "cap", piece
        key = key.lower()
        if key == "cap":
            cap = _number(piece, value, float)
        elif key in ("per_hour", "perhour"):
            per_hour = int(_number(piece, value, int))
        else:
            raise InputError(
                Say("{piece}: unknown setting (use cap=PRICE per_hour=N)", piece=piece)
            )
    if cap is None:
        raise InputError(Say("say the highest price to raise to, e.g. cap=25"))
    return ProtectionSettings(cap=cap, max_raises_per_hour=per_hour, use_power=use_power)


def parse_budget(text: str) -> float | None:
    """`12.5` (CLORE per 24 h over all automatic raises) or `off` -> None."""
    value = text.strip().lower()
    if value in ("off", "none", "no"):
        return None
    try:
        budget = float(value)
    except ValueError:
        raise InputError(
            Say("{text} is not an amount (or off)", text=repr(text.strip()))
        ) from None
    if not (math.isfinite(budget) and budget >= 0):
        raise InputError(Say("the budget must be 0 or more CLORE per day"))
    return budget
