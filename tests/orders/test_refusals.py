"""Each refusal list offers its fix; a refused price is never offered again."""

from __future__ import annotations

import pytest

from bot.clore.models import CreateResult, EditResult
from bot.orders.refusals import (
    BidAt,
    BidLowestPower,
    NoFix,
    RaiseAt,
    WatchServer,
    create_refusal,
    edit_refusal,
    offer_above,
)


def _create(oc: list[int] = [], rent: list[int] = [], low: list[int] = []) -> CreateResult:  # noqa: B006
    return CreateResult(failed_to_oc_servers=oc, failed_to_rent_servers=rent,
                        too_low_bids_servers=low)


def _refusal(result: CreateResult, **kw: object):  # type: ignore[no-untyped-def]
    args = {"sent_price": 12.0, "needed": 15.0, "step": 0.5, "was_lowest_power": False, **kw}
    return create_refusal(result, "200", **args)  # type: ignore[arg-type]


def test_placed_is_no_refusal() -> None:
    assert _refusal(_create(low=[201])) is None


def test_too_low_offers_the_price_that_leads_now() -> None:
    refusal = _refusal(_create(low=[200]))
    assert refusal is not None and refusal.kind == "too_low"
    assert refusal.fix == BidAt(15.0, 12.0)


def test_too_low_never_offers_a_refused_price() -> None:
    # The market says 15 leads, but clore already refused 15: offer 15.5.
    refusal = _refusal(_create(low=[200]), sent_price=15.0)
    assert refusal is not None and refusal.fix == BidAt(15.5, 15.0)
    # A chain of fixes carries the highest refused price.
    chained = _refusal(_create(low=[200]), sent_price=13.0, refused_floor=16.0)
    assert chained is not None and chained.fix == BidAt(16.5, 16.0)


def test_failed_oc_offers_lowest_power_unless_it_was_already_lowest() -> None:
    assert _refusal(_create(oc=[200])).fix == BidLowestPower()  # type: ignore[union-attr]
    assert _refusal(_create(oc=[200]), was_lowest_power=True).fix == NoFix("oc_at_lowest")  # type: ignore[union-attr]


def test_failed_rent_offers_to_watch_the_server() -> None:
    refusal = _refusal(_create(rent=[200]))
    assert refusal is not None and refusal.kind == "failed_rent"
    assert refusal.fix == WatchServer("200")


def _edit(success: list[int] = [], failed: list[int] = [], low: list[int] = []) -> EditResult:  # noqa: B006
    return EditResult(success_ids=success, failed_ids=failed, too_low_ids=low)


def test_edit_refusals() -> None:
    args = {"sent_price": 12.0, "needed": 14.0, "step": 0.5}
    assert edit_refusal(_edit(success=[9]), 9, "200", with_oc=False, **args) is None
    low = edit_refusal(_edit(low=[9]), 9, "200", with_oc=False, **args)
    assert low is not None and low.kind == "too_low" and low.fix == RaiseAt(14.0, 12.0)
    power = edit_refusal(_edit(failed=[9]), 9, "200", with_oc=True, **args)
    assert power is not None and power.kind == "failed_update" and power.fix == RaiseAt(14.0, 0.0)
    plain = edit_refusal(_edit(failed=[9]), 9, "200", with_oc=False, **args)
    assert plain is not None and plain.fix == WatchServer("200")


def test_the_step_must_be_positive() -> None:
    with pytest.raises(ValueError):
        offer_above(10, 10, 0)
