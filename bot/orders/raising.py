"""What a Raise tap does now: decided from the market, not from the button.

Pure. A Raise button carries the price the user agreed to when the alert was sent
(`offered`); by the time of the tap the market may need less, nothing, or more:

- `AlreadyInFront`: the bid leads or ties (a tie counts as leading): nothing to send.
- `PriceMoved(needed)`: `offered` no longer leads; the user is offered `needed` instead.
- `AboveCap(price, cap)`: the price to send is above the user's cap and this tap was not
  a confirmation: ask first.
- `RaiseTo(price)`: send this price, the lead price plus the step or `offered` if that is
  lower (it still leads): never more than leading needs, never more than the button said.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.market.ranking import BidStanding

EPS = 1e-9


@dataclass(frozen=True, slots=True)
class AlreadyInFront:
    standing: BidStanding


@dataclass(frozen=True, slots=True)
class PriceMoved:
    needed: float  # lead price + step, above the button's price


@dataclass(frozen=True, slots=True)
class AboveCap:
    price: float
    cap: float


@dataclass(frozen=True, slots=True)
class RaiseTo:
    price: float
    below_offered: bool  # leading needs less than the button said


RaiseDecision = AlreadyInFront | PriceMoved | AboveCap | RaiseTo


def decide_raise(
    standing: BidStanding,
    offered: float,
    *,
    step: float,
    cap: float | None,
    confirmed: bool,
) -> RaiseDecision:
    """`standing`: the bid as the snapshot in force shows it, with what this order's
    earlier actions on that snapshot did applied. `confirmed`: the tap was on an "above
    your cap" confirmation for `offered`."""
    if not step > 0:
        raise ValueError(f"the raise step must be above 0, not {step!r}")
    if standing.state != "outbid":
        return AlreadyInFront(standing)
    needed = standing.lead_price + step
    if offered <= standing.lead_price + EPS:
        return PriceMoved(needed)
    price = min(offered, needed)
    if cap is not None and price > cap + EPS and not confirmed:
        return AboveCap(price, cap)
    return RaiseTo(price, below_offered=price < offered - EPS)
