"""What a Raise tap sends: decided from the market at the tap, not from the button."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.market.ranking import BidStanding, bid_standing
from bot.market.snapshot import Bid, Gpu, Server
from bot.orders.raising import AboveCap, AlreadyInFront, PriceMoved, RaiseTo, decide_raise

ME = 7


def _standing(mine: float, theirs: float | None) -> BidStanding:
    own = Bid(owner=ME, id=1, active=True, price=mine, pl=200)
    rival = () if theirs is None else (Bid(owner=9, id=2, active=True, price=theirs, pl=200),)
    bids = (own, *rival)
    server = Server(
        bids=bids, on_demand_rented=False, online=True, cpu="cpu", cores=4, threads=8,
        ram=32.0, gpus=(Gpu("RTX 3090", (100.0, 350.0)),), working_properly=True,
        cuda="12.4", max_rental_length=86400, cc="DE", host=1, reliability=0.99,
        min_bid=5.0, energy_price=0.1,
    )  # fmt: skip
    return bid_standing("42", server, own, None)  # no energy: the lead price is theirs


def _decide(standing: BidStanding, offered: float, cap: float | None = None,
            confirmed: bool = False):  # fmt: skip
    return decide_raise(standing, offered, step=0.5, cap=cap, confirmed=confirmed)


def test_nothing_is_sent_when_the_bid_leads_or_ties() -> None:
    assert isinstance(_decide(_standing(15.0, None), 20.5), AlreadyInFront)  # rival left
    assert isinstance(_decide(_standing(15.0, 12.0), 20.5), AlreadyInFront)
    assert isinstance(_decide(_standing(15.0, 15.0), 20.5), AlreadyInFront)  # a tie leads


def test_the_button_price_when_leading_needs_it() -> None:
    assert _decide(_standing(15.0, 20.0), 20.5) == RaiseTo(20.5, below_offered=False)


def test_less_than_the_button_when_leading_needs_less() -> None:
    assert _decide(_standing(15.0, 17.0), 20.5) == RaiseTo(17.5, below_offered=True)


def test_the_button_price_while_it_still_leads_even_if_short_of_the_step() -> None:
    assert _decide(_standing(15.0, 20.2), 20.5) == RaiseTo(20.5, below_offered=False)


def test_a_fresh_price_when_the_button_no_longer_leads() -> None:
    assert _decide(_standing(15.0, 25.0), 20.5) == PriceMoved(25.5)
    assert _decide(_standing(15.0, 20.5), 20.5) == PriceMoved(21.0)  # equal is not ahead


def test_above_the_cap_only_after_a_confirmation() -> None:
    standing = _standing(15.0, 20.0)
    assert _decide(standing, 20.5, cap=18.0) == AboveCap(20.5, 18.0)
    assert _decide(standing, 20.5, cap=18.0, confirmed=True) == RaiseTo(20.5, False)
    assert _decide(_standing(15.0, 17.0), 20.5, cap=18.0) == RaiseTo(17.5, True)  # under it


def test_the_step_must_be_positive() -> None:
    with pytest.raises(ValueError, match="step"):
        decide_raise(_standing(15.0, 20.0), 20.5, step=0, cap=None, confirmed=False)


@given(
    mine=st.floats(5, 100),
    theirs=st.none() | st.floats(5, 100),
    offered=st.floats(5, 120),
    cap=st.none() | st.floats(5, 120),
)
def test_a_raise_leads_and_never_exceeds_the_button_or_what_leading_needs(
    mine: float, theirs: float | None, offered: float, cap: float | None
) -> None:
    standing = _standing(mine, theirs)
    decision = _decide(standing, offered, cap=cap)
    if isinstance(decision, RaiseTo):
        assert standing.state == "outbid"
        assert standing.lead_price < decision.price <= min(offered, standing.lead_price + 0.5)
        assert cap is None or decision.price <= cap + 1e-9
